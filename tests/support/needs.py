"""What a test needs that this machine may lack -- a service, a program: skipped with the
reason locally, a failure under ``CI=true`` (CI installs and starts everything)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NoReturn

import pytest

from ops.core.commands import find_executable
from ops.core.environ import in_ci
from ops.core.exits import OpsError


def missing(message: str) -> NoReturn:
    """Skip the test (locally) or fail it (under CI) because of what ``message`` names."""
    if in_ci(os.environ):
        pytest.fail(f"{message} (CI=true: a missing service or tool is a failure)", pytrace=False)
    pytest.skip(message)


def program(name: str, hint: str, env: Mapping[str, str] | None = None) -> str:
    """Where program ``name`` is (beside this interpreter, or on ``env``'s PATH, default
    this process's); :func:`missing` with ``hint`` (how to install it) when it is not there."""
    try:
        return find_executable(name, hint=hint, env=os.environ if env is None else env)
    except OpsError as error:
        missing(str(error))
