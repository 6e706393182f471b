"""The application factory: ``create_app(settings) -> FastAPI``."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from service import __version__
from service.api import health
from service.api.deps import reject_nul_characters
from service.api.docs import install_docs
from service.api.metrics import Metrics
from service.api.middleware import EdgeMiddleware
from service.api.problems import PROBLEM_TYPE_BASE, install_problem_handlers, rewrite_openapi_errors
from service.api.v1 import estimates, hardware, models, numerics, planner, plans, scaling
from service.config import Settings, get_settings
from service.logs import configure_logging
from service.persistence.engine import create_db_engine, create_session_factory
from service.usecases.catalogue_cache import CatalogueCache
from service.usecases.migrate import migrate_and_seed

DESCRIPTION = """
Answers the questions asked before pre-training or adapting a large language model:
will it fit on my GPUs, with which parallelism; how many FLOPs, GPU-hours, days and dollars;
what model size and token count are compute-optimal; was model X trained Chinchilla-optimally.

Reads are open. Writes need an `X-API-Key`. Errors are RFC 9457 `application/problem+json`.
"""

TAGS = [
    {"name": "plans", "description": "Whole training runs, computed once and stored."},
    {"name": "planner", "description": "Every configuration searched; the ones that fit."},
    {"name": "estimates", "description": "Memory per GPU; FLOPs, time, cost and energy."},
    {"name": "scaling laws", "description": "Compute-optimal size, loss, Chinchilla checks."},
    {"name": "models", "description": "The catalogue of language models, with sources."},
    {"name": "hardware", "description": "Accelerators: memory, dense peaks, bandwidth, price."},
    {"name": "number formats", "description": "fp32 to int4: layouts, ranges, quantization."},
    {"name": "operations", "description": "Liveness, readiness and Prometheus metrics."},
]


def _too_large(scope: Scope, limit: int) -> dict[str, Any]:
    """The 413 problem document (rendered by the edge middleware, before any routing)."""
    return {
        "type": f"{PROBLEM_TYPE_BASE}payload-too-large",
        "title": "Content Too Large",
        "status": 413,
        "detail": f"The request body exceeds {limit} bytes.",
        "instance": scope["path"],
        "request_id": scope.get("state", {}).get("request_id"),
    }


def _not_json(scope: Scope, content_type: str | None) -> dict[str, Any]:
    """The 415 problem document (rendered by the edge middleware, before any routing)."""
    given = f"Content-Type {content_type!r}" if content_type else "no Content-Type"
    return {
        "type": f"{PROBLEM_TYPE_BASE}unsupported-media-type",
        "title": "Unsupported Media Type",
        "status": 415,
        "detail": f"The request body must be application/json; it came with {given}.",
        "instance": scope["path"],
        "request_id": scope.get("state", {}).get("request_id"),
        "errors": [
            {
                "field": "header.Content-Type",
                "message": "must be application/json",
                "type": "unsupported_media_type",
            }
        ],
    }


#: FastAPI's native OpenTelemetry (0.165+), all off: even with no provider installed it checks
#: the global providers on every request (4-9 µs of CPU, ``bench/README.md``).
TELEMETRY_OFF: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}


def telemetry_config() -> TelemetryConfig | None:
    """FastAPI's telemetry defaults (``None``) where OpenTelemetry is wanted, else all off.

    Wanted: FastAPI's own switch ``FASTAPI_OTEL_AUTO_CONFIGURE=true`` (export as the ``OTEL_*``
    environment says), or a global tracer provider installed before the app is built
    (``opentelemetry-instrument``, an SDK set up at start-up).
    """
    if os.getenv("FASTAPI_OTEL_AUTO_CONFIGURE", "").lower() == "true":
        return None
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return None
    return TELEMETRY_OFF


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the ASGI app; the lifespan owns the engine and the session factory."""
    settings = settings or get_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings)
        engine = create_db_engine(settings)
        app.state.engine = engine
        app.state.sessionmaker = create_session_factory(engine)
        metrics.bind_engine(engine)
        if settings.migrate_on_startup:
            await run_in_threadpool(migrate_and_seed, engine)
        catalogue = CatalogueCache(app.state.sessionmaker, settings.catalogue_refresh_s)
        app.state.catalogue = catalogue
        with contextlib.suppress(SQLAlchemyError):  # /readyz reports an unreachable database
            await run_in_threadpool(catalogue.refresh)
        stop = asyncio.Event()
        refresher = asyncio.create_task(catalogue.keep_fresh(stop))
        try:
            yield
        finally:
            stop.set()
            await refresher
            engine.dispose()

    app = FastAPI(
        telemetry=telemetry_config(),
        title="Pre-training planner",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        dependencies=[Depends(reject_nul_characters)],
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    app.state.settings = settings
    app.state.route_fast_path = settings.route_fast_path  # read per request by JsonRoute
    app.state.metrics = metrics
    # Outermost last: the edge (request id, body limit, JSON body, security headers, access log
    # and metrics) -> CORS.
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Content-Type", "X-API-Key", "If-Match", "X-Request-ID"],
            expose_headers=["ETag", "Location", "Link", "X-Request-ID"],
        )
    app.add_middleware(
        EdgeMiddleware,
        metrics=metrics,
        max_bytes=settings.max_body_bytes,
        too_large=_too_large,
        not_json=_not_json,
    )
    install_problem_handlers(app)
    # Routes are matched in order, router after router (about 10 µs of CPU for each router a
    # request passes on the way to its own, bench/README.md): the busiest first; the paths do
    # not overlap, so the order changes nothing else.
    app.include_router(estimates.router)
    app.include_router(models.router)
    app.include_router(scaling.router)
    app.include_router(hardware.router)
    app.include_router(plans.router)
    app.include_router(planner.router)
    app.include_router(numerics.router)
    app.include_router(health.router)
    if settings.docs_enabled:
        install_docs(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            app.openapi_schema = rewrite_openapi_errors(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
