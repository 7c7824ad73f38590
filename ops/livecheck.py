"""Schema-driven fuzzing of a live server: ``python -m ops.livecheck [schemathesis options]``.

Starts the app on a free port (embedded SQLite, migrated and seeded, in a
temporary directory), logs in a seeded trader, and runs the schemathesis CLI
with every check against ``/openapi.json``. Exits with schemathesis' status.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from app.cli import DEFAULT_DEMO_PASSWORD
from ops.appserver import AppProcess
from ops.project import REPORTS, ROOT

DEMO_ADMIN = "admin@example.com"
DEFAULT_EXAMPLES = "30"


def _run_app(args: Sequence[str], env: dict[str, str], cwd: Path) -> None:
    subprocess.run(  # noqa: S603 - our interpreter, fixed arguments
        [sys.executable, "-m", "app", *args],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **env},
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@contextmanager
def seeded_server(extra_env: dict[str, str] | None = None) -> Iterator[AppProcess]:
    """A migrated, seeded app on a free port, stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="trading-live-") as directory:
        workdir = Path(directory)
        env = {
            "ENVIRONMENT": "testing",
            "DATA_DIR": str(workdir / "var"),
            "JWT_SECRET_KEY": secrets.token_urlsafe(48),
            "RATE_LIMIT_PER_IP": "1000000",
            "RATE_LIMIT_PER_USER": "1000000",
            "LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        }
        _run_app(["migrate"], env, workdir)
        _run_app(["seed"], env, workdir)
        server = AppProcess(env, workdir, log_path=REPORTS / "api" / "server.log")
        server.start()
        try:
            yield server
        finally:
            server.stop()


def login(base_url: str, email: str = DEMO_ADMIN, password: str = DEFAULT_DEMO_PASSWORD) -> str:
    """A bearer token for a seeded user."""
    response = httpx.post(
        f"{base_url}/v1/auth/token", data={"username": email, "password": password}, timeout=10
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def fund_caller(base_url: str, token: str) -> None:
    """Give the (admin) caller cash and holdings so that orders can succeed and trade."""
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=auth, timeout=10) as client:
        account_id = client.get("/v1/me").raise_for_status().json()["account_id"]
        client.post(
            f"/v1/admin/accounts/{account_id}/deposits", json={"amount": "1000000"}
        ).raise_for_status()
        client.post(
            f"/v1/admin/accounts/{account_id}/transfers",
            json={"symbol": "AAPL", "qty": "1000", "cost_price": "190"},
        ).raise_for_status()


def schemathesis_command(base_url: str, token: str, extra: Sequence[str]) -> list[str]:
    """The schemathesis CLI invocation: every check, reports under reports/api."""
    report_dir = REPORTS / "api"
    return [
        str(Path(sys.executable).parent / "schemathesis"), "run", f"{base_url}/openapi.json",
        "--checks", "all",
        "--header", f"Authorization: Bearer {token}",
        "--max-examples", DEFAULT_EXAMPLES,
        "--generation-database", "none",
        "--report", "junit",
        "--report-junit-path", str(REPORTS / "junit" / "api.xml"),
        "--report-dir", str(report_dir),
        "--no-color",
        *extra,
    ]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Fuzz a live server; returns schemathesis' exit status."""
    extra = list(sys.argv[1:] if argv is None else argv)
    with seeded_server() as server:
        token = login(server.url)
        fund_caller(server.url, token)
        command = schemathesis_command(server.url, token, extra)
        return subprocess.run(command, check=False).returncode  # noqa: S603


if __name__ == "__main__":
    raise SystemExit(main())
