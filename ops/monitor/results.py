"""What a check says: a status, a reason from a fixed set, one line, and the figures it saw."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """How bad: ``ok`` < ``unknown`` < ``warning`` < ``critical`` (see :attr:`rank`)."""

    OK = "ok"
    UNKNOWN = "unknown"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Severity as a number, for ordering and for the worst of several."""
        return _RANKS[self]

    @property
    def is_problem(self) -> bool:
        """True for anything but ``ok``."""
        return self is not Status.OK


_RANKS = {Status.OK: 0, Status.UNKNOWN: 1, Status.WARNING: 2, Status.CRITICAL: 3}


class Reason(StrEnum):
    """Why a check is not ok -- the fixed set alerts and dashboards group by."""

    DNS = "dns"
    CONNECT = "connect"
    TLS_VERIFY = "tls_verify"
    TLS_EXPIRY = "tls_expiry"
    HOSTNAME = "hostname"
    STATUS = "status"
    BODY = "body"
    LATENCY = "latency"
    TIMEOUT = "timeout"
    THRESHOLD = "threshold"
    STALE = "stale"
    MISSING = "missing"


Figure = float | int | str | bool | None


@dataclass(frozen=True)
class Finding:
    """One check's verdict on one subject (a path, a backup kind, a certificate...).

    ``check`` and ``subject`` together identify the problem across runs: they are its
    fingerprint, with the environment's name.
    """

    check: str
    subject: str
    status: Status
    summary: str
    reason: Reason | None = None
    figures: dict[str, Figure] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status.is_problem and self.reason is None:
            raise ValueError(f"{self.check}/{self.subject}: a {self.status} finding needs a reason")

    @property
    def key(self) -> str:
        """``check/subject``: the problem's identity within an environment."""
        return f"{self.check}/{self.subject}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["status"] = self.status.value
        data["reason"] = self.reason.value if self.reason else None
        return data


def ok(check: str, subject: str, summary: str, **figures: Figure) -> Finding:
    """A passing finding."""
    return Finding(check, subject, Status.OK, summary, None, dict(figures))


def problem(
    check: str, subject: str, status: Status, reason: Reason, summary: str, **figures: Figure
) -> Finding:
    """A finding that is not ok."""
    return Finding(check, subject, status, summary, reason, dict(figures))


def worst(statuses: list[Status]) -> Status:
    """The most severe of some statuses (``ok`` for none)."""
    return max(statuses, key=lambda status: status.rank, default=Status.OK)


def graded(
    value: float, warning: float, critical: float | None = None, *, higher_is_worse: bool = True
) -> Status:
    """``ok``, ``warning`` or ``critical`` for a figure against its thresholds."""

    def beyond(limit: float) -> bool:
        return value >= limit if higher_is_worse else value <= limit

    if critical is not None and beyond(critical):
        return Status.CRITICAL
    return Status.WARNING if beyond(warning) else Status.OK


FIRST_RUN = "first run: counters recorded, judged from the next run on"


def judged(check: str, subject: str, status: Status, summary: str, **figures: Figure) -> Finding:
    """A figure judged against its thresholds: ``ok``, or the status it earned (``threshold``)."""
    if status.is_problem:
        return problem(check, subject, status, Reason.THRESHOLD, summary, **figures)
    return ok(check, subject, summary, **figures)


def limits(warning: str, critical: str | None = None) -> str:
    """`` (warning at W, critical at C)``, for the summary of a figure over its limits."""
    return f" (warning at {warning}" + (f", critical at {critical})" if critical else ")")


def share_since_last_run(
    check: str, subject: str, part: float | None, rest: float | None, *, events: str,
    minimum: int, warning: float, higher_is_worse: bool, saying: str, **figures: Figure,
) -> Finding:  # fmt: skip
    """``part`` of ``part + rest`` -- counter increases since the previous run (None on
    the first) -- judged against ``warning`` once there are ``minimum`` events.

    ``saying`` is the summary, with ``{share}`` and ``{total}`` in it.
    """
    if part is None or rest is None:
        return ok(check, subject, FIRST_RUN)
    total = part + rest
    if total < minimum:
        summary = f"{total:.0f} {events} since the last run: too few to judge"
        return ok(check, subject, summary, **figures)
    share = part / total
    status = graded(share, warning, higher_is_worse=higher_is_worse)
    summary = saying.format(share=share, total=total)
    if status.is_problem:
        summary += limits(f"{warning:.0%}" + ("" if higher_is_worse else " or below"))
    return judged(check, subject, status, summary, **figures, ratio=round(share, 4))


def share_of_limit(
    check: str, subject: str, used: int, limit: int, /, *, warning: float,
    critical: float | None = None, saying: str, why: str = "", **figures: Figure,
) -> Finding:  # fmt: skip
    """``used`` of a configured ``limit`` (``max_connections``, ``maxmemory``...) as a
    ratio, judged against ``warning`` and ``critical``.

    ``saying`` is the summary without the ratio (``12 of 100 connections in use``);
    ``why`` is added to it past a threshold. The first four are positional only, so that a
    figure may be called ``used``.
    """
    ratio = used / limit
    status = graded(ratio, warning, critical)
    summary = f"{saying} ({ratio:.0%})"
    if status.is_problem:
        summary += limits(f"{warning:.0%}", None if critical is None else f"{critical:.0%}")
        summary += why
    return judged(check, subject, status, summary, **figures, ratio=round(ratio, 4))


def count_since_last_run(
    check: str, subject: str, count: float | None, *, events: str, limit: int,
    status: Status = Status.WARNING, why: str = "", **figures: Figure,
) -> Finding:  # fmt: skip
    """``count`` -- a counter's increase since the previous run (None on the first) --
    ``status`` from ``limit`` on; ``why`` says in the summary what such a count means."""
    if count is None:
        return ok(check, subject, FIRST_RUN)
    earned = status if count >= limit else Status.OK
    summary = f"{count:.0f} {events} since the last run"
    if earned.is_problem:
        summary += f" ({status} at {limit}){why}"
    return judged(check, subject, earned, summary, **figures)
