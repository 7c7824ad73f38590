"""Everything a backup operation needs about one environment: its definition,
its storage, the database URL, the process environment (keys) and a clock."""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ops.backup.crypto import EncryptionKey, load_key
from ops.core.commands import CommandError
from ops.core.git import head_commit
from ops.environments import (
    DEFAULT_ENVIRONMENTS_DIR,
    EnvironmentDefinition,
    environments_dir,
    load_environment,
    resolve_secrets,
)
from ops.project import ROOT, pyproject
from ops.storage import Storage, open_storage

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


@dataclass
class BackupContext:
    """One environment's backup settings, storage and secrets (``env``: the variables
    the entry point was given, the only place keys and credentials are read from)."""

    environment: EnvironmentDefinition
    storage: Storage
    env: Mapping[str, str]
    clock: Clock = utcnow
    root: Path = ROOT
    environment_dir: Path = DEFAULT_ENVIRONMENTS_DIR

    @property
    def name(self) -> str:
        """The environment's name."""
        return self.environment.name

    def database_url(self) -> str:
        """The environment's database (only ``DATABASE_URL`` is resolved, not every
        secret); :class:`~ops.environments.EnvironmentProblem` when it is missing."""
        needed = [k for k in self.environment.required_secrets if k == "DATABASE_URL"]
        narrowed = self.environment.model_copy(update={"required_secrets": needed})
        return self.environment.database_url(resolve_secrets(narrowed, self.env, self.root))

    def key(self, needed: bool) -> EncryptionKey | None:
        """The encryption key when ``needed`` (a missing or malformed key is a one-line
        error), else None: whether to encrypt is the environment's decision, not the
        mere presence of a key."""
        if not needed:
            return None
        return load_key(self.environment.backup.encryption_key_env, self.env)


def open_context(name: str, env: Mapping[str, str], directory: Path | None = None) -> BackupContext:
    """Load environment ``name`` (from ``directory``, default: the one ``env`` selects)
    and open its storage; a one-line :class:`~ops.core.exits.CannotRun` when either fails."""
    directory = directory or environments_dir(env)
    return context_for(load_environment(name, directory), env, directory)


def context_for(
    environment: EnvironmentDefinition, env: Mapping[str, str], directory: Path | None = None
) -> BackupContext:
    """The context of an environment already loaded (the deploy pipeline's pre-deploy
    backup): its storage opened, keys and ``DATABASE_URL`` read from ``env``."""
    directory = directory or environments_dir(env)
    return BackupContext(
        environment, open_storage(environment, env), env, environment_dir=directory
    )


def app_version(env: Mapping[str, str]) -> str:
    """The application version being backed up (APP_VERSION, else pyproject's)."""
    return env.get("APP_VERSION") or str(pyproject()["project"]["version"])


def git_sha(env: Mapping[str, str]) -> str:
    """The commit of the code doing the backup (GIT_SHA / GITHUB_SHA / git), or unknown."""
    named = env.get("GIT_SHA") or env.get("GITHUB_SHA")
    if named:
        return named
    try:
        return head_commit(ROOT)
    except CommandError:
        return "unknown"


def host() -> str:
    """This machine's name."""
    return socket.gethostname()
