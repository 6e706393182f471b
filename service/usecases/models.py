"""Catalogue use-cases: list, read, create, replace, patch and delete models."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from service.persistence.repositories import ModelFilter, ModelRepository
from service.persistence.tables import ModelRow
from service.schemas.common import Page
from service.schemas.models import (
    ModelCreate,
    ModelPatch,
    ModelRead,
    ModelReplace,
    family_alias,
)
from service.usecases.errors import Conflict, InvalidRequest, NotFound, PreconditionFailed
from service.usecases.preconditions import Precondition

_COLUMNS = (
    "name",
    "family",
    "objective",
    "parameters",
    "training_tokens",
    "training_tokens_note",
    "architecture",
    "precision",
    "hardware",
    "gpu_hours",
    "organization",
    "year",
    "domain",
    "use_cases",
    "sources",
)


def to_read(row: ModelRow) -> ModelRead:
    """Map a row to its wire form."""
    return ModelRead.model_validate(
        {
            "slug": row.slug,
            **{name: getattr(row, name) for name in _COLUMNS},
            "family_alias": family_alias(row.family),
            "origin": row.origin,
            "version": row.version,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )


def column_values(
    body: ModelCreate | ModelReplace | ModelPatch, *, only_set: bool
) -> dict[str, Any]:
    """The row columns a body sets, in the JSON-able form the table stores."""
    data = body.model_dump(mode="json", include=set(_COLUMNS), exclude_unset=only_set)
    return data


def list_models(
    session: Session, filters: ModelFilter, *, sort: str, limit: int, offset: int
) -> Page[ModelRead]:
    """A page of the catalogue."""
    if (
        filters.min_parameters is not None
        and filters.max_parameters is not None
        and filters.min_parameters > filters.max_parameters
    ):
        raise InvalidRequest(
            "min_parameters is larger than max_parameters", field="query.min_parameters"
        )
    rows, total = ModelRepository(session).list(filters, sort=sort, limit=limit, offset=offset)
    return Page[ModelRead](
        items=[to_read(row) for row in rows], total=total, limit=limit, offset=offset
    )


def _get_row(session: Session, slug: str) -> ModelRow:
    row = ModelRepository(session).get(slug)
    if row is None:
        raise NotFound(f"No model with slug '{slug}' in the catalogue.", field="path.slug")
    return row


def get_model(session: Session, slug: str) -> ModelRead:
    """One model by slug."""
    return to_read(_get_row(session, slug))


def create_model(session: Session, body: ModelCreate) -> ModelRead:
    """Add a model; 409 when the slug is taken (also when two clients race for it)."""
    repository = ModelRepository(session)
    if repository.exists(body.slug):
        raise Conflict(f"A model with slug '{body.slug}' already exists.", field="body.slug")
    row = ModelRow(slug=body.slug, origin="api", **column_values(body, only_set=False))
    try:
        repository.add(row)
        session.commit()
    except IntegrityError as error:
        session.rollback()
        raise Conflict(
            f"A model with slug '{body.slug}' already exists.", field="body.slug"
        ) from error
    return to_read(row)


def _write(session: Session, row: ModelRow, values: dict[str, Any]) -> ModelRead:
    for name, value in values.items():
        setattr(row, name, value)
    row.origin = "api"
    try:
        session.commit()
    except StaleDataError as error:
        session.rollback()
        raise PreconditionFailed(
            "The model changed while this update was applied; fetch it again and retry.",
            field="header.If-Match",
        ) from error
    return to_read(row)


def replace_model(
    session: Session, slug: str, body: ModelReplace, precondition: Precondition
) -> ModelRead:
    """Replace every field of a model (PUT)."""
    row = _get_row(session, slug)
    precondition.check(row.version)
    return _write(session, row, column_values(body, only_set=False))


def patch_model(
    session: Session, slug: str, body: ModelPatch, precondition: Precondition
) -> ModelRead:
    """Change the given fields of a model (PATCH, JSON merge semantics)."""
    row = _get_row(session, slug)
    precondition.check(row.version)
    values = column_values(body, only_set=True)
    merged = {**{name: getattr(row, name) for name in _COLUMNS}, **values}
    # Re-validate the merged whole: a patch may not leave the model inconsistent.
    try:
        ModelReplace.model_validate(merged)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise InvalidRequest(
            f"The patched model would be invalid: {first['msg']}", field=f"body.{where}"
        ) from error
    return _write(session, row, values)


def delete_model(session: Session, slug: str, precondition: Precondition) -> None:
    """Remove a model from the catalogue."""
    row = _get_row(session, slug)
    precondition.check(row.version)
    try:
        ModelRepository(session).delete(row)
        session.commit()
    except StaleDataError as error:
        session.rollback()
        raise PreconditionFailed(
            "The model changed while it was being deleted; fetch it again.",
            field="header.If-Match",
        ) from error
