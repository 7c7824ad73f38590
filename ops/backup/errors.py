"""The two kinds of expected failure of the backup library (:mod:`ops.core.exits`).

- :class:`BackupCannotRun` (exit 2): the operation cannot be attempted -- bad
  input, an unknown kind, a missing or malformed key, a missing tool or database,
  no backup to act on, a refusal.
- :class:`BackupCheckFailed` (exit 1): it ran and a check failed -- a corrupt or
  truncated object, a failed verification, restored row counts that differ from
  the manifest, a failed drill.

Storage problems are :class:`ops.storage.StorageError` (cannot run), failed
programs :class:`ops.core.commands.CommandError`. Every message is one line.
"""

from __future__ import annotations

from ops.core.exits import CannotRun, CheckFailed


class BackupCannotRun(CannotRun):
    """A backup, verify, prune, restore or drill cannot be attempted; one line."""


class BackupCheckFailed(CheckFailed):
    """A backup, verify, restore or drill ran and one of its checks failed; one line."""
