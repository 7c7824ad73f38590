"""The Kubernetes manifests (deploy/kubernetes): every overlay renders, agrees with its
environment's definition, validates against the Kubernetes schemas and passes trivy; a
manifest broken on purpose fails each gate with a message naming it; the release's image
reaches the stable Deployment only at the switch.

Rendering needs kubectl (not in the lock); validating and scanning need kubernetes-validate
(lint group) and trivy (security group) beside this interpreter. A test whose tool is
missing is skipped -- the lint session runs the same gates and fails under CI without them.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.core.commands import Completed, ToolNotFound, run
from ops.deploy.platforms.kubernetes import KubernetesPlatform, app_config, definition_problems
from ops.environments import EnvironmentDefinition, available, load_environment
from ops.project import ROOT
from ops.sessions import lint
from tests.ops.deploy.recorder import Recorder
from tests.support import needs

KUBERNETES = ROOT / "deploy" / "kubernetes"
BIN = Path(sys.executable).parent
ENVIRONMENTS = [name for name in available() if load_environment(name).platform == "kubernetes"]


@pytest.fixture
def kubectl() -> str:
    """kubectl (outside the lock): skipped here without it, a failure under CI."""
    return needs.program("kubectl", lint.KUBERNETES_HINT)


@pytest.fixture
def gates(kubectl: str) -> Path:
    """The directory holding kubernetes-validate and trivy (this interpreter's). trivy comes
    with the security group, which the test sessions install (a failure under CI without
    it); kubernetes-validate with the lint group, which they do not: skipped without it."""
    needs.program("trivy", "install the security dependency group")
    if not (BIN / "kubernetes-validate").is_file():
        pytest.skip("kubernetes-validate not installed (lint group): the lint session runs it")
    return BIN


def render(overlay: Path) -> list[dict[str, Any]]:
    """The objects ``kubectl kustomize`` renders from an overlay."""
    done = run(["kubectl", "kustomize", str(overlay)]).checked()
    return [item for item in yaml.safe_load_all(done.stdout) if item]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [item for item in objects if item["kind"] == kind]
    return found


def test_every_kubernetes_environment_has_an_overlay() -> None:
    assert ENVIRONMENTS == ["production", "staging"]
    names = [path.name for path in lint.overlays()]
    assert names == ENVIRONMENTS
    for name in ENVIRONMENTS:
        manifests_dir = load_environment(name).kubernetes.manifests_dir
        assert manifests_dir == f"deploy/kubernetes/overlays/{name}"


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_the_overlay_agrees_with_the_environment(name: str, kubectl: str) -> None:
    environment = load_environment(name)
    objects = render(KUBERNETES / "overlays" / name)
    assert definition_problems(environment, objects) == []
    assert app_config(objects, "trading-api") == environment.app
    assert environment.app["ENVIRONMENT"] == name, "the strict settings checks, HSTS, no docs"
    config = one(objects, "ConfigMap")
    assert re.fullmatch(r"trading-api-config-[a-z0-9]{10}", config["metadata"]["name"]), (
        "a generated name: a changed setting rolls the pods"
    )
    ingress = one(objects, "Ingress")
    assert ingress["spec"]["tls"][0]["secretName"] == "trading-api-tls"  # pragma: allowlist secret
    assert "cert-manager.io/cluster-issuer" in ingress["metadata"]["annotations"]
    assert not [item for item in objects if item["kind"] == "Secret"], "secrets are never committed"


def _dockerfile(pattern: str) -> str:
    match = re.search(pattern, (ROOT / "deploy" / "Dockerfile").read_text())
    assert match, pattern
    return match.group(1)


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_the_pods_run_as_the_image_does_locked_down(name: str, kubectl: str) -> None:
    objects = render(KUBERNETES / "overlays" / name)
    deployment = one(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    uid = int(_dockerfile(r"--uid (\d+)"))
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == uid == container["securityContext"]["runAsUser"]
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert set(container["resources"]["requests"]) >= {"cpu", "memory"}
    assert set(container["resources"]["limits"]) >= {"cpu", "memory"}
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    data_dir = _dockerfile(r"DATA_DIR=(\S+)")
    empty_dirs = {volume["name"] for volume in pod["volumes"] if "emptyDir" in volume}
    temporary = "/tmp"  # noqa: S108 - the pods' own /tmp, an emptyDir
    assert {mounts[data_dir], mounts[temporary]} <= empty_dirs, "where the app writes"
    sources = [next(iter(source)) for source in container["envFrom"]]
    assert sources == ["configMapRef", "secretRef"], "the Secret wins over a same-named setting"


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_disruption_budget_and_network_policy(name: str, kubectl: str) -> None:
    objects = render(KUBERNETES / "overlays" / name)
    deployment = one(objects, "Deployment")
    budget = one(objects, "PodDisruptionBudget")
    assert (
        budget["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    )
    assert 1 <= budget["spec"]["minAvailable"] < deployment["spec"]["replicas"]
    policy = one(objects, "NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"] == {"app": "trading-api"}, "candidate pods too"
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert {port["port"] for rule in policy["ingress"] for port in rule["ports"]} == {8000}
    sources = [
        peer["namespaceSelector"]["matchLabels"] for r in policy["ingress"] for peer in r["from"]
    ]
    assert {"kubernetes.io/metadata.name": "ingress-nginx"} in sources
    egress = {
        (port["protocol"], port["port"]) for rule in policy["egress"] for port in rule["ports"]
    }
    assert egress == {("UDP", 53), ("TCP", 53), ("TCP", 5432), ("TCP", 6379)}


def test_the_committed_overlays_pass_every_gate(tmp_path: Path, kubectl: str, gates: Path) -> None:
    checked = lint.check_manifests(
        gates, tmp_path / "rendered", {"PATH": str(Path(kubectl).parent)}
    )
    assert checked.failures == []
    assert checked.ok
    assert [line.split(":")[0] for line in checked.lines[:2]] == ["production", "staging"]
    assert f"valid against Kubernetes {lint.KUBERNETES_VERSION}" in "\n".join(checked.lines)


POD = "/spec/template/spec"
API = f"{POD}/containers/0"


def _op(op: str, path: str, *value: object) -> dict[str, object]:
    """One JSON patch operation (RFC 6902) on the Deployment."""
    return {"op": op, "path": path, **({"value": value[0]} if value else {})}


BROKEN_PATCHES = {
    # kubernetes-validate: a field the schema does not have, a value of the wrong type
    "invalid": [_op("add", f"{API}/bogusField", 1), _op("replace", "/spec/replicas", "two")],
    # trivy: root, no resources, privileged
    "unsafe": [
        _op("remove", f"{API}/resources"),
        _op("replace", f"{POD}/securityContext/runAsNonRoot", False),
        _op("replace", f"{POD}/securityContext/runAsUser", 0),
        _op("remove", f"{API}/securityContext/runAsNonRoot"),
        _op("remove", f"{API}/securityContext/runAsUser"),
        _op("replace", f"{API}/securityContext/privileged", True),
    ],
}
DEPLOYMENT = {"kind": "Deployment", "name": "trading-api"}


def _broken_overlays(root: Path) -> Path:
    """A copy of deploy/kubernetes whose overlays are broken on purpose, one way each."""
    shutil.copytree(KUBERNETES, root, ignore=shutil.ignore_patterns("overlays"))
    overlays = root / "overlays"
    for name, patch in BROKEN_PATCHES.items():
        directory = overlays / name
        directory.mkdir(parents=True)
        kustomization = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "namespace": f"trading-{name}", "resources": ["../../base"],
            "patches": [{"target": DEPLOYMENT, "patch": json.dumps(patch)}],
        }  # fmt: skip
        (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    typo = overlays / "typo"
    typo.mkdir()
    (typo / "kustomization.yaml").write_text("resources: [../../base, ingress.yaml]\n")
    ingress = "apiVersion: networking.k8s.io/v2\nkind: Ingress\nmetadata: {name: x}\nspec: {}\n"
    (typo / "ingress.yaml").write_text(ingress)
    unrenderable = overlays / "unrenderable"
    unrenderable.mkdir()
    (unrenderable / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    return overlays


def test_manifests_broken_on_purpose_fail_every_gate_naming_them(
    tmp_path: Path, kubectl: str, gates: Path
) -> None:
    overlays = _broken_overlays(tmp_path / "kubernetes")
    checked = lint.check_manifests(
        gates, tmp_path / "rendered", {"PATH": str(Path(kubectl).parent)}, overlays
    )
    failures = "\n".join(checked.failures)
    assert not checked.ok
    # kustomize: the overlay that does not render
    assert re.search(
        r"^unrenderable: kubectl kustomize .*overlays/unrenderable: accumulating resources: .*"
        r"missing\.yaml",
        failures,
        re.M,
    )
    # kubernetes-validate --strict: the object and the field
    assert "kubernetes-validate: invalid: deployment/trading-api: " in failures
    assert "'bogusField' was unexpected" in failures or "'two' is not of type 'integer'" in failures
    assert re.search(
        r"^kubernetes-validate: typo: Couldn't find schema for kind Ingress .*networking.k8s.io/v2",
        failures,
        re.M,
    )
    # trivy: root, no resources, privileged -- whatever trivy's severity, with the object named
    unsafe = [line for line in checked.failures if line.startswith("trivy config: unsafe: ")]
    checks = {line.split()[3] for line in unsafe}
    assert {
        "KSV-0012",
        "KSV-0020",
        "KSV-0011",
        "KSV-0015",
        "KSV-0016",
        "KSV-0018",
        "KSV-0017",
    } <= checks
    assert all("'trading-api'" in line or "trading-api " in line for line in unsafe), unsafe
    assert not [line for line in checked.failures if line.startswith("trivy config: invalid: ")]


def test_the_real_overlay_reaches_the_stable_deployment_only_at_the_switch(
    monkeypatch: pytest.MonkeyPatch, kubectl: str
) -> None:
    monkeypatch.setattr("ops.deploy.platforms.kubernetes.Process", _Forward)
    monkeypatch.setattr("ops.deploy.platforms.kubernetes.listening", lambda port: True)
    rendered = run(["kubectl", "kustomize", str(KUBERNETES / "overlays" / "staging")]).checked()
    recorder = Recorder(rendered=rendered.stdout)
    platform = KubernetesPlatform(
        load_environment("staging"), {}, {"GITHUB_REPOSITORY": "acme/trading-api"}, runner=recorder
    )
    platform.preflight()
    platform.build("v2", Path("."))
    platform.migrate("v2")
    candidate = platform.start("v2")
    gates_passed = len(recorder.commands)
    platform.switch(candidate)
    assert recorder.stable_changes() == [gates_passed]
    applied_at_build = {
        item["kind"] for item in recorder.applied(recorder.verbs().index("apply -f"))
    }
    assert applied_at_build == {
        "ConfigMap",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Ingress",
    }
    [stable] = recorder.applied(gates_passed)
    assert stable["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v2")


class _Forward:
    def __init__(self, command: list[str], **_options: object) -> None:
        self.command = command

    def start(self) -> _Forward:
        return self

    def alive(self) -> bool:
        return True

    def stop(self, grace: float = 0) -> bool:
        return True


# The lint module's logic without the tools: what the CI's test session (which installs
# neither kubernetes-validate nor kubectl) still checks.

RENDERED = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\nkind: Deployment\n"


class FakeTools:
    """Answers the gates' commands: kubectl writes RENDERED, the others what they are given."""

    def __init__(self, validate: Completed | None = None, report: Any = None) -> None:
        self.validate = validate
        self.report = {"Results": []} if report is None else report
        self.commands: list[list[str]] = []
        self.render_error = "Error: accumulating resources: nope"

    def __call__(self, command: Sequence[str], **options: Any) -> Completed:
        self.commands.append(list(command))
        name = Path(command[0]).name
        if name == "kubectl":
            if "broken" in command[2] and self.render_error == "missing":
                raise ToolNotFound("kubectl: command not found")
            if "broken" in command[2]:
                return Completed(tuple(command), 1, "", f"{self.render_error}\n")
            Path(command[-1]).write_text(RENDERED)
        elif name == "kubernetes-validate":
            return self.validate or Completed(tuple(command), 0)
        elif name == "trivy":
            if self.report == "missing":
                raise ToolNotFound("trivy: command not found")
            Path(command[command.index("--output") + 1]).write_text(json.dumps(self.report))
        return Completed(tuple(command), 0)


def _overlays(root: Path, *names: str) -> Path:
    for name in names:
        (root / name).mkdir(parents=True)
        (root / name / "kustomization.yaml").write_text("resources: []\n")
    return root


def _check(tmp_path: Path, tools: FakeTools, *names: str) -> lint.ManifestCheck:
    overlays = _overlays(tmp_path / "overlays", *names)
    return lint.check_manifests(Path("/venv/bin"), tmp_path / "out", {}, overlays, runner=tools)


def test_check_manifests_runs_each_gate_once_over_every_overlay(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "removed.yaml").write_text("kind: Gone\n")
    tools = FakeTools()
    checked = _check(tmp_path, tools, "staging", "production")
    assert checked.ok
    names = [Path(c[0]).name for c in tools.commands]
    assert names[:2] == ["kubectl", "kubectl"]
    assert sorted(names[2:]) == ["kubernetes-validate", "trivy"], "each gate once, side by side"
    validate = next(c for c in tools.commands if c[0].endswith("kubernetes-validate"))
    trivy = next(c for c in tools.commands if c[0].endswith("trivy"))
    rendered = [str(tmp_path / "out" / name) for name in ("production.yaml", "staging.yaml")]
    assert validate[-2:] == rendered
    assert "--strict" in validate
    assert trivy[:2] == ["/venv/bin/trivy", "config"]
    assert checked.lines[0] == "production: rendered 2 objects (Service, Deployment)"
    assert not (tmp_path / "out" / "removed.yaml").exists(), "a removed overlay is not scanned"


def test_an_overlay_that_does_not_render_fails_and_is_named(tmp_path: Path) -> None:
    checked = _check(tmp_path, FakeTools(), "broken", "staging")
    assert checked.failures == [
        f"broken: kubectl kustomize {tmp_path}/overlays/broken: accumulating resources: nope"
    ]
    nothing = _check(tmp_path / "none", FakeTools(), "broken")
    assert nothing.failures[-1] == f"no overlay rendered under {tmp_path}/none/overlays"


def test_kubectl_log_lines_are_reduced_to_the_reason(tmp_path: Path) -> None:
    klog = (
        'E1201 22:32:53.795016   24682 run.go:72] "command failed" err="missing.yaml: no such file"'
    )
    tools = FakeTools()
    tools.render_error = klog
    assert (
        _check(tmp_path, tools, "broken").failures[0].endswith("broken: missing.yaml: no such file")
    )
    tools.render_error = "missing"
    assert (
        _check(tmp_path / "again", tools, "broken")
        .failures[0]
        .endswith("broken: kubectl: command not found")
    )


def test_validation_failures_name_the_overlay_and_the_object() -> None:
    output = (
        "ERROR /x/staging.yaml did not validate for resource deployment/trading-api against "
        "version 1.32: spec: Additional properties are not allowed ('bogus' was unexpected)\n"
        "WARN /x/production.yaml Couldn't find schema for kind Foo with api version a/v1\n"
        "INFO /x/production.yaml passed for resource service/trading-api\n"
    )
    assert lint.validation_failures(Completed(("kv",), 1, output)) == [
        "staging: deployment/trading-api: spec: Additional properties are not allowed "
        "('bogus' was unexpected)",
        "production: Couldn't find schema for kind Foo with api version a/v1",
    ]
    crashed = Completed(("kubernetes-validate",), 2, "", "Traceback\nKeyError: 'kind'\n")
    assert lint.validation_failures(crashed) == ["KeyError: 'kind'"]
    assert lint.validation_failures(Completed(("kv",), 0, "INFO ok\n")) == []


def _finding(check: str, severity: str, status: str = "FAIL") -> dict[str, str]:
    message = f"Container 'api' of Deployment 'trading-api' fails {check}"
    return {"ID": check, "Severity": severity, "Status": status, "Message": message}


def test_trivy_fails_high_critical_and_the_required_checks_and_notes_the_rest() -> None:
    findings = [
        _finding("KSV-0017", "HIGH"), _finding("KSV-0012", "MEDIUM"), _finding("KSV-0011", "LOW"),
        _finding("KSV-0125", "MEDIUM"), _finding("KSV-0014", "HIGH", status="PASS"),
    ]  # fmt: skip
    report = {"Results": [{"Target": "staging.yaml", "Misconfigurations": findings}]}
    failures, notes = lint.trivy_verdict(report)
    assert failures == [
        "staging: KSV-0017 (HIGH): Container 'api' of Deployment 'trading-api' fails KSV-0017",
        "staging: KSV-0012 (MEDIUM): Container 'api' of Deployment 'trading-api' fails KSV-0012",
        "staging: KSV-0011 (LOW): Container 'api' of Deployment 'trading-api' fails KSV-0011",
    ]
    assert notes == [
        "staging: KSV-0125 (MEDIUM): Container 'api' of Deployment 'trading-api' fails KSV-0125"
    ]
    assert lint.trivy_verdict({"Results": None}) == ([], [])
    assert lint.trivy_verdict([]) == ([], [])


def test_gate_failures_and_notes_reach_the_check(tmp_path: Path) -> None:
    invalid = Completed(("kv",), 1, "ERROR /x/staging.yaml could not be validated: 'kind'\n")
    report = {"Results": [{"Target": "staging.yaml", "Misconfigurations": [
        _finding("KSV-0014", "HIGH"), _finding("KSV-0125", "MEDIUM"),
    ]}]}  # fmt: skip
    checked = _check(tmp_path, FakeTools(invalid, report), "staging")
    assert checked.failures == [
        "kubernetes-validate: staging: could not be validated: 'kind'",
        "trivy config: staging: KSV-0014 (HIGH): Container 'api' of Deployment 'trading-api' "
        "fails KSV-0014",
    ]
    assert "trivy config (not failing): staging: KSV-0125 (MEDIUM)" in checked.lines[-1]


def test_a_missing_scanner_fails_the_check(tmp_path: Path) -> None:
    checked = _check(tmp_path, FakeTools(report="missing"), "staging")
    assert checked.failures == ["trivy config: could not scan: trivy: command not found"]


def test_kubectl_missing_is_an_unavailable_check(tmp_path: Path) -> None:
    env: Mapping[str, str] = {"PATH": str(tmp_path)}
    assert lint.missing_kubernetes_tools(env) == ["kubectl"]
    assert lint.missing_kubernetes_tools({}) == ["kubectl"]
    unavailable = lint.unavailable_checks(env)
    assert unavailable["Kubernetes"] == f"kubectl not found: {lint.KUBERNETES_HINT}"
    assert unavailable["monitoring"].startswith("promtool, amtool not found: apt-get install")
    for tool in ("kubectl", "promtool", "amtool"):
        (tmp_path / tool).write_text("#!/bin/sh\n")
        (tmp_path / tool).chmod(0o755)
    assert lint.unavailable_checks(env) == {}


def test_a_definition_without_an_ingress_host_or_tls_is_named() -> None:
    staging: EnvironmentDefinition = load_environment("staging")
    plain = staging.model_copy(update={"public_url": "http://staging.trading.example.com"})
    ingress = {
        "kind": "Ingress", "metadata": {"name": "web", "namespace": "trading-staging"},
        "spec": {"rules": [{"host": "staging.trading.example.com"}]},
    }  # fmt: skip
    assert definition_problems(plain, [ingress])[-1:] == [
        "deployment/trading-api reads no generated ConfigMap (envFrom)"
    ]
    assert definition_problems(staging, [ingress])[-1] == (
        "ingress/web has no TLS for staging.trading.example.com"
    )
