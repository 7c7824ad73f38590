"""Throwaway environment definitions with their own storage, state and keys: what the
backup, restore and drill tests (and the integration tests on PostgreSQL) work in."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ops.backup.context import BackupContext, open_context
from tests.support.s3 import BUCKET, S3Server

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
