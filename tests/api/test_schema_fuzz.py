"""Schema-driven fuzzing of every operation (schemathesis): no server errors and no
response the OpenAPI schema does not document.

The schema is loaded at import time (schemathesis' lazy fixture loader does not
work with this pytest); the app connects to its database lazily, and the
module fixture puts a copy of the test template there before the first call.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.generation.case import Case

from app.main import create_app
from tests.support import backends
from tests.support.app import Party, make_settings

FUZZ_EXAMPLES = 25
FUZZ_DIR = Path(tempfile.mkdtemp(prefix="trading-fuzz-"))
FUZZ_DATABASE = backends.new_database_name("trading_fuzz")
FUZZ_URL = (
    f"sqlite+aiosqlite:///{FUZZ_DIR / 'trading.db'}"
    if backends.backend() == "sqlite"
    else backends.sqlalchemy_url(backends.postgres_admin_url(), FUZZ_DATABASE)
)
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(make_settings(database_url=FUZZ_URL, data_dir=FUZZ_DIR))
)


@pytest.fixture(scope="module", autouse=True)
def fuzz_database(database_template: str) -> Iterator[None]:
    """The fuzzed app's database: a copy of the migrated, seeded template."""
    if backends.backend() == "sqlite":
        shutil.copy(database_template, FUZZ_DIR / "trading.db")
    else:
        backends.create_database(FUZZ_DATABASE, template=database_template)
    try:
        yield
    finally:
        if backends.backend() == "postgresql":
            backends.drop_database(FUZZ_DATABASE)
        shutil.rmtree(FUZZ_DIR, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_operation_conforms_to_its_schema(case: Case[Any], parties: dict[str, Party]) -> None:
    caller = parties["admin"] if case.path.startswith("/v1/admin") else parties["alice"]
    case.call_and_validate(headers=caller.headers)
