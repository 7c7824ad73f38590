"""Performance: SLO runs (``python -m ops.perf``, the ``perf`` session) and benchmarks.

- :mod:`ops.perf.run` -- a run top to bottom: objectives, target, accounts, load, verdict
- :mod:`ops.perf.slo` -- the SLO model (``deploy/perf.toml`` and an environment's ``[perf]``)
- :mod:`ops.perf.target`, :mod:`ops.perf.placement` -- the server under load and its CPUs
- :mod:`ops.perf.provision` -- the accounts and market facts a run acts with
- :mod:`ops.perf.scenarios` -- trader-mix, hot-symbol, read-mix; the plan handed to locust
- :mod:`ops.perf.schedule` -- the open workload: arrivals, dispatch, intended-time latency
- :mod:`ops.perf.generator`, :mod:`ops.perf.locustfile` -- locust's processes and plumbing
- :mod:`ops.perf.measurements`, :mod:`ops.perf.histograms` -- what a run measured
- :mod:`ops.perf.verdict`, :mod:`ops.perf.baseline`, :mod:`ops.perf.server_metrics` --
  the rules, the history, the server's own figures
- :mod:`ops.perf.pgbench` -- the database reference: pgbench TPC-B on the run's server
- :mod:`ops.perf.bench`, :mod:`ops.perf.callgrind` -- micro-benchmarks, instruction counts
"""
