"""The TLS check against a local HTTPS server presenting certificates made by ``trustme``
(a root, an intermediate, leaves with chosen validity): expiry by the larger of a
floor and a fraction of the lifetime, chain and hostname critical at once, the trust
anchor left out."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme

from ops.core.processes import free_port
from ops.monitor.checks import CHECKS
from ops.monitor.checks.tls import tls, tls_applies
from ops.monitor.results import Finding, Reason, Status
from tests.ops.monitor.http_support import StubServer, by_subject, monitor_context

LEAF_NAME = "monitor.test"
Serve = Callable[..., list[Finding]]


@pytest.fixture(scope="module")
def root() -> trustme.CA:
    """The trust anchor the monitor is told about."""
    return trustme.CA()


@pytest.fixture(scope="module")
def intermediate(root: trustme.CA) -> trustme.CA:
    """The CA that signs the leaves."""
    return root.create_child_ca()


@pytest.fixture
def ca_file(root: trustme.CA, tmp_path: Path) -> Path:
    """The root's certificate, for ``[monitor.tls] ca_file_env``."""
    path = tmp_path / "ca.pem"
    root.cert_pem.write_to_path(str(path))
    return path


def leaf(
    ca: trustme.CA, *, left_days: float, lifetime_days: float, name: str = "127.0.0.1"
) -> trustme.LeafCert:
    """A leaf for ``name`` valid ``lifetime_days`` in all, ``left_days`` from now."""
    now = datetime.now(UTC)
    not_after = now + timedelta(days=left_days)
    return ca.issue_cert(
        name, common_name=LEAF_NAME, not_before=not_after - timedelta(days=lifetime_days),
        not_after=not_after,
    )  # fmt: skip


def server_context(cert: trustme.LeafCert, tmp_path: Path, *, chain: bool = True) -> ssl.SSLContext:
    """A server context presenting ``cert`` with its intermediate, or alone."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if chain:
        cert.configure_cert(context)
        return context
    key, alone = tmp_path / "leaf.key", tmp_path / "leaf.pem"
    cert.private_key_pem.write_to_path(str(key))
    cert.cert_chain_pems[0].write_to_path(str(alone))
    context.load_cert_chain(str(alone), str(key))
    return context


@pytest.fixture
def serve(tmp_path: Path, ca_file: Path) -> Iterator[Serve]:
    """``serve(cert, chain=True, host="127.0.0.1")``: the TLS check's findings against a
    server presenting ``cert``, reached as ``https://host:port``."""
    servers: list[StubServer] = []

    def check(cert: trustme.LeafCert, chain: bool = True, host: str = "127.0.0.1") -> list[Finding]:
        server = StubServer(tls=server_context(cert, tmp_path, chain=chain))
        servers.append(server)
        url = f"https://{host}:{server.port}"
        return tls(monitor_context(url, {"MONITOR_CA_FILE": str(ca_file)}))

    yield check
    for server in servers:
        server.close()


def leaf_finding(findings: list[Finding]) -> Finding:
    return by_subject(findings)[f"leaf CN={LEAF_NAME}"]


def test_a_healthy_chain_judges_leaf_and_intermediate_but_not_the_anchor(
    serve: Serve, intermediate: trustme.CA
) -> None:
    findings = serve(leaf(intermediate, left_days=80, lifetime_days=90))
    assert [finding.status for finding in findings] == [Status.OK] * 3
    subjects = [finding.subject for finding in findings]
    assert subjects[:2] == ["chain", f"leaf CN={LEAF_NAME}"]
    assert subjects[2].startswith("intermediate ")  # the root, the third of the chain, is not
    assert by_subject(findings)["chain"].figures["certificates"] == 3
    days_left = leaf_finding(findings).figures["days_left"]
    assert isinstance(days_left, float)
    assert 79 < days_left <= 80


def test_a_certificate_expiring_tomorrow_is_critical(
    serve: Serve, intermediate: trustme.CA
) -> None:
    findings = serve(leaf(intermediate, left_days=1, lifetime_days=90))
    found = leaf_finding(findings)
    assert (found.status, found.reason) == (Status.CRITICAL, Reason.TLS_EXPIRY)
    assert "critical under 7" in found.summary
    assert by_subject(findings)["chain"].status is Status.OK


def test_ten_days_left_of_a_90_day_certificate_is_a_warning(
    serve: Serve, intermediate: trustme.CA
) -> None:
    found = leaf_finding(serve(leaf(intermediate, left_days=10, lifetime_days=90)))
    assert (found.status, found.reason) == (Status.WARNING, Reason.TLS_EXPIRY)
    assert found.figures["warning_days"] == 30  # a third of 90 days, more than the 14-day floor


@pytest.mark.parametrize(
    ("left_days", "lifetime_days", "status"),
    [
        (12, 30, Status.WARNING),  # a third is 10 days: the 14-day floor applies
        (15, 30, Status.OK),
        (40, 90, Status.OK),
        (6, 365, Status.CRITICAL),
    ],
)
def test_the_warning_is_the_larger_of_the_floor_and_a_third_of_the_lifetime(
    serve: Serve, intermediate: trustme.CA, left_days: float, lifetime_days: float,
    status: Status,
) -> None:  # fmt: skip
    found = leaf_finding(
        serve(leaf(intermediate, left_days=left_days, lifetime_days=lifetime_days))
    )
    assert found.status is status


def test_a_chain_missing_its_intermediate_fails_verification_at_once(
    serve: Serve, intermediate: trustme.CA
) -> None:
    cert = leaf(intermediate, left_days=80, lifetime_days=90)
    findings = serve(cert, chain=False)
    assert len(findings) == 1  # its certificates are not read without verification
    found = findings[0]
    assert (found.subject, found.status, found.reason) == ("chain", Status.CRITICAL,
                                                          Reason.TLS_VERIFY)  # fmt: skip
    assert "unable to get local issuer certificate" in found.summary


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_certificate_for_another_hostname_is_critical(
    serve: Serve, intermediate: trustme.CA, host: str
) -> None:
    cert = leaf(intermediate, left_days=80, lifetime_days=90, name="other.example")
    [found] = serve(cert, host=host)
    assert (found.subject, found.status, found.reason) == ("chain", Status.CRITICAL,
                                                          Reason.HOSTNAME)  # fmt: skip
    assert "mismatch" in found.summary


def test_an_expired_certificate_fails_verification_as_expiry(
    serve: Serve, intermediate: trustme.CA
) -> None:
    [found] = serve(leaf(intermediate, left_days=-1, lifetime_days=90))
    assert (found.status, found.reason) == (Status.CRITICAL, Reason.TLS_EXPIRY)
    assert "expired" in found.summary


def test_a_ca_the_monitor_does_not_trust_fails_verification(
    intermediate: trustme.CA, tmp_path: Path
) -> None:
    cert = leaf(intermediate, left_days=80, lifetime_days=90)
    with StubServer(tls=server_context(cert, tmp_path)) as server:
        [found] = tls(monitor_context(server.url))
    assert (found.status, found.reason) == (Status.CRITICAL, Reason.TLS_VERIFY)


def test_nothing_listening_is_critical_connect() -> None:
    [found] = tls(monitor_context(f"https://127.0.0.1:{free_port()}"))
    assert (found.subject, found.status, found.reason) == ("chain", Status.CRITICAL,
                                                          Reason.CONNECT)  # fmt: skip
    assert found.summary.startswith("TLS handshake with 127.0.0.1:")


def test_an_unknown_host_is_critical_dns() -> None:
    [found] = tls(monitor_context("https://no-such-host.invalid"))
    assert (found.status, found.reason) == (Status.CRITICAL, Reason.DNS)


def test_tls_applies_only_to_https_urls() -> None:
    assert tls_applies(monitor_context("https://127.0.0.1:8443")) is None
    assert tls_applies(monitor_context("http://127.0.0.1:8080")) == (
        "the public URL is http, not https"
    )
    assert CHECKS["tls"].applies(monitor_context("http://127.0.0.1:8080")) is not None
