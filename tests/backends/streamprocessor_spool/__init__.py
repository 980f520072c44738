"""A client type of another package: each topic is a log file of JSON lines in a directory.

It lives outside ``src/`` on purpose: the tests put this directory on ``PYTHONPATH``
(``streamprocessor_spool-0.1.dist-info`` registers it under the entry-point group
``streamprocessor.clients``), select it with ``CONSUMER_CLIENT_TYPE=spool`` and configure
it with ``CONSUMER_SPOOL_DIR``, ``<NAME>_PRODUCER_SPOOL_TOPIC`` and so on, as a user would
a backend they installed. Everything it needs from streamprocessor is public: the ports,
the fronts, ``Section``, the option kit and the conformance harness.
"""
