"""``python -m ops.backup decrypt IN OUT [--key-env NAME]``: decrypt a backup object
by hand (the runbook's step when a backup is encrypted). Streams; exits 1 with
one line when the key is missing or wrong or the object was tampered with."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ops.backup.crypto import load_key
from ops.backup.errors import BackupError
from ops.backup.transfer import decrypt_file


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; expected failures print one line and return 1."""
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
            raise BackupError(f"{args.source}: no such file")
        decrypt_file(args.source, args.destination, load_key(args.key_env), str(args.source))
    except BackupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"decrypted {args.source} -> {args.destination}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
