"""Where releases run: the local machine, Kubernetes, Railway."""

from __future__ import annotations

from ops.deploy.platforms.base import Candidate, Platform, PlatformError
from ops.environments import EnvironmentDefinition


def platform_for(environment: EnvironmentDefinition, secrets: dict[str, str]) -> Platform:
    """The platform object for an environment's ``platform`` setting."""
    from ops.deploy.platforms.kubernetes import KubernetesPlatform
    from ops.deploy.platforms.local import LocalPlatform
    from ops.deploy.platforms.railway import RailwayPlatform

    if environment.platform == "local":
        return LocalPlatform(environment, secrets)
    if environment.platform == "kubernetes":
        return KubernetesPlatform(environment, secrets)
    return RailwayPlatform(environment, secrets)


__all__ = ["Candidate", "Platform", "PlatformError", "platform_for"]
