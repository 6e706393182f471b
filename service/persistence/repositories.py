"""Repositories: every query of the service, behind small typed methods."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

from service.persistence.tables import (
    CatalogueSeedRow,
    HardwareRow,
    ModelRow,
    PlanRow,
    ScalingLawRow,
)

RowT = TypeVar("RowT", ModelRow, HardwareRow)


class SlugRepository(Generic[RowT]):
    """A catalogue table whose rows are addressed by a unique slug."""

    def __init__(self, session: Session, row: type[RowT]) -> None:
        self._session = session
        self._row: type[RowT] = row

    def get(self, slug: str) -> RowT | None:
        """The row with this slug, or None."""
        return self._session.scalar(select(self._row).where(self._row.slug == slug))

    def all(self) -> Sequence[RowT]:
        """Every row, by slug."""
        return self._session.scalars(select(self._row).order_by(self._row.slug)).all()

    def exists(self, slug: str) -> bool:
        """Whether a row with this slug is stored."""
        query = select(self._row.id).where(self._row.slug == slug)
        return self._session.scalar(query) is not None

    def add(self, row: RowT) -> RowT:
        """Stage a new row; the use-case commits."""
        self._session.add(row)
        self._session.flush()
        return row

    def delete(self, row: RowT) -> None:
        """Stage a deletion; the use-case commits."""
        self._session.delete(row)
        self._session.flush()


class ModelRepository(SlugRepository[ModelRow]):
    """The ``model`` table."""

    def __init__(self, session: Session) -> None:
        super().__init__(session, ModelRow)


class HardwareRepository(SlugRepository[HardwareRow]):
    """The ``hardware`` table."""

    def __init__(self, session: Session) -> None:
        super().__init__(session, HardwareRow)

    def list_all_by_memory(self, larger_than: int) -> list[str]:
        """Slugs of accelerators with more memory than ``larger_than``, smallest first."""
        query = (
            select(HardwareRow.slug)
            .where(HardwareRow.memory_bytes > larger_than)
            .order_by(HardwareRow.memory_bytes, HardwareRow.slug)
        )
        return list(self._session.scalars(query).all())


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


class ScalingLawRepository:
    """The ``scaling_law`` table (user-fitted laws)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def all(self) -> Sequence[ScalingLawRow]:
        """Every stored law, oldest first."""
        query = select(ScalingLawRow).order_by(ScalingLawRow.created_at, ScalingLawRow.slug)
        return self._session.scalars(query).all()

    def get(self, slug: str) -> ScalingLawRow | None:
        """The law with this id, or None."""
        return self._session.scalar(select(ScalingLawRow).where(ScalingLawRow.slug == slug))

    def add(self, row: ScalingLawRow) -> ScalingLawRow:
        """Stage a new law; the use-case commits."""
        self._session.add(row)
        self._session.flush()
        return row

    def delete(self, row: ScalingLawRow) -> None:
        """Stage a deletion; the use-case commits."""
        self._session.delete(row)
        self._session.flush()


@dataclass(frozen=True, slots=True)
class PlanFilter:
    """Filters of the plan listing."""

    model: str | None = None
    gpu: str | None = None
    fits: bool | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


_PLAN_SORT_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "created_at": PlanRow.created_at,
    "name": PlanRow.name,
    "gpus": PlanRow.gpus,
}


class PlanRepository:
    """The ``plan`` table."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, plan_id: str) -> PlanRow | None:
        """The plan with this id, or None."""
        return self._session.get(PlanRow, plan_id)

    def get_many(self, plan_ids: Sequence[str]) -> dict[str, PlanRow]:
        """The plans among ``plan_ids`` that exist, by id."""
        rows = self._session.scalars(select(PlanRow).where(PlanRow.id.in_(plan_ids))).all()
        return {row.id: row for row in rows}

    def successors(self, plan_id: str) -> list[str]:
        """Ids of the plans recomputed from this one, oldest first."""
        query = (
            select(PlanRow.id)
            .where(PlanRow.recomputed_from == plan_id)
            .order_by(PlanRow.created_at, PlanRow.id)
        )
        return list(self._session.scalars(query).all())

    def list(
        self, filters: PlanFilter, *, sort: str, limit: int, offset: int
    ) -> tuple[Sequence[PlanRow], int]:
        """One page of plans, in a deterministic order (the sort key, then the id)."""
        conditions: list[ColumnElement[bool]] = []
        if filters.model is not None:
            conditions.append(PlanRow.model == filters.model)
        if filters.gpu is not None:
            conditions.append(PlanRow.gpu == filters.gpu)
        if filters.fits is not None:
            conditions.append(PlanRow.fits.is_(filters.fits))
        if filters.created_after is not None:
            conditions.append(PlanRow.created_at >= filters.created_after)
        if filters.created_before is not None:
            conditions.append(PlanRow.created_at < filters.created_before)
        column = _PLAN_SORT_COLUMNS[sort.lstrip("-")]
        ordered = column.desc() if sort.startswith("-") else column.asc()
        query = select(PlanRow).where(*conditions).order_by(ordered, PlanRow.id.asc())
        rows = self._session.scalars(query.limit(limit).offset(offset)).all()
        count = select(func.count()).select_from(PlanRow).where(*conditions)
        return rows, int(self._session.scalar(count) or 0)

    def add(self, row: PlanRow) -> PlanRow:
        """Stage a new plan; the use-case commits."""
        self._session.add(row)
        self._session.flush()
        return row

    def delete(self, row: PlanRow) -> None:
        """Stage a deletion; the use-case commits."""
        self._session.delete(row)
        self._session.flush()


#: (rows, sum of versions, newest change) of the model, hardware and fitted-law tables.
CatalogueFingerprint = tuple[tuple[int, int, datetime | None], ...]


def catalogue_fingerprint(session: Session) -> CatalogueFingerprint:
    """A cheap summary that changes whenever a catalogue row is added, changed or deleted.

    Every change bumps a row's version (the ORM's version counter), so the sum of versions
    moves on each update, the count on each insert or delete, and the newest timestamp when a
    deletion and an insertion leave both as they were. One statement for all the tables.
    """
    tables = (
        (ModelRow, ModelRow.updated_at),
        (HardwareRow, HardwareRow.updated_at),
        (ScalingLawRow, ScalingLawRow.created_at),
    )
    # One statement of scalar subqueries: one round trip however many tables.
    columns = [
        select(aggregate).select_from(table).scalar_subquery()
        for table, changed in tables
        for aggregate in (
            func.count(),
            func.coalesce(func.sum(table.version), 0),
            func.max(changed),
        )
    ]
    row = session.execute(select(*columns)).one()
    return tuple((int(row[i]), int(row[i + 1]), row[i + 2]) for i in range(0, len(row), 3))
