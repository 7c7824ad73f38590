"""Environments, keys and data for the backup tests (shared with the integration tests)."""

from __future__ import annotations

import base64
import os
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ops.backup.context import BackupContext, open_context
from tests.helpers import REPO_ROOT, base_env
from tests.s3server import BUCKET, S3Server

KEY = base64.b64encode(bytes(range(32))).decode()
OTHER_KEY = base64.b64encode(bytes(range(1, 33))).decode()


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def toml(sections: Mapping[str, Mapping[str, Any]]) -> str:
    """A small TOML document: top-level keys under "", then [section]s."""
    lines = [f"{k} = {_value(v)}" for k, v in sections.get("", {}).items()]
    for name, values in sections.items():
        if name:
            lines += ["", f"[{name}]", *(f"{k} = {_value(v)}" for k, v in values.items())]
    return "\n".join(lines) + "\n"


class Workspace:
    """A directory with environment definitions, local storage and state."""

    def __init__(self, root: Path, s3: S3Server | None = None) -> None:
        self.root = root
        self.envs = root / "envs"
        self.envs.mkdir(parents=True, exist_ok=True)
        self.s3 = s3
        self.extra_env: dict[str, str] = {}

    def define(self, name: str, storage: str = "local", **options: Any) -> Path:
        """Write ``envs/<name>.toml``; ``options`` override backup/drill/top-level keys."""
        backup: dict[str, Any] = {
            "storage": storage,
            "local_dir": str(self.root / "store"),
            "s3_bucket": BUCKET,
            "s3_prefix": f"t-{self.root.parent.name}",
            "s3_region": "us-east-1",
            "s3_part_size_mib": 5,
            "config_paths": [str(self.root / "config" / "*")],
            "state_paths": [str(self.root / "state" / "**" / "*")],
        }
        backup.update(options.pop("backup", {}))
        sections: dict[str, dict[str, Any]] = {
            "": {
                "platform": "local",
                "public_url": "http://127.0.0.1:8080",
                **options.pop("top", {}),
            },
            "backup": backup,
            "backup.retention": options.pop("retention", {}),
            "drill": {"rto_seconds": 120, "rpo_seconds": 3600, **options.pop("drill", {})},
            "local": {"state_dir": str(self.root / "deploy" / name)},
        }
        assert not options, options
        path = self.envs / f"{name}.toml"
        path.write_text(toml(sections))
        return path

    def env(self, **extra: str) -> dict[str, str]:
        """The process environment a task would see."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BACKUP_"))}
        env.update(self.s3.env() if self.s3 else {})
        env.update({"DEPLOY_ENVIRONMENTS_DIR": str(self.envs), "BACKUP_ENCRYPTION_KEY": KEY})
        env.update(self.extra_env)
        env.update(extra)
        return env

    def context(self, name: str, **extra: str) -> BackupContext:
        """An opened environment."""
        return open_context(name, self.env(**extra), self.envs)

    def sqlite_path(self, name: str) -> Path:
        """Where the local platform keeps environment ``name``'s SQLite database."""
        return self.root / "deploy" / name / "shared" / "trading.db"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 15, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move forward."""
        self.now += timedelta(**delta)


def add_sqlite_orders(path: Path, count: int) -> None:
    """Insert ``count`` canceled limit orders (consistent with every invariant)."""
    unit = 10**8
    start = datetime.now(UTC) - timedelta(seconds=count)
    with closing(sqlite3.connect(path)) as db:
        accounts = [row[0] for row in db.execute("SELECT id FROM accounts ORDER BY id")]
        instrument = db.execute("SELECT min(id) FROM instruments").fetchone()[0]
        rows = [
            (
                accounts[i % len(accounts)],
                instrument,
                f"bulk-{i}",
                f"{i:064x}",
                "buy" if i % 2 else "sell",
                "limit",
                "GTC",
                unit,
                (100 + i % 50) * unit,
                0,
                0,
                0,
                "canceled",
                str(start + timedelta(seconds=i)),
                str(start + timedelta(seconds=i)),
            )
            for i in range(count)
        ]
        db.executemany(
            "INSERT INTO orders (account_id, instrument_id, client_order_id, request_hash, side, "
            "order_type, time_in_force, qty, limit_price, filled_qty, filled_notional, "
            "reserved_cash, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.commit()


def run_invoke(
    *args: str, env: Mapping[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``invoke ARGS`` in a subprocess, from the repository, measured by coverage."""
    full = {**base_env(), **env}
    return subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(REPO_ROOT), *args],
        capture_output=True,
        text=True,
        env=full,
        cwd=REPO_ROOT,
        check=False,
        timeout=timeout,
    )


def flip_byte(data: bytes, offset: int | None = None) -> bytes:
    """``data`` with one byte inverted (in the middle by default)."""
    where = len(data) // 2 if offset is None else offset
    return data[:where] + bytes([data[where] ^ 0xFF]) + data[where + 1 :]


class Webhook:
    """A local HTTP server that records the JSON bodies posted to it (a Slack stand-in)."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, HTTPServer

        received: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                return

        self.received = received
        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
