"""Integration tests: the real PostgreSQL and Redis of this machine.

Skipped with the reason when a service cannot be reached; under ``CI=true`` a
missing service fails instead (see :mod:`tests.backends`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import backends
from tests.support.app import postgres_template


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark everything in this directory as an integration test."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A PostgreSQL template database, migrated and seeded."""
    yield from postgres_template("trading_itpl")


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """A private PostgreSQL database copied from the template."""
    with backends.throwaway_database("trading_it", pg_template) as url:
        yield url


@pytest.fixture
def empty_pg_url() -> Iterator[str]:
    """A private, empty PostgreSQL database."""
    backends.check_postgres()
    with backends.throwaway_database("trading_empty") as url:
        yield url


@pytest.fixture
def redis_url() -> str:
    """The test Redis (checked reachable)."""
    backends.check_redis()
    return backends.redis_url()
