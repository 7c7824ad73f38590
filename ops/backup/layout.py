"""Where things live in backup storage, and backup ids.

    <environment>/<kind>/<backup-id>/<payload object(s)>
    <environment>/<kind>/<backup-id>/manifest.json      written last: complete <=> present
    <environment>/<kind>/<backup-id>/verification.json  the latest verification result
    <environment>/drills/<drill-id>.json                every drill report

(below the store's root: the local directory, or the bucket's prefix). A backup
id is its UTC start time plus a random suffix, so ids sort by time.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Literal, get_args

from ops.backup.errors import BackupCannotRun

Kind = Literal["db", "config", "state"]
KINDS: tuple[Kind, ...] = get_args(Kind)
MANIFEST = "manifest.json"
VERIFICATION = "verification.json"
ID_PATTERN = re.compile(r"^(\d{8}T\d{6}Z)-[0-9a-f]{6}$")
_TIME = "%Y%m%dT%H%M%SZ"


def new_id(now: datetime) -> str:
    """A fresh id for something started at ``now``: sortable time, random suffix."""
    return f"{now.astimezone(UTC).strftime(_TIME)}-{secrets.token_hex(3)}"


def id_time(identifier: str) -> datetime | None:
    """The start time encoded in an id, or None when it is not one of ours."""
    match = ID_PATTERN.match(identifier)
    if not match:
        return None
    return datetime.strptime(match.group(1), _TIME).replace(tzinfo=UTC)


def check_kind(kind: str) -> Kind:
    """``kind`` if it is a backup kind, else a one-line error."""
    if kind not in KINDS:
        raise BackupCannotRun(f"unknown backup kind {kind!r} (one of: {', '.join(KINDS)})")
    return kind


def kind_prefix(environment: str, kind: Kind) -> str:
    """The prefix of every backup of one kind."""
    return f"{environment}/{kind}/"


def backup_prefix(environment: str, kind: Kind, backup_id: str) -> str:
    """The prefix of one backup's objects."""
    return f"{environment}/{kind}/{backup_id}/"


def object_key(environment: str, kind: Kind, backup_id: str, name: str) -> str:
    """The key of one object of a backup."""
    return backup_prefix(environment, kind, backup_id) + name


def drill_key(environment: str, drill_id: str) -> str:
    """The key of a drill report."""
    return f"{environment}/drills/{drill_id}.json"
