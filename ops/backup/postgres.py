"""PostgreSQL: the client tools, the version guard, a snapshot-consistent streamed
``pg_dump -Fc``, ``pg_restore``, the archive test, and connections.

The dump runs inside a REPEATABLE READ transaction that exports its snapshot:
``pg_dump --snapshot`` dumps exactly that snapshot while the same transaction
counts every table's rows, so the counts in the manifest are those of the dump.
The client programs run through :mod:`ops.core.commands`, except the dump: its
output is streamed into storage as it is produced (:func:`stream_dump`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import subprocess
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, TypeVar

import asyncpg

from ops.backup.database import asyncpg_dsn, libpq_target, parse_url, quote, safe_url
from ops.backup.errors import BackupCannotRun
from ops.core.commands import CommandFailed, failure_line, find_executable, run
from ops.core.environ import child_env
from ops.core.exits import one_line

T = TypeVar("T")
CONNECT_TIMEOUT = "10"
PIPE_SIZE = 1024 * 1024
HINT = "install the PostgreSQL client tools"
# A restore or a full read of a large archive takes as long as it takes: the bound
# is the job's own time limit, not this one.
TOOL_TIMEOUT = 24 * 3600.0
# Passed on to the client programs besides PATH: libpq's own settings (PGSSLMODE,
# PGSERVICEFILE, ...) and HOME, where ~/.pgpass lives.
LIBPQ_PREFIX = "PG"
LIBPQ_KEEP = ("HOME",)


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
        raise BackupCannotRun(f"cannot read a PostgreSQL version from {text.strip()[:60]!r}")
    return Version(int(match.group(1)), int(match.group(2) or 0), text.strip())


def find_tool(name: str, env: Mapping[str, str]) -> str:
    """The path of a PostgreSQL client program (on ``env``'s PATH);
    :class:`~ops.core.commands.ToolNotFound` when missing."""
    return find_executable(name, hint=HINT, env=env)


def tool_version(path: str, env: Mapping[str, str]) -> Version:
    """What ``PROGRAM --version`` says; a program that cannot say cannot run."""
    done = run([path, "--version"], env=tool_env(env), timeout=30)
    if not done.ok:
        reason = failure_line(done.stderr, done.stdout, program=Path(path).name)
        raise BackupCannotRun(f"{path} --version failed (exit {done.code}): {reason}")
    return parse_version(done.stdout)


def require_client(tool: str, client: Version, needed: Version, what: str) -> None:
    """Refuse a client older (major version) than the server or archive it must handle."""
    if client.major < needed.major:
        raise BackupCannotRun(
            f"{tool} {client} is older than {what} ({needed}): install the PostgreSQL "
            f"{needed.major} client tools (or newer) and put them first on PATH"
        )


@dataclass(frozen=True, slots=True)
class Tools:
    """The client programs, their versions, and the variables they run with."""

    pg_dump: str
    pg_restore: str
    dump_version: Version
    restore_version: Version
    env: Mapping[str, str] = field(default_factory=dict, repr=False)


def tools(env: Mapping[str, str]) -> Tools:
    """The PostgreSQL client programs on ``env``'s PATH."""
    dump, restore_tool = find_tool("pg_dump", env), find_tool("pg_restore", env)
    return Tools(dump, restore_tool, tool_version(dump, env), tool_version(restore_tool, env), env)


def tool_env(env: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A client program's environment: PATH, libpq's variables and HOME from ``env``, a
    connect time-out, then ``extra`` (the password)."""
    keep: Iterable[str] = (*LIBPQ_KEEP, *(name for name in env if name.startswith(LIBPQ_PREFIX)))
    return child_env(env, {"PGCONNECT_TIMEOUT": CONNECT_TIMEOUT, **(extra or {})}, keep=keep)


class ProcessReader:
    """A child's stdout; at EOF the child must have exited 0, else
    :class:`~ops.core.commands.CommandFailed` with the line that says why."""

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
                text = self.stderr.read().decode(errors="replace")
                reason = failure_line(text, program=self.tool)
                raise CommandFailed(f"{self.tool} failed (exit {code}): {reason}")
        return data


def dump_command(tools: Tools, uri: str, snapshot: str | None) -> list[str]:
    """``pg_dump`` in custom format (compressed by pg_dump) to standard output."""
    command = [tools.pg_dump, "--format=custom", "--no-password", f"--dbname={uri}"]
    return command + ([f"--snapshot={snapshot}"] if snapshot else [])


def stream_dump(
    tools: Tools, url: str, snapshot: str | None, consume: Callable[[BinaryIO], None]
) -> None:
    """Run pg_dump and hand its output stream to ``consume`` (which reads it to EOF).

    The one client program not run through :func:`ops.core.commands.run`: its output
    is never held whole, in memory or on disk.
    """
    uri, password = libpq_target(url)
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(  # noqa: S603 - pg_dump with fixed arguments
            dump_command(tools, uri, snapshot), stdout=subprocess.PIPE, stderr=stderr,
            env=tool_env(tools.env, password),
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
    uri, password = libpq_target(url)
    _pg_restore(tools, restore_command(tools, uri, archive, clean), password)


def archive_test(tools: Tools, archive: Path) -> list[str]:
    """Read the table of contents and decompress every data block; return the checks."""
    _pg_restore(tools, [tools.pg_restore, "--list", str(archive)])
    _pg_restore(tools, [tools.pg_restore, "--file", os.devnull, str(archive)])
    return ["pg_restore --list", "pg_restore of every data block"]


def _pg_restore(tools: Tools, command: list[str], extra: Mapping[str, str] | None = None) -> None:
    """Run pg_restore; :class:`~ops.core.commands.CommandFailed` (``pg_restore failed
    (exit N): why``) when it fails."""
    env = tool_env(tools.env, extra)
    run(command, env=env, timeout=TOOL_TIMEOUT).checked(words=1)


async def connect(url: str) -> Any:
    """An asyncpg connection; one-line error (password hidden) when it fails."""
    try:
        return await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise BackupCannotRun(f"cannot connect to {safe_url(url)}: {one_line(error)}") from None


async def connected(url: str, work: Callable[[Any], Awaitable[T]]) -> T:
    """``work`` done on a fresh connection to ``url``, closed afterwards."""
    connection = await connect(url)
    try:
        return await work(connection)
    finally:
        await connection.close()


def on_database(url: str, work: Callable[[Any], Awaitable[T]]) -> T:
    """:func:`connected` from synchronous code."""
    return asyncio.run(connected(url, work))


async def server_version(connection: Any) -> Version:
    """The server's version."""
    return parse_version(str(await connection.fetchval("SHOW server_version")))


def database_url(server_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``server_url``."""
    parsed = parse_url(server_url).set(database=name)
    return parsed.render_as_string(hide_password=False)


async def create_database(server_url: str, name: str, template: str = "template0") -> str:
    """Create a database on the server, a copy of ``template`` (default: empty); its URL."""

    async def create(connection: Any) -> None:
        try:
            await connection.execute(f"CREATE DATABASE {quote(name)} TEMPLATE {quote(template)}")
        except asyncpg.PostgresError as error:
            raise BackupCannotRun(f"cannot create database {name}: {one_line(error)}") from None

    await connected(server_url, create)
    return database_url(server_url, name)


@contextlib.contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new empty database ``<prefix>_<random>`` on the server; its URL, dropped afterwards."""
    name = f"{prefix}_{os.urandom(4).hex()}"
    url = asyncio.run(create_database(server_url, name))
    try:
        yield url
    finally:
        asyncio.run(drop_database(server_url, name))


async def drop_database(server_url: str, name: str) -> None:
    """Drop a database, disconnecting its sessions first."""

    async def drop(connection: Any) -> None:
        await connection.execute(f"DROP DATABASE IF EXISTS {quote(name)} WITH (FORCE)")

    await connected(server_url, drop)
