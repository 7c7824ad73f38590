"""The OpenAPI schema documents every 429 the rate limiters can answer.

A schema fuzzer with the default limits meets 429s; each must be a documented
answer, with its Retry-After header. The operations the limiter reaches are all of
them but the ops endpoints (:data:`app.api.middleware.OPS_PATHS`); the second test
checks that on the running app, so the schema cannot drift from the middleware.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from app.api.middleware import OPS_PATHS
from app.main import create_app
from app.settings import Settings
from tests.support.app import app_client

METHODS = ("get", "post", "put", "patch", "delete")
PATH_VALUES = {"symbol": "AAPL"}  # any other path parameter is an id


def _operations(settings: Settings) -> list[tuple[str, str, dict[str, Any]]]:
    schema = create_app(settings).openapi()
    return [
        (method, path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda match: PATH_VALUES.get(match[1], "1"), path)


def test_every_limited_operation_documents_429_with_retry_after(settings: Settings) -> None:
    undocumented = []
    for method, path, operation in _operations(settings):
        if path in OPS_PATHS:
            continue
        answer = operation["responses"].get("429", {})
        header = answer.get("headers", {}).get("Retry-After", {})
        if header.get("schema", {}).get("type") != "integer":
            undocumented.append(f"{method.upper()} {path}")
    assert not undocumented, f"429 with Retry-After missing: {undocumented}"


async def test_the_limiter_reaches_every_operation_but_the_ops_endpoints(
    settings: Settings,
) -> None:
    limited = settings.model_copy(update={"rate_limit_per_ip": 1})
    operations = _operations(settings)
    assert any(path in OPS_PATHS for _, path, _ in operations), "ops endpoints are listed"
    async with app_client(limited, client=("198.51.100.7", 5000)) as client:
        await client.get("/v1/instruments")  # spends the address's whole budget
        for method, path, _operation in operations:
            answer = await client.request(method.upper(), _concrete(path))
            limited_here = path not in OPS_PATHS
            expected = "429" if limited_here else "not 429"
            assert (answer.status_code == 429) is limited_here, (
                f"{method.upper()} {path}: {answer.status_code}, expected {expected}"
            )
            if limited_here:
                assert int(answer.headers["Retry-After"]) >= 1


@pytest.mark.parametrize("path", sorted(OPS_PATHS))
def test_ops_paths_are_operations(settings: Settings, path: str) -> None:
    assert path in {p for _, p, _ in _operations(settings)}
