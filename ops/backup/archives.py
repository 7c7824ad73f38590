"""Config and state archives: which files, a tar.gz of them, its test, safe extraction."""

from __future__ import annotations

import gzip
import hashlib
import tarfile
from collections.abc import Iterable
from pathlib import Path

from ops.backup.errors import BackupCannotRun, BackupCheckFailed
from ops.backup.manifest import FileEntry
from ops.environments import EnvironmentDefinition
from ops.project import ROOT

# Environment files (secrets: config backups are always encrypted), workflows,
# and the application's configuration.
CONFIG_PATHS = (
    "deploy/environments/*.toml",
    ".env",
    ".env.*",
    ".github/workflows/*.yml",
    ".github/actions/*/action.yml",
    "deploy/**/*",
    "docker-compose.yml",
    "alembic.ini",
    "pyproject.toml",
    "uv.lock",
    "requirements/*",
)
# Logs, static assets and templates ({state_dir}: the local platform's state directory).
STATE_PATHS = (
    "{state_dir}/logs/**/*",
    "{state_dir}/*.log",
    "{state_dir}/history.jsonl",
    "var/log/**/*",
    "static/**/*",
    "app/static/**/*",
    "templates/**/*",
    "app/templates/**/*",
)


def patterns(environment: EnvironmentDefinition, kind: str) -> list[str]:
    """The path patterns of a config or state backup, placeholders filled in."""
    chosen = environment.backup.config_paths if kind == "config" else environment.backup.state_paths
    default = CONFIG_PATHS if kind == "config" else STATE_PATHS
    values = {"name": environment.name, "state_dir": str(environment.state_dir)}
    return [pattern.format(**values) for pattern in (default if chosen is None else chosen)]


def collect(pattern_list: Iterable[str], root: Path = ROOT) -> tuple[list[Path], list[str]]:
    """Files matching the patterns (relative to ``root`` unless absolute), and the
    patterns that matched nothing."""
    files: dict[Path, None] = {}
    missing = []
    for pattern in pattern_list:
        base, relative = (
            (Path("/"), pattern.lstrip("/")) if pattern.startswith("/") else (root, pattern)
        )
        matched = [p for p in sorted(base.glob(relative)) if p.is_file() and not p.is_symlink()]
        if not matched:
            missing.append(pattern)
        files.update(dict.fromkeys(matched))
    return list(files), missing


def archive_name(path: Path, root: Path = ROOT) -> str:
    """The member name of a file: relative to ``root``, else its absolute path without ``/``."""
    resolved = path.resolve()
    if resolved.is_relative_to(root.resolve()):
        return resolved.relative_to(root.resolve()).as_posix()
    return resolved.as_posix().lstrip("/")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def build(files: list[Path], destination: Path, root: Path = ROOT) -> list[FileEntry]:
    """Write a tar.gz of ``files``; return what went in (name, size, sha256)."""
    entries = []
    with tarfile.open(destination, "w:gz", compresslevel=6) as archive:
        for path in files:
            name = archive_name(path, root)
            entries.append(FileEntry(path=name, size=path.stat().st_size, sha256=_sha256(path)))
            archive.add(path, arcname=name, recursive=False)
    return entries


def test(archive_path: Path, expected: list[FileEntry]) -> list[str]:
    """Read every member and compare it with the manifest; return the checks done."""
    found: dict[str, str] = {}
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            for member in archive:
                handle = archive.extractfile(member)
                if handle is not None:
                    found[member.name] = hashlib.sha256(handle.read()).hexdigest()
    except (tarfile.TarError, OSError, EOFError) as error:
        raise BackupCheckFailed(f"archive unreadable: {error}") from None
    for entry in expected:
        if found.get(entry.path) != entry.sha256:
            state = "missing" if entry.path not in found else "differs"
            raise BackupCheckFailed(f"archive member {entry.path} {state} from the manifest")
    return [f"tar.gz readable, {len(found)} files match the manifest"]


def extract(archive_path: Path, target: Path) -> int:
    """Extract into ``target`` (no absolute paths, links out or devices); return the count."""
    try:
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive_path, "r:gz") as archive:
            members = archive.getmembers()
            archive.extractall(target, filter="data")
    except (tarfile.TarError, EOFError, gzip.BadGzipFile) as error:
        raise BackupCheckFailed(f"cannot extract archive: {error}") from None
    except OSError as error:
        reason = error.strerror or error
        raise BackupCannotRun(f"cannot extract archive into {target}: {reason}") from None
    return len(members)
