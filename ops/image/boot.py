"""The gates that run the image: it boots (the migration as a one-off container, as
compose and the Kubernetes Job run it, then the app answering ``/health`` and
``/ready`` and its HEALTHCHECK turning healthy), it drains (SIGTERM with a request in
flight lets the request finish), and it refuses to start in production with a
placeholder secret.

Every container runs the image's own command; only its settings (an env file) and
its port (``PORT``) are given.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ops.core.commands import CommandTimedOut, Completed
from ops.core.processes import free_port, wait_for
from ops.image.build import BuiltImage
from ops.image.container import Container, one_off, started, unique_name, volume
from ops.image.engine import Engine
from ops.image.outcome import Outcome
from ops.live.client import TradingClient

MIGRATE = ("python", "-m", "app", "migrate")
UID_OF_PID_1 = ("python", "-c", "print(open('/proc/1/status').read().split('Uid:')[1].split()[0])")
PLACEHOLDER_SECRET = "change-me-change-me-change-me-change-me-0000"  # noqa: S105  # pragma: allowlist secret
GUARDED = "JWT_SECRET_KEY"
SHUTDOWN_LOG = "Shutting down"  # what uvicorn says when SIGTERM starts its drain
# A request the app answers only once its whole body arrived: headers first, the rest
# of the body after SIGTERM. An invalid registration: answered 422, nothing stored.
DRAIN_BODY = b'{"email": "drain-check", "password": "x"}'
DRAIN_HEAD = (
    b"POST /v1/auth/register HTTP/1.1\r\nHost: image-check\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(DRAIN_BODY)
)
HEADERS_SETTLE_SECONDS = 1.0
GUARD_SECONDS = 30.0  # the guard stops the app within a second or two of starting
STARTED_LOG = "Application startup complete"  # uvicorn: the app is serving


@dataclass(frozen=True)
class Limits:
    """How long each step may take ([image] of the environment definition)."""

    boot_seconds: float
    health_interval_seconds: float
    drain_seconds: float


def network_options(health_interval: float, *extra: str) -> tuple[str, ...]:
    """Host networking and a quick HEALTHCHECK interval (the image's own check command)."""
    return ("--network", "host", f"--health-interval={health_interval:g}s", *extra)


def migrate(
    engine: Engine,
    image: str,
    settings: Mapping[str, str],
    options: tuple[str, ...],
    limits: Limits,
    outcome: Outcome,
) -> bool:
    """``python -m app migrate`` as a one-off container; False (and a finding) when it fails."""
    try:
        done = one_off(
            engine,
            image,
            settings=settings,
            options=options,
            command=MIGRATE,
            timeout=limits.boot_seconds,
        )
    except CommandTimedOut:
        outcome.fail(
            "image-migrate-failed", f"the migration did not finish within {limits.boot_seconds:g} s"
        )
        return False
    if not done.ok:
        outcome.fail(
            "image-migrate-failed", f"`python -m app migrate` exited {done.code}: {_tail(done)}"
        )
        return False
    return True


def _tail(done: Completed, lines: int = 2) -> str:
    text = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return " / ".join(text[-lines:]) or "no output"


def serving(container: Container, port: int, limits: Limits, outcome: Outcome) -> bool:
    """The app answers /health and /ready 200, runs as non-root, turns healthy."""
    started_at = time.monotonic()
    with TradingClient(f"http://127.0.0.1:{port}", timeout=5) as client:
        for path in ("/health", "/ready"):
            waited = wait_for(
                client.probe(path),
                timeout=limits.boot_seconds,
                interval=0.3,
                alive=container.running,
            )
            if waited.exited:
                outcome.fail(
                    "image-boot-failed",
                    f"the container exited "
                    f"{container.exit_code()} before {path} answered: "
                    f"{container.log_tail()}",
                )
                return False
            if not waited.ready:
                outcome.fail(
                    "image-not-ready",
                    f"{path} not 200 within {limits.boot_seconds:g} s (last: {waited.seen})",
                )
                return False
    outcome.figures["ready_seconds"] = round(time.monotonic() - started_at, 1)
    _runs_unprivileged(container, outcome)
    return _healthy(container, limits, outcome, started_at)


def _runs_unprivileged(container: Container, outcome: Outcome) -> None:
    done = container.exec(*UID_OF_PID_1)
    uid = done.stdout.strip()
    outcome.figures["uid"] = uid
    if not done.ok:
        outcome.fail("image-boot-failed", f"cannot read the app's uid: {_tail(done)}")
    elif uid == "0":
        outcome.fail("image-root-user", "the app process runs as root (uid 0)")


def _healthy(container: Container, limits: Limits, outcome: Outcome, since: float) -> bool:
    def look() -> tuple[bool, str]:
        status = container.health()
        return status in ("healthy", "unhealthy", "none"), status

    waited = wait_for(look, timeout=limits.boot_seconds, interval=0.5, alive=container.running)
    if waited.seen == "healthy":
        outcome.figures["healthy_seconds"] = round(time.monotonic() - since, 1)
        figures = outcome.figures
        outcome.notes.append(
            f"ready in {figures['ready_seconds']:g} s, healthy in "
            f"{figures['healthy_seconds']:g} s, uid {figures['uid']}"
        )
        return True
    if waited.seen == "none":
        outcome.fail(
            "image-no-healthcheck",
            "the image has no HEALTHCHECK: the engine cannot tell a hung app from a healthy one",
        )
    else:
        outcome.fail(
            "image-unhealthy",
            f"the HEALTHCHECK reported {waited.seen!r} within {limits.boot_seconds:g} s",
        )
    return False


def boot_on_sqlite(engine: Engine, built: BuiltImage, limits: Limits) -> tuple[Outcome, Outcome]:
    """Boot on the embedded SQLite database (a volume for ``/app/var``), then drain."""
    booted, drained = Outcome("boot-sqlite"), Outcome("drain")
    port = free_port()
    settings = {"PORT": str(port)}
    with volume(engine, "data") as data:
        options = network_options(limits.health_interval_seconds, "--volume", f"{data}:/app/var")
        if not migrate(engine, built.tag, settings, options, limits, booted):
            drained.skipped = "the image did not boot"
            return booted, drained
        with started(
            engine, built.tag, purpose="sqlite", settings=settings, options=options
        ) as container:
            if serving(container, port, limits, booted):
                drain(container, port, built, limits, drained)
            else:
                drained.skipped = "the image did not boot"
    return booted, drained


def boot_on_postgres(
    engine: Engine, built: BuiltImage, limits: Limits, database_url: str, redis_url: str
) -> Outcome:
    """Boot in production mode on a throwaway PostgreSQL database and this Redis."""
    outcome = Outcome("boot-postgres")
    port = free_port()
    settings = {
        "ENVIRONMENT": "production",
        "PORT": str(port),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": f"{unique_name('redis')}:",
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
    }
    options = network_options(limits.health_interval_seconds)
    if migrate(engine, built.tag, settings, options, limits, outcome):
        with started(
            engine, built.tag, purpose="postgres", settings=settings, options=options
        ) as container:
            serving(container, port, limits, outcome)
    return outcome


def drain(
    container: Container, port: int, built: BuiltImage, limits: Limits, outcome: Outcome
) -> None:
    """``docker stop`` while a request is in flight: the request must be answered and
    the container must exit by itself (0) within the drain time."""
    outcome.figures["stop_signal"] = built.stop_signal
    with _in_flight(port) as connection:
        stopping = threading.Thread(target=container.stop, args=(limits.drain_seconds,))
        stopping.start()
        wait_for(
            lambda: (SHUTDOWN_LOG in container.logs(), "not yet"),
            timeout=10,
            interval=0.1,
            alive=container.running,
        )
        answer = _finish(connection, limits.drain_seconds)
        stopping.join()
    code = container.exit_code()
    outcome.figures.update(answered=answer or "", exit_code=code)
    outcome.notes.append(f"in-flight request answered {answer or 'nothing'!r}; exit {code}")
    if not answer:
        outcome.fail(
            "image-drain-lost-request",
            f"a request in flight got no answer after "
            f"`docker stop` ({built.stop_signal}): the connection was closed",
        )
    if code != 0:
        how = "killed" if code == 137 else f"exit {code}"
        outcome.fail(
            "image-drain-not-graceful",
            f"the container ended {how} on `docker stop` "
            f"({built.stop_signal}), not by a graceful shutdown within "
            f"{limits.drain_seconds:g} s",
        )


@contextlib.contextmanager
def _in_flight(port: int) -> Iterator[socket.socket]:
    """A request whose headers and part of whose body the app has received."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        connection.sendall(DRAIN_HEAD + DRAIN_BODY[:5])
        time.sleep(HEADERS_SETTLE_SECONDS)  # let the app parse the headers and start the request
        yield connection
    finally:
        connection.close()


def _finish(connection: socket.socket, seconds: float) -> str:
    """Send the rest of the body; the response's status line, or ``""`` if none came."""
    connection.settimeout(seconds)
    try:
        connection.sendall(DRAIN_BODY[5:])
        head = connection.recv(4096)
    except OSError:
        return ""
    return head.split(b"\r\n", 1)[0].decode(errors="replace") if head else ""


def settings_guard(engine: Engine, built: BuiltImage, limits: Limits) -> Outcome:
    """In production with a placeholder secret the app must refuse to start, naming it."""
    outcome = Outcome("settings-guard")
    settings = {
        "ENVIRONMENT": "production",
        "JWT_SECRET_KEY": PLACEHOLDER_SECRET,
        "DATABASE_URL": "postgresql://trading@db.invalid:5432/trading",
        "PORT": str(free_port()),
    }
    with started(
        engine, built.tag, purpose="guard", settings=settings, options=("--network", "none")
    ) as container:
        wait_for(
            lambda: (STARTED_LOG in container.logs(), "not started"),
            timeout=min(GUARD_SECONDS, limits.boot_seconds),
            interval=0.2,
            alive=container.running,
        )
        code, output = container.exit_code(), container.logs()
    said = _last_line(output)
    outcome.figures.update(exit_code=code, said=said)
    if code is None or code == 0:
        outcome.fail(
            "image-guard-bypassed", f"the app started in production with a placeholder {GUARDED}"
        )
    elif GUARDED in output:
        outcome.notes.append(f"refused (exit {code}): {said}")
    else:
        outcome.fail(
            "image-guard-bypassed",
            f"the app failed (exit {code}) without naming the placeholder {GUARDED}: {said}",
        )
    return outcome


def _last_line(output: str) -> str:
    text = [line.strip() for line in output.splitlines() if line.strip()]
    return text[-1] if text else "no output"
