"""Schema-driven fuzzing of a live server: ``python -m ops.live.schemathesis [options]``.

Starts the app on a free port (embedded SQLite, migrated and seeded, in a
temporary directory), logs in the demo admin with cash and holdings, and runs
the schemathesis CLI with every check against ``/openapi.json``. The rate limits are
lifted, so that every example reaches its operation -- or, with ``--default-limits``
(a second pass), left as the app ships them, so that the answers a limiter gives (429,
``Retry-After``) are checked against the schema too. Other arguments are passed on to
schemathesis; the exit status is schemathesis' own (0 passed, 1 a check failed), or 2
when the server or the tool cannot be started.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from app.settings import Settings
from ops.core import environ
from ops.core.commands import find_executable, run
from ops.core.exits import exit_status
from ops.live.server import funded_admin, seeded_server
from ops.project import REPORTS, ROOT

DEFAULT_EXAMPLES = "30"
HINT = "install the test dependency group"
DEFAULT_LIMITS = "--default-limits"


def default_limits() -> dict[str, str]:
    """The limiter's settings as the app ships them (over the fuzzer's lifted ones)."""
    fields = Settings.model_fields
    return {name.upper(): str(fields[name].default)
            for name in ("rate_limit_enabled", "rate_limit_per_ip", "rate_limit_per_user",
                         "rate_limit_window_seconds")}  # fmt: skip


def schemathesis_command(
    base_url: str, token: str, extra: Sequence[str], name: str = "api"
) -> list[str]:
    """The schemathesis CLI invocation: every check, reports under reports/``name``."""
    return [
        find_executable("schemathesis", hint=HINT), "run", f"{base_url}/openapi.json",
        "--checks", "all",
        "--header", f"Authorization: Bearer {token}",
        "--max-examples", DEFAULT_EXAMPLES,
        "--generation-database", "none",
        "--report", "junit",
        "--report-junit-path", str(REPORTS / "junit" / f"{name}.xml"),
        "--report-dir", str(REPORTS / name),
        "--no-color",
        *extra,
    ]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Fuzz a live server; returns schemathesis' exit status."""
    extra = list(sys.argv[1:] if argv is None else argv)
    limited = DEFAULT_LIMITS in extra
    extra = [arg for arg in extra if arg != DEFAULT_LIMITS]
    name = "api-default-limits" if limited else "api"
    settings = default_limits() if limited else None
    return exit_status("api", lambda: _fuzz(environ.current(), settings, extra, name))


def _fuzz(
    env: Mapping[str, str], settings: Mapping[str, str] | None, extra: list[str], name: str
) -> int:
    """Fuzz a seeded server started with ``settings``: schemathesis' exit status."""
    with (
        seeded_server(env, settings, log_dir=REPORTS / name) as server,
        funded_admin(server.url) as admin,
    ):
        assert admin.token is not None
        command = schemathesis_command(server.url, admin.token, extra, name)
        return run(command, env=environ.child_env(env), cwd=ROOT, show_output=True).code


if __name__ == "__main__":
    raise SystemExit(main())
