"""The spool options, reached as ``streamprocessor.options.spool_…`` too."""

from __future__ import annotations

from streamprocessor.config import Option
from streamprocessor.config.optionkit import setter


def spool_dir(path: str) -> Option:
    """Keep the topic logs in the directory ``path``."""
    return setter("both", "spool_dir", "spool.dir", path)


def spool_topic(topic: str) -> Option:
    """Read or append the topic ``topic``."""
    return setter("both", "spool_topic", "spool.topic", topic)


def spool_group(group: str) -> Option:
    """Keep the consumer's position under the name ``group``."""
    return setter("consumer", "spool_group", "spool.group", group)
