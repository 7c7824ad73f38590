"""The verdict of a performance run: every rule with its limit and what was observed, one
status, and the reason -- the first rule that decided it, in one line.

A rule's kind says what a broken rule means:

- ``slo``: a request's p50/p95/p99 (intended-time latency) or error ratio over its limit,
  ``regression``: worse than the baseline (:mod:`ops.perf.baseline`), ``abort``: the run
  stopped early -- the verdict is **failed** (exit 1);
- ``samples``: too few samples of a request, or a request the SLO file names never made,
  ``saturation``: the load generator did not offer the load, ``cross-check``: the server's
  own counts disagree with the generator's (:mod:`ops.perf.server_metrics`) -- the verdict
  is **inconclusive** (exit 3), never a pass;
- a smoke run (no production shape) is **smoke** (exit 3) whatever the figures.

The database reference (:mod:`ops.perf.pgbench`) is a figure, not a rule: the run's order
rate as a ratio to pgbench TPC-B on the same server (:func:`database_reference`).

``verdict.json`` is what baselines are made of; ``verdict.md`` is for people (and the
GitHub job summary).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ops.core.console import to_json, write_atomically
from ops.core.exits import CHECK_FAILED, DONE, INCONCLUSIVE
from ops.perf.histograms import Histogram
from ops.perf.measurements import Measurements, RequestFigures, Step
from ops.perf.scenarios import LOGIN
from ops.perf.slo import RequestSlo, Slo

if TYPE_CHECKING:
    from ops.perf.baseline import Baseline
    from ops.perf.pgbench import Reference
    from ops.perf.server_metrics import CrossCheck

RuleKind = Literal["slo", "saturation", "samples", "regression", "abort", "cross-check"]
Status = Literal["passed", "failed", "inconclusive", "smoke"]
FAILING_KINDS: frozenset[str] = frozenset({"slo", "regression", "abort"})
PERCENTILES = (50, 95, 99)
ORDER_REQUEST = "POST /v1/orders"  # the knee of a stepped run is judged on the order path
EXIT_CODES: dict[Status, int] = {
    "passed": DONE, "failed": CHECK_FAILED, "inconclusive": INCONCLUSIVE, "smoke": INCONCLUSIVE,
}  # fmt: skip
SATURATED = "load generator saturated: "
# The generator itself was late or short of CPU: every latency it measured carries its own
# delay, so even a broken objective says nothing about the server. (Arrivals dropped at the
# in-flight cap, by contrast, are what a slow server causes.)
GENERATOR_BOUND = frozenset({"schedule lag p99", "cpu warnings"})
JSON_NAME = "verdict.json"
MARKDOWN_NAME = "verdict.md"


@dataclass(frozen=True)
class RunContext:
    """What was run, where and on what; ``smoke`` when it is not an SLO verdict.

    ``expected_requests`` are the request names the scenario must have made; None means
    every name the SLO file lists (``[requests."..."]``)."""

    app_version: str
    scenario: str
    host: str
    smoke: bool
    smoke_reason: str
    started_at: datetime
    machine: str
    expected_requests: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        if self.expected_requests is not None:
            data["expected_requests"] = list(self.expected_requests)
        return data


@dataclass(frozen=True)
class Rule:
    """One comparison: ``subject``'s ``name`` observed against its limit; ``detail`` says it
    in one line (``POST /v1/orders p99 412.0 ms > 250 ms``)."""

    name: str
    subject: str
    limit: float | str
    observed: float | str
    ok: bool
    kind: RuleKind
    detail: str

    @property
    def fails(self) -> bool:
        """Broken, and of a kind that fails the verdict (not merely inconclusive)."""
        return not self.ok and self.kind in FAILING_KINDS

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class Comparison:
    """What a comparison with other evidence (a baseline, the server's metrics) adds to a
    verdict: rules, notes, and a summary for verdict.json."""

    rules: list[Rule] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Percentiles:
    """p50/p95/p99/max of one histogram, in milliseconds."""

    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, histogram: Histogram) -> Percentiles:
        """The percentiles of ``histogram`` (zeros when it is empty)."""
        p50, p95, p99 = (histogram.percentile_ms(p) for p in PERCENTILES)
        return cls(p50, p95, p99, histogram.max_ms())

    def at(self, percentile: int) -> float:
        """The value at 50, 95 or 99."""
        value: float = getattr(self, f"p{percentile}_ms")
        return value


@dataclass(frozen=True)
class EndpointFigures:
    """One request name's figures: intended-time latency and service time."""

    name: str
    count: int
    failures: int
    expected_rejections: int
    error_ratio: float
    latency: Percentiles
    service: Percentiles
    failure_samples: list[str]

    @classmethod
    def of(cls, figures: RequestFigures) -> EndpointFigures:
        """The figures of one request name of a run."""
        return cls(
            figures.name, figures.count, figures.failures, figures.expected_rejections,
            figures.error_ratio, Percentiles.of(figures.latency_histogram()),
            Percentiles.of(figures.service_histogram()), list(figures.failure_samples),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class Knee:
    """A stepped run's knee: the highest offered rate the server kept up with (achieved
    ratio at least the floor, p99 within the order path's limit); None when no step did."""

    rate: float | None
    p99_limit_ms: float
    min_achieved_ratio: float
    steps: list[dict[str, Any]]
    at_top: bool = False
    """The run's last step kept up too: the knee is at least ``rate``, not found."""

    def line(self) -> str:
        """One line for people."""
        if self.rate is None:
            return f"no step kept up (p99 <= {self.p99_limit_ms:g} ms at the offered rate)"
        if self.at_top:
            return (
                f"knee at least {self.rate:g} requests/s (p99 <= {self.p99_limit_ms:g} ms): "
                "the run's last step kept up, a longer --duration steps further"
            )
        return f"knee at {self.rate:g} requests/s (p99 <= {self.p99_limit_ms:g} ms)"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one run: its status and everything it was decided on."""

    status: Status
    reason: str
    context: RunContext
    scenario_hash: str
    slo_digest: str
    requests: dict[str, EndpointFigures]
    rules: list[Rule]
    saturation: dict[str, Any]
    knee: Knee | None = None
    cross_check: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    database_reference: dict[str, Any] | None = None

    @property
    def exit_code(self) -> int:
        """0 passed, 1 failed, 3 inconclusive or smoke (ops.core.exits)."""
        return EXIT_CODES[self.status]

    def broken(self) -> list[Rule]:
        """The rules that did not hold, failing kinds first."""
        return [rule for rule in self.rules if rule.fails] + [
            rule for rule in self.rules if not rule.ok and not rule.fails
        ]

    def to_dict(self) -> dict[str, Any]:
        """``verdict.json``."""
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "reason": self.reason,
            "app_version": self.context.app_version,
            "scenario": self.context.scenario,
            "scenario_hash": self.scenario_hash,
            "slo_digest": self.slo_digest,
            "context": self.context.to_dict(),
            "requests": {name: figures.to_dict() for name, figures in self.requests.items()},
            "rules": [rule.to_dict() for rule in self.rules],
            "saturation": self.saturation,
            "knee": asdict(self.knee) if self.knee else None,
            "cross_check": self.cross_check,
            "baseline": self.baseline,
            "database_reference": self.database_reference,
            "notes": self.notes,
        }


def judge(
    measurements: Measurements,
    slo: Slo,
    context: RunContext,
    baseline: Baseline | None = None,
    cross_check: CrossCheck | None = None,
    reference: Reference | None = None,
    notes: Sequence[str] = (),
) -> Verdict:
    """Every rule over ``measurements``, then the status and its reason; ``reference``
    (pgbench on the run's database server) and ``notes`` are reported, never judged."""
    requests = {
        name: EndpointFigures.of(measurements.requests[name])
        for name in sorted(measurements.requests)
    }
    rules = [abort_rule(measurements), *saturation_rules(measurements, slo)]
    for name, figures in requests.items():
        rules += request_rules(figures, slo.request(name))
    expected = slo.requests if context.expected_requests is None else context.expected_requests
    rules += missing_rules(requests, expected)
    by_baseline = baseline.compare(requests, slo.regression) if baseline else Comparison()
    by_server = cross_check.compare(measurements) if cross_check else Comparison()
    rules += by_baseline.rules + by_server.rules
    status, reason = decide(rules, context)
    knee = find_knee(measurements.steps, slo) if measurements.steps else None
    by_reference = (database_reference(reference, requests, knee, measurements.window_seconds)
                    if reference else None)  # fmt: skip
    return Verdict(
        status, reason, context, measurements.scenario_hash, slo.digest(), requests, rules,
        saturation_figures(measurements), knee,
        cross_check=by_server.summary if cross_check else None,
        baseline=by_baseline.summary if baseline else None,
        notes=[*notes, *by_baseline.notes, *by_server.notes],
        database_reference=by_reference,
    )  # fmt: skip


def decide(rules: Sequence[Rule], context: RunContext) -> tuple[Status, str]:
    """The status, and the one line that decided it."""
    failing = [rule for rule in rules if rule.fails]
    unsure = [rule for rule in rules if not rule.ok and not rule.fails]
    if context.smoke:
        worst = failing or unsure
        would = f"; first broken rule: {worst[0].detail}" if worst else ""
        return "smoke", f"smoke run, not an SLO verdict: {context.smoke_reason}{would}"
    own = [rule for rule in unsure if rule.kind == "saturation" and rule.name in GENERATOR_BOUND]
    if failing and own:
        return "inconclusive", (f"{own[0].detail}: the broken objectives may be the generator's "
                                f"own delay (first: {failing[0].detail})")  # fmt: skip
    if failing:
        more = f" (and {len(failing) - 1} more)" if len(failing) > 1 else ""
        return "failed", failing[0].detail + more
    if unsure:
        return "inconclusive", unsure[0].detail
    return "passed", f"every rule held ({len(rules)} rules)"


def abort_rule(measurements: Measurements) -> Rule:
    """The run went to the end; else it failed, naming why it stopped."""
    reason = measurements.aborted
    detail = f"run aborted: {reason}" if reason else "run went to the end"
    return Rule("aborted", "run", "", reason or "no", not reason, "abort", detail)


def saturation_rules(measurements: Measurements, slo: Slo) -> list[Rule]:
    """Did the load generator offer the load it was asked to: any of these broken makes the
    run inconclusive, whatever the server did."""
    run, scheduled = slo.run, measurements.scheduled
    achieved = measurements.achieved_ratio
    dropped = measurements.dropped / scheduled if scheduled else 0.0
    lag = Histogram.decode(measurements.schedule_lag).percentile_ms(99)
    warnings = measurements.cpu_warnings
    ok, sign = holds(achieved, run.min_achieved_ratio, at_least=True)
    rules = [_saturation(
        "achieved ratio", run.min_achieved_ratio, achieved, ok,
        f"sent {measurements.sent} of {scheduled} scheduled arrivals "
        f"({achieved:.1%} {sign} {run.min_achieved_ratio:.0%})",
    )]  # fmt: skip
    ok, sign = holds(dropped, run.max_dropped_ratio)
    rules.append(_saturation(
        "dropped ratio", run.max_dropped_ratio, dropped, ok,
        f"dropped {measurements.dropped} of {scheduled} scheduled arrivals "
        f"({dropped:.2%} {sign} {run.max_dropped_ratio:.2%})",
    ))  # fmt: skip
    ok, sign = holds(lag, run.max_schedule_lag_ms)
    rules.append(_saturation(
        "schedule lag p99", run.max_schedule_lag_ms, lag, ok,
        f"schedule lag p99 {lag:.1f} ms {sign} {run.max_schedule_lag_ms:g} ms",
    ))  # fmt: skip
    first = f": {warnings[0]}" if warnings else ""
    rules.append(_saturation(
        "cpu warnings", 0, len(warnings), not warnings, f"{len(warnings)} CPU warning(s){first}"
    ))  # fmt: skip
    return rules


def _saturation(name: str, limit: float, observed: float, ok: bool, detail: str) -> Rule:
    said = detail if ok else SATURATED + detail
    return Rule(name, "load generator", limit, observed, ok, "saturation", said)


def holds(observed: float, limit: float, *, at_least: bool = False) -> tuple[bool, str]:
    """Whether ``observed`` keeps within ``limit`` (at most it, or at least it), and the
    sign that says so (``<=``, or ``>`` when it does not)."""
    if at_least:
        return (True, ">=") if observed >= limit else (False, "<")
    return (True, "<=") if observed <= limit else (False, ">")


def request_rules(figures: EndpointFigures, limits: RequestSlo) -> list[Rule]:
    """The samples, latency and error-ratio rules of one request name."""
    name, count = figures.name, figures.count
    enough, sign = holds(count, limits.min_samples, at_least=True)
    too_few = "" if enough else " (too few to judge)"
    detail = f"{name} samples {count} {sign} {limits.min_samples}{too_few}"
    rules = [Rule("samples", name, limits.min_samples, count, enough, "samples", detail)]
    if not count:
        return rules
    for percentile in PERCENTILES:
        observed, limit = figures.latency.at(percentile), getattr(limits, f"p{percentile}_ms")
        ok, sign = holds(observed, limit)
        detail = f"{name} p{percentile} {observed:.1f} ms {sign} {limit:g} ms"
        rules.append(Rule(f"p{percentile}", name, limit, observed, ok, "slo", detail))
    ratio, limit = figures.error_ratio, limits.error_ratio
    ok, sign = holds(ratio, limit)
    detail = f"{name} error ratio {ratio:.2%} ({figures.failures} of {count}) {sign} {limit:.2%}"
    rules.append(Rule("error ratio", name, limit, ratio, ok, "slo", detail))
    return rules


def missing_rules(requests: Mapping[str, EndpointFigures], expected: Iterable[str]) -> list[Rule]:
    """A request name that had to be made but never was (no figures at all): inconclusive;
    a run that judged no request at all is too."""
    rules = [
        Rule("samples", name, 1, 0, False, "samples", f"{name}: no samples (the run never made it)")
        for name in expected
        if name not in requests
    ]
    if not any(figures.count for figures in requests.values()):
        rules.append(Rule("samples", "run", 1, 0, False, "samples", "no request was judged"))
    return rules


def saturation_figures(measurements: Measurements) -> dict[str, Any]:
    """What the load generator offered and achieved."""
    lag = Histogram.decode(measurements.schedule_lag)
    return {
        "arrival": measurements.arrival,
        "offered_rate": measurements.offered_rate,
        "achieved_rate": round(measurements.achieved_rate, 3),
        "window_seconds": measurements.window_seconds,
        "warmup_seconds": measurements.warmup_seconds,
        "scheduled": measurements.scheduled,
        "sent": measurements.sent,
        "dropped": measurements.dropped,
        "achieved_ratio": round(measurements.achieved_ratio, 4),
        "schedule_lag_p99_ms": lag.percentile_ms(99),
        "schedule_lag_max_ms": lag.max_ms(),
        "cpu_warnings": list(measurements.cpu_warnings),
        "workers": measurements.workers,
    }


def find_knee(steps: Sequence[Step], slo: Slo) -> Knee:
    """The highest offered rate at which the achieved ratio held the floor and the p99 held
    the order path's p99 limit."""
    limit = slo.request(ORDER_REQUEST).p99_ms
    floor = slo.run.min_achieved_ratio
    rows = []
    for step in steps:
        ratio = step.achieved_rate / step.offered_rate if step.offered_rate else 0.0
        kept_up = ratio >= floor and step.p99_ms <= limit
        rows.append({**asdict(step), "achieved_ratio": round(ratio, 4), "kept_up": kept_up})
    rates = [row["offered_rate"] for row in rows if row["kept_up"]]
    at_top = bool(rows) and rows[-1]["kept_up"]
    return Knee(max(rates) if rates else None, limit, floor, rows, at_top)


def order_rate(
    by_name: Mapping[str, EndpointFigures], knee: Knee | None, window_seconds: float
) -> tuple[float | None, str]:
    """The run's order rate and how it was found (or why there is none): a stepped run's
    knee times the share of orders among the workload's requests (the log-ins are no part
    of the offered rate), else the orders judged per second of the window."""
    orders = by_name.get(ORDER_REQUEST)
    if orders is None or not orders.count:
        return None, f"no {ORDER_REQUEST} judged"
    if knee is not None:
        if knee.rate is None:
            return None, "no knee: no step kept up"
        workload = sum(figures.count for name, figures in by_name.items() if name != LOGIN)
        share = orders.count / workload
        return knee.rate * share, f"knee {knee.rate:g} req/s x {share:.1%} {ORDER_REQUEST}"
    if window_seconds <= 0:
        return None, "the judged window lasted no time"
    rate = orders.count / window_seconds
    return rate, f"{orders.count} {ORDER_REQUEST} in the {window_seconds:g} s judged window"


def database_reference(
    reference: Reference,
    requests: Mapping[str, EndpointFigures],
    knee: Knee | None,
    window_seconds: float,
) -> dict[str, Any]:
    """The ``database_reference`` block: pgbench's tool, settings and TPS, the run's order
    rate, and the ratio of the two (None, with the reason, when there is no order rate)."""
    rate, basis = order_rate(requests, knee, window_seconds)
    ratio = round(rate / reference.tps, 4) if rate is not None else None
    return {
        **reference.to_dict(),
        "order_rate": round(rate, 3) if rate is not None else None,
        "order_rate_basis": basis,
        "ratio": ratio,
    }


def markdown(verdict: Verdict) -> str:
    """``verdict.md``: the status and reason, the figures per endpoint, the broken rules, the
    load generator's figures, the knee, the database reference, the cross-check and the
    notes."""
    context = verdict.context
    baseline = (verdict.baseline or {}).get("path") or "none"
    lines = [
        f"## Performance: {context.scenario} -- {verdict.status.upper()}",
        "",
        verdict.reason,
        "",
        f"app {context.app_version} on {context.host}, started {context.started_at.isoformat()}"
        f", {context.machine}; scenario hash {verdict.scenario_hash}; baseline {baseline}",
        "",
        "| request | count | errors | p50 | p95 | p99 | max | service p99 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for figures in verdict.requests.values():
        latency = figures.latency
        lines.append(
            f"| `{figures.name}` | {figures.count} | {figures.error_ratio:.2%} | "
            f"{latency.p50_ms:.1f} | {latency.p95_ms:.1f} | {latency.p99_ms:.1f} | "
            f"{latency.max_ms:.1f} | {figures.service.p99_ms:.1f} |"
        )
    lines += ["", "Latency in ms from the scheduled send time; service time from the actual one."]
    broken = verdict.broken()
    if broken:
        lines += ["", "### Broken rules", ""]
        lines += [f"- {rule.kind}: {rule.detail}" for rule in broken]
    lines += ["", "### Load generator", "", *_saturation_table(verdict.saturation)]
    if verdict.knee:
        lines += ["", "### Knee", "", verdict.knee.line()]
    if verdict.database_reference:
        lines += ["", "### Database reference", "", *_reference_lines(verdict.database_reference)]
    if verdict.cross_check:
        lines += ["", "### The server's own figures", "", *_cross_check_table(verdict.cross_check)]
    if verdict.notes:
        lines += ["", "### Notes", "", *[f"- {note}" for note in verdict.notes]]
    return "\n".join(lines) + "\n"


def _saturation_table(figures: Mapping[str, Any]) -> list[str]:
    warnings = len(figures["cpu_warnings"])
    return [
        "| scheduled | sent | dropped | offered rate | achieved rate | lag p99 | CPU warnings |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {figures['scheduled']} | {figures['sent']} | {figures['dropped']} | "
        f"{figures['offered_rate']:g}/s | {figures['achieved_rate']:g}/s | "
        f"{figures['schedule_lag_p99_ms']:.1f} ms | {warnings} |",
    ]


def _reference_lines(block: Mapping[str, Any]) -> list[str]:
    settings = block["settings"]
    cpus = block.get("cpus") or []
    pinned = f", on CPUs {','.join(str(cpu) for cpu in cpus)}" if cpus else ""
    measured = (
        f"{block['tool']} `-b {block['builtin']}` on {block['server']} (scale "
        f"{settings['scale']}, {settings['clients']} clients, {settings['threads']} threads, "
        f"{settings['seconds']} s{pinned}): **{block['tps']:.1f} TPS**"
    )
    if block["ratio"] is None:
        return [measured, "", f"Order rate: none ({block['order_rate_basis']}), so no ratio."]
    rate = f"Order rate {block['order_rate']:.1f} orders/s ({block['order_rate_basis']})"
    return [measured, "", f"{rate}: **{block['ratio']:g}** of pgbench TPC-B."]


def _cross_check_table(summary: Mapping[str, Any]) -> list[str]:
    rows = [
        "| request | server count | generator count | server p95 | server p99 | service p99 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in summary.get("requests", {}).items():
        rows.append(
            f"| `{name}` | {row['server_count']} | {row['generator_count']} | "
            f"{row['server_p95']} | {row['server_p99']} | "
            f"{row['generator_service_p99_ms']:.1f} |"
        )
    return rows if len(rows) > 2 else [summary.get("note", "nothing compared")]


def write_reports(verdict: Verdict, directory: Path) -> tuple[Path, Path]:
    """Write ``verdict.json`` and ``verdict.md`` under ``directory``, each whole."""
    json_path, markdown_path = directory / JSON_NAME, directory / MARKDOWN_NAME
    write_atomically(json_path, to_json(verdict.to_dict()) + "\n")
    write_atomically(markdown_path, markdown(verdict))
    return json_path, markdown_path
