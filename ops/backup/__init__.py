"""Backups to local or S3 storage, verification, retention, restore and DR drills.

:mod:`ops.backup.operations` is the entry point (the invoke tasks and the deploy
pipeline call it); docs/backup.md is the reference and the runbook.
"""
