"""Operations endpoints: liveness, readiness, metrics, version."""

from __future__ import annotations

import os

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from app import metrics
from app.api.deps import RuntimeDep
from app.api.errors import error_payload
from app.api.schemas import CheckOut, HealthOut, NotReadyBody, ReadyOut, VersionOut

router = APIRouter(tags=["ops"])


@router.get("/health", response_model=HealthOut, summary="Liveness")
async def health() -> HealthOut:
    """The process is up; touches nothing else."""
    return HealthOut()


@router.get(
    "/ready",
    response_model=ReadyOut,
    responses={503: {"model": NotReadyBody, "description": "A dependency is not ready"}},
    summary="Readiness",
)
async def ready(runtime: RuntimeDep) -> ReadyOut | JSONResponse:
    """Database reachable and migrated to head; Redis reachable when configured."""
    results = await runtime.readiness()
    checks = {name: CheckOut(ok=r.ok, detail=r.detail) for name, r in results.items()}
    failed = sorted(name for name, check in checks.items() if not check.ok)
    if not failed:
        return ReadyOut(checks=checks)
    body = error_payload("not_ready", f"not ready: {', '.join(failed)}")
    body["checks"] = {name: check.model_dump() for name, check in checks.items()}
    return JSONResponse(body, status_code=503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus exposition"}},
    summary="Prometheus metrics",
)
async def prometheus_metrics() -> Response:
    """Counters and histograms of every worker."""
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)


@router.get("/version", response_model=VersionOut, summary="Running release")
async def version(runtime: RuntimeDep) -> VersionOut:
    """Version, git SHA, environment and start time of this process."""
    settings = runtime.settings
    return VersionOut(
        version=settings.app_version,
        git_sha=settings.git_sha,
        environment=settings.environment.value,
        started_at=runtime.started_at,
        pid=os.getpid(),
    )
