"""A deployed environment's rate limits stay on: a run that would pass them is refused
before it starts, naming the limit -- the perf profile respects the limiter."""

from __future__ import annotations

import re

import pytest

from ops.environments import load_environment
from ops.perf.limits import Limits, LimitsProblem, check_fits
from ops.perf.slo import resolve

DEFAULTS = Limits(enabled=True, per_address=600, per_account=300, window_seconds=60)


def test_an_environment_without_settings_has_the_apps_default_limits() -> None:
    assert Limits.of({}) == DEFAULTS
    assert Limits.of({"RATE_LIMIT_PER_IP": "50", "RATE_LIMIT_ENABLED": "false"}).enabled is False


def test_stagings_cd_check_fits_its_limits() -> None:
    staging = load_environment("staging")
    check_fits(staging.slo(), 16, 1, Limits.of(staging.app), "staging")


@pytest.mark.parametrize(
    ("rate", "accounts", "addresses", "message"),
    [
        (10, 16, 1, "staging: 10 req/s from 1 address(es) is 600 requests per 60 s per "
                    "address, over 80% of its per-address limit (600)"),
        (30, 4, 4, "staging: 30 req/s over 4 account(s) is 450 requests per 60 s per "
                   "account, over 80% of its per-account limit (300)"),
    ],
)  # fmt: skip
def test_a_rate_past_a_limit_is_refused_naming_it(
    rate: float, accounts: int, addresses: int, message: str
) -> None:
    slo = resolve({"run": {"rate": rate}})
    with pytest.raises(LimitsProblem, match=f"^{re.escape(message)}"):
        check_fits(slo, accounts, addresses, DEFAULTS, "staging")


def test_with_the_limiter_off_any_rate_fits() -> None:
    check_fits(resolve({"run": {"rate": 5000}}), 1, 1, Limits(False, 1, 1, 60), "x")
