"""What CI tells people about a pull request (``invoke ci.feedback``).

- :mod:`ops.ci.feedback` -- the comment: tests, coverage, security score and what changed
  since the base, from the reports CI's jobs leave and from git
- :mod:`ops.ci.comment` -- the one comment per pull request, found by its marker and
  updated in place
- :mod:`ops.ci.operations` -- the task: the event, the token, dry runs, forks
"""
