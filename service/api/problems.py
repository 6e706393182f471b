"""RFC 9457 problem details: one renderer for every error, and the OpenAPI that says so."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api.middleware import BODY_METHODS
from service.domain.errors import DomainError
from service.schemas.common import FieldError, Problem
from service.usecases.errors import ServiceError, located

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://planner.example/problems/"


def problem_response(
    request: Request,
    status: int,
    *,
    detail: str | None,
    slug: str | None = None,
    title: str | None = None,
    errors: Sequence[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Render a problem document with the request's id and path."""
    problem = Problem(
        type=f"{PROBLEM_TYPE_BASE}{slug}" if slug else "about:blank",
        title=title or HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=request.url.path,
        request_id=getattr(request.state, "request_id", None),
        errors=list(errors) if errors is not None else None,
    )
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _location(loc: Sequence[int | str]) -> str:
    return ".".join(str(part) for part in loc)


def _validation_errors(error: RequestValidationError) -> list[FieldError]:
    return [
        FieldError(field=_location(item["loc"]), message=item["msg"], type=item["type"])
        for item in error.errors()
    ]


def _on_validation(request: Request, error: RequestValidationError) -> JSONResponse:
    errors = _validation_errors(error)
    fields = ", ".join(dict.fromkeys(item.field for item in errors))
    return problem_response(
        request,
        422,
        slug="validation",
        title="Request validation failed",
        detail=f"Invalid input: {fields}.",
        errors=errors,
    )


def _on_service_error(request: Request, error: ServiceError) -> JSONResponse:
    errors = None
    if error.field is not None:
        errors = [FieldError(field=error.field, message=error.detail, type=error.slug)]
    headers = None
    if error.status == 401:
        headers = {"WWW-Authenticate": "ApiKey"}
    elif error.status == 503:
        headers = {"Retry-After": "5"}  # as for an unreachable database (below)
    return problem_response(
        request,
        error.status,
        slug=error.slug,
        title=error.title,
        detail=error.detail,
        errors=errors,
        headers=headers,
    )


def _on_domain_error(request: Request, error: DomainError) -> JSONResponse:
    field = located(error.field)
    return problem_response(
        request,
        422,
        slug="invalid-request",
        title="Invalid request",
        detail=str(error),
        errors=[FieldError(field=field, message=error.message, type=type(error).__name__)],
    )


def _on_database_down(request: Request, error: DBAPIError) -> JSONResponse:
    logger.error("database unavailable: %s", type(error.orig).__name__)
    return problem_response(
        request,
        503,
        slug="unavailable",
        title="Service Unavailable",
        detail="The database cannot be reached; retry shortly.",
        headers={"Retry-After": "5"},
    )


def _on_pool_exhausted(request: Request, error: PoolTimeout) -> JSONResponse:
    # Every pooled connection stayed busy for PLANNER_DB_POOL_TIMEOUT_S: the database is too
    # slow to serve now, which is unavailability (503), not a bug of this request (500).
    logger.error("database connection pool exhausted: %s", error)
    return problem_response(
        request,
        503,
        slug="unavailable",
        title="Service Unavailable",
        detail="No database connection became free in time; retry shortly.",
        headers={"Retry-After": "5"},
    )


async def handle_error(request: Request, error: Exception) -> JSONResponse:
    """The one exception handler: every error becomes a problem document."""
    if isinstance(error, RequestValidationError):
        return _on_validation(request, error)
    if isinstance(error, ServiceError):
        return _on_service_error(request, error)
    if isinstance(error, DomainError):
        return _on_domain_error(request, error)
    if isinstance(error, StarletteHTTPException):
        headers = dict(error.headers) if error.headers else None
        return problem_response(
            request, error.status_code, detail=str(error.detail), headers=headers
        )
    if isinstance(error, OperationalError | InterfaceError):
        return _on_database_down(request, error)
    if isinstance(error, PoolTimeout):
        return _on_pool_exhausted(request, error)
    # The trace goes to the log, never to the client.
    logger.exception("unhandled error", exc_info=error)
    return problem_response(
        request, 500, detail="An unexpected error occurred; it has been logged."
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error through the problem renderer."""
    for kind in (
        RequestValidationError,
        ServiceError,
        DomainError,
        StarletteHTTPException,
        OperationalError,
        InterfaceError,
        PoolTimeout,
        Exception,
    ):
        app.add_exception_handler(kind, handle_error)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error statuses (problem+json)."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def _unrouted_problems(path: str, method: str, operation: dict[str, Any]) -> dict[int, str]:
    """Problems no route declares but an operation can answer: the middleware's 413 and 415 on
    any body-carrying method, FastAPI's 400 for a body it cannot decode (not UTF-8), 503 when
    the database is down or its pool exhausted, and 500 for the unexpected."""
    found = {500: "Unexpected error (logged; the body carries the request id)"}
    if method.upper() in BODY_METHODS:
        found[413] = "The request body exceeds PLANNER_MAX_BODY_BYTES"
        found[415] = "The request body is not JSON (application/json)"
    if "requestBody" in operation:
        found[400] = "The request body cannot be decoded (e.g. not UTF-8)"
    if path.startswith("/v1/"):
        found[503] = "The database is unreachable or busy; retry after Retry-After seconds"
    return found


def rewrite_openapi_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Make FastAPI's generated 422 (and any JSON error) a problem+json response, and declare
    the problems every operation can answer (400, 413, 415, 500, 503) so the contract is whole."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = components["Problem"].pop("$defs", {})
    components.update(defs)
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path_name, path in schema.get("paths", {}).items():
        for method, operation in path.items():
            responses = operation.setdefault("responses", {})
            for status, description in _unrouted_problems(path_name, method, operation).items():
                responses.setdefault(str(status), {"description": description})
            operation["responses"] = responses = dict(sorted(responses.items()))
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {
                        PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
                    }
                    if status == "422":
                        response["description"] = "Request validation failed"
    return schema


#: OpenAPI entry for conditional GETs answered ``304 Not Modified``.
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified: `If-None-Match` names the current ETag; no body."}
}
