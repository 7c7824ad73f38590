"""Schema-driven fuzzing of a live server: ``python -m ops.live.schemathesis [options]``.

Starts the app on a free port (embedded SQLite, migrated and seeded, in a
temporary directory), logs in the demo admin with cash and holdings, and runs
the schemathesis CLI with every check against ``/openapi.json``. Arguments are
passed on to schemathesis; the exit status is schemathesis' own (0 passed, 1 a
check failed), or 2 when the server or the tool cannot be started.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ops.core import environ
from ops.core.commands import find_executable, run
from ops.core.exits import OpsError, one_line
from ops.live.server import funded_admin, seeded_server
from ops.project import REPORTS, ROOT

DEFAULT_EXAMPLES = "30"
REPORT_DIR = REPORTS / "api"
HINT = "install the test dependency group"


def schemathesis_command(base_url: str, token: str, extra: Sequence[str]) -> list[str]:
    """The schemathesis CLI invocation: every check, reports under reports/api."""
    return [
        find_executable("schemathesis", hint=HINT), "run", f"{base_url}/openapi.json",
        "--checks", "all",
        "--header", f"Authorization: Bearer {token}",
        "--max-examples", DEFAULT_EXAMPLES,
        "--generation-database", "none",
        "--report", "junit",
        "--report-junit-path", str(REPORTS / "junit" / "api.xml"),
        "--report-dir", str(REPORT_DIR),
        "--no-color",
        *extra,
    ]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Fuzz a live server; returns schemathesis' exit status."""
    extra = list(sys.argv[1:] if argv is None else argv)
    env = environ.current()
    try:
        with seeded_server(env, log_dir=REPORT_DIR) as server, funded_admin(server.url) as admin:
            assert admin.token is not None
            command = schemathesis_command(server.url, admin.token, extra)
            done = run(command, env=environ.child_env(env), cwd=ROOT, show_output=True)
            return done.code
    except OpsError as error:
        print(f"api: {one_line(error)}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
