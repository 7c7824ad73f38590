"""The throwaway database ``image.check`` boots the image on: created empty on the
configured server, dropped afterwards -- also when the check fails inside it."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from ops.backup.postgres import on_database, scratch_database
from ops.core.exits import CannotRun
from tests.support.backends import check_postgres, postgres_admin_url

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/postgres"


@pytest.fixture
def server() -> str:
    """The test PostgreSQL; skipped (locally) or failed (under CI) when it does not answer."""
    check_postgres()
    return postgres_admin_url()


def databases(server: str, prefix: str) -> set[str]:
    """The server's databases named ``<prefix>_...``."""
    rows = on_database(
        server,
        lambda connection: connection.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{prefix}\\_%"
        ),
    )
    return {str(row["datname"]) for row in rows}


def test_a_scratch_database_is_new_empty_and_dropped_afterwards(server: str) -> None:
    with scratch_database(server, "image_unit") as url:
        name = str(make_url(url).database)
        assert name.startswith("image_unit_")
        assert name in databases(server, "image_unit")
        tables = on_database(
            url,
            lambda connection: connection.fetchval(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            ),
        )
        assert tables == 0
    assert name not in databases(server, "image_unit")


def test_a_scratch_database_is_dropped_when_the_work_inside_fails(server: str) -> None:
    used: list[str] = []

    def failing_boot(url: str) -> None:
        used.append(str(make_url(url).database))
        raise RuntimeError("the boot failed")

    with (
        pytest.raises(RuntimeError, match="the boot failed"),
        scratch_database(server, "image_unit") as url,
    ):
        failing_boot(url)
    assert len(used) == 1
    assert used[0] not in databases(server, "image_unit")


def test_an_unreachable_server_cannot_run_and_is_named() -> None:
    refused = r"^cannot connect to postgresql://postgres@127\.0\.0\.1:1/postgres: "
    with pytest.raises(CannotRun, match=refused), scratch_database(UNREACHABLE, "image_unit"):
        pytest.fail("a database on a server nobody runs")
