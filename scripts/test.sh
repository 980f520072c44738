#!/usr/bin/env bash
# The whole test suite: install, lint, type-check, fetch the Kafka broker's jars, run every
# test. The Kafka broker (Apache Kafka from its Maven jars) is started by the test session
# itself and stopped at its end; set STREAMPROCESSOR_TEST_KAFKA_BROKERS to use another one.
#
# Every test runs on .venv's Python (3.11 here); then the unit tests and the conformance suites
# of the in-memory and stdin/stdout clients run on each of STREAMPROCESSOR_TEST_PYTHONS
# (default "3.12 3.13", in .venv-3.12 and .venv-3.13; "" skips them), side by side. The
# arguments go to the first run only. A Python version that cannot be found is an error.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a pythons <<< "${STREAMPROCESSOR_TEST_PYTHONS-3.12 3.13}"
bash scripts/setup.sh
if [ ${#pythons[@]} -gt 0 ]; then
  bash scripts/setup.sh "${pythons[@]}"
fi
echo "== ruff" >&2
.venv/bin/ruff check src tests bench examples scripts
echo "== mypy --strict (src, and the typing examples in tests/typing)" >&2
.venv/bin/mypy
echo "== Kafka broker jars" >&2
.venv/bin/python -m streamprocessor.testing.kafka_broker fetch >&2
echo "== pytest" >&2
status=0
.venv/bin/python -m pytest "$@" || status=$?
if [ ${#pythons[@]} -eq 0 ]; then
  exit "$status"
fi

# the other Pythons: no broker (the conformance suite's Kafka cases are marked kafka), so
# both at once (their tests mostly wait), each in its own
# temporary folder, their output shown one after the other
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pids=()
for version in "${pythons[@]}"; do
  ".venv-$version/bin/python" -m pytest -q -p no:cacheprovider -rfE -m "not kafka" \
    --basetemp "$tmp/$version" tests/unit \
    tests/integration/test_conformance.py > "$tmp/$version.log" 2>&1 &
  pids+=($!)
done
for i in "${!pythons[@]}"; do
  rc=0
  wait "${pids[$i]}" || rc=$?
  echo "== pytest on Python ${pythons[$i]}: unit, in-memory and stdin conformance" >&2
  cat "$tmp/${pythons[$i]}.log"
  if [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; then
    status=$rc
  fi
done
exit "$status"
