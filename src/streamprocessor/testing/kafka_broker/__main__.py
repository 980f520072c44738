"""``python -m streamprocessor.testing.kafka_broker``: the broker's command line."""

import sys

from streamprocessor.testing.kafka_broker.cluster import main

sys.exit(main())
