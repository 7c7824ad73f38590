"""Where releases run: the local machine, Kubernetes, Railway.

- :mod:`~ops.deploy.platforms.base` -- what the pipeline needs of a platform
- :mod:`~ops.deploy.platforms.local` -- blue/green processes behind
  :mod:`~ops.deploy.platforms.proxy` (Caddy), from :mod:`~ops.deploy.platforms.releases`
- :mod:`~ops.deploy.platforms.kubernetes` -- kubectl, a candidate Deployment first
- :mod:`~ops.deploy.platforms.railway` -- the railway CLI
"""

from __future__ import annotations

from collections.abc import Mapping

from ops.deploy.platforms.base import Candidate, Platform, PlatformError
from ops.deploy.platforms.kubernetes import KubernetesPlatform
from ops.deploy.platforms.local import LocalPlatform
from ops.deploy.platforms.railway import RailwayPlatform
from ops.environments import EnvironmentDefinition


def platform_for(
    environment: EnvironmentDefinition, secrets: Mapping[str, str], env: Mapping[str, str]
) -> Platform:
    """The platform object for an environment's ``platform`` setting."""
    if environment.platform == "local":
        return LocalPlatform(environment, secrets, env)
    if environment.platform == "kubernetes":
        return KubernetesPlatform(environment, secrets, env)
    return RailwayPlatform(environment, secrets, env)


__all__ = ["Candidate", "Platform", "PlatformError", "platform_for"]
