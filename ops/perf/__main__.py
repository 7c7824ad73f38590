"""``python -m ops.perf``: see :mod:`ops.perf.run`."""

from ops.perf.run import main

raise SystemExit(main())
