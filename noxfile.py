# /// script
# requires-python = ">=3.11"
# dependencies = ["nox>=2025.2.9"]
# ///
"""Sessions shared by laptops and CI: `nox -l` lists them, `nox -t ci` runs CI's quality gate.

Every session installs exactly what uv.lock pins. What each one does lives in
ops/sessions/; this file only declares them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).resolve().parent))  # ops/ lives beside this file

from ops.core.environ import in_ci
from ops.core.exits import DONE, INCONCLUSIVE
from ops.project import supported_pythons
from ops.sessions import coverage_xml, install, testing
from ops.sessions import lint as linters

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.error_on_external_run = True

PYTHONS = supported_pythons()
DEFAULT_PYTHON = PYTHONS[0]


@nox.session(python=PYTHONS, tags=["ci", "tests"])
def tests(session: nox.Session) -> None:
    """Unit and API tests on the embedded defaults (no services needed)."""
    # The app is tested on every supported Python; the tooling (tests/ops), which
    # runs on the CI's Python, only on the default one.
    if session.python == DEFAULT_PYTHON:
        install.install_locked(session, "test", "ops", "security", "perf", "bench", "lint")
        testing.pytest(session, "tests/unit", "tests/api", "tests/ops", parallel=True)
    else:
        install.install_locked(session, "test", "ops")
        testing.pytest(session, "tests/unit", "tests/api", parallel=True)


@nox.session(python=DEFAULT_PYTHON, tags=["tests", "services"], default=False)
def integration(session: nox.Session) -> None:
    """PostgreSQL and Redis tests, the API suite again on PostgreSQL, and (serially) the
    load runner end to end against a production-shaped server."""
    install.install_locked(session, "test", "ops", "perf")
    on_postgres = {"TEST_BACKEND": "postgresql"}
    testing.pytest(
        session, "tests/integration", "tests/api", env=on_postgres, parallel=True, by_file=True
    )
    testing.pytest(session, "tests/e2e/perf", env=on_postgres, part="perf")


@nox.session(python=DEFAULT_PYTHON, tags=["services"], default=False)
def api(session: nox.Session) -> None:
    """Schemathesis CLI with all checks against a live server on a free port: with the rate
    limits lifted, then again with the limits the app ships (their 429s are in the schema)."""
    install.install_locked(session, "test", "ops")
    session.run("python", "-m", "ops.live.schemathesis", *session.posargs)
    session.run("python", "-m", "ops.live.schemathesis", "--default-limits", *session.posargs)


@nox.session(python=DEFAULT_PYTHON, tags=["tests", "deploy"], default=False)
def deploy(session: nox.Session) -> None:
    """invoke deploy end to end: real Caddy and app processes, zero-downtime under load."""
    install.install_locked(session, "test", "ops")
    testing.pytest(session, "tests/e2e/deploy")


@nox.session(python=DEFAULT_PYTHON, tags=["image"], default=False)
def image(session: nox.Session) -> None:
    """The production image: invoke image.build, image.check, and every gate failing on a
    bad image (needs a Docker engine: DOCKER_HOST, or dockerd as root)."""
    install.install_locked(session, "test", "ops", "security")
    session.run("invoke", "image.build")
    session.run("invoke", "image.check", success_codes=[DONE, INCONCLUSIVE])
    testing.pytest(session, "tests/e2e/image")


@nox.session(python=DEFAULT_PYTHON, tags=["perf"], default=False)
def perf(session: nox.Session) -> None:
    """A load run judged against the SLOs (deploy/perf.toml): a local production-shaped
    server by default, `-- --env staging` a deployed one; `-- --help` for the options."""
    install.install_locked(session, "perf", "ops")
    session.run("python", "-m", "ops.perf", *session.posargs)


@nox.session(python=DEFAULT_PYTHON, tags=["bench"], default=False)
def bench(session: nox.Session) -> None:
    """Micro-benchmarks (pytest-benchmark): medians against the base commit measured in
    this job, as ratios (`-- --base REF`, `--max-regression N`, `--pairs K`)."""
    install.install_locked(session, "test", "bench")
    session.run(
        "python", "-m", "ops.perf.bench", *session.posargs, success_codes=[DONE, INCONCLUSIVE]
    )


@nox.session(python=DEFAULT_PYTHON, tags=["bench"], default=False)
def instructions(session: nox.Session) -> None:
    """Instruction counts (callgrind) of the hot functions against benchmarks/instructions.json:
    deterministic, so CI gates on them (`-- --update-baseline` rewrites it)."""
    install.install_locked(session, "test", "bench")
    session.run(
        "python", "-m", "ops.perf.callgrind", *session.posargs, success_codes=[DONE, INCONCLUSIVE]
    )


@nox.session(python=DEFAULT_PYTHON, tags=["ci", "lint"])
def lint(session: nox.Session) -> None:
    """ruff, actionlint, zizmor, hadolint, shellcheck, compose schema, promtool, amtool, and
    the Kubernetes overlays: kubectl kustomize, kubernetes-validate --strict, trivy config."""
    install.install_locked(session, "lint", "security", runtime=False)  # trivy: security
    for command in linters.lint_commands():
        session.run(*command)
    unavailable = linters.unavailable_checks(os.environ)
    for checks, message in unavailable.items():
        if in_ci(os.environ):
            session.error(f"{message} (CI=true: a missing tool is a failure)")
        session.warn(f"skipping the {checks} checks: {message}")
    if "monitoring" not in unavailable:
        for command in linters.monitoring_commands():
            session.run(*command, external=True)  # Debian's binaries, outside the environment
    if "Kubernetes" not in unavailable:
        workdir = Path(session.create_tmp()) / "kubernetes"
        checked = linters.check_manifests(Path(session.bin), workdir, os.environ)
        for line in checked.lines:
            session.log(line)
        if not checked.ok:
            session.error("Kubernetes manifests:\n  " + "\n  ".join(checked.failures))


@nox.session(python=DEFAULT_PYTHON, tags=["ci", "typecheck"])
def typecheck(session: nox.Session) -> None:
    """mypy --strict over app/, ops/, tests/, noxfile.py and tasks.py."""
    install.install_locked(session, "typecheck")
    session.run("mypy", *linters.TYPECHECK_TARGETS, *session.posargs)


@nox.session(name="pre-commit", python=DEFAULT_PYTHON, tags=["lint"], default=False)
def pre_commit(session: nox.Session) -> None:
    """Every pre-commit hook over every file."""
    install.install_locked(session, "lint", runtime=False)
    session.run("pre-commit", "run", "--all-files", "--show-diff-on-failure", *session.posargs)


@nox.session(python=DEFAULT_PYTHON, tags=["ci"])
def coverage(session: nox.Session) -> None:
    """Combine the coverage of every test session: HTML, XML, summary; fail under 90%."""
    install.install_locked(session, "coverage", runtime=False)
    testing.coverage_report(session, fail_under=coverage_xml.FLOOR)


@nox.session(python=False, tags=["deps"])
def lock(session: nox.Session) -> None:
    """Check that uv.lock matches pyproject.toml; `-- --update` re-locks, `-- --upgrade` too."""
    install.lock(session)


# Security and supply-chain gates (ops/security): each writes reports/security/<gate>.*
# and `nox -t security` ends with the summary. Every gate accepts every gate's options,
# so `nox -t security -- --allow-offline` records an unreachable audit service as a skip.
@nox.session(python=DEFAULT_PYTHON, tags=["security"], default=False)
def bandit(session: nox.Session) -> None:
    """bandit over the code (not tests/), configured in pyproject.toml; SARIF."""
    install.security_gate(session, "bandit")


@nox.session(python=DEFAULT_PYTHON, tags=["security"], default=False)
def semgrep(session: nox.Session) -> None:
    """semgrep with this repository's rules (security/semgrep), offline; SARIF."""
    install.security_gate(session, "semgrep")


