"""trivy: a root Dockerfile and a dangerous compose file fail and are named.

The repository passing trivy (a slow scanner) is shown by `nox -s trivy`, which CI runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.core import environ
from ops.core.exits import INCONCLUSIVE
from ops.security import trivy
from ops.security.scanner import ScanError
from tests.ops.security.conftest import RunGate, failing, options, require_tool

OFFLINE_DB = "lookup mirror.gcr.io: no such host"


@pytest.fixture
def no_vulnerability_db(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never download the vulnerability database in tests (it is large)."""
    monkeypatch.setattr(trivy, "vulnerability_db", lambda *_: OFFLINE_DB)


def test_a_root_dockerfile_and_a_dangerous_compose_file_fail(
    vulnerable_tree: Path, run_gate: RunGate, no_vulnerability_db: None
) -> None:
    # Exit 1, not 3: the failed findings outweigh the skipped vulnerability check.
    err = failing(run_gate, "trivy", trivy.main, "--root", str(vulnerable_tree))
    assert "high DS-0002 at deploy/Dockerfile: Image user should not be 'root'" in err
    assert "low DS-0026 at deploy/Dockerfile: No HEALTHCHECK defined" in err
    assert (
        'high TRD-C001 at docker-compose.yml:3: Compose service runs privileged: service "api"'
        in err
    )
    assert "high TRD-C002 at docker-compose.yml:3" in err
    assert "sets POSTGRES_PASSWORD to a literal value" in err
    assert 'service "postgres" publishes 5432:5432 on every interface' in err
    assert (
        f"skipped: vulnerability scan: trivy vulnerability DB not downloadable ({OFFLINE_DB})"
        in err
    )


def test_a_clean_tree_without_the_database_is_inconclusive(
    tmp_path: Path, run_gate: RunGate, no_vulnerability_db: None
) -> None:
    require_tool("trivy")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "README").write_text("nothing to see\n")
    ran = run_gate(trivy.main, "--root", str(tree))
    assert ran.code == INCONCLUSIVE
    assert ran.out.endswith("trivy: passed, 1 check(s) skipped\n")


def test_an_image_cannot_be_scanned_without_the_database(
    tmp_path: Path, reports: Path, no_vulnerability_db: None
) -> None:
    require_tool("trivy")
    (tmp_path / "README").write_text("nothing to see\n")
    image = options(root=tmp_path, reports=reports, image="ghcr.io/example/app:1")
    with pytest.raises(ScanError, match=r"could not scan image ghcr\.io/example/app:1"):
        trivy.scan(image)


def test_the_database_download_failure_is_the_reason(tmp_path: Path) -> None:
    require_tool("trivy")
    reason = trivy.vulnerability_db(require_tool("trivy"), tmp_path, environ.current())
    if reason is None:
        pytest.skip("the trivy vulnerability database is reachable from here")
    assert "\n" not in reason
    assert reason


def test_commands_skip_what_is_not_committed(tmp_path: Path) -> None:
    fs = trivy.fs_command("trivy", tmp_path, tmp_path / "o.json", vulnerabilities=True)
    assert fs[fs.index("--scanners") + 1] == "secret,vuln"
    assert "--skip-db-update" in fs
    assert "tests/ops/security/fixtures" in fs
    assert "**/.venv" in fs
    assert "--skip-check-update" in fs
    archive = tmp_path / "image.tar"
    archive.write_bytes(b"")
    assert trivy.image_command("trivy", str(archive), tmp_path / "o.json")[-2:] == [
        "--input",
        str(archive),
    ]
    assert trivy.image_command("trivy", "app:1", tmp_path / "o.json")[-1] == "app:1"


def test_report_parsing_keeps_secrets_out() -> None:
    report = {
        "Results": [
            {
                "Target": "app/x.py",
                "Secrets": [
                    {
                        "RuleID": "github-pat",
                        "Title": "GitHub Personal Access Token",
                        "Severity": "CRITICAL",
                        "StartLine": 4,
                        "Match": "token = ghp_****",
                    }
                ],
                "Misconfigurations": [
                    {"ID": "DS-0001", "Severity": "LOW", "Title": "t", "Status": "PASS"}
                ],
                "Vulnerabilities": [
                    {
                        "VulnerabilityID": "CVE-1",
                        "PkgName": "openssl",
                        "InstalledVersion": "3.0.0",
                        "Severity": "HIGH",
                        "Title": "bad",
                    }
                ],
            }
        ]
    }
    secret, vulnerability = trivy.parse(report)
    assert secret.location == "app/x.py:4"
    assert "ghp_" not in secret.message
    assert vulnerability.message == "openssl 3.0.0: CVE-1 (bad), fixed in no fixed release yet"
    assert trivy.parse(report, location="deploy/Dockerfile")[0].path == "deploy/Dockerfile"
    with pytest.raises(ScanError, match="not a JSON object"):
        trivy.parse([])


def test_the_database_reason_is_the_network_cause_in_one_line() -> None:
    fatal = "\t".join(["2026-12-01T18:38:39Z", "FATAL", "init error: DB error: " + "x" * 400])
    cause = "dial tcp: lookup mirror.gcr.io on 10.0.0.53:53: no such host"
    assert trivy._short_reason(f"{fatal}: {cause}\n", "") == cause
    assert trivy._short_reason("", "trivy: error: disk full\n") == "disk full"


def test_an_image_scan_offline_skips_only_the_vulnerabilities(tmp_path: Path) -> None:
    archive = tmp_path / "image.tar"
    archive.write_bytes(b"")
    command = trivy.image_command("trivy", str(archive), tmp_path / "o.json", vulnerabilities=False)
    assert command[command.index("--scanners") + 1] == "secret,misconfig"
    assert "--skip-db-update" not in command
    assert command[command.index("--image-config-scanners") + 1] == "misconfig,secret"
    online = trivy.image_command("trivy", str(archive), tmp_path / "o.json")
    assert online[online.index("--scanners") + 1] == "vuln,secret,misconfig"
    assert "--skip-db-update" in online


def test_the_image_sbom_is_cyclonedx_of_the_saved_image(tmp_path: Path) -> None:
    command = trivy.sbom_command("trivy", tmp_path / "image.tar", tmp_path / "image.cdx.json")
    assert command[:2] == ["trivy", "image"]
    assert command[command.index("--format") + 1] == "cyclonedx"
    assert command[command.index("--output") + 1] == str(tmp_path / "image.cdx.json")
    assert command[-2:] == ["--input", str(tmp_path / "image.tar")]
    assert "--scanners" not in command


def test_the_gate_scans_the_image_the_image_check_saved(tmp_path: Path) -> None:
    reports = tmp_path / "reports" / "security"
    assert trivy.built_image(reports) is None
    saved = tmp_path / "reports" / "image" / "image.tar"
    saved.parent.mkdir(parents=True)
    saved.write_bytes(b"")
    assert trivy.built_image(reports) == str(saved)
