"""``python -m ops.backup decrypt IN OUT [--key-env NAME]``: decrypt a backup object
by hand (the runbook's step when a backup is encrypted). Streams. Exits with one
line and the code of :mod:`ops.core.exits`: 1 when the object does not decrypt
(a wrong key, tampering, truncation), 2 when it cannot run (no such file, the key
missing or malformed, an unwritable destination)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ops.backup.crypto import load_key
from ops.backup.errors import BackupCannotRun
from ops.backup.transfer import decrypt_file
from ops.core import environ
from ops.core.exits import CANNOT_RUN, DONE, OpsError, one_line


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run the command (``env``: the variables the key is read from, default this
    process's); expected failures print one line and return their exit code."""
    parser = argparse.ArgumentParser(prog="python -m ops.backup", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    decrypt = commands.add_parser("decrypt", help="decrypt an encrypted backup object")
    decrypt.add_argument("source", type=Path)
    decrypt.add_argument("destination", type=Path)
    decrypt.add_argument(
        "--key-env", default="BACKUP_ENCRYPTION_KEY", help="variable holding the key"
    )
    args = parser.parse_args(argv)
    try:
        if not args.source.is_file():
            raise BackupCannotRun(f"{args.source}: no such file")
        key = load_key(args.key_env, environ.current() if env is None else env)
        decrypt_file(args.source, args.destination, key, str(args.source))
    except OpsError as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return error.exit_code
    except OSError as error:
        where = error.filename or args.destination
        print(f"error: {where}: {error.strerror or error}", file=sys.stderr)
        return CANNOT_RUN
    print(f"decrypted {args.source} -> {args.destination}")
    return DONE


if __name__ == "__main__":
    raise SystemExit(main())
