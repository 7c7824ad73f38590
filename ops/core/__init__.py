"""One mechanism per job, shared by every pipeline.

- :mod:`ops.core.exits` -- the exit-code convention and the errors that carry it
- :mod:`ops.core.environ` -- reading the process environment and dotenv files
- :mod:`ops.core.commands` -- running external programs, finding them, saying what failed
- :mod:`ops.core.processes` -- starting, waiting for and stopping child processes
- :mod:`ops.core.console` -- what a task prints, its JSON result, its job summary, its prompts
- :mod:`ops.core.steps` -- recording and printing the steps of an operation
- :mod:`ops.core.journal` -- append-only JSON-lines logs
- :mod:`ops.core.notify` -- announcing results on a webhook
- :mod:`ops.core.git` and :mod:`ops.core.uv` -- the two tools every pipeline asks things of
- :mod:`ops.core.github` -- GitHub's REST API (the monitor's issues, the PR feedback comment)
"""
