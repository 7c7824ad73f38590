"""Shared fixtures: isolated settings, a migrated and seeded SQLite template, the app."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.db.engine import Database
from app.main import create_app
from app.settings import Settings
from tests.support import backends
from tests.support.app import (
    SETTINGS_FIELDS,
    Party,
    make_settings,
    migrate_and_seed,
    postgres_template,
    seeded_parties,
)

pytest_plugins = ["tests.support.fixtures"]


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer environment variable or .env file leaks into a test."""
    for key in list(os.environ):
        if key.upper() in SETTINGS_FIELDS:
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated to head and seeded; each test gets a copy.

    SQLite: a file path. PostgreSQL: the name of a template database.
    """
    if backends.backend() == "sqlite":
        path = tmp_path_factory.mktemp("template") / "trading.db"
        migrate_and_seed(f"sqlite+aiosqlite:///{path}")
        yield str(path)
        return
    yield from postgres_template("trading_tpl")


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


@pytest.fixture(scope="session")
def parties() -> dict[str, Party]:
    """The seeded users by first name; ids follow seed order (users and accounts 1..4)."""
    return seeded_parties()


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
