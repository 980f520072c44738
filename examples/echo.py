"""Echo every message: the smallest processor, and the standardstream benchmark's subject.

Lines in, the same lines out::

    printf 'hello\nworld\n' | DRY_RUN=1 python examples/echo.py

The client types come from the environment, as for every processor: a piped stdin
selects the standardstream consumer, ``DRY_RUN`` the standardstream producer (stdout);
``CONSUMER_CLIENT_TYPE`` / ``PRODUCER_CLIENT_TYPE`` choose others (kafka, inmem).
"""

from __future__ import annotations

from streamprocessor import new_consumer, new_producer


def main() -> None:
    with new_consumer() as c, new_producer() as p:
        for m in c:
            p.send(m)
            c.ack(m)


if __name__ == "__main__":
    main()
