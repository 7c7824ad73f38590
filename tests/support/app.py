"""The app under test: settings, signed tokens, the seeded parties, an in-process client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from app.db import migrate
from app.db.engine import Database
from app.main import create_app
from app.security import create_access_token
from app.services.seed import DEMO_PASSWORD, DEMO_USERS, seed
from app.settings import Settings
from tests.support import backends

__all__ = ["DEMO_PASSWORD", "TEST_SECRET", "Party", "app_client", "make_settings", "token_for"]

TEST_SECRET = "test-signing-key-0123456789-abcdefghijklmnop"  # pragma: allowlist secret
SETTINGS_FIELDS = frozenset(name.upper() for name in Settings.model_fields)
# Rate-limit windows are aligned to the epoch, so a 60 s window can roll over in the
# middle of a test and hand out a fresh budget. This window's next boundary is
# centuries away: counts in tests are exact.
UNBROKEN_WINDOW_SECONDS = 10**10


def make_settings(**overrides: Any) -> Settings:
    """Settings for tests: testing environment, fixed secret, generous rate limits."""
    values: dict[str, Any] = {
        "environment": "testing",
        "jwt_secret_key": TEST_SECRET,
        "rate_limit_per_ip": 100_000,
        "rate_limit_per_user": 100_000,
        "rate_limit_window_seconds": UNBROKEN_WINDOW_SECONDS,
        "log_json": False,
        "market_cache_ttl_seconds": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@asynccontextmanager
async def app_client(
    settings: Settings, client: tuple[str, int] = ("127.0.0.1", 50000)
) -> AsyncIterator[httpx.AsyncClient]:
    """An app built from ``settings``, running, with an in-process HTTP client."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


def token_for(user_id: int, role: str, **overrides: Any) -> str:
    """A valid token signed with the test secret."""
    values: dict[str, Any] = {
        "user_id": user_id,
        "role": role,
        "secret": TEST_SECRET,
        "algorithm": "HS256",
        "expires_in": timedelta(minutes=30),
    }
    values.update(overrides)
    return create_access_token(**values)


@dataclass(frozen=True)
class Party:
    """A seeded user with a ready bearer token."""

    email: str
    user_id: int
    account_id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """Authorization header for this user."""
        return {"Authorization": f"Bearer {self.token}"}


def seeded_parties() -> dict[str, Party]:
    """The seeded users by first name; ids follow seed order (users and accounts 1..4)."""
    result = {}
    for index, (email, role) in enumerate(DEMO_USERS, start=1):
        result[email.split("@")[0]] = Party(email, index, index, token_for(index, role.value))
    return result


async def _seed(url: str) -> None:
    database = Database(url)
    try:
        await seed(database.sessions, DEMO_PASSWORD)
    finally:
        await database.dispose()


def migrate_and_seed(url: str) -> None:
    """Bring the database at ``url`` to head and add the demo users."""
    migrate.upgrade(url)
    asyncio.run(_seed(url))


def postgres_template(prefix: str) -> Iterator[str]:
    """Create a migrated, seeded PostgreSQL database; yield its name; drop it afterwards."""
    backends.check_postgres()
    name = backends.new_database_name(prefix)
    url = backends.create_database(name)
    try:
        migrate_and_seed(url)
        yield name
    finally:
        backends.drop_database(name)
