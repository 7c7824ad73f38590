"""Everything a backup operation needs about one environment: its definition,
its storage, the database URL, the process environment (keys) and a clock."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ops.backup.crypto import EncryptionKey, load_key
from ops.backup.errors import BackupError
from ops.environments import (
    DEFAULT_ENVIRONMENTS_DIR,
    EnvironmentDefinition,
    EnvironmentProblem,
    environments_dir,
    load_environment,
    resolve_secrets,
)
from ops.project import ROOT, pyproject
from ops.storage import Storage, StorageError, open_storage

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


@dataclass
class BackupContext:
    """One environment's backup settings, storage and secrets."""

    environment: EnvironmentDefinition
    storage: Storage
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    clock: Clock = utcnow
    root: Path = ROOT
    environment_dir: Path = DEFAULT_ENVIRONMENTS_DIR

    @property
    def name(self) -> str:
        """The environment's name."""
        return self.environment.name

    def database_url(self) -> str:
        """The environment's database (only ``DATABASE_URL`` is resolved, not every secret)."""
        needed = [k for k in self.environment.required_secrets if k == "DATABASE_URL"]
        narrowed = self.environment.model_copy(update={"required_secrets": needed})
        try:
            secrets = resolve_secrets(narrowed, self.env, self.root)
            return self.environment.database_url(secrets)
        except EnvironmentProblem as error:
            raise BackupError(str(error)) from None

    def key(self, needed: bool) -> EncryptionKey | None:
        """The encryption key when ``needed`` (a missing or malformed key is a one-line
        error), else None: whether to encrypt is the environment's decision, not the
        mere presence of a key."""
        if not needed:
            return None
        return load_key(self.environment.backup.encryption_key_env, self.env)


def open_context(
    name: str, env: Mapping[str, str] | None = None, directory: Path | None = None
) -> BackupContext:
    """Load environment ``name`` and open its storage; one-line error when either fails."""
    source = dict(os.environ if env is None else env)
    directory = directory or environments_dir(source)
    try:
        environment = load_environment(name, directory)
        storage = open_storage(environment, source)
    except (EnvironmentProblem, StorageError) as error:
        raise BackupError(str(error)) from None
    return BackupContext(environment, storage, source, environment_dir=directory)


def app_version(env: Mapping[str, str]) -> str:
    """The application version being backed up (APP_VERSION, else pyproject's)."""
    return env.get("APP_VERSION") or str(pyproject()["project"]["version"])


def git_sha(env: Mapping[str, str]) -> str:
    """The commit of the code doing the backup (GIT_SHA / GITHUB_SHA / git), or unknown."""
    if env.get("GIT_SHA") or env.get("GITHUB_SHA"):
        return env.get("GIT_SHA") or env["GITHUB_SHA"]
    try:
        result = subprocess.run(  # nosec B607 - git from PATH
            ["git", "rev-parse", "HEAD"],  # noqa: S607 - git from PATH
            cwd=ROOT, capture_output=True, text=True, check=False, timeout=10,
        )  # fmt: skip
    except OSError:
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def host() -> str:
    """This machine's name."""
    return socket.gethostname()
