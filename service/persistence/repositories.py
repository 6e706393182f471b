"""Repositories: every query of the service, behind small typed methods."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

from service.persistence.tables import CatalogueSeedRow, ModelRow


@dataclass(frozen=True, slots=True)
class ModelFilter:
    """Filters of the catalogue listing; ``None`` means no filter."""

    family: str | None = None
    objective: str | None = None
    domain: str | None = None
    q: str | None = None
    min_parameters: int | None = None
    max_parameters: int | None = None


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_MODEL_SORT_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "slug": ModelRow.slug,
    "name": ModelRow.name,
    "parameters": ModelRow.parameters,
    "year": ModelRow.year,
    "training_tokens": ModelRow.training_tokens,
    "created_at": ModelRow.created_at,
}


class ModelRepository:
    """The ``model`` table."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @staticmethod
    def _conditions(filters: ModelFilter) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if filters.family is not None:
            conditions.append(ModelRow.family == filters.family)
        if filters.objective is not None:
            conditions.append(ModelRow.objective == filters.objective)
        if filters.domain is not None:
            conditions.append(ModelRow.domain == filters.domain)
        if filters.q:
            pattern = f"%{_escape_like(filters.q)}%"
            conditions.append(
                or_(
                    ModelRow.slug.ilike(pattern, escape="\\"),
                    ModelRow.name.ilike(pattern, escape="\\"),
                )
            )
        if filters.min_parameters is not None:
            conditions.append(ModelRow.parameters >= filters.min_parameters)
        if filters.max_parameters is not None:
            conditions.append(ModelRow.parameters <= filters.max_parameters)
        return conditions

    def list(
        self, filters: ModelFilter, *, sort: str, limit: int, offset: int
    ) -> tuple[Sequence[ModelRow], int]:
        """One page of models in a deterministic order (the sort key, then the slug)."""
        conditions = self._conditions(filters)
        descending = sort.startswith("-")
        column = _MODEL_SORT_COLUMNS[sort.lstrip("-")]
        ordered = column.desc().nulls_last() if descending else column.asc().nulls_last()
        query: Select[ModelRow] = (
            select(ModelRow).where(*conditions).order_by(ordered, ModelRow.slug.asc())
        )
        rows = self._session.scalars(query.limit(limit).offset(offset)).all()
        total = self._session.scalar(select(func.count()).select_from(ModelRow).where(*conditions))
        return rows, int(total or 0)

    def get(self, slug: str) -> ModelRow | None:
        """The model with this slug, or None."""
        return self._session.scalar(select(ModelRow).where(ModelRow.slug == slug))

    def exists(self, slug: str) -> bool:
        """Whether a model with this slug is stored."""
        return self._session.scalar(select(ModelRow.id).where(ModelRow.slug == slug)) is not None

    def add(self, row: ModelRow) -> ModelRow:
        """Stage a new model; the use-case commits."""
        self._session.add(row)
        self._session.flush()
        return row

    def delete(self, row: ModelRow) -> None:
        """Stage a deletion; the use-case commits."""
        self._session.delete(row)
        self._session.flush()


class SeedLedger:
    """The ``catalogue_seed`` table: which seed entry was applied, at which digest."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, kind: str, slug: str) -> CatalogueSeedRow | None:
        """The ledger entry of one seeded slug."""
        return self._session.get(CatalogueSeedRow, (kind, slug))

    def record(self, kind: str, slug: str, digest: str, row_version: int) -> None:
        """Remember that ``slug`` was seeded at ``digest`` and left at ``row_version``."""
        entry = self.get(kind, slug)
        if entry is None:
            self._session.add(
                CatalogueSeedRow(kind=kind, slug=slug, digest=digest, row_version=row_version)
            )
        else:
            entry.digest = digest
            entry.row_version = row_version
        self._session.flush()


def ping(session: Session) -> None:
    """A round trip to the database (readiness)."""
    session.execute(text("SELECT 1"))
