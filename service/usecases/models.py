"""Model catalogue use-cases."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.domain.scaling import Verdict, chinchilla_check
from service.domain.scaling_laws import DEFAULT_LAW_ID
from service.persistence.repositories import ModelFilter, ModelRepository
from service.persistence.tables import ModelRow
from service.schemas.common import Page
from service.schemas.models import ModelCreate, ModelRead, ModelReplace, family_alias
from service.usecases.catalogue import Catalogue
from service.usecases.errors import InvalidRequest
from service.usecases.scaling import resolve_law

COLUMNS = (
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
            **{name: getattr(row, name) for name in COLUMNS},
            "family_alias": family_alias(row.family),
            "origin": row.origin,
            "version": row.version,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )


MODELS: Catalogue[ModelRow, ModelRead] = Catalogue(
    kind="models",
    noun="model",
    row=ModelRow,
    columns=COLUMNS,
    to_read=to_read,
    create_schema=ModelCreate,
    replace_schema=ModelReplace,
)


def list_models(
    session: Session,
    filters: ModelFilter,
    *,
    sort: str,
    limit: int,
    offset: int,
    verdict: Verdict | None = None,
    law_id: str = DEFAULT_LAW_ID,
) -> Page[ModelRead]:
    """A page of the catalogue; ``verdict`` keeps models whose Chinchilla check under
    ``law_id`` gives it (models without a published token count have no verdict)."""
    if (
        filters.min_parameters is not None
        and filters.max_parameters is not None
        and filters.min_parameters > filters.max_parameters
    ):
        raise InvalidRequest(
            "min_parameters is larger than max_parameters", field="query.min_parameters"
        )
    repository = ModelRepository(session)
    if verdict is None:
        rows, total = repository.list(filters, sort=sort, limit=limit, offset=offset)
    else:
        # Verdicts are computed, not stored: filter the (small) catalogue in order, then page.
        law = resolve_law(session, law_id, "query.law")
        candidates, _ = repository.list(filters, sort=sort, limit=None, offset=0)
        matching = [
            row
            for row in candidates
            if row.training_tokens is not None
            and chinchilla_check(row.parameters, row.training_tokens, law).verdict is verdict
        ]
        rows, total = matching[offset : offset + limit], len(matching)
    items = [to_read(row) for row in rows]
    return Page[ModelRead](items=items, total=total, limit=limit, offset=offset)
