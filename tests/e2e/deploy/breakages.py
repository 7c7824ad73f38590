"""The bad releases the deploy suite ships: each one change to a copy of the app's source.

Kept apart from the suite so that the fast tests can check, without deploying anything,
that every pattern still matches the code it breaks (``tests/ops/deploy/test_breakages.py``):
a refactor of the app otherwise surfaces only in the slow deploy session.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Breakage:
    """The first match of the regular expression ``pattern`` in ``path`` (relative to the
    repository) replaced by ``replacement``."""

    path: str
    pattern: str
    replacement: str

    def apply(self, source: str) -> str:
        """``source`` (the text of :attr:`path`) with the change; an AssertionError naming
        the file and the pattern when the pattern no longer matches it."""
        changed, found = re.subn(self.pattern, lambda _match: self.replacement, source, count=1)
        assert found, f"{self.path} no longer matches {self.pattern!r}"
        return changed


NOT_READY = Breakage(
    "app/api/routes/ops.py",
    re.escape("failed = sorted(name for name, check in checks.items() if not check.ok)"),
    'failed = ["forced-failure"]',
)
CANCEL_BROKEN = Breakage(
    "app/api/routes/orders.py",
    r"order = await [\w.]+\.cancel_order_for_user\([^)]*\)",
    'raise RuntimeError("cancel is broken")',
)
BROKEN_BEHIND_THE_PROXY = Breakage(
    "app/api/middleware.py",
    re.escape('incoming = Headers(scope=scope).get("x-request-id", "")'),
    'incoming = Headers(scope=scope).get("x-request-id", "")\n'
    '        if "x-forwarded-for" in Headers(scope=scope):\n'
    '            raise RuntimeError("broken behind the proxy")',
)
ALL = (NOT_READY, CANCEL_BROKEN, BROKEN_BEHIND_THE_PROXY)
