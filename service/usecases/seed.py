"""Load the shipped catalogue idempotently (``python -m service migrate``).

Rules, per seed entry, using the ``catalogue_seed`` ledger:

* never seeded and absent: insert it;
* seeded at the same digest: leave it alone, whatever the API did to it since (edits and deletes
  made through the API win);
* seeded at an older digest (the shipped data improved): update it only if nobody changed the row
  since it was seeded (same version); otherwise skip and report it;
* a slug created through the API before the seed shipped it: skip and report it.

Nothing is overwritten silently: every skip is in the report, and the command prints it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from service.catalogue import digest, load_seed
from service.persistence.repositories import ModelRepository, SeedLedger
from service.persistence.tables import ModelRow
from service.schemas.models import ModelCreate
from service.usecases.models import column_values

logger = logging.getLogger(__name__)


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


def seed_models(session: Session) -> SeedReport:
    """Apply ``catalogue/data/models.json`` and commit."""
    seed = load_seed("models")
    report = SeedReport(kind="models", version=seed.version)
    repository = ModelRepository(session)
    ledger = SeedLedger(session)
    for entry in seed.entries:
        body = ModelCreate.model_validate(entry)
        fingerprint = digest(entry)
        applied = ledger.get("models", body.slug)
        row = repository.get(body.slug)
        if applied is not None and applied.digest == fingerprint:
            report.unchanged.append(body.slug)
            continue
        if applied is None and row is None:
            row = repository.add(
                ModelRow(slug=body.slug, origin="seed", **column_values(body, only_set=False))
            )
            ledger.record("models", body.slug, fingerprint, row.version)
            report.inserted.append(body.slug)
        elif applied is None:
            report.skipped[body.slug] = "created through the API before the seed shipped it"
        elif row is None:
            report.skipped[body.slug] = "deleted through the API; the newer seed is not applied"
        elif row.origin == "seed" and row.version == applied.row_version:
            for name, value in column_values(body, only_set=False).items():
                setattr(row, name, value)
            session.flush()
            ledger.record("models", body.slug, fingerprint, row.version)
            report.updated.append(body.slug)
        else:
            report.skipped[body.slug] = "edited through the API; the newer seed is not applied"
    session.commit()
    for slug, reason in report.skipped.items():
        logger.warning("seed entry %s skipped: %s", slug, reason)
    logger.info(report.summary())
    return report
