"""The session logic, driven through a recording stand-in for nox.Session."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import nox
import pytest
from nox.command import CommandFailed

from ops.sessions import install, testing


class Stop(Exception):
    """session.error() was called."""


class FakeSession:
    def __init__(self, name: str = "tests-3.11", posargs: list[str] | None = None) -> None:
        self.name = name
        self.posargs = posargs or []
        self.virtualenv = type("Venv", (), {"location": "/nox/venv"})()
        self.calls: list[tuple[str, tuple[str, ...], dict[str, Any]]] = []
        self.fail_on: str | None = None
        self.output = ""

    def _record(self, kind: str, args: tuple[str, ...], kwargs: dict[str, Any]) -> Any:
        self.calls.append((kind, args, kwargs))
        if self.fail_on and self.fail_on in args:
            raise CommandFailed("failed")
        return self.output if kwargs.get("silent") else None

    def run(self, *args: str, **kwargs: Any) -> Any:
        return self._record("run", args, kwargs)

    def run_install(self, *args: str, **kwargs: Any) -> Any:
        return self._record("run_install", args, kwargs)

    def install(self, *args: str, **kwargs: Any) -> None:
        self._record("install", args, kwargs)

    def error(self, message: str) -> None:
        raise Stop(message)

    def log(self, message: str) -> None:
        self.calls.append(("log", (message,), {}))

    @property
    def session(self) -> nox.Session:
        return cast(nox.Session, self)


def test_install_locked_syncs_exactly_the_groups() -> None:
    fake = FakeSession()
    install.install_locked(fake.session, "test")
    check, sync = fake.calls
    assert check[1][1:] == ("lock", "--check")
    assert sync[1][1:5] == ("sync", "--locked", "--no-default-groups", "--python=/nox/venv")
    assert "--group=test" in sync[1]
    assert sync[2]["env"] == {"UV_PROJECT_ENVIRONMENT": "/nox/venv"}


def test_tools_only_install_skips_the_runtime() -> None:
    fake = FakeSession()
    install.install_locked(fake.session, "lint", runtime=False)
    assert "--only-group=lint" in fake.calls[-1][1]


def test_stale_lock_stops_before_installing() -> None:
    fake = FakeSession()
    fake.fail_on = "--check"
    with pytest.raises(Stop, match="nox -s lock -- --update"):
        install.install_locked(fake.session, "test")
    assert len(fake.calls) == 1


def test_security_gate_runs_the_module_with_the_security_tools() -> None:
    fake = FakeSession(posargs=["--allow-offline"])
    install.security_gate(fake.session, "sbom", "--uv=/bin/uv")
    assert "--only-group=security" in fake.calls[1][1]
    _kind, args, options = fake.calls[-1]
    assert args == ("python", "-m", "ops.security.sbom", "--uv=/bin/uv", "--allow-offline")
    assert options["success_codes"] == [0, 3], "inconclusive (3) is reported, not a failure"


def test_pytest_writes_junit_and_coverage_and_passes_arguments(tmp_path: Path) -> None:
    fake = FakeSession(posargs=["-k", "orders"])
    testing.pytest(fake.session, "tests/unit")
    _kind, args, kwargs = fake.calls[0]
    assert args[:4] == ("coverage", "run", "-m", "pytest")
    assert args[4].endswith("reports/junit/tests-3.11.xml")
    assert args[5:] == ("-k", "orders"), "posargs replace the default paths"
    assert kwargs["env"]["COVERAGE_FILE"].endswith("reports/coverage/.coverage")
    default = FakeSession()
    testing.pytest(default.session, "tests/unit", "tests/api", env={"X": "1"})
    assert default.calls[0][1][5:] == ("tests/unit", "tests/api")
    assert default.calls[0][2]["env"]["X"] == "1"
    spread = FakeSession()
    testing.pytest(spread.session, "tests/unit", parallel=True)
    assert spread.calls[0][1][5:] == ("--numprocesses", "auto", "tests/unit")
    chosen = FakeSession(posargs=["tests/unit/test_book.py"])
    testing.pytest(chosen.session, "tests/unit", parallel=True)
    assert chosen.calls[0][1][5:] == ("tests/unit/test_book.py",), "what you name runs as named"
    by_file = FakeSession()
    testing.pytest(by_file.session, "tests/api", parallel=True, by_file=True)
    assert by_file.calls[0][1][5:] == ("--numprocesses", "auto", "--dist", "loadfile", "tests/api")


def test_a_second_pytest_run_has_its_own_report_and_yields_to_named_tests() -> None:
    default = FakeSession()
    testing.pytest(default.session, "tests/e2e/perf", part="perf")
    assert default.calls[0][1][4].endswith("reports/junit/tests-3.11-perf.xml")
    assert default.calls[0][1][5:] == ("tests/e2e/perf",)
    chosen = FakeSession(posargs=["tests/api/test_orders.py"])
    testing.pytest(chosen.session, "tests/e2e/perf", part="perf")
    assert chosen.calls == [], "the named tests ran in the session's first run"


def test_pytest_without_coverage() -> None:
    fake = FakeSession(posargs=["--no-coverage", "-x"])
    testing.pytest(fake.session, "tests/unit")
    assert fake.calls[0][1][:3] == ("python", "-m", "pytest")
    assert fake.calls[0][1][4:] == ("-x",)
    bare = FakeSession(posargs=["--no-coverage"])
    testing.pytest(bare.session, "tests/unit")
    assert bare.calls[0][1][4:] == ("tests/unit",), "the default paths stay"


def test_coverage_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(testing, "COVERAGE_DIR", tmp_path / "coverage")
    monkeypatch.setattr(testing, "REPORTS", tmp_path)
    monkeypatch.setattr(testing, "JUNIT_DIR", tmp_path / "junit")
    (tmp_path / "junit").mkdir()
    (tmp_path / "junit" / "tests-3.11.xml").write_text(
        '<testsuites><testsuite name="pytest" tests="5" failures="1" errors="0" skipped="1"'
        ' time="2.5"/></testsuites>'
    )
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    empty = FakeSession("coverage")
    with pytest.raises(Stop, match="no coverage data"):
        testing.coverage_report(empty.session, 90)

    (tmp_path / "coverage").mkdir()
    (tmp_path / "coverage" / ".coverage.host.1").write_text("")
    fake = FakeSession("coverage")
    fake.output = "| Name | Cover |\n| TOTAL | 95% |"
    testing.coverage_report(fake.session, 90)
    commands = [call[1][1] for call in fake.calls if call[0] == "run"]
    assert commands == ["combine", "xml", "html", "report", "report"]
    assert fake.calls[-1][1][-1] == "--fail-under=90"
    assert "TOTAL | 95%" in summary.read_text()
    assert "| tests-3.11 | 3 | 1 | 0 | 1 | 2.5 |" in summary.read_text()


@pytest.mark.parametrize(
    ("posargs", "expected"),
    [([], ("lock", "--check")), (["--update"], ("lock",)), (["--upgrade"], ("lock", "--upgrade"))],
)
def test_lock_session_modes(posargs: list[str], expected: tuple[str, ...]) -> None:
    fake = FakeSession("lock", posargs)
    install.lock(fake.session)
    assert fake.calls[0][1][1:] == expected


def test_lock_session_failure_names_the_fix() -> None:
    fake = FakeSession("lock")
    fake.fail_on = "--check"
    with pytest.raises(Stop, match=r"commit uv\.lock"):
        install.lock(fake.session)


def test_uv_falls_back_to_installing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(install, "find_uv", lambda: (False, "uv", None))
    fake = FakeSession()
    assert install.uv(fake.session) == "uv"
    assert fake.calls[0][0] == "install"
    fake.calls.clear()
    install.install_locked(fake.session, "test")
    assert "--inexact" in fake.calls[-1][1]
