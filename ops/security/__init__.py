"""Security and supply-chain gates: one module per tool, run by the nox ``security`` tag.

Every gate (``python -m ops.security.<module>``) scans, applies the reviewed
suppression list (security/suppressions.toml), writes
``reports/security/<gate>.sarif`` and ``<gate>.status.json``, prints its
findings, and exits 0 (passed), 1 (failed), 2 (it could not run: bad option,
missing tool, corrupt file) or 3 (inconclusive: nothing failed, but a check was
skipped, and is named). :mod:`ops.security.scanner` is what they share;
``ops.security.summary`` merges what the gates wrote into one SARIF file, a
table and a score.
"""

from __future__ import annotations

GATES = (
    "bandit", "semgrep", "secrets", "audit", "trivy", "sbom", "licenses", "api-security", "image",
)  # fmt: skip
"""Every gate, in the order the ``security`` tag runs them; ``image`` is written by
``invoke image.check`` (the ``image`` session), which the summary reads like the others."""
