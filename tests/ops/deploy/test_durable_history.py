"""The deploy history of a remote platform outlives the runner that deployed: each run is
an object in the environment's backup storage (a real S3 server here, SeaweedFS), read
back by the next runner's ``releases`` and ``rollback``."""

from __future__ import annotations

from pathlib import Path

from ops.deploy.context import DeployContext
from ops.deploy.history import DeployHistory, DeployRecord
from ops.deploy.platforms.kubernetes import KubernetesPlatform
from ops.environments import load_environment
from ops.storage.s3 import S3Settings, S3Storage
from tests.support import s3


def record(run: str, version: str, result: str) -> DeployRecord:
    return DeployRecord(run, "deploy", "staging", version, None, "ana", "t", result=result)


def bucket(server: s3.S3Server) -> S3Storage:
    return S3Storage(S3Settings(
        bucket=s3.BUCKET, prefix="durable-test", region=s3.REGION, endpoint_url=server.endpoint,
        access_key_id=server.access_key, secret_access_key=server.secret_key,
    ))  # fmt: skip


def test_a_later_runner_reads_every_run_an_earlier_one_kept(
    tmp_path: Path, s3_server: s3.S3Server
) -> None:
    storage = bucket(s3_server)
    first_runner = DeployHistory(tmp_path / "runner-1", storage, "staging")
    first_runner.append(record("20261201T100000Z-aaaaaa", "v1", "succeeded"))
    first_runner.append(record("20261201T110000Z-bbbbbb", "v2", "failed"))
    DeployHistory(tmp_path / "runner-2", storage, "staging").append(
        record("20261201T120000Z-cccccc", "v3", "succeeded")
    )
    fresh = DeployHistory(tmp_path / "runner-3", storage, "staging")
    assert [r["version"] for r in fresh.records()] == ["v1", "v2", "v3"]
    assert fresh.last_good(exclude="v3") == "v1"
    assert not (tmp_path / "runner-3" / "history.jsonl").exists()
    assert DeployHistory(tmp_path / "runner-3", storage, "production").records() == []


def test_a_remote_environment_keeps_its_history_in_its_backup_storage(
    tmp_path: Path, s3_server: s3.S3Server
) -> None:
    staging = load_environment("staging")
    env = {**s3_server.env()}
    context = DeployContext(staging, {}, KubernetesPlatform(staging, {}, env), env)
    history = context.history
    assert isinstance(history.durable, S3Storage)
    assert history.prefix == "deploy-history/staging"
