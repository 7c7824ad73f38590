"""A load run judged against the SLOs: ``python -m ops.perf [--scenario NAME] [options]``.

The story, top to bottom:

1. the objectives: ``deploy/perf.toml``, an environment's ``[perf]`` over it
   (``--env``), then this run's ``--rate``/``--duration``/``--warmup``/``--arrival``;
2. the target: ``--host`` (or ``--env``'s public URL) -- or, by default, a server
   started here in the production shape on a throwaway PostgreSQL database and Redis
   (:mod:`ops.perf.target`), with the load generator on CPUs of its own;
3. the database reference (:mod:`ops.perf.pgbench`): for a local PostgreSQL target,
   pgbench TPC-B on the same server while the app is still idle (``--no-db-reference``);
4. the accounts (:mod:`ops.perf.provision`) and the plan, written to a private
   temporary directory (it holds passwords: never under ``reports/``);
5. the open workload, run by locust (:mod:`ops.perf.generator`), which writes
   ``measurements.json`` -- including the server's ``/metrics`` as the judged window
   opened and closed, for the cross-check;
6. the verdict (:mod:`ops.perf.verdict`) against the SLOs and a baseline
   (``--baseline latest`` or a stored verdict), written to ``reports/perf/`` and kept
   in the history (:mod:`ops.perf.baseline`).

Exit status: 0 passed, 1 an objective broken, 2 could not run, 3 inconclusive or a
smoke run (figures reported, no SLO verdict).
"""

from __future__ import annotations

import argparse
import platform
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops.core import environ
from ops.core.console import Console
from ops.core.exits import CannotRun, OpsError, one_line
from ops.core.processes import available_cpus, log_tail
from ops.environments import load_environment
from ops.live.client import TradingClient
from ops.perf import baseline, measurements, pgbench, verdict
from ops.perf.generator import MEASUREMENTS_VARIABLE, PLAN_VARIABLE, Generator, describe
from ops.perf.generator import run as generate
from ops.perf.limits import Limits, check_fits
from ops.perf.placement import Placement, place, production_workers
from ops.perf.provision import provision
from ops.perf.scenarios import Plan, expected_requests, parameters, scenario_hash
from ops.perf.server_metrics import CrossCheck
from ops.perf.slo import Slo, merged, read_defaults, resolve
from ops.perf.target import Backend, Target, database_server, local, remote
from ops.project import REPORTS

PERF_DIR = REPORTS / "perf"
DEFAULT_SCENARIO = "trader-mix"
# What a run leaves in its reports directory; an earlier run's are removed first, so
# that nothing stale is ever judged or uploaded.
OUTPUTS = ("measurements.json", verdict.JSON_NAME, verdict.MARKDOWN_NAME, "report.html",
           "locust*.csv", "locust*.log", "server*.log")  # fmt: skip
# locust's --run-time is a ceiling: each process ends its schedule (warm-up and judged
# window) and the run stops then; this allows for the log-ins and the drain.
RUN_TIME_ALLOWANCE_SECONDS = 60
REMOTE_CROSS_CHECK = (
    "a deployed environment answers /metrics for one replica behind its load balancer "
    "(--cross-check compares anyway)"
)
NO_DATABASE_ACCESS = "a deployed target: this run has no access to its database server"


@dataclass(frozen=True)
class Options:
    """What one run was asked to do."""

    scenario: str
    env_name: str
    host: str
    overrides: Mapping[str, Any]
    generator: Generator
    server_workers: int
    backend: Backend
    baseline: str
    seed: int
    reports: Path
    history: Path
    slo_file: Path | None
    store: bool
    cross_check: bool | None  # None: local runs compare, deployed ones do not
    db_reference: bool = True  # pgbench first, where the run has the database server


def parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m ops.perf", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--scenario", default=DEFAULT_SCENARIO, help="a [scenarios.NAME] of deploy/perf.toml")
    add("--env", default="", help="an environment: its [perf] objectives and its public URL")
    add("--host", default="", help="the base URL to load (default: a local server)")
    add("--rate", type=float, help="requests/s offered (over [run] rate)")
    add("--duration", type=float, help="seconds judged, after the warm-up")
    add("--warmup", type=float, help="seconds run before the judged window")
    add("--arrival", choices=("poisson", "constant"))
    add("--workers", type=int, default=0, help="locust worker processes (0: one standalone)")
    add("--master-host", default="", help="join the locust master on this host: workers only")
    add("--total-workers", type=int, default=0,
        help="workers across every host (several generator hosts: the same on each)")  # fmt: skip
    add("--server-workers", type=int, default=0, help="default: the image's count")
    add("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    add("--baseline", default="", help="'latest' (of the history) or a stored verdict.json")
    add("--seed", type=int, default=None, help="the schedule's seed (default: random, reported)")
    add("--slo", type=Path, help="a TOML file of objectives over deploy/perf.toml (and --env's)")
    add("--reports", type=Path, default=PERF_DIR)
    add("--history", type=Path, default=baseline.HISTORY, help="where verdicts are kept")
    add("--no-store", action="store_true", help="do not keep the verdict in the history")
    add("--cross-check", action=argparse.BooleanOptionalAction, default=None,
        help="compare with the server's /metrics (default: for a local server only)")  # fmt: skip
    add("--db-reference", action=argparse.BooleanOptionalAction, default=True,
        help="pgbench TPC-B on the database server first (local PostgreSQL runs only)")  # fmt: skip
    add("--json", action="store_true", help="print the verdict as JSON on stdout")
    return parser


def options(args: argparse.Namespace) -> Options:
    """The parsed command line, checked; CannotRun naming the first thing wrong."""
    if args.workers < 0 or args.server_workers < 0:
        raise CannotRun("--workers and --server-workers must not be negative")
    if args.master_host and not args.workers:
        raise CannotRun("--master-host needs --workers N: the workers that join it")
    if args.total_workers and args.total_workers < args.workers:
        raise CannotRun("--total-workers counts every host's workers: at least --workers")
    given = {"rate": args.rate, "duration_seconds": args.duration,
             "warmup_seconds": args.warmup, "arrival": args.arrival}  # fmt: skip
    run = {key: value for key, value in given.items() if value is not None}
    return Options(
        scenario=args.scenario, env_name=args.env, host=args.host.rstrip("/"),
        overrides={"run": run} if run else {},
        generator=Generator(args.workers, args.master_host, total_workers=args.total_workers),
        server_workers=args.server_workers, backend=args.backend, baseline=args.baseline,
        seed=secrets.randbelow(2**31) if args.seed is None else args.seed,
        reports=args.reports, history=args.history, slo_file=args.slo, store=not args.no_store,
        cross_check=args.cross_check, db_reference=args.db_reference,
    )  # fmt: skip


def objectives(opts: Options) -> Slo:
    """The SLOs of this run: defaults, the environment's ``[perf]``, ``--slo``, then the
    command line's run settings."""
    layers = [load_environment(opts.env_name).perf if opts.env_name else {}]
    if opts.slo_file is not None:
        layers.append(read_defaults(opts.slo_file))
    layers.append(dict(opts.overrides))
    combined: dict[str, Any] = {}
    for layer in layers:
        combined = merged(combined, layer)
    named = [f"{opts.env_name}.toml [perf]" if opts.env_name else "",
             opts.slo_file.name if opts.slo_file else "", "the command line"]  # fmt: skip
    slo = resolve(combined, where=" with ".join(name for name in named if name))
    parameters(opts.scenario, slo)  # an unknown or invalid scenario fails here, not in locust
    return slo


def offered(scenario: str, slo: Slo) -> str:
    """The offered rate in words: constant, or where a stepped one starts and ends."""
    rate = parameters(scenario, slo).rate(slo.run)
    if not rate.stepped:
        return f"{rate.start:g} req/s"
    last = rate.at(max(slo.run.duration_seconds - rate.step_seconds, 0))
    return (f"{rate.start:g} req/s, +{rate.step:g} every {rate.step_seconds:g} s "
            f"up to {last:g}")  # fmt: skip


def target_url(opts: Options) -> str:
    """The URL under load: ``--host``, else the environment's public URL, else none
    (a local server)."""
    if opts.host:
        return opts.host
    if opts.env_name:
        return load_environment(opts.env_name).public_url.rstrip("/")
    return ""


def clear_outputs(reports: Path) -> None:
    """Remove what an earlier run left in ``reports`` (only the files a run writes)."""
    for pattern in OUTPUTS:
        for path in reports.glob(pattern):
            path.unlink()


@contextmanager
def private_directory() -> Iterator[Path]:
    """A directory only this user can read (the plan holds the accounts' passwords)."""
    directory = Path(tempfile.mkdtemp(prefix="trading-perf-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def the_target(opts: Options, env: Mapping[str, str], placement: Placement) -> Iterator[Target]:
    """The deployed URL, or a local production-shaped server for the run's length."""
    url = target_url(opts)
    if url:
        yield remote(url)
        return
    workers = opts.server_workers or production_workers()
    with local(env, placement, workers=workers, backend=opts.backend, log_dir=opts.reports) as t:
        yield t


def app_version(url: str) -> str:
    """The version the target says it runs (``unknown`` when it does not say)."""
    with TradingClient(url) as client:
        try:
            data = client.json("GET", "/version")
        except OpsError:
            return "unknown"
    version, sha = str(data.get("version", "unknown")), str(data.get("git_sha") or "")
    return f"{version}+{sha[:12]}" if sha and sha != "unknown" else version


def machine() -> str:
    """This machine in one line (figures carry it)."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                model = " " + line.partition(":")[2].strip()
                break
    return (f"{platform.system()} {platform.machine()}, {len(available_cpus())} CPUs{model}, "
            f"Python {platform.python_version()}")  # fmt: skip


def compares(opts: Options, target: Target) -> bool:
    """Whether the server's /metrics are read and compared: by default for a local
    server only."""
    return target.local if opts.cross_check is None else opts.cross_check


def cross_check(opts: Options, target: Target, measured: measurements.Measurements) -> CrossCheck:
    """The server's own counts and latencies against the generator's, where they can be."""
    if not compares(opts, target):
        return CrossCheck.unavailable(REMOTE_CROSS_CHECK)
    return CrossCheck.of(measured)


def load(opts: Options, env: Mapping[str, str], console: Console) -> verdict.Verdict | None:
    """Run the load and judge it; the verdict, written to ``opts.reports`` (None for
    workers joining a master elsewhere: the master judges)."""
    slo = objectives(opts)
    identity = scenario_hash(opts.scenario, slo)
    chosen = baseline.choose(opts.baseline, opts.scenario, identity, opts.history)
    opts.reports.mkdir(parents=True, exist_ok=True)
    clear_outputs(opts.reports)
    placement = place(available_cpus()) if not target_url(opts) else Placement((), ())
    generator = replace(opts.generator, cpus=placement.generator)
    started = datetime.now(UTC)
    console.say(f"perf: {opts.scenario} at {offered(opts.scenario, slo)} ({slo.run.arrival}), "
                f"{slo.run.warmup_seconds:g} s warm-up, {slo.run.duration_seconds:g} s judged, "
                f"seed {opts.seed}")  # fmt: skip
    with the_target(opts, env, placement) as target:
        console.say(f"perf: target {target.url} ({target.shape})")
        console.say(f"perf: {describe(generator, generator.cpus)}")
        reference, notes = database_reference(opts, slo, target, env, placement, console)
        measured = generate_load(opts, slo, identity, target, generator, env)
        if measured is None:
            console.say(f"perf: workers done; the master at {generator.master_host} judges")
            return None
        context = verdict.RunContext(
            app_version=app_version(target.url), scenario=opts.scenario,
            host=f"{target.url} ({target.shape})", smoke=bool(target.smoke_reason),
            smoke_reason=target.smoke_reason, started_at=started, machine=machine(),
            expected_requests=expected_requests(opts.scenario, slo),
        )  # fmt: skip
        judged = verdict.judge(measured, slo, context, chosen, cross_check(opts, target, measured),
                               reference, notes)  # fmt: skip
    verdict.write_reports(judged, opts.reports)
    if opts.store:
        console.say(f"perf: kept in the history as {baseline.store(judged, opts.history)}")
    return judged


def no_reference(opts: Options, slo: Slo, target: Target) -> str:
    """Why this run measures no database reference (``""``: it does)."""
    if not opts.db_reference:
        return "--no-db-reference"
    if not pgbench.ReferenceSettings.of(slo.run).enabled:
        return "[run] db_reference_seconds = 0"
    if opts.generator.master_host:
        return "workers only: the master judges"
    if not target.local:
        return NO_DATABASE_ACCESS
    if opts.backend == "sqlite":
        return "SQLite: no PostgreSQL server to measure"
    return ""


def database_reference(
    opts: Options,
    slo: Slo,
    target: Target,
    env: Mapping[str, str],
    placement: Placement,
    console: Console,
) -> tuple[pgbench.Reference | None, list[str]]:
    """pgbench on the local run's database server, pinned where the app's workers run
    (still idle: before the accounts and the load); else none, and a note saying why."""
    why = no_reference(opts, slo, target)
    if why:
        return None, [f"no database reference: {why}"]
    settings = pgbench.ReferenceSettings.of(slo.run)
    console.say(f"perf: database reference: pgbench {pgbench.BUILTIN}, {settings.describe()}")
    reference = pgbench.measure(database_server(env), settings, env, placement.server)
    console.say(f"perf: database reference: {reference.tps:.1f} TPS")
    return reference, []


def generate_load(
    opts: Options,
    slo: Slo,
    identity: str,
    target: Target,
    generator: Generator,
    env: Mapping[str, str],
) -> measurements.Measurements | None:
    """Provision the accounts, hand locust the plan, run it; what it measured (None when
    only workers ran here)."""
    environment = load_environment(opts.env_name) if opts.env_name else None
    provisioned = provision(target.url, opts.scenario, slo, env, local=target.local,
                            environment=environment)  # fmt: skip
    if environment is not None and not target.local:
        # One generator address: with several hosts the check is on the safe side.
        limits = Limits.of(environment.app)
        check_fits(slo, len(provisioned.accounts), 1, limits, f"{opts.env_name}'s rate limits")
    plan = Plan(
        opts.scenario, slo, provisioned.accounts, opts.seed, generator.processes, identity,
        provisioned.market, scrape_metrics=compares(opts, target),
    )  # fmt: skip
    output = opts.reports / "measurements.json"
    run_seconds = slo.run.warmup_seconds + slo.run.duration_seconds + RUN_TIME_ALLOWANCE_SECONDS
    with private_directory() as private:
        plan.write(private / "plan.json")
        variables = {PLAN_VARIABLE: str(private / "plan.json"), MEASUREMENTS_VARIABLE: str(output)}
        generate(generator, target.url, run_seconds, opts.reports, variables, env)
    if generator.master_host:
        return None
    if not output.exists():
        raise CannotRun(f"locust wrote no measurements: {last_lines(opts.reports / 'locust.log')}")
    return measurements.read(output)


def last_lines(log: Path) -> str:
    """The last lines of a log that say something, on one line."""
    lines = [line.strip() for line in log_tail(log, 40).splitlines() if line.strip()]
    return " / ".join(lines[-2:]) or f"nothing in {log}"


def report(judged: verdict.Verdict, console: Console) -> None:
    """The verdict for people (a table per request) and for the job summary."""
    text = verdict.markdown(judged)
    console.say(text)
    console.summary(text)
    console.result(judged.to_dict())
    line = f"perf: {judged.status}: {judged.reason}"
    if judged.exit_code:
        console.warn(line)
    else:
        console.say(line)


def main(argv: Sequence[str] | None = None) -> int:
    """Run, judge, report; the exit status of the verdict (2: could not run)."""
    args = parser().parse_args(argv)
    env = environ.current()
    console = Console(as_json=args.json, env=env)
    try:
        judged = load(options(args), env, console)
    except OpsError as error:
        console.warn(f"perf: {one_line(error)}")
        return error.exit_code
    if judged is None:
        return 0
    report(judged, console)
    return judged.exit_code
