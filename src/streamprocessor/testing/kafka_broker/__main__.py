"""``python -m streamprocessor.testing.kafka_broker``: the command line (see :mod:`.cli`)."""

import sys

from streamprocessor.testing.kafka_broker.cli import main

if __name__ == "__main__":
    sys.exit(main())
