"""``python -m app serve | migrate | seed | check-config``.

Exit codes follow the project's one convention (``ops/core/exits.py``,
docs/conventions.md): 0 done; 1 a check failed (``migrate --check`` not at
head, the database refused a change); 2 cannot run (bad configuration, an
unreachable database, a refusal such as downgrading production).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from app.settings import ConfigError, Environment, Settings, load_settings

# The numbers of ops/core/exits.py, repeated because the service never imports ops/.
DONE = 0
CHECK_FAILED = 1
CANNOT_RUN = 2
DEMO_PASSWORD_ENV = "SEED_PASSWORD"  # noqa: S105 - a variable name


class CannotRun(Exception):
    """A command refuses to run (unsafe here, or bad input); the message is one line."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    default_port = int(os.environ.get("PORT") or 8000)
    serve.add_argument("--port", type=int, default=default_port, help="default $PORT or 8000")
    serve.add_argument("--uds", help="listen on this Unix socket instead of host:port")
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--reload", action="store_true", help="restart on code changes")
    serve.add_argument(
        "--migrate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="upgrade the database first (default: only for the embedded SQLite database)",
    )
    serve.add_argument("--graceful-timeout", type=float, default=20.0)
    # Longer than a client's or a load balancer's idle connections (uvicorn's 5 s closed
    # pooled connections just as clients reused them: a failed request under load).
    serve.add_argument(
        "--keep-alive",
        type=float,
        default=75.0,
        help="seconds an idle connection stays open (default 75)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1",
        help="proxies whose X-Forwarded-For is trusted",
    )

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--revision", default="head", help="upgrade to this revision")
    migrate.add_argument("--downgrade", metavar="REVISION", help="downgrade to this revision")
    migrate.add_argument("--check", action="store_true", help="exit 1 unless at head")

    seed = commands.add_parser("seed", help="create demo users, funds and holdings")
    seed.add_argument("--json", action="store_true", help="print the result as JSON")

    commands.add_parser("check-config", help="validate settings and print them (no secrets)")
    return parser


def _describe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from app.db import migrate

    url = settings.effective_database_url
    if args.check:
        current = asyncio.run(_current(url))
        head = migrate.head_revision()
        if current != head:
            print(f"database at {current}, code expects {head}", file=sys.stderr)
            return CHECK_FAILED
        print(f"database at head ({head})")
        return DONE
    if args.downgrade:
        if settings.environment is Environment.PRODUCTION:
            raise CannotRun("refusing to downgrade a production database from the CLI")
        revision = migrate.downgrade(url, args.downgrade)
    else:
        revision = migrate.upgrade(url, args.revision)
    print(f"database {_describe_url(url)} at revision {revision}")
    return DONE


async def _current(url: str) -> str | None:
    from app.db.engine import create_engine
    from app.db.migrate import current_revision

    engine = create_engine(url)
    try:
        return await current_revision(engine)
    finally:
        await engine.dispose()


def _seed(settings: Settings, args: argparse.Namespace) -> int:
    from app.services.seed import seed

    password = os.environ.get(DEMO_PASSWORD_ENV)
    if settings.environment is Environment.PRODUCTION:
        raise CannotRun("refusing to create demo users in production")
    if password is None:
        if settings.environment.is_deployed:
            raise CannotRun(f"{DEMO_PASSWORD_ENV}: is required in {settings.environment}")
        from app.services.seed import DEMO_PASSWORD

        password = DEMO_PASSWORD
    if len(password) < 8:
        raise CannotRun(f"{DEMO_PASSWORD_ENV}: must be at least 8 characters")

    async def run() -> list[dict[str, object]]:
        from app.db.engine import Database

        database = Database(settings.effective_database_url)
        try:
            users = await seed(database.sessions, password)
        finally:
            await database.dispose()
        return [
            {"email": u.email, "role": u.role.value, "account_id": u.account_id, "new": u.created}
            for u in users
        ]

    users = asyncio.run(run())
    if args.json:
        print(json.dumps(users, indent=2))
    else:
        for user in users:
            state = "created" if user["new"] else "exists"
            print(f"{user['email']:<22} {user['role']:<7} account {user['account_id']}  {state}")
    return DONE


def _check_config(settings: Settings) -> int:
    summary = {
        "environment": settings.environment.value,
        "debug": settings.debug,
        "database": _describe_url(settings.effective_database_url),
        "redis": _describe_url(settings.redis_url) if settings.redis_url else None,
        "jwt_secret": "set" if settings.jwt_secret_key else "generated per data dir",
        "cors_origins": settings.cors_origins,
        "rate_limit": {
            "enabled": settings.rate_limit_enabled,
            "per_ip": settings.rate_limit_per_ip,
            "per_user": settings.rate_limit_per_user,
            "window_seconds": settings.rate_limit_window_seconds,
        },
        "version": settings.app_version,
        "git_sha": settings.git_sha,
    }
    print(json.dumps(summary, indent=2))
    return DONE


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    migrate_first = settings.is_sqlite if args.migrate is None else args.migrate
    if migrate_first:
        from app.db import migrate

        migrate.upgrade(settings.effective_database_url)
    multiproc_dir = None
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiproc_dir = tempfile.mkdtemp(prefix="trading-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = multiproc_dir
    import uvicorn

    try:
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            uds=args.uds,
            workers=args.workers,
            reload=args.reload,
            reload_dirs=["app"] if args.reload else None,
            proxy_headers=True,
            forwarded_allow_ips=args.forwarded_allow_ips,
            timeout_graceful_shutdown=args.graceful_timeout,
            timeout_keep_alive=args.keep_alive,
            log_config=None,
            server_header=False,
        )
    finally:
        if multiproc_dir:
            shutil.rmtree(multiproc_dir, ignore_errors=True)
    return DONE


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; an expected failure prints one line and returns its exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        from app.logs import configure_logging

        configure_logging(settings.log_level, settings.log_json)
        if args.command == "serve":
            return _serve(settings, args)
        if args.command == "migrate":
            return _migrate(settings, args)
        if args.command == "seed":
            return _seed(settings, args)
        return _check_config(settings)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return CANNOT_RUN
    except CannotRun as error:
        print(f"error: {error}", file=sys.stderr)
        return CANNOT_RUN
    except (OperationalError, OSError) as error:
        print(f"error: database unavailable: {_first_line(error)}", file=sys.stderr)
        return CANNOT_RUN
    except DBAPIError as error:
        print(f"error: database refused the change: {_first_line(error)}", file=sys.stderr)
        return CHECK_FAILED


def _first_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__
