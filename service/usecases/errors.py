"""Status-coded errors raised by use-cases and dependencies; one handler renders them all.

Exception tree (each class fixes its HTTP status and RFC 9457 problem type)::

    ServiceError
     +-- InvalidRequest          422  a value is valid alone but not here (names the field)
     +-- Unauthorized            401  missing or wrong X-API-Key, or writes disabled
     +-- NotFound                404  no such resource
     +-- Conflict                409  the slug is taken
     +-- PreconditionFailed      412  If-Match does not match the current ETag
     +-- PreconditionRequired    428  an update or delete without If-Match
     +-- ServiceUnavailable      503  the database cannot be reached

:class:`service.domain.errors.DomainError` from the pure core is rendered as 422 too.
"""

from __future__ import annotations

from typing import ClassVar


class ServiceError(Exception):
    """Base class: an error with a status, a problem type and a human-readable detail."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal Server Error"
    slug: ClassVar[str] = "internal"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidRequest(ServiceError):
    status = 422
    title = "Invalid request"
    slug = "invalid-request"


class Unauthorized(ServiceError):
    status = 401
    title = "Unauthorized"
    slug = "unauthorized"


class NotFound(ServiceError):
    status = 404
    title = "Not Found"
    slug = "not-found"


class Conflict(ServiceError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class PreconditionFailed(ServiceError):
    status = 412
    title = "Precondition Failed"
    slug = "precondition-failed"


class PreconditionRequired(ServiceError):
    status = 428
    title = "Precondition Required"
    slug = "precondition-required"


class ServiceUnavailable(ServiceError):
    status = 503
    title = "Service Unavailable"
    slug = "unavailable"


LOCATIONS = ("body.", "query.", "path.", "header.")


def located(field: str, location: str = "body") -> str:
    """``field`` as a request location (``n_heads`` -> ``body.n_heads``), unless it has one."""
    return field if field.startswith(LOCATIONS) else f"{location}.{field}"
