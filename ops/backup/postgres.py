"""PostgreSQL: the client tools, the version guard, a snapshot-consistent streamed
``pg_dump -Fc``, ``pg_restore`` and the archive test.

The dump runs inside a REPEATABLE READ transaction that exports its snapshot:
``pg_dump --snapshot`` dumps exactly that snapshot while the same transaction
counts every table's rows, so the counts in the manifest are those of the dump.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

import asyncpg

from ops.backup.database import asyncpg_dsn, libpq_target, parse_url, quote, safe_url
from ops.backup.errors import BackupError

CONNECT_TIMEOUT = "10"
PIPE_SIZE = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Version:
    """A PostgreSQL version: major, minor, and the text it came from."""

    major: int
    minor: int
    text: str

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


def parse_version(text: str) -> Version:
    """The version in ``pg_dump --version`` or ``SHOW server_version`` output."""
    tail = text.split("(PostgreSQL)", 1)[-1]
    match = re.search(r"(\d+)(?:\.(\d+))?", tail)
    if not match:
        raise BackupError(f"cannot read a PostgreSQL version from {text.strip()[:60]!r}")
    return Version(int(match.group(1)), int(match.group(2) or 0), text.strip())


def find_tool(name: str) -> str:
    """The path of a PostgreSQL client program on PATH; one-line error when missing."""
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name}: not found on PATH (install the PostgreSQL client tools)")
    return found


def tool_version(path: str) -> Version:
    """What ``PROGRAM --version`` says."""
    result = subprocess.run(  # noqa: S603 - a PostgreSQL client program, fixed arguments
        [path, "--version"], capture_output=True, text=True, check=False, timeout=30
    )
    if result.returncode != 0:
        raise BackupError(f"{path} --version failed with exit code {result.returncode}")
    return parse_version(result.stdout)


def require_client(tool: str, client: Version, needed: Version, what: str) -> None:
    """Refuse a client older (major version) than the server or archive it must handle."""
    if client.major < needed.major:
        raise BackupError(
            f"{tool} {client} is older than {what} ({needed}): install the PostgreSQL "
            f"{needed.major} client tools (or newer) and put them first on PATH"
        )


@dataclass(frozen=True, slots=True)
class Tools:
    """The client programs, with their versions."""

    pg_dump: str
    pg_restore: str
    dump_version: Version
    restore_version: Version


def tools() -> Tools:
    """The PostgreSQL client programs on PATH."""
    dump, restore = find_tool("pg_dump"), find_tool("pg_restore")
    return Tools(dump, restore, tool_version(dump), tool_version(restore))


def _env(extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, "PGCONNECT_TIMEOUT": CONNECT_TIMEOUT, **extra}


def _error_line(text: str, tool: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    chosen = next((line for line in lines if "error" in line.lower()), lines[-1] if lines else "")
    return chosen.removeprefix(f"{tool}: ").removeprefix("error: ") or "no output"


class ProcessReader:
    """A child's stdout; at EOF the child must have exited 0, else a one-line error."""

    def __init__(self, process: subprocess.Popen[bytes], tool: str, stderr: IO[bytes]) -> None:
        self.process = process
        self.tool = tool
        self.stderr = stderr

    def read(self, size: int = -1) -> bytes:
        """The next bytes of output; raises at EOF when the child failed."""
        assert self.process.stdout is not None
        data = self.process.stdout.read(size)
        if not data:
            code = self.process.wait()
            if code != 0:
                self.stderr.seek(0)
                detail = _error_line(self.stderr.read().decode(errors="replace"), self.tool)
                raise BackupError(f"{self.tool} failed (exit {code}): {detail}")
        return data


def dump_command(tools: Tools, uri: str, snapshot: str | None) -> list[str]:
    """``pg_dump`` in custom format (compressed by pg_dump) to standard output."""
    command = [tools.pg_dump, "--format=custom", "--no-password", f"--dbname={uri}"]
    return command + ([f"--snapshot={snapshot}"] if snapshot else [])


