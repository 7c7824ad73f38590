"""Small pieces of the backup library: each failure is one line naming the problem."""

from __future__ import annotations

import gzip
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from ops.backup import archives, postgres, sqlite
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
from ops.backup.errors import BackupError
from ops.backup.layout import check_kind, id_time, new_id
from ops.backup.manifest import parse_manifest, parse_verification
from ops.backup.output import human_size, table, terminal_confirm
from ops.backup.smoke import SmokeFailed, _ok
from ops.storage import LocalStorage


def test_urls() -> None:
    with pytest.raises(BackupError, match="not a database URL"):
        parse_url("nonsense")
    with pytest.raises(BackupError, match=r"unsupported database mysql://u:\*\*\*@h/d"):
        backend_of("mysql://u:secret@h/d")  # pragma: allowlist secret
    assert safe_url("nonsense") == "<invalid URL>"
    with pytest.raises(BackupError, match="needs a database file"):
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
    with pytest.raises(BackupError, match="cannot read a PostgreSQL version"):
        postgres.parse_version("pg_dump (PostgreSQL) unknown")
    with pytest.raises(BackupError, match="no-such-tool: not found on PATH"):
        postgres.find_tool("no-such-tool")
    with pytest.raises(BackupError, match="--version failed with exit code 1"):
        postgres.tool_version("/bin/false")
    old, new = postgres.parse_version("14.2"), postgres.parse_version("15.1")
    postgres.require_client("pg_dump", new, old, "the server")
    with pytest.raises(BackupError, match=r"pg_dump 14\.2 is older than the server \(15\.1\)"):
        postgres.require_client("pg_dump", old, new, "the server")


def test_a_failing_dump_is_one_line(tmp_path: Path) -> None:
    script = "printf data; echo 'pg_dump: error: connection lost' >&2; exit 1"
    with open(tmp_path / "err", "w+b") as stderr:
        process = subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE, stderr=stderr)
        reader = postgres.ProcessReader(process, "pg_dump", stderr)
        assert reader.read(100) == b"data"
        with pytest.raises(BackupError, match=r"^pg_dump failed \(exit 1\): connection lost$"):
            reader.read(100)
        assert process.stdout is not None
        process.stdout.close()


def test_sqlite_failures(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(BackupError, match=r"SQLite backup of .*junk.db failed"):
        sqlite.online_backup(junk, tmp_path / "copy.db")
    with pytest.raises(BackupError, match="not a valid SQLite database"):
        sqlite.check_database(junk)
    with pytest.raises(BackupError, match="not a valid gzip stream"):
        sqlite.decompress(junk, tmp_path / "out")
    with pytest.raises(BackupError, match="does not exist"):
        sqlite.online_backup(tmp_path / "missing.db", tmp_path / "copy.db")
    assert sqlite_is_empty(tmp_path / "missing.db")


def test_archive_failures(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(gzip.compress(b"not a tar"))
    with pytest.raises(BackupError, match="archive unreadable"):
        archives.test(junk, [])
    with pytest.raises(BackupError, match="cannot extract archive"):
        archives.extract(junk, tmp_path / "out")
    (tmp_path / "a.txt").write_text("a")
    packed = tmp_path / "ok.tar.gz"
    entries = archives.build([tmp_path / "a.txt"], packed, tmp_path)
    assert [e.path for e in entries] == ["a.txt"]
    missing = entries[0].model_copy(update={"path": "b.txt"})
    with pytest.raises(BackupError, match=r"archive member b\.txt missing from the manifest"):
        archives.test(packed, [missing])
    files, unmatched = archives.collect(["a.*", "/nonexistent/*", "nothing-*"], tmp_path)
    assert files == [tmp_path / "a.txt"]
    assert unmatched == ["/nonexistent/*", "nothing-*"]


def test_layout() -> None:
    assert check_kind("db") == "db"
    with pytest.raises(BackupError, match="unknown backup kind 'logs'"):
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
    with pytest.raises(BackupError, match="invalid verification record"):
        parse_verification(b"{}", "v.json")
    with pytest.raises(BackupError, match="invalid manifest"):
        parse_manifest(b"[]", "m.json")


def test_output_helpers() -> None:
    assert [human_size(n) for n in (0, 1536, 5 * 1024**3)] == ["0 B", "1.5 KiB", "5.0 GiB"]
    assert table(["a", "bb"], [["xyz", "1"]]).splitlines() == ["a    bb", "---  --", "xyz  1"]
    assert terminal_confirm() is None  # no terminal under pytest


def test_smoke_errors_are_one_line() -> None:
    body = {"error": {"code": "validation_error", "message": "bad", "details": [{"msg": "price"}]}}
    response = httpx.Response(422, json=body)
    with pytest.raises(SmokeFailed, match=r"^POST: HTTP 422: validation_error: bad \(price\)$"):
        _ok(response, "POST")
    with pytest.raises(SmokeFailed, match=r"^GET: HTTP 502: upstream\s+down$"):
        _ok(httpx.Response(502, text="upstream\ndown"), "GET")
