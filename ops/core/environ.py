"""Reading the process environment, the one way.

Library functions never read :data:`os.environ` themselves: they take the
variables as an ``env`` mapping, and the entry points (invoke tasks, ``python
-m`` programs, nox sessions) pass :func:`current`. Tests hand in exactly the
variables they mean. Dotenv files are read with python-dotenv's parser, the one
the app's settings use, and a malformed line is an error naming the line.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from ops.core.exits import CannotRun

Env = Mapping[str, str]
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
# Passed on to every child process: where programs are, and coverage's own
# variables, so that measured test runs measure the servers they start too.
INHERITED = ("PATH",)
INHERITED_PREFIXES = ("COVERAGE",)


def current() -> dict[str, str]:
    """A snapshot of this process's environment (for entry points only)."""
    return dict(os.environ)


def flag(env: Env, name: str) -> bool:
    """True when variable ``name`` holds a yes (1, true, yes, on; any case)."""
    return env.get(name, "").strip().lower() in TRUE_WORDS


def in_ci(env: Env) -> bool:
    """True under CI (``CI`` set to a yes), where a missing service fails instead of skipping."""
    return flag(env, "CI")


def child_env(
    env: Env, extra: Mapping[str, str] | None = None, keep: Iterable[str] = ()
) -> dict[str, str]:
    """The environment of a child process: PATH and coverage's variables from ``env``, the
    variables named in ``keep`` when set, then ``extra`` -- and nothing else of the caller's."""
    names = (*INHERITED, *keep)
    child = {name: env[name] for name in names if env.get(name)}
    child.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    child.update({k: v for k, v in env.items() if k.startswith(INHERITED_PREFIXES)})
    child.update(extra or {})
    return child


def read_dotenv(path: Path) -> dict[str, str]:
    """The variables of a dotenv file (none when it does not exist).

    Raises :class:`~ops.core.exits.CannotRun` naming the file and line of the
    first line that is not ``KEY=value``, a comment or blank.
    """
    if not path.is_file():
        return {}
    # python-dotenv is a dependency of the app's settings, not of nox's own environment,
    # which imports this module too (the sessions ask "are we in CI?").
    from dotenv.parser import parse_stream

    values: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(path.read_text(encoding="utf-8"))):
        if binding.error:
            raise CannotRun(f"{path.name}:{binding.original.line}: expected KEY=value")
        if binding.key is not None:
            values[binding.key] = binding.value or ""
    return values
