"""What the integration tests share: a real server's settings, bearer headers, the books' check."""

from __future__ import annotations

from pathlib import Path

from app.db.engine import Database
from app.services.invariants import check_invariants
from tests.support.app import TEST_SECRET, token_for


def server_settings(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """Settings of a real ``python -m app serve`` on a test database, plus ``extra``."""
    return {
        "ENVIRONMENT": "testing",
        "DATABASE_URL": database_url,
        "JWT_SECRET_KEY": TEST_SECRET,
        "DATA_DIR": str(tmp_path / "var"),
        **extra,
    }


def bearer(user_id: int, role: str = "trader") -> dict[str, str]:
    """The Authorization header of a valid token for ``user_id``."""
    return {"Authorization": f"Bearer {token_for(user_id, role)}"}


async def invariant_problems(database_url: str) -> list[str]:
    """Every invariant the database at ``database_url`` violates (none when the books balance)."""
    database = Database(database_url)
    try:
        async with database.read_sessions() as session:
            return await check_invariants(session)
    finally:
        await database.dispose()
