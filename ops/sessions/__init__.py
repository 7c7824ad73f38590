"""What the nox sessions do, so that ``noxfile.py`` only declares them.

- :mod:`ops.sessions.install` -- exactly what uv.lock pins, into each session's environment
- :mod:`ops.sessions.testing` -- pytest under coverage, the combined coverage report
- :mod:`ops.sessions.lint` -- the linters and type-check targets
- :mod:`ops.sessions.junit` -- test-report summaries for terminals and job summaries
- :mod:`ops.sessions.coverage_xml` -- the combined coverage's total, read back, and its floor
"""
