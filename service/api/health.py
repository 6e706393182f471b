"""``/healthz`` (the process is up) and ``/readyz`` (it can serve: database and schema)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from service import __version__
from service.api.problems import problem_responses
from service.usecases.errors import ServiceUnavailable
from service.usecases.health import check_readiness

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str
    version: str


class Ready(BaseModel):
    status: str
    database: str
    revision: str | None
    expected_revision: str | None


@router.get("/healthz", summary="Liveness", description="The process is up; touches nothing.")
async def healthz() -> Health:
    return Health(status="ok", version=__version__)


@router.get(
    "/readyz",
    summary="Readiness",
    description="The database is reachable and its schema is at the migration head; 503 "
    "otherwise (a load balancer should stop routing here).",
    responses=problem_responses(503),
)
def readyz(request: Request) -> Ready:
    readiness = check_readiness(request.app.state.engine)
    if not readiness.ready:
        reason = (
            "the database cannot be reached"
            if readiness.database != "ok"
            else f"the schema is at {readiness.revision!r}, expected "
            f"{readiness.expected_revision!r} (run `python -m service migrate`)"
        )
        raise ServiceUnavailable(f"Not ready: {reason}.")
    return Ready(
        status="ready",
        database=readiness.database,
        revision=readiness.revision,
        expected_revision=readiness.expected_revision,
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="Request counts and latencies by route template and status, database pool "
    "occupancy, planner search sizes; Prometheus text format.",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus exposition"}},
)
async def metrics(request: Request) -> Response:
    body = request.app.state.metrics.render()
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
