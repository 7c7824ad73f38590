"""Driving a running trading service: its HTTP client, a server to start, the API fuzzer.

- :mod:`ops.live.client` -- the one module that talks to the trading API
- :mod:`ops.live.server` -- the app as a child process (migrated, seeded, on a free port)
- :mod:`ops.live.schemathesis` -- schema-driven fuzzing of a live server (``nox -s api``)
"""
