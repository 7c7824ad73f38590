"""Health-gated, zero-downtime releases (``invoke deploy``), rollbacks and their records.

- :mod:`~ops.deploy.operations` -- what each task does (deploy, rollback, status, releases,
  down, unlock)
- :mod:`~ops.deploy.context` -- an environment opened and checked before anything changes
- :mod:`~ops.deploy.pipeline` -- the ordered steps of a deploy and the run that takes them
- :mod:`~ops.deploy.gates` -- readiness, smoke, latency and verification, through the API client
- :mod:`~ops.deploy.lock` -- one deploy at a time per environment
- :mod:`~ops.deploy.history` -- the append-only record of every run
- :mod:`~ops.deploy.version` -- the version label of a source tree
- :mod:`~ops.deploy.views` -- plans, summaries, status and history for people
- :mod:`~ops.deploy.platforms` -- where releases run: local, Kubernetes, Railway
"""
