"""Finding the Docker engine: ``DOCKER_HOST``, the default socket, or none -- and an
engine that does not answer, named with how to get one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ops.core.commands import CommandFailed
from ops.core.exits import CannotRun
from ops.image import engine
from tests.ops.image.fakes import VERSION, FakeEngine


def test_an_engine_nobody_runs_cannot_be_used_and_is_named(tmp_path: Path) -> None:
    host = f"unix://{tmp_path / 'nobody.sock'}"
    env = {"DOCKER_HOST": host, "PATH": os.environ.get("PATH", "")}
    with pytest.raises(CannotRun) as raised, engine.connected(env, cache=tmp_path):
        pytest.fail("connected to an engine nobody runs")
    assert str(raised.value) == f"the Docker engine at {host} does not answer: {engine.HINT}"
    assert "apt-get install -y docker.io" in str(raised.value)
    assert not (tmp_path / "docker").exists()


def test_docker_host_names_the_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "DEFAULT_SOCKET", tmp_path / "docker.sock")
    assert engine._host({"DOCKER_HOST": "tcp://10.0.0.5:2375"}) == "tcp://10.0.0.5:2375"
    assert engine._host({"DOCKER_HOST": ""}) is None
    (tmp_path / "docker.sock").touch()
    assert engine._host({}) == f"unix://{tmp_path / 'docker.sock'}"


def test_docker_runs_with_the_engines_host_and_the_classic_builder() -> None:
    fake = FakeEngine(
        host="unix:///run/x.sock", env={"PATH": "/bin", "HOME": "/root", "API_TOKEN": "s3cret"}
    )
    env = fake.environment()
    assert env["DOCKER_HOST"] == "unix:///run/x.sock"
    assert env["DOCKER_BUILDKIT"] == "0"
    assert env["HOME"] == "/root"
    assert "API_TOKEN" not in env


def test_a_private_engine_keeps_its_images_and_a_short_socket_path(tmp_path: Path) -> None:
    private = engine.PrivateEngine(tmp_path / "docker")
    assert private.data_root == tmp_path / "docker" / "data"
    assert len(str(private.socket).encode()) < 108
    assert private.pid_file.parent == private.socket.parent


def test_the_engines_version_and_a_failing_docker_command() -> None:
    assert engine.server_version(FakeEngine()) == VERSION
    with pytest.raises(CommandFailed, match=r"^docker run failed \(exit 1\): boom$"):
        FakeEngine(run_code=1).docker("run", "--rm", "busybox")


def test_without_the_docker_program_the_engine_cannot_be_used(tmp_path: Path) -> None:
    env = {"DOCKER_HOST": "unix:///run/docker.sock", "PATH": str(tmp_path)}
    assert not engine.Engine("unix:///run/docker.sock", env).answers()
    answerless = r"at unix:///run/docker\.sock does not answer: install Docker"
    with pytest.raises(CannotRun, match=answerless), engine.connected(env, cache=tmp_path):
        pytest.fail("connected without a docker program")
