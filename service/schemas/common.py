"""Envelopes shared by every resource: the problem document and the page."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class FieldError(BaseModel):
    """One invalid input, located by its path (``body.architecture.n_heads``, ``query.limit``)."""

    field: str = Field(description="Dotted path of the offending input.")
    message: str
    type: str = Field(description="Machine-readable error kind, e.g. 'greater_than'.")


class Problem(BaseModel):
    """RFC 9457 problem details, as served with ``application/problem+json``."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="URI reference naming the problem type.")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = Field(default=None, description="Path of the request that failed.")
    request_id: str | None = None
    errors: list[FieldError] | None = Field(
        default=None, description="For validation problems: every invalid field with its path."
    )


class Page(BaseModel, Generic[T]):
    """One page of a listing; ``Link`` headers (RFC 8288) carry first/prev/next/last."""

    items: list[T]
    total: int = Field(ge=0, description="Number of items matching the filters, all pages.")
    limit: int
    offset: int


class PageQuery(BaseModel):
    """``limit``/``offset`` of a listing's query string (one model validates the whole query:
    FastAPI's per-parameter handling costs several µs of CPU per declared parameter)."""

    limit: int = Field(default=20, ge=1, le=100, description="Items per page.")
    offset: int = Field(default=0, ge=0, le=1_000_000, description="Items to skip.")