def stream_dump(
    tools: Tools, url: str, snapshot: str | None, consume: Callable[[BinaryIO], None]
) -> None:
    """Run pg_dump and hand its output stream to ``consume`` (which reads it to EOF)."""
    uri, env = libpq_target(url)
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(  # noqa: S603 - pg_dump with fixed arguments
            dump_command(tools, uri, snapshot), stdout=subprocess.PIPE, stderr=stderr,
            env=_env(env),
        )  # fmt: skip
        _widen_pipe(process)
        try:
            consume(ProcessReader(process, "pg_dump", stderr))  # type: ignore[arg-type]
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            if process.stdout is not None:
                process.stdout.close()


def _widen_pipe(process: subprocess.Popen[bytes]) -> None:
    """Let pg_dump run up to 1 MiB ahead of the reader (Linux; the default pipe is 64 KiB)."""
    if process.stdout is None or not hasattr(fcntl, "F_SETPIPE_SZ"):
        return
    with contextlib.suppress(OSError):
        fcntl.fcntl(process.stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)


def restore_command(tools: Tools, uri: str, archive: Path, clean: bool) -> list[str]:
    """``pg_restore`` in one transaction, stopping at the first error."""
    command = [
        tools.pg_restore, "--no-password", "--no-owner", "--no-privileges",
        "--exit-on-error", "--single-transaction", f"--dbname={uri}",
    ]  # fmt: skip
    if clean:
        command += ["--clean", "--if-exists"]
    return [*command, str(archive)]


def restore(tools: Tools, url: str, archive: Path, clean: bool) -> None:
    """Restore a custom-format archive into the database at ``url`` (all or nothing)."""
    uri, env = libpq_target(url)
    _run(restore_command(tools, uri, archive, clean), "pg_restore", _env(env))


def archive_test(tools: Tools, archive: Path) -> list[str]:
    """Read the table of contents and decompress every data block; return the checks."""
    _run([tools.pg_restore, "--list", str(archive)], "pg_restore", _env({}))
    _run([tools.pg_restore, "--file", os.devnull, str(archive)], "pg_restore", _env({}))
    return ["pg_restore --list", "pg_restore of every data block"]


def _run(command: list[str], tool: str, env: dict[str, str]) -> None:
    result = subprocess.run(  # noqa: S603 - PostgreSQL client programs, fixed arguments
        command, capture_output=True, env=env, check=False
    )
    if result.returncode != 0:
        detail = _error_line(result.stderr.decode(errors="replace"), tool)
        raise BackupError(f"{tool} failed (exit {result.returncode}): {detail}")


async def connect(url: str) -> Any:
    """An asyncpg connection; one-line error (password hidden) when it fails."""
    try:
        return await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        text = str(error).strip().splitlines()
        detail = text[0] if text else type(error).__name__
        raise BackupError(f"cannot connect to {safe_url(url)}: {detail}") from None


async def server_version(connection: Any) -> Version:
    """The server's version."""
    return parse_version(str(await connection.fetchval("SHOW server_version")))


def database_url(server_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``server_url``."""
    parsed = parse_url(server_url).set(database=name)
    return parsed.render_as_string(hide_password=False)


async def create_database(server_url: str, name: str, template: str = "template0") -> str:
    """Create a database on the server, a copy of ``template`` (default: empty); its URL."""
    connection = await connect(server_url)
    try:
        await connection.execute(f"CREATE DATABASE {quote(name)} TEMPLATE {quote(template)}")
    except asyncpg.PostgresError as error:
        raise BackupError(f"cannot create database {name}: {error}") from None
    finally:
        await connection.close()
    return database_url(server_url, name)


async def drop_database(server_url: str, name: str) -> None:
    """Drop a database, disconnecting its sessions first."""
    connection = await connect(server_url)
    try:
        await connection.execute(f"DROP DATABASE IF EXISTS {quote(name)} WITH (FORCE)")
    finally:
        await connection.close()
