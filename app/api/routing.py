"""``DirectRoute``: a FastAPI route for the order path that skips the generic dependency
solver.

FastAPI's request handler walks each endpoint's dependency tree on every request.
Under load that walk was about a sixth of an order request's time in the worker
(docs/order-path.md, section 13). A route of this class keeps everything
FastAPI builds from the endpoint's signature: the OpenAPI operation and the body and
path parameter fields. Only the handler changes. It resolves the parameters the way
FastAPI would, in the same order and with the same error messages:

1. read the body and decode the JSON. Undecodable JSON is a 422 before anything else;
2. resolve the caller through :func:`app.api.deps.unread_caller` (401, 429);
3. validate the path parameters and the body through FastAPI's own functions
   (``request_params_to_args``, ``request_body_to_args``). Their errors become one
   ``RequestValidationError``.

It serves only endpoints built from those pieces, and each must return a
``Response``. Any other signature is refused with a ``TypeError`` when the route is
defined, so the handler never drops a parameter without saying so.
"""

from __future__ import annotations

import email.message
import json
from collections.abc import Callable, Coroutine
from functools import lru_cache
from typing import Any, TypeVar

from fastapi import HTTPException, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_body_to_args, request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, APIRouter

from app.api.deps import oauth2_scheme, unread_caller

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def post_direct(router: APIRouter, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
    """``@router.post(path, **options)`` with the route a :class:`DirectRoute`."""

    def register(endpoint: Endpoint) -> Endpoint:
        router.add_api_route(
            path, endpoint, methods=["POST"], route_class_override=DirectRoute, **options
        )
        return endpoint

    return register


class DirectRoute(APIRoute):
    """An ``APIRoute`` whose handler resolves the body, the path parameters and the
    unread caller itself (see the module docstring)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        self._direct: Handler | None = None  # APIRoute's __init__ asks for the handler
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Handler:
        """The handler, built once (FastAPI asks for it on every request of an
        included router)."""
        if self._direct is None:
            self._direct = direct_handler(self.dependant, self.endpoint)
        return self._direct


def direct_handler(dependant: Dependant, endpoint: Callable[..., Any]) -> Handler:
    """The request handler for ``endpoint``. Raises ``TypeError`` when its signature has
    a part the handler does not resolve."""
    caller_name = _caller_parameter(dependant)
    unsupported = [
        kind
        for kind, params in (
            ("query", dependant.query_params),
            ("header", dependant.header_params),
            ("cookie", dependant.cookie_params),
        )
        if params
    ]
    if unsupported or len(dependant.body_params) > 1:
        what = ", ".join(unsupported) + " parameters" if unsupported else "a body of several parts"
        raise TypeError(f"{endpoint.__name__}: DirectRoute cannot resolve {what}")
    body_fields = list(dependant.body_params)
    if body_fields and getattr(body_fields[0].field_info, "embed", False):
        raise TypeError(f"{endpoint.__name__}: DirectRoute cannot resolve an embedded body")
    path_fields = list(dependant.path_params)

    async def handler(request: Request) -> Response:
        body = await _json_body(request) if body_fields else None
        values: dict[str, Any] = {}
        if caller_name:
            values[caller_name] = await unread_caller(request, await oauth2_scheme(request))
        path_values, errors = request_params_to_args(path_fields, request.path_params)
        values.update(path_values)
        if body_fields:
            body_values, body_errors = await request_body_to_args(body_fields, body, False)
            values.update(body_values)
            errors += body_errors
        if errors:
            raise RequestValidationError(errors, body=body)
        response = await endpoint(**values)
        if not isinstance(response, Response):
            raise TypeError(f"{endpoint.__name__}: a DirectRoute endpoint returns a Response")
        return response

    return handler


def _caller_parameter(dependant: Dependant) -> str | None:
    """The name of the endpoint's one ``unread_caller`` parameter, if it has one."""
    names = [sub.name for sub in dependant.dependencies if sub.call is unread_caller]
    if len(names) != len(dependant.dependencies) or len(names) > 1:
        raise TypeError("DirectRoute resolves one dependency only: app.api.deps.unread_caller")
    return names[0] if names else None


async def _json_body(request: Request) -> Any:
    """The body as FastAPI's handler reads it: decoded JSON when the content type is
    JSON, the raw bytes otherwise (the body field then refuses them), None when empty."""
    try:
        raw = await request.body()
    except Exception as error:  # the client went away mid-body, as FastAPI answers it
        raise HTTPException(400, "There was an error parsing the body") from error
    if not raw:
        return None
    if not _is_json(request.headers.get("content-type")):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        invalid = {"type": "json_invalid", "loc": ("body", error.pos), "msg": "JSON decode error",
                   "input": {}, "ctx": {"error": error.msg}}  # fmt: skip
        raise RequestValidationError([invalid], body=error.doc) from error
    except UnicodeDecodeError as error:
        raise HTTPException(400, "There was an error parsing the body") from error


@lru_cache(maxsize=64)
def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False  # FastAPI's strict content type: no header, no JSON
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )
