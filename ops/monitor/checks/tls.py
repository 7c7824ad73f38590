"""TLS of an ``https`` public URL: the chain verifies and names the host (or the check is
critical at once), and no certificate the site presents is about to expire.

Expiry is judged for the leaf and the intermediates: a warning at the larger of
``warning_days`` or ``warning_lifetime_fraction`` of the certificate's lifetime left
(a 90-day certificate warns 30 days ahead), critical at ``critical_days``. The trust
anchor is the trust store's, not the site's: its own expiry is not reported.
"""

from __future__ import annotations

import socket
import ssl
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import NameOID

from ops.monitor.checks.http import unreachable, verification_reason
from ops.monitor.context import MonitorContext
from ops.monitor.results import Figure, Finding, Reason, Status, graded, ok, problem

CHECK = "tls"
CHAIN = "chain"
SECONDS_PER_DAY = 86400


def tls_applies(context: MonitorContext) -> str | None:
    """Only an ``https`` public URL has certificates to check."""
    scheme = urlsplit(context.environment.public_url).scheme
    return None if scheme == "https" else f"the public URL is {scheme}, not https"


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or 443


def _verified_chain(sock: ssl.SSLSocket) -> list[x509.Certificate]:
    # SSLSocket.get_verified_chain() is public only from Python 3.13; the private
    # SSLObject behind the socket has it from 3.10 (3.11-3.13 here).
    chain = sock._sslobj.get_verified_chain()  # type: ignore[attr-defined]
    return [x509.load_pem_x509_certificate(cert.public_bytes().encode()) for cert in chain]


def handshake(
    host: str, port: int, context: ssl.SSLContext, timeout: float
) -> list[x509.Certificate]:
    """The chain ``host:port`` presents as ``context`` verified it, from the leaf to the
    trust anchor; :class:`ssl.SSLCertVerificationError` when it does not verify."""
    with (
        socket.create_connection((host, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=host) as sock,
    ):
        return _verified_chain(sock)


def site_certificates(chain: list[x509.Certificate]) -> list[tuple[str, x509.Certificate]]:
    """The leaf and the intermediates of a verified chain, by role: all but its last
    certificate, the trust anchor (unless the chain is a leaf trusted itself)."""
    site = chain[:-1] if len(chain) > 1 else chain
    return [("leaf" if index == 0 else "intermediate", cert) for index, cert in enumerate(site)]


def _name(cert: x509.Certificate) -> str:
    common_names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if common_names:
        return f"CN={common_names[0].value!s}"
    return cert.subject.rfc4514_string() or "(no subject)"


def expiry(role: str, cert: x509.Certificate, context: MonitorContext) -> Finding:
    """One certificate's time left against the warning and critical thresholds."""
    settings = context.settings.tls
    not_after = cert.not_valid_after_utc
    left = (not_after - context.clock()).total_seconds() / SECONDS_PER_DAY
    lifetime = (not_after - cert.not_valid_before_utc).total_seconds() / SECONDS_PER_DAY
    warning = max(settings.warning_days, settings.warning_lifetime_fraction * lifetime)
    figures: dict[str, Figure] = {"days_left": round(left, 1), "lifetime_days": round(lifetime, 1),
                                  "warning_days": round(warning, 1),
                                  "not_after": not_after.isoformat()}  # fmt: skip
    subject = f"{role} {_name(cert)}"
    date = f"{not_after:%Y-%m-%d %H:%M} UTC"
    when = f"expires {date}, in {left:.1f} days" if left > 0 else f"expired {date}"
    status = graded(left, warning, settings.critical_days, higher_is_worse=False)
    if not status.is_problem:
        return ok(CHECK, subject, when, **figures)
    limits = f"warning under {warning:.0f} days, critical under {settings.critical_days:g}"
    return problem(CHECK, subject, status, Reason.TLS_EXPIRY, f"{when} ({limits})", **figures)


def _judged_chain(
    host: str, port: int, context: MonitorContext
) -> tuple[Finding, list[tuple[str, x509.Certificate]]]:
    """The chain's verdict, and the site's certificates when it verified. A chain that
    fails is critical at once and says why (an expired certificate: ``tls_expiry``);
    its certificates are not read without verification (nothing here turns it off)."""
    where = f"{host}:{port}"
    try:
        chain = handshake(
            host, port, context.tls_context(), context.settings.request_timeout_seconds
        )
    except ssl.SSLCertVerificationError as error:
        summary = f"{where}: {error.verify_message}"
        return problem(CHECK, CHAIN, Status.CRITICAL, verification_reason(error), summary,
                       verify_code=error.verify_code), []  # fmt: skip
    verdict = ok(CHECK, CHAIN, f"{where}: the chain verifies and names the host",
                 certificates=len(chain))  # fmt: skip
    return verdict, site_certificates(chain)


def tls(context: MonitorContext) -> list[Finding]:
    """Chain and name of the public URL's certificate, and each site certificate's expiry."""
    host, port = _address(context.environment.public_url)
    try:
        verdict, certificates = _judged_chain(host, port, context)
    except OSError as error:  # no TLS handshake at all: DNS, connection, time-out
        return [unreachable(CHECK, CHAIN, error, f"TLS handshake with {host}:{port}")]
    return [verdict, *(expiry(role, cert, context) for role, cert in certificates)]
