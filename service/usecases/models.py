"""Model catalogue use-cases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from service.domain.scaling import Verdict, chinchilla_check
from service.domain.scaling_laws import DEFAULT_LAW_ID
from service.persistence.tables import ModelRow
from service.schemas.models import ModelCreate, ModelRead, ModelReplace, family_alias
from service.usecases.catalogue import Catalogue
from service.usecases.errors import InvalidRequest
from service.usecases.scaling import resolve_law

if TYPE_CHECKING:
    from service.usecases.catalogue_cache import CatalogueSnapshot

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


@dataclass(frozen=True, slots=True)
class ModelFilter:
    """Filters of the catalogue listing; ``None`` means no filter."""

    family: str | None = None
    objective: str | None = None
    domain: str | None = None
    q: str | None = None
    min_parameters: int | None = None
    max_parameters: int | None = None


def list_models(
    snapshot: CatalogueSnapshot,
    filters: ModelFilter,
    *,
    sort: str,
    limit: int,
    offset: int,
    verdict: Verdict | None = None,
    law_id: str = DEFAULT_LAW_ID,
) -> tuple[bytes, int]:
    """A page of the catalogue as JSON (a ``Page[ModelRead]``) and the number of matches.

    ``q`` matches the slug or the name case-insensitively (Unicode case folding, the same on
    every backend); ``verdict`` keeps models whose Chinchilla check under ``law_id`` gives it
    (models without a published token count have no verdict)."""
    if (
        filters.min_parameters is not None
        and filters.max_parameters is not None
        and filters.min_parameters > filters.max_parameters
    ):
        raise InvalidRequest(
            "min_parameters is larger than max_parameters", field="query.min_parameters"
        )
    law = resolve_law(snapshot.catalogues, law_id, "query.law") if verdict is not None else None
    needle = filters.q.casefold() if filters.q else None

    def keep(model: ModelRead) -> bool:
        if (
            (filters.family is not None and model.family != filters.family)
            or (filters.objective is not None and model.objective != filters.objective)
            or (filters.domain is not None and model.domain != filters.domain)
            or (filters.min_parameters is not None and model.parameters < filters.min_parameters)
            or (filters.max_parameters is not None and model.parameters > filters.max_parameters)
        ):
            return False
        if needle is not None and not (
            needle in model.slug.casefold() or needle in model.name.casefold()
        ):
            return False
        if law is None:
            return True
        return (
            model.training_tokens is not None
            and chinchilla_check(model.parameters, model.training_tokens, law).verdict is verdict
        )

    return snapshot.model_table.page(keep, sort=sort, limit=limit, offset=offset)
