"""Health-gated, zero-downtime releases (`invoke deploy`), rollbacks and their records."""
