"""ASGI middleware: request ids, version and security headers, metrics, access log,
per-address rate limiting, and CORS with the shared error body."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import metrics
from app.api.errors import error_response
from app.logs import request_id_var

if TYPE_CHECKING:
    from app.runtime import Runtime

access_log = logging.getLogger("app.access")
log = logging.getLogger("app.middleware")

VERSION_HEADER = "X-App-Version"
REQUEST_ID_HEADER = "X-Request-ID"
OPS_PATHS = frozenset({"/health", "/ready", "/metrics", "/version"})
DOCS_PREFIXES = ("/docs", "/redoc", "/openapi.json")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestContextMiddleware:
    """Outermost layer: ids, headers, timing, metrics and the access log.

    It also turns an exception that escaped everything else into the shared
    500 body, so even a crash answers with the version and request id.
    """

    def __init__(self, app: ASGIApp, *, version: str, strict_transport: bool) -> None:
        self.app = app
        self.version = version
        self.strict_transport = strict_transport

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        state: dict[str, Any] = {"status": 500, "started": False}
        path: str = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["started"] = True
                self._decorate(MutableHeaders(scope=message), request_id, path)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("request failed", extra={"path": path})
            if not state["started"]:
                response = error_response(500, "internal_error", "internal server error")
                await response(scope, receive, send_with_headers)
        finally:
            self._record(scope, state["status"], time.perf_counter() - started)
            request_id_var.reset(token)

    def _decorate(self, headers: MutableHeaders, request_id: str, path: str) -> None:
        headers[REQUEST_ID_HEADER] = request_id
        headers[VERSION_HEADER] = self.version
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        if not path.startswith(DOCS_PREFIXES):
            headers.setdefault(
                "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"
            )
        if path.startswith("/v1"):
            headers.setdefault("Cache-Control", "no-store")
        if self.strict_transport:
            headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        method = scope.get("method", "")
        route = _route_template(scope)
        metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
        metrics.HTTP_LATENCY.labels(method, route).observe(seconds)
        client = scope.get("client")
        level = logging.DEBUG if scope.get("path") in OPS_PATHS else logging.INFO
        access_log.log(
            level,
            "request",
            extra={
                "method": method,
                "path": scope.get("path"),
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "client": client[0] if client else None,
            },
        )


class AddressRateLimitMiddleware:
    """Limits requests per client address (before authentication, so logins count)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http" or scope.get("path") in OPS_PATHS:
            await self.app(scope, receive, send)
            return
        runtime: Runtime = scope["app"].state.runtime
        settings = runtime.settings
        if not settings.rate_limit_enabled:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else "unknown"
        try:
            decision = await runtime.limiter.hit(
                f"ip:{address}", settings.rate_limit_per_ip, settings.rate_limit_window_seconds
            )
        except Exception as error:  # the limiter failing must not take trading down
            log.warning("rate limiter unavailable, allowing request: %s", error)
            await self.app(scope, receive, send)
            return
        if decision.allowed:
            await self.app(scope, receive, send)
            return
        metrics.RATE_LIMITED.labels("address").inc()
        response = error_response(
            429,
            "rate_limited",
            f"too many requests from this address; retry in {decision.retry_after}s",
            headers={"Retry-After": str(decision.retry_after)},
        )
        await response(scope, receive, send)


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, answering refused preflights with the shared error body."""

    def preflight_response(self, request_headers: Headers) -> Response:
        """Answer a preflight request."""
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        reason = bytes(response.body).decode(errors="replace")
        headers = {
            key: value
            for key, value in response.headers.items()
            if key.lower().startswith("access-control-") or key.lower() == "vary"
        }
        return error_response(400, "cors_refused", reason, headers=headers)
