"""The invoke layer: what every task shares -- flags, help, output, errors, exit codes.

``tasks.py`` only wires the collections defined here:

- :mod:`ops.tasks.dev` -- ``dev``, ``db.migrate``, ``db.seed``
- :mod:`ops.tasks.deploy` -- ``deploy``, ``rollback``, ``status``, ``releases``, ``down``,
  ``unlock``
- :mod:`ops.tasks.backup` -- ``backup.*``, ``restore``, ``dr-drill``
- :mod:`ops.tasks.ci` -- ``ci.feedback``
- :mod:`ops.tasks.image` -- ``image.*``
- :mod:`ops.tasks.monitor` -- ``monitor``
- :mod:`ops.tasks.users` -- ``users.provision``

Every task spells its flags the same way (``--env``, ``--json``, ``--report``,
``--dry-run``, ``--yes``, ``--force``), prints through one
:class:`~ops.core.console.Console`, and ends an expected failure with its one
line and the exit code of :mod:`ops.core.exits` (0 done, 1 a check failed,
2 cannot run, 3 inconclusive) -- never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Concatenate, ParamSpec

from invoke.exceptions import Exit

from ops.core import environ
from ops.core.console import Console
from ops.core.exits import CannotRun, OpsError, one_line

ENV = "environment name (deploy/environments/NAME.toml)"
JSON = "print the machine-readable result as JSON on stdout (progress goes to stderr)"
REPORT = "also write the JSON result to this file"
DRY_RUN = "check everything and print the plan; change nothing"
YES = "approve a production change without the prompt (in CI: the environment's protection rule)"
FORCE = "allow a destructive change"
OUTPUT_HELP = {"json": JSON, "report": REPORT}  # the flags of every task with a result
ENV_HELP = {"env": ENV, **OUTPUT_HELP}  # and of every task on one environment

P = ParamSpec("P")


def console(json_: bool = False, report: str | None = None) -> Console:
    """The console of one task run, from its ``--json`` and ``--report`` flags."""
    return Console(as_json=json_, report=Path(report) if report else None, env=environ.current())


def required(value: str, flag: str, what: str) -> str:
    """``value`` when given; otherwise the one-line error for the missing flag."""
    if not value:
        raise CannotRun(f"{flag} is required ({what})")
    return value


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn an expected failure into its message and its exit code, without a traceback."""
    try:
        yield
    except OpsError as error:
        raise Exit(f"error: {one_line(error)}", code=error.exit_code) from None


def on_environment(
    operation: Callable[Concatenate[str, Mapping[str, str], Console, P], object],
    env: str,
    json_: bool,
    report: str | None,
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> None:
    """``operation`` on the environment ``--env`` names, with the process's variables and
    the console of ``--json`` and ``--report``; an expected failure ends the task with its
    one line and its exit code."""
    with one_line_errors():
        name = required(env, "--env", ENV)
        operation(name, environ.current(), console(json_, report), *args, **kwargs)
