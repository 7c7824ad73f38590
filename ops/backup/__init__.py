"""Backups to local or S3 storage, verification, retention, restore and DR drills.

See docs/backup.md and the README's "Backups and disaster recovery" section.
"""
