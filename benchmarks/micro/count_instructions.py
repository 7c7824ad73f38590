"""The instruction-count driver: ``python -m ops.perf.callgrind`` runs it under callgrind as
``count_instructions.py [--iterations N] [CASE...]`` (see :mod:`ops.perf.callgrind`)."""

from __future__ import annotations

from cases import CASES

from ops.perf.callgrind import drive

if __name__ == "__main__":
    raise SystemExit(drive(CASES))
