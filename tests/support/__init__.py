"""What the tests share (as the FastAPI template's ``tests/utils``); fixtures are in
:mod:`tests.support.fixtures`, registered once by ``tests/conftest.py``.

- :mod:`tests.support.app` -- test settings, tokens, the seeded parties, an in-process client
- :mod:`tests.support.backends` -- the test PostgreSQL and Redis, throwaway databases
- :mod:`tests.support.s3` -- a real S3 server (SeaweedFS) on loopback
- :mod:`tests.support.webhook` -- a local HTTP server standing in for Slack
- :mod:`tests.support.github` -- a local stand-in for GitHub's issue REST endpoints
- :mod:`tests.support.invoke` -- invoke and nox in a subprocess, as a user runs them
- :mod:`tests.support.workspace` -- throwaway environment definitions, storage and state
- :mod:`tests.support.loadgen` -- traffic on fresh and keep-alive connections (zero downtime)
- :mod:`tests.support.workflows` -- what the GitHub workflows call
"""
