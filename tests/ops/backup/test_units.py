"""Small pieces of the backup library: each failure is one line naming the problem."""

from __future__ import annotations

import gzip
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from ops.backup import archives, drill_checks, postgres, sqlite
from ops.backup.catalog import scan
from ops.backup.database import (
    backend_of,
    compare_counts,
    libpq_target,
    parse_url,
    safe_url,
    same_database,
    sqlite_is_empty,
    sqlite_path,
)
from ops.backup.errors import BackupCannotRun, BackupCheckFailed
from ops.backup.layout import check_kind, id_time, new_id
from ops.backup.manifest import parse_manifest, parse_verification
from ops.core.commands import CommandFailed, ToolNotFound
from ops.core.exits import CANNOT_RUN, CHECK_FAILED
from ops.live.client import ApiError, TradingClient
from ops.storage import LocalStorage, StorageError
from tests.integration.backup.conftest import shim


def test_urls() -> None:
    with pytest.raises(BackupCannotRun, match="not a database URL"):
        parse_url("nonsense")
    with pytest.raises(BackupCannotRun, match=r"unsupported database mysql://u:\*\*\*@h/d"):
        backend_of("mysql://u:secret@h/d")  # pragma: allowlist secret
    assert safe_url("nonsense") == "<invalid URL>"
    with pytest.raises(BackupCannotRun, match="needs a database file"):
        sqlite_path("sqlite://")
    uri, env = libpq_target("postgresql+asyncpg://app:s3cret@db:6543/trading?sslmode=require")
    assert uri == "postgresql://app@db:6543/trading?sslmode=require"
    assert env == {"PGPASSWORD": "s3cret"}  # pragma: allowlist secret
    assert libpq_target("postgresql://h/d")[1] == {}
    assert same_database("postgresql://a:x@h/d", "postgresql+asyncpg://b@h:5432/d")
    assert not same_database("postgresql://h/d", "postgresql://h/e")
    assert not same_database("postgresql://h/d", "sqlite:///d")
    assert same_database("sqlite:///x/../y.db", "sqlite+aiosqlite:///y.db")


def test_compare_counts() -> None:
    assert compare_counts({"a": 1}, {"a": 1, "extra": 5}) == []
    assert compare_counts({"a": 1, "b": 2}, {"b": 3}) == [
        "a: missing (manifest has 1 rows)",
        "b: 3 rows, manifest has 2",
    ]


def test_versions_and_tools(tmp_path: Path) -> None:
    assert postgres.parse_version("pg_dump (PostgreSQL) 16.4 (Ubuntu 16.4-1)").major == 16
    assert str(postgres.parse_version("17beta2")) == "17.0"
    with pytest.raises(BackupCannotRun, match="cannot read a PostgreSQL version"):
        postgres.parse_version("pg_dump (PostgreSQL) unknown")
    with pytest.raises(
        ToolNotFound, match=r"^no-such-tool not found: install the PostgreSQL client tools$"
    ) as missing:
        postgres.find_tool("no-such-tool", {"PATH": str(tmp_path)})
    assert missing.value.exit_code == CANNOT_RUN
    broken = shim(tmp_path / "bin", "pg_dump", "echo 'pg_dump: error: libpq is broken' >&2; exit 3")
    with pytest.raises(
        BackupCannotRun, match=r"pg_dump --version failed \(exit 3\): libpq is broken$"
    ):
        postgres.tool_version(str(broken), {})
    old, new = postgres.parse_version("14.2"), postgres.parse_version("15.1")
    postgres.require_client("pg_dump", new, old, "the server")
    with pytest.raises(BackupCannotRun, match=r"pg_dump 14\.2 is older than the server \(15\.1\)"):
        postgres.require_client("pg_dump", old, new, "the server")


