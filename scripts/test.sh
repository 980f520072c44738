#!/usr/bin/env bash
# The whole test suite: install, lint, type-check, fetch the Kafka broker's jars, run every
# test. The Kafka broker (Apache Kafka from its Maven jars) is started by the test session
# itself and stopped at its end; set STREAMPROCESSOR_TEST_KAFKA_BROKERS to use another one.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== ruff" >&2
.venv/bin/ruff check src tests bench examples scripts
echo "== mypy --strict (src, and the typing examples in tests/typing)" >&2
.venv/bin/mypy
echo "== Kafka broker jars" >&2
.venv/bin/python -m streamprocessor.testing.kafka_broker fetch >&2
echo "== pytest" >&2
exec .venv/bin/python -m pytest "$@"
