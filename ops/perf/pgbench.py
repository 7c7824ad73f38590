"""The database reference: pgbench TPC-B on the PostgreSQL server a local run uses,
measured before the load, so that the order rate can be reported as a ratio to what the
same server does for a standard write workload (issue 14).

``pgbench -i -q -s SCALE`` then ``pgbench -n -c CLIENTS -j THREADS -T SECONDS -b
tpcb-like``, in a throwaway database of their own (``perf_pgbench_<random>``, dropped
afterwards -- never the app's). The connection is a libpq URI without the password (that
travels in ``PGPASSWORD``). pgbench is pinned to the CPUs the app server's workers run on:
during the load those are PostgreSQL's client, so pgbench competes for the same cores as
they do (PostgreSQL itself is a server the run does not place, in both cases).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from ops.backup.database import libpq_target, safe_url
from ops.backup.postgres import find_tool, scratch_database, tool_env, tool_version
from ops.core.commands import CommandTimedOut, Completed, ToolNotFound, failure_line, run
from ops.core.exits import CannotRun
from ops.core.processes import pinned
from ops.perf.slo import RunSettings

BUILTIN = "tpcb-like"
DATABASE_PREFIX = "perf_pgbench"
INIT_TIMEOUT_SECONDS = 300.0
RUN_TIMEOUT_ALLOWANCE_SECONDS = 60.0  # connections, the last transactions, the report
# The tps line, by pgbench version; earlier in the list is preferred.
TPS_KINDS = (
    "without initial connection time",  # pgbench 14 and later
    "excluding connections establishing",  # up to 13
    "including connections establishing",  # up to 13, printed alongside the one above
)
_TPS = re.compile(r"^tps = (\d+(?:\.\d+)?) \(([^)]*)\)\s*$", re.MULTILINE)


class ReferenceProblem(CannotRun):
    """The database reference could not be measured; one line."""


@dataclass(frozen=True)
class ReferenceSettings:
    """How the reference is run: ``[run] db_reference_*`` of the SLO model."""

    seconds: int
    clients: int
    threads: int
    scale: int

    @classmethod
    def of(cls, run: RunSettings) -> ReferenceSettings:
        """The settings of a run's SLO model."""
        return cls(run.db_reference_seconds, run.db_reference_clients,
                   run.db_reference_threads, run.db_reference_scale)  # fmt: skip

    @property
    def enabled(self) -> bool:
        """False when ``db_reference_seconds`` is 0."""
        return self.seconds > 0

    def describe(self) -> str:
        """One line: ``scale 1, 16 clients, 2 threads, 10 s``."""
        return (f"scale {self.scale}, {self.clients} clients, {self.threads} threads, "
                f"{self.seconds} s")  # fmt: skip


@dataclass(frozen=True)
class Reference:
    """What pgbench measured: the tool, how it ran, where, and the transactions/s."""

    tool: str  # ``pgbench 15.20``
    settings: ReferenceSettings
    server: str  # the database server, password hidden
    cpus: tuple[int, ...]  # pgbench was pinned to them (none: not pinned)
    tps: float

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        data = asdict(self)
        data["builtin"] = BUILTIN
        data["cpus"] = list(self.cpus)
        return data


def parse_tps(output: str, stderr: str = "") -> float:
    """The transactions/s of pgbench's report (``tps = N (without initial connection
    time)``, or an older pgbench's ``excluding``/``including connections establishing``);
    :class:`ReferenceProblem` naming pgbench's last line (of ``stderr``, else of the
    report) when there is none."""
    found = {kind: float(value) for value, kind in _TPS.findall(output)}
    for kind in TPS_KINDS:
        if kind in found:
            return found[kind]
    last = failure_line(stderr, output, program="pgbench")
    raise ReferenceProblem(f"database reference: pgbench printed no tps line (last line: {last})")


def init_command(pgbench: str, uri: str, settings: ReferenceSettings) -> list[str]:
    """``pgbench -i -q -s SCALE``: the TPC-B tables, quietly."""
    return [pgbench, "-i", "-q", "-s", str(settings.scale), uri]


def bench_command(pgbench: str, uri: str, settings: ReferenceSettings) -> list[str]:
    """``pgbench -n -c CLIENTS -j THREADS -T SECONDS -b tpcb-like`` (no vacuum: ``-i``
    has just made the tables)."""
    return [
        pgbench, "-n", "-c", str(settings.clients), "-j", str(settings.threads),
        "-T", str(settings.seconds), "-b", BUILTIN, uri,
    ]  # fmt: skip


def measure(
    server_url: str,
    settings: ReferenceSettings,
    env: Mapping[str, str],
    cpus: Sequence[int] = (),
) -> Reference:
    """pgbench TPC-B on ``server_url``'s server, in a scratch database dropped afterwards;
    :class:`ReferenceProblem` when pgbench is missing, fails or reports no tps."""
    try:
        pgbench = find_tool("pgbench", env)
    except ToolNotFound as error:
        raise ReferenceProblem(f"database reference: {error} (or --no-db-reference)") from None
    version = tool_version(pgbench, env)
    with scratch_database(server_url, DATABASE_PREFIX) as url:
        uri, password = libpq_target(url)
        child = tool_env(env, password)
        init = pinned(init_command(pgbench, uri, settings), cpus)
        pgbench_run("pgbench -i", init, child, INIT_TIMEOUT_SECONDS)
        bench = pinned(bench_command(pgbench, uri, settings), cpus)
        timeout = settings.seconds + RUN_TIMEOUT_ALLOWANCE_SECONDS
        done = pgbench_run("pgbench", bench, child, timeout)
    tps = parse_tps(done.stdout, done.stderr)
    if tps <= 0:
        raise ReferenceProblem(f"database reference: pgbench measured {tps:g} tps, no reference")
    return Reference(f"pgbench {version}", settings, safe_url(server_url), tuple(cpus), tps)


def pgbench_run(
    step: str, command: Sequence[str], env: Mapping[str, str], timeout: float
) -> Completed:
    """One pgbench command (``step`` names it); :class:`ReferenceProblem` with pgbench's
    last stderr line when it fails or does not finish in time."""
    try:
        done = run(command, env=env, timeout=timeout)
    except (CommandTimedOut, ToolNotFound) as error:
        raise ReferenceProblem(f"database reference: {error}") from None
    if not done.ok:
        reason = failure_line(done.stderr, done.stdout, program="pgbench")
        raise ReferenceProblem(f"database reference: {step} failed (exit {done.code}): {reason}")
    return done
