"""Create, read, replace, patch, delete and seed any slug-addressed catalogue (models, hardware).

One implementation of the write rules: 409 on a taken slug (also when two clients race for it),
``If-Match`` checked against the row version and enforced again by the ORM's versioned UPDATE
(a concurrent writer turns into 412, never a lost update), and merged patches re-validated whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from service.catalogue import digest, load_seed
from service.persistence.repositories import SeedLedger, SlugRepository
from service.persistence.tables import HardwareRow, ModelRow
from service.usecases.errors import Conflict, InvalidRequest, NotFound, PreconditionFailed
from service.usecases.preconditions import Precondition

logger = logging.getLogger(__name__)

RowT = TypeVar("RowT", ModelRow, HardwareRow)
ReadT = TypeVar("ReadT", bound=BaseModel)


@dataclass(slots=True)
class SeedReport:
    """What one seeding run did."""

    kind: str
    version: str
    inserted: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for logs and the command line."""
        return (
            f"{self.kind} catalogue {self.version}: {len(self.inserted)} inserted, "
            f"{len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.skipped)} skipped"
        )


@dataclass(frozen=True, slots=True)
class Catalogue(Generic[RowT, ReadT]):
    """The write rules of one catalogue table."""

    kind: str
    noun: str
    row: type[RowT]
    columns: tuple[str, ...]
    to_read: Callable[[RowT], ReadT]
    create_schema: type[BaseModel]
    replace_schema: type[BaseModel]

    def repository(self, session: Session) -> SlugRepository[RowT]:
        """The table's repository on ``session``."""
        return SlugRepository(session, self.row)

    def values(self, body: BaseModel, *, only_set: bool) -> dict[str, Any]:
        """The columns a body sets, in the JSON form the table stores."""
        return body.model_dump(mode="json", include=set(self.columns), exclude_unset=only_set)

    def row_for(self, session: Session, slug: str) -> RowT:
        """The stored row, or 404."""
        row = self.repository(session).get(slug)
        if row is None:
            raise NotFound(f"No {self.noun} with slug '{slug}'.", field="path.slug")
        return row

    def create(self, session: Session, slug: str, body: BaseModel) -> ReadT:
        """Add an entry; 409 when the slug is taken."""
        repository = self.repository(session)
        taken = Conflict(f"A {self.noun} with slug '{slug}' already exists.", field="body.slug")
        if repository.exists(slug):
            raise taken
        row = self.row(slug=slug, origin="api", **self.values(body, only_set=False))
        try:
            repository.add(row)
            session.commit()
        except IntegrityError as error:
            session.rollback()
            raise taken from error
        return self.to_read(row)

    def _write(self, session: Session, row: RowT, values: dict[str, Any]) -> ReadT:
        for name, value in values.items():
            setattr(row, name, value)
        row.origin = "api"
        try:
            session.commit()
        except StaleDataError as error:
            session.rollback()
            raise PreconditionFailed(
                f"The {self.noun} changed while this update was applied; fetch it and retry.",
                field="header.If-Match",
            ) from error
        return self.to_read(row)

    def replace(
        self, session: Session, slug: str, body: BaseModel, precondition: Precondition
    ) -> ReadT:
        """Replace every field (PUT)."""
        row = self.row_for(session, slug)
        precondition.check(row.version)
        return self._write(session, row, self.values(body, only_set=False))

    def patch(
        self, session: Session, slug: str, body: BaseModel, precondition: Precondition
    ) -> ReadT:
        """Change the given fields (PATCH); the merged entry must still be valid."""
        row = self.row_for(session, slug)
        precondition.check(row.version)
        values = self.values(body, only_set=True)
        merged = {**{name: getattr(row, name) for name in self.columns}, **values}
        try:
            self.replace_schema.model_validate(merged)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            raise InvalidRequest(
                f"The patched {self.noun} would be invalid: {first['msg']}",
                field=f"body.{where}",
            ) from error
        return self._write(session, row, values)

    def delete(self, session: Session, slug: str, precondition: Precondition) -> None:
        """Remove an entry."""
        row = self.row_for(session, slug)
        precondition.check(row.version)
        try:
            self.repository(session).delete(row)
            session.commit()
        except StaleDataError as error:
            session.rollback()
            raise PreconditionFailed(
                f"The {self.noun} changed while it was being deleted; fetch it again.",
                field="header.If-Match",
            ) from error

    def seed(self, session: Session) -> SeedReport:
        """Apply ``catalogue/data/<kind>.json`` idempotently and commit.

        Per entry, with the ``catalogue_seed`` ledger: never seeded and absent, insert it; seeded
        at the same digest, leave it alone whatever the API did since (edits and deletes made
        through the API win); seeded at an older digest, update it only if nobody changed the
        row since (same version), else skip; a slug created through the API before the seed
        shipped it, skip. Every skip is reported: nothing is overwritten silently.
        """
        seed = load_seed(self.kind)
        report = SeedReport(kind=self.kind, version=seed.version)
        repository = self.repository(session)
        ledger = SeedLedger(session)
        for entry in seed.entries:
            body = self.create_schema.model_validate(entry)
            slug = str(entry["slug"])
            fingerprint = digest(entry)
            applied = ledger.get(self.kind, slug)
            row = repository.get(slug)
            if applied is not None and applied.digest == fingerprint:
                report.unchanged.append(slug)
            elif applied is None and row is None:
                values = self.values(body, only_set=False)
                row = repository.add(self.row(slug=slug, origin="seed", **values))
                ledger.record(self.kind, slug, fingerprint, row.version)
                report.inserted.append(slug)
            elif applied is None:
                report.skipped[slug] = "created through the API before the seed shipped it"
            elif row is None:
                report.skipped[slug] = "deleted through the API; the newer seed is not applied"
            elif row.origin == "seed" and row.version == applied.row_version:
                for name, value in self.values(body, only_set=False).items():
                    setattr(row, name, value)
                session.flush()
                ledger.record(self.kind, slug, fingerprint, row.version)
                report.updated.append(slug)
            else:
                report.skipped[slug] = "edited through the API; the newer seed is not applied"
        session.commit()
        for slug, reason in report.skipped.items():
            logger.warning("%s seed entry %s skipped: %s", self.kind, slug, reason)
        logger.info(report.summary())
        return report
