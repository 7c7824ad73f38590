"""The ASGI application factory ``app.main:create_app`` (``python -m app serve`` runs it)."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import metrics
from app.api.errors import install_error_handlers
from app.api.middleware import (
    AddressRateLimitMiddleware,
    JsonCORSMiddleware,
    RequestContextMiddleware,
)
from app.api.routes import account, admin, auth, market, ops, orders
from app.api.schemas import error_responses
from app.cli import CANNOT_RUN
from app.logs import configure_logging
from app.runtime import Runtime
from app.settings import ConfigError, Settings, load_settings

log = logging.getLogger("app")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; with no settings, read them (exit 2 with one line if bad)."""
    if settings is None:
        settings = _settings_or_exit()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime.create(settings)
        app.state.runtime = runtime
        metrics.BUILD_INFO.labels(
            settings.app_version, settings.git_sha, settings.environment.value
        ).set(1)
        log.info(
            "started",
            extra={
                "version": settings.app_version,
                "environment": settings.environment.value,
                "database": settings.effective_database_url.split("://", 1)[0],
                "redis": bool(settings.redis_url),
            },
        )
        try:
            yield
        finally:
            await runtime.close()

    docs = settings.docs_enabled
    app = FastAPI(
        title="Trading API",
        version=settings.app_version,
        summary="Accounts, orders, matching, positions and market data.",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
        debug=settings.debug,
        responses=error_responses(500),
    )
    install_error_handlers(app)

    # Routers carry their full path prefix: metrics label requests by route template.
    # Every operation but the ops endpoints passes the address limiter: it may answer 429.
    for module in (auth, account, orders, market, admin):
        app.include_router(module.router, responses=error_responses(429))
    app.include_router(ops.router)

    app.add_middleware(AddressRateLimitMiddleware)
    app.add_middleware(
        JsonCORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=["X-Request-ID", "X-App-Version", "Retry-After"],
        max_age=600,
    )
    app.add_middleware(
        RequestContextMiddleware,
        version=settings.app_version,
        strict_transport=settings.environment.is_deployed,
    )
    return app


def _settings_or_exit() -> Settings:
    try:
        settings = load_settings()
    except ConfigError as error:
        print(error, file=sys.stderr)
        raise SystemExit(CANNOT_RUN) from None
    configure_logging(settings.log_level, settings.log_json)
    return settings
