"""The spool sections: ``config.spool`` of a consumer and of a producer."""

from __future__ import annotations

from streamprocessor.config import Section


class SpoolProducerConfig(Section):
    """Where a spool producer appends: ``<dir>/<topic>.log``."""

    dir: str = ""
    topic: str = "messages"


class SpoolConsumerConfig(SpoolProducerConfig):
    """What a spool consumer reads, and the group whose position it keeps."""

    group: str = "default"
