"""Shared fixtures: isolated settings, a migrated and seeded SQLite template, the app."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.cli import DEFAULT_DEMO_PASSWORD
from app.db import migrate
from app.db.engine import Database
from app.main import create_app
from app.security import create_access_token
from app.services.seed import DEMO_USERS, seed
from app.settings import Settings
from tests import backends

TEST_SECRET = "test-signing-key-0123456789-abcdefghijklmnop"  # pragma: allowlist secret
DEMO_PASSWORD = DEFAULT_DEMO_PASSWORD
SETTINGS_FIELDS = {name.upper() for name in Settings.model_fields}
# Rate-limit windows are aligned to the epoch, so a 60 s window can roll over in the
# middle of a test and hand out a fresh budget. This window's next boundary is
# centuries away: counts in tests are exact.
UNBROKEN_WINDOW_SECONDS = 10**10


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer environment variable or .env file leaks into a test."""
    for key in list(os.environ):
        if key.upper() in SETTINGS_FIELDS:
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


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


async def _seed(url: str) -> None:
    database = Database(url)
    try:
        await seed(database.sessions, DEMO_PASSWORD)
    finally:
        await database.dispose()


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated to head and seeded; each test gets a copy.

    SQLite: a file path. PostgreSQL: the name of a template database.
    """
    if backends.backend() == "sqlite":
        path = tmp_path_factory.mktemp("template") / "trading.db"
        url = f"sqlite+aiosqlite:///{path}"
        migrate.upgrade(url)
        asyncio.run(_seed(url))
        yield str(path)
        return
    yield from postgres_template("trading_tpl")


def postgres_template(prefix: str) -> Iterator[str]:
    """Create a migrated, seeded PostgreSQL database; yield its name; drop it afterwards."""
    backends.check_postgres()
    name = backends.new_database_name(prefix)
    url = backends.create_database(name)
    try:
        migrate.upgrade(url)
        asyncio.run(_seed(url))
        yield name
    finally:
        backends.drop_database(name)


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> Iterator[str]:
    """A private copy of the template database, for this test only."""
    if backends.backend() == "sqlite":
        target = tmp_path / "db" / "trading.db"
        target.parent.mkdir()
        shutil.copy(database_template, target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    with backends.throwaway_database("trading_test", database_template) as url:
        yield url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Test settings on the private database (and a private Redis prefix on PostgreSQL)."""
    extra: dict[str, Any] = {}
    if backends.backend() == "postgresql":
        backends.check_redis()
        extra = {"redis_url": backends.redis_url(), "redis_prefix": f"t{uuid.uuid4().hex[:12]}:"}
    return make_settings(database_url=database_url, data_dir=tmp_path / "var", **extra)


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


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The application with its lifespan running."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


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


@pytest.fixture(scope="session")
def parties() -> dict[str, Party]:
    """The seeded users by first name; ids follow seed order (users and accounts 1..4)."""
    result = {}
    for index, (email, role) in enumerate(DEMO_USERS, start=1):
        name = email.split("@")[0]
        result[name] = Party(email, index, index, token_for(index, role.value))
    return result


@pytest.fixture
def admin(parties: dict[str, Party]) -> Party:
    """The seeded administrator."""
    return parties["admin"]


@pytest.fixture
def alice(parties: dict[str, Party]) -> Party:
    """A seeded, funded trader."""
    return parties["alice"]


@pytest.fixture
def bob(parties: dict[str, Party]) -> Party:
    """Another seeded, funded trader."""
    return parties["bob"]


@pytest.fixture
def carol(parties: dict[str, Party]) -> Party:
    """A third seeded, funded trader."""
    return parties["carol"]


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    """Direct database access for assertions."""
    db = Database(settings.effective_database_url)
    try:
        yield db
    finally:
        await db.dispose()
