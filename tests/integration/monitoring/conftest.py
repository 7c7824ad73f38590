"""What the PostgreSQL and Redis checks' tests share: a private PostgreSQL cluster with a
low ``max_connections`` and a tiny buffer cache, private ``redis-server``s configured
per test, one-shot SQL, and a monitor context around the data stores' URLs.

The private servers are started for real from the machine's binaries (``initdb`` and
``pg_ctl``, as the ``postgres`` user when the tests run as root: both refuse root;
``redis-server``), each in its own temporary directory on a free port, and stopped at
teardown. A binary that is missing skips the tests locally and fails them under
``CI=true``, as a missing service does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pwd
import shlex
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis

from ops.backup.postgres import on_database
from ops.core.commands import check, find_executable, run
from ops.core.environ import child_env
from ops.core.exits import OpsError
from ops.core.processes import Process, free_port, wait_for
from ops.environments import EnvironmentDefinition
from ops.monitor.context import MonitorContext
from ops.monitor.results import Finding
from ops.monitor.settings import MonitorSettings
from ops.monitor.state import MonitorState
from tests.support import needs

T = TypeVar("T")
NAME = "monitored"
MAX_CONNECTIONS = 12
POSTGRES_USER = "postgres"
PG_BINARIES = Path("/usr/lib/postgresql")  # Debian and Ubuntu keep initdb and pg_ctl here
CLUSTER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "max_connections": str(MAX_CONNECTIONS),
    "shared_buffers": "128kB",  # the minimum: a scan of a few MB misses the cache
    "shared_preload_libraries": "pg_stat_statements",
    "fsync": "off",
}


def monitor_context(env: Mapping[str, str], **settings: Any) -> MonitorContext:
    """A context for an environment that is only its data stores: ``env`` holds their
    URLs, ``settings`` the ``[monitor]`` sections (``postgres=Postgres(...)``)."""
    definition = EnvironmentDefinition(
        name=NAME, platform="local", public_url="http://127.0.0.1:9",
        monitor=MonitorSettings(**settings),
    )  # fmt: skip
    return MonitorContext(definition, dict(env), MonitorState(NAME))


def next_run(context: MonitorContext) -> MonitorContext:
    """The context of the monitor's next run: the same state (counters), a fresh run."""
    return dataclasses.replace(context, cache={})


def by_subject(findings: list[Finding]) -> dict[str, Finding]:
    """The findings of one check, by subject (each subject once)."""
    subjects = {finding.subject: finding for finding in findings}
    assert len(subjects) == len(findings), [finding.key for finding in findings]
    return subjects


def sql(url: str, statement: str, *args: object) -> list[Any]:
    """Run one statement on the database at ``url`` (a fresh connection); its rows."""

    async def fetch(connection: Any) -> list[Any]:
        return list(await connection.fetch(statement, *args))

    return on_database(url, fetch)


def statistic(url: str, column: str) -> int:
    """A counter of the database's row in ``pg_stat_database``."""
    query = f"SELECT {column} FROM pg_stat_database WHERE datname = current_database()"  # noqa: S608
    return int(sql(url, query)[0][0])


def wait_for_statistic(url: str, column: str, above: int) -> None:
    """Wait until the server's statistics show ``column`` above ``above``: a backend
    publishes its counters when it goes idle, up to a second or so later."""

    def grown() -> tuple[bool, str]:
        value = statistic(url, column)
        return value > above, f"{column} = {value}"

    waited = wait_for(grown, timeout=30, interval=0.2)
    assert waited.ready, f"pg_stat_database never showed {column} above {above}: {waited.seen}"


def as_postgres(command: list[str]) -> list[str]:
    """``command`` as the ``postgres`` user when running as root (initdb refuses root)."""
    if os.geteuid() != 0:
        return command
    return ["su", POSTGRES_USER, "-s", "/bin/sh", "-c", shlex.join(command)]


def pg_program(name: str) -> str:
    """A PostgreSQL server program: on PATH, else in the newest /usr/lib/postgresql/N/bin."""
    versions = [path for path in PG_BINARIES.glob("*/bin") if path.parent.name.isdigit()]
    bin_dirs = sorted(versions, key=lambda path: int(path.parent.name), reverse=True)
    search = os.pathsep.join([os.environ.get("PATH", ""), *(str(path) for path in bin_dirs)])
    return find_executable(name, hint="install the PostgreSQL server", env={"PATH": search})


@dataclass(frozen=True)
class Cluster:
    """A private PostgreSQL server: its directory and port."""

    directory: Path
    port: int

    def url(self, database: str = "postgres") -> str:
        """The URL of one of its databases (trust authentication, user postgres)."""
        return f"postgresql://{POSTGRES_USER}@127.0.0.1:{self.port}/{database}"

    @contextmanager
    def database(self, name: str) -> Iterator[str]:
        """A new database on the cluster, dropped afterwards; its URL."""
        sql(self.url(), f'CREATE DATABASE "{name}"')
        try:
            yield self.url(name)
        finally:
            sql(self.url(), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _owned_directory() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="monitor-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam(POSTGRES_USER)
        os.chown(directory, user.pw_uid, user.pw_gid)
    return directory


@pytest.fixture(scope="session")
def small_cluster() -> Iterator[Cluster]:
    """A private PostgreSQL cluster: ``max_connections`` 12, 128 kB of shared buffers,
    pg_stat_statements preloaded; stopped and removed at the end of the session."""
    try:
        initdb, pg_ctl = pg_program("initdb"), pg_program("pg_ctl")
    except OpsError as error:
        needs.missing(str(error))
    directory = _owned_directory()
    data, port = directory / "data", free_port()
    options = shlex.join(
        ["-p", str(port), "-k", str(directory)]
        + [part for name, value in CLUSTER_SETTINGS.items() for part in ("-c", f"{name}={value}")]
    )
    try:
        check(as_postgres([initdb, "-D", str(data), "-A", "trust", "-U", POSTGRES_USER,
                           "--no-sync", "-E", "UTF8"]), timeout=120)  # fmt: skip
        check(as_postgres([pg_ctl, "-D", str(data), "-l", str(directory / "server.log"), "-w",
                           "-t", "60", "-o", options, "start"]), timeout=90)  # fmt: skip
        try:
            yield Cluster(directory, port)
        finally:
            run(as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]), timeout=60)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def private_redis(directory: Path, *options: str) -> Iterator[tuple[str, Process]]:
    """A ``redis-server`` of its own (no persistence) with ``options``, on a free port;
    yields its URL and process, stopped afterwards."""
    binary = needs.program("redis-server", "install redis-server")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
               "--save", "", "--appendonly", "no", *options]  # fmt: skip
    with Process(command, env=child_env(os.environ), cwd=directory,
                 log_path=directory / "redis.log") as process:  # fmt: skip
        waited = wait_for(lambda: _answers(url), timeout=30, alive=process.alive)
        assert waited.ready, f"redis-server did not start: {waited.seen}\n{process.log_tail()}"
        yield url, process


def _answers(url: str) -> tuple[bool, str]:
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=1) as client:
            return bool(client.ping()), "PONG"
    except redis.RedisError as error:
        return False, str(error)


def run_in_thread(function: Callable[[MonitorContext], T], context: MonitorContext) -> Awaitable[T]:
    """A check run from an async test: in a thread, since the check runs its own event loop."""
    return asyncio.to_thread(function, context)
