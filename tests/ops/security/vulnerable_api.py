"""A deliberately vulnerable stand-in for the trading API, served on a free port.

Each api-security check must fail against it: login builds SQL by string
formatting (and shows the database error), a search echoes its query as HTML,
no endpoint checks its token, any caller reads any order, CORS reflects every
origin with credentials, and nothing is rate limited. Test code only.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import jwt
import uvicorn
from fastapi import FastAPI, Form
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse

from ops.core.processes import free_port

SIGNING_KEY = secrets.token_urlsafe(48)
OWNER_ORDER = 7
PUBLIC = ("POST /v1/auth/token",)


def _database() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:", check_same_thread=False)
    connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, password TEXT)")
    connection.execute("INSERT INTO users VALUES (1, 'admin@example.com', ?)", (SIGNING_KEY,))
    return connection


def build() -> FastAPI:
    """The stand-in application."""
    app = FastAPI(title="Vulnerable stand-in")
    app.add_middleware(
        CORSMiddleware,
        allow_origin_regex=".*",
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
    )
    database = _database()

    @app.post("/v1/auth/token")
    def login(username: Annotated[str, Form()], password: Annotated[str, Form()]) -> JSONResponse:
        # The vulnerability under test: values formatted into SQL.
        query = f"SELECT id FROM users WHERE email = '{username}' AND password = '{password}'"  # noqa: S608
        try:
            row = database.execute(query).fetchone()
        except sqlite3.Error as error:
            return JSONResponse({"detail": f"sqlite3.{type(error).__name__}: {error}"}, 500)
        if row is None:
            return JSONResponse({"detail": "bad credentials"}, 401)
        token = jwt.encode({"sub": str(row[0])}, SIGNING_KEY, algorithm="HS256")
        return JSONResponse({"access_token": token, "token_type": "bearer"})

    @app.get("/v1/me")
    def me() -> dict[str, int]:
        return {"id": 1, "account_id": 1}

    @app.get("/v1/orders/{order_id}")
    def order(order_id: int) -> dict[str, object]:
        return {"id": order_id, "symbol": "AAPL", "owner": 1}

    @app.get("/v1/search", response_class=HTMLResponse)
    def search(q: str = "") -> str:
        return f"<p>Results for {q}</p>"

    return app


@contextmanager
def serving() -> Iterator[str]:
    """Serve the stand-in on 127.0.0.1 in a thread; its base URL."""
    port = free_port()
    config = uvicorn.Config(build(), host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def owner_token() -> str:
    """A token the stand-in issued, for the owner of order OWNER_ORDER."""
    return jwt.encode({"sub": "1", "role": "trader"}, SIGNING_KEY, algorithm="HS256")


def intruder_token() -> str:
    """A token for a second account."""
    return jwt.encode({"sub": "2", "role": "trader"}, SIGNING_KEY, algorithm="HS256")
