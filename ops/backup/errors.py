"""The one exception the backup library raises for expected failures."""

from __future__ import annotations


class BackupError(Exception):
    """A backup, verify, prune, restore or drill step failed; the message is one line."""