def test_the_client_tools_see_only_what_they_need() -> None:
    env = {
        "PATH": "/bin",
        "HOME": "/home/ops",
        "PGSSLMODE": "require",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    child = postgres.tool_env(env, {"PGPASSWORD": "pw"})  # pragma: allowlist secret
    assert child == {
        "PATH": "/bin", "HOME": "/home/ops", "PGSSLMODE": "require",
        "PGCONNECT_TIMEOUT": postgres.CONNECT_TIMEOUT, "PGPASSWORD": "pw",
    }  # fmt: skip


def test_a_failing_pg_restore_is_a_failed_check_in_one_line(tmp_path: Path) -> None:
    script = "echo 'pg_restore: error: could not open input file' >&2; exit 1"
    fake = str(shim(tmp_path / "bin", "pg_restore", script))
    version = postgres.parse_version("16.0")
    tools = postgres.Tools(fake, fake, version, version, {"PATH": "/bin"})
    with pytest.raises(
        CommandFailed, match=r"^pg_restore failed \(exit 1\): could not open input file$"
    ) as caught:
        postgres.restore(tools, "postgresql://u:pw@h/d", tmp_path / "x.pgdump", clean=False)
    assert caught.value.exit_code == CHECK_FAILED
    with pytest.raises(CommandFailed, match=r"^pg_restore failed"):
        postgres.archive_test(tools, tmp_path / "x.pgdump")


def test_a_failing_dump_is_one_line(tmp_path: Path) -> None:
    script = "printf data; echo 'pg_dump: error: connection lost' >&2; exit 1"
    with open(tmp_path / "err", "w+b") as stderr:
        process = subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE, stderr=stderr)
        reader = postgres.ProcessReader(process, "pg_dump", stderr)
        assert reader.read(100) == b"data"
        with pytest.raises(CommandFailed, match=r"^pg_dump failed \(exit 1\): connection lost$"):
            reader.read(100)
        assert process.stdout is not None
        process.stdout.close()


