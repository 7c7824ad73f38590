"""The ``railway`` platform: the railway CLI.

A real run needs the ``railway`` CLI and a project token (``RAILWAY_TOKEN``).
Railway builds the release from deploy/Dockerfile (railway.json), runs
``python -m app migrate`` as its pre-deploy command, and moves traffic to the
new deployment only once its health check (``/ready``) passes -- Railway's own
gate before user traffic. The pipeline's smoke and latency gates then run
against the public URL; a failure redeploys the previous release's source.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from ops.core.exits import CannotRun
from ops.deploy.gates import Target
from ops.deploy.platforms.base import Candidate, CommandLinePlatform
from ops.deploy.platforms.releases import ReleaseStore
from ops.environments import RailwaySettings

TOKEN_VARIABLES = ("RAILWAY_TOKEN", "RAILWAY_API_TOKEN")


class RailwayPlatform(CommandLinePlatform):
    """Deploys by uploading a release's source with ``railway up``."""

    name = "railway"
    previous: str | None = None  # what served before this deploy's build

    @property
    def config(self) -> RailwaySettings:
        """The environment's ``[railway]`` settings."""
        return self.environment.railway

    @cached_property
    def releases(self) -> ReleaseStore:
        """The source snapshots that were uploaded."""
        return ReleaseStore(self.environment.state_dir / "releases", self.env)

    def railway(self, *args: str) -> list[str]:
        """A railway command line for this service and environment."""
        scope = ["--service", self.config.service, "--environment", self.config.environment]
        return ["railway", *args, *scope]

    def preflight(self) -> None:
        """The CLI must be installed and a token present."""
        self.require(["railway", "--version"])
        if not any(self.env.get(name) for name in TOKEN_VARIABLES):
            raise CannotRun("RAILWAY_TOKEN: required to deploy with the railway CLI")

    def serving_version(self) -> str | None:
        """The APP_VERSION variable of the service."""
        variables = self.query(["railway", "variables", "--kv", "--service", self.config.service])
        for line in (variables or "").splitlines():
            if line.startswith("APP_VERSION="):
                return line.split("=", 1)[1].strip() or None
        return None

    def available_versions(self) -> list[str]:
        """Kept release sources, oldest first."""
        return [release.version for release in self.releases.all()]

    def build(self, version: str, source: Path) -> str:
        """Snapshot the source; Railway builds the image itself on upload."""
        self.previous = self.serving_version()
        release = self.releases.build(version, source)
        return f"source snapshot {release.path}"

    def migrate(self, version: str) -> str:
        """Runs on Railway as the pre-deploy command of railway.json."""
        return "runs as Railway's pre-deploy command (python -m app migrate)"

    def start(self, version: str) -> Candidate:
        """Set APP_VERSION and upload the release; ``--ci`` waits for the build and deploy."""
        self.check(self.railway("variables", "--set", f"APP_VERSION={version}"))
        self.check(self.railway("up", str(self.releases.root / version), "--ci"))
        return Candidate(version, Target(self.environment.public_url.rstrip("/")), "railway")

    def alive(self, candidate: Candidate) -> bool:
        """Railway replaces failed deployments itself."""
        return True

    def logs(self, candidate: Candidate, lines: int = 20) -> str:
        """The deployment's recent logs."""
        return self.output(self.railway("logs", "--deployment", "--lines", str(lines)))

    def switch(self, candidate: Candidate) -> str:
        """Railway switched when the new deployment's health check passed."""
        return "Railway moved traffic after its health check passed"

    def drain(self, candidate: Candidate) -> str:
        """Railway drains the previous deployment (overlap configured in railway.json)."""
        return "previous deployment drained by Railway"

    def discard(self, candidate: Candidate) -> str:
        """Redeploy the previous release's source."""
        if self.previous and self.releases.get(self.previous):
            self.start(self.previous)
            return f"redeployed {self.previous}"
        self.check(self.railway("redeploy", "--yes"))
        return "redeployed the previous deployment"

    def status(self) -> dict[str, Any]:
        """``railway status``."""
        return {"status": self.output(["railway", "status", "--json"]).strip()[:500]}

    def down(self) -> list[str]:
        """Railway services are stopped from the dashboard; nothing local runs."""
        return []

    def prune(self, keep: int, protect: set[str]) -> list[str]:
        """Drop old source snapshots."""
        return self.releases.prune(keep, protect)
