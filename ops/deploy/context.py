"""An environment ready to act on: its definition, secrets, platform and variables.

:func:`open_context` does everything that can refuse before anything changes --
an unknown or invalid environment, a missing secret, a missing tool, an
unreachable cluster, no smoke password -- and each refusal is one line with
exit code 2 (:class:`~ops.core.exits.CannotRun`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ops.deploy import lock
from ops.deploy.bucket_lock import StorageLock
from ops.deploy.gates import SmokeCredentials
from ops.deploy.history import DeployHistory
from ops.deploy.lease import LeaseLock
from ops.deploy.platforms import Platform, platform_for
from ops.deploy.platforms.kubernetes import KubernetesPlatform
from ops.environments import (
    EnvironmentDefinition,
    environments_dir,
    load_environment,
    resolve_secrets,
)
from ops.storage import Storage, open_storage
from ops.users.accounts import password_of, smoke_user

REPORTS_DIR = "reports"


@dataclass(frozen=True)
class DeployContext:
    """One environment as the deploy operations see it; ``env`` holds the task's variables
    (library code reads them from here, never from the process)."""

    environment: EnvironmentDefinition
    secrets: Mapping[str, str]
    platform: Platform
    env: Mapping[str, str]

    @property
    def name(self) -> str:
        """The environment's name."""
        return self.environment.name

    @property
    def lock_path(self) -> Path:
        """The deploy lock file of the environment (platforms without a shared one)."""
        return self.environment.state_dir / lock.FILE_NAME

    @cached_property
    def durable(self) -> Storage | None:
        """The environment's backup storage on a remote platform, whose state directory is
        a throwaway runner's (what keeps its history, and its lock off Kubernetes); opened
        once per context."""
        if self.environment.platform == "local":
            return None
        return open_storage(self.environment, self.env)

    def deploy_lock(self) -> lock.Lock:
        """The environment's deploy lock, where every deployer sees it: a Lease in the
        cluster on Kubernetes, an object in the backup storage on another remote platform
        (Railway), else the lock file."""
        if isinstance(self.platform, KubernetesPlatform):
            return LeaseLock(self.platform, f"{self.environment.kubernetes.deployment}-deploy")
        durable = self.durable
        if durable is not None:
            return StorageLock(durable, self.name)
        return lock.DeployLock(self.lock_path)

    @property
    def history(self) -> DeployHistory:
        """The environment's deploy history; on a remote platform also kept in (and read
        from) :attr:`durable`."""
        return DeployHistory(self.environment.state_dir, self.durable, self.environment.name)

    @property
    def reports_dir(self) -> Path:
        """Where each run's JSON record is written (``<id>.json``)."""
        return self.environment.state_dir / REPORTS_DIR

    def smoke_credentials(self) -> SmokeCredentials:
        """The smoke user's credentials (:func:`ops.users.accounts.password_of`: from the
        secrets or the variables, else the demo password where demo data is seeded);
        :class:`~ops.core.exits.CannotRun` without one."""
        user = smoke_user(self.environment)
        values = {**self.env, **self.secrets}
        return SmokeCredentials(user.email, password_of(user, values, self.environment))


def open_context(name: str, env: Mapping[str, str], *, check_tools: bool = True) -> DeployContext:
    """Load, validate and (with ``check_tools``) preflight an environment."""
    environment = load_environment(name, environments_dir(env))
    secrets = resolve_secrets(environment, env)
    context = DeployContext(environment, secrets, platform_for(environment, secrets, env), env)
    if check_tools:
        context.platform.preflight()
        context.smoke_credentials()
        if (durable := context.durable) is not None:
            durable.check()  # the lock and the run's record must have somewhere to go
    return context