def test_sqlite_failures(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(BackupCannotRun, match=r"SQLite backup of .*junk.db failed"):
        sqlite.online_backup(junk, tmp_path / "copy.db")
    with pytest.raises(BackupCheckFailed, match="not a valid SQLite database"):
        sqlite.check_database(junk)
    with pytest.raises(BackupCheckFailed, match="not a valid gzip stream"):
        sqlite.decompress(junk, tmp_path / "out")
    with pytest.raises(BackupCannotRun, match="does not exist"):
        sqlite.online_backup(tmp_path / "missing.db", tmp_path / "copy.db")
    assert sqlite_is_empty(tmp_path / "missing.db")


def test_archive_failures(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(gzip.compress(b"not a tar"))
    with pytest.raises(BackupCheckFailed, match="archive unreadable"):
        archives.test(junk, [])
    with pytest.raises(BackupCheckFailed, match="cannot extract archive"):
        archives.extract(junk, tmp_path / "out")
    (tmp_path / "a.txt").write_text("a")
    packed = tmp_path / "ok.tar.gz"
    entries = archives.build([tmp_path / "a.txt"], packed, tmp_path)
    assert [e.path for e in entries] == ["a.txt"]
    missing = entries[0].model_copy(update={"path": "b.txt"})
    with pytest.raises(BackupCheckFailed, match=r"archive member b\.txt missing from the manifest"):
        archives.test(packed, [missing])
    (tmp_path / "occupied").write_text("a file where the directory should be")
    with pytest.raises(BackupCannotRun, match=r"cannot extract archive into .*occupied"):
        archives.extract(packed, tmp_path / "occupied")
    files, unmatched = archives.collect(["a.*", "/nonexistent/*", "nothing-*"], tmp_path)
    assert files == [tmp_path / "a.txt"]
    assert unmatched == ["/nonexistent/*", "nothing-*"]


def test_layout() -> None:
    assert check_kind("db") == "db"
    with pytest.raises(BackupCannotRun, match="unknown backup kind 'logs'"):
        check_kind("logs")
    assert id_time("not-an-id") is None
    identifier = new_id(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert identifier.startswith("20260102T030405Z-")
    assert id_time(identifier) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_unreadable_documents_make_a_backup_incomplete(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put_bytes("env/db/20260101T000000Z-aaaaaa/manifest.json", b"{not json")
    storage.put_bytes("env/db/20260101T000000Z-aaaaaa/database.pgdump", b"x")
    storage.put_bytes("env/db/stray-file", b"ignored: not in a backup directory")
    [entry] = scan(storage, "env", "db")
    assert not entry.complete
    assert entry.problem is not None
    assert entry.problem.startswith(
        "env/db/20260101T000000Z-aaaaaa/manifest.json: invalid manifest"
    )
    with pytest.raises(BackupCheckFailed, match="invalid verification record"):
        parse_verification(b"{}", "v.json")
    with pytest.raises(BackupCheckFailed, match="invalid manifest"):
        parse_manifest(b"[]", "m.json")


def test_exit_codes_of_the_two_kinds_of_failure() -> None:
    assert BackupCannotRun.exit_code == StorageError.exit_code == CANNOT_RUN
    assert BackupCheckFailed.exit_code == CHECK_FAILED


def _api(routes: dict[tuple[str, str], tuple[int, Any]]) -> TradingClient:
    """A client whose requests are answered from ``routes`` ((method, path) -> answer)."""

    def answer(request: httpx.Request) -> httpx.Response:
        status, body = routes[(request.method, request.url.path)]
        return httpx.Response(status, json=body)

    transport = httpx.MockTransport(answer)
    return TradingClient(
        "http://drill", http=httpx.Client(base_url="http://drill", transport=transport)
    )


PROBE = drill_checks.Probe(admin_id=None, order_owner_id=3, newest_order_id=7)


def test_restored_orders_must_be_served_to_their_owner() -> None:
    found = _api(
        {("GET", "/v1/orders"): (200, {"items": [{"id": 7}]}), ("GET", "/v1/orders/7"): (200, {})}
    )
    assert "newest restored order 7 served" in drill_checks.read_restored_orders(
        found, PROBE, "s" * 48
    )
    missing = _api({("GET", "/v1/orders"): (200, {"items": [{"id": 6}]})})
    with pytest.raises(
        BackupCheckFailed, match=r"^GET /v1/orders: newest restored order 7 missing$"
    ):
        drill_checks.read_restored_orders(missing, PROBE, "s" * 48)
    nothing = drill_checks.Probe(admin_id=None, order_owner_id=None, newest_order_id=None)
    assert "(skipped)" in drill_checks.read_restored_orders(missing, nothing, "")


def test_app_check_failures_are_one_line() -> None:
    body = {"error": {"code": "validation_error", "message": "bad", "details": [{"msg": "price"}]}}
    refused = _api({("POST", "/v1/auth/register"): (422, body)})
    with pytest.raises(
        ApiError,
        match=r"^POST /v1/auth/register: expected 201, got 422: validation_error: bad \(price\)$",
    ):
        drill_checks.place_order(refused, PROBE, "s" * 48)
    instrument = {
        "symbol": "AAPL",
        "tradable": True,
        "lot_size": "1",
        "tick_size": "0.01",
        "last_price": "190",
    }
    accepted = _api({
        ("POST", "/v1/auth/register"): (201, {}),
        ("POST", "/v1/auth/token"): (200, {"access_token": "t"}),
        ("GET", "/v1/me"): (200, {"account_id": 1}),
        ("GET", "/v1/instruments"): (200, [instrument]),
        ("POST", "/v1/orders"): (201, {"id": 9, "status": "new"}),
    })  # fmt: skip
    with pytest.raises(
        BackupCheckFailed, match=r"^POST /v1/orders: status new, expected rejected$"
    ):
        drill_checks.place_order(accepted, PROBE, "s" * 48)  # unfunded: the order must be rejected
    assert drill_checks.amount(drill_checks.price_below_market(instrument)) == "95"