@nox.session(python=DEFAULT_PYTHON, tags=["security"], default=False)
def secrets(session: nox.Session) -> None:
    """detect-secrets against the reviewed baseline; `-- --history` scans every commit."""
    install.security_gate(session, "secrets")


@nox.session(python=DEFAULT_PYTHON, tags=["security"], default=False)
def audit(session: nox.Session) -> None:
    """pip-audit of every pin in uv.lock; fails when it cannot audit (`-- --allow-offline`)."""
    install.security_gate(session, "audit")


@nox.session(python=DEFAULT_PYTHON, tags=["security"], default=False)
def trivy(session: nox.Session) -> None:
    """trivy: config (Dockerfile, compose, manifests), secrets, vulns; `-- --image REF`."""
    install.security_gate(session, "trivy")


@nox.session(python=DEFAULT_PYTHON, tags=["security"], default=False)
def sbom(session: nox.Session) -> None:
    """CycloneDX SBOM of the locked runtime environment, checked against uv.lock."""
    install.security_gate(session, "sbom", f"--uv={install.uv(session)}")


@nox.session(python=DEFAULT_PYTHON, tags=["security"], default=False)
def licenses(session: nox.Session) -> None:
    """Runtime dependencies' licences against [tool.trading.licenses] in pyproject.toml."""
    install.security_gate(session, "licenses", f"--uv={install.uv(session)}")


@nox.session(name="api-security", python=DEFAULT_PYTHON, tags=["security"], default=False)
def api_security(session: nox.Session) -> None:
    """Live app: injection, auth bypass, object authz, CORS, rate limit, schemathesis."""
    install.install_locked(session, "test", "ops")
    install.run_gate(session, "ops.security.api_security")


@nox.session(python=DEFAULT_PYTHON, tags=["security"], default=False)
def security(session: nox.Session) -> None:
    """Summary of the security gates: merged SARIF, table, score; fails on what blocks."""
    install.run_gate(session, "ops.security.summary")


if __name__ == "__main__":
    nox.main()
