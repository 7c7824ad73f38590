"""The one exception the backup library raises for expected failures."""

from __future__ import annotations

from typing import ClassVar

from ops.core.exits import OpsError


class BackupError(OpsError):
    """A backup, verify, prune, restore or drill step failed; the message is one line."""

    exit_code: ClassVar[int] = 1
