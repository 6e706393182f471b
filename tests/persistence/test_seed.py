"""Seeding is idempotent and never silently overwrites what the API changed."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from service.catalogue import load_seed
from service.persistence.repositories import ModelRepository
from service.persistence.tables import CatalogueSeedRow, ModelRow
from service.schemas.models import ModelPatch
from service.usecases.models import MODELS
from service.usecases.preconditions import Precondition

ANY = Precondition.parse("*")


def _pretend_seed_changed(session: Session, slug: str) -> None:
    session.execute(
        update(CatalogueSeedRow)
        .where(CatalogueSeedRow.kind == "models", CatalogueSeedRow.slug == slug)
        .values(digest="an-older-seed")
    )


def test_reseeding_changes_nothing(db_session: Session) -> None:
    seed = load_seed("models")
    report = MODELS.seed(db_session)
    assert report.inserted == []
    assert report.updated == []
    assert report.skipped == {}
    assert len(report.unchanged) == len(seed.entries)
    assert "0 inserted, 0 updated" in report.summary()


def test_newer_seed_updates_untouched_rows(db_session: Session) -> None:
    row = ModelRepository(db_session).get("bert-base")
    assert row is not None
    version, year = row.version, row.year
    # The row as an older seed left it: other data, same version (a Core UPDATE bumps nothing).
    db_session.execute(update(ModelRow).where(ModelRow.slug == "bert-base").values(year=1900))
    db_session.expire_all()
    _pretend_seed_changed(db_session, "bert-base")
    report = MODELS.seed(db_session)
    assert report.updated == ["bert-base"]
    refreshed = ModelRepository(db_session).get("bert-base")
    assert refreshed is not None
    assert refreshed.year == year
    assert refreshed.version == version + 1
    assert refreshed.origin == "seed"
    assert MODELS.seed(db_session).updated == []


def test_api_edits_survive_a_newer_seed(db_session: Session) -> None:
    MODELS.patch(db_session, "gpt2", ModelPatch(year=1999), ANY)
    _pretend_seed_changed(db_session, "gpt2")
    report = MODELS.seed(db_session)
    assert "gpt2" in report.skipped
    assert "edited" in report.skipped["gpt2"]
    row = ModelRepository(db_session).get("gpt2")
    assert row is not None
    assert row.year == 1999


def test_api_deletes_survive_reseeding(db_session: Session) -> None:
    MODELS.delete(db_session, "opt-175b", ANY)
    assert "opt-175b" in MODELS.seed(db_session).unchanged
    _pretend_seed_changed(db_session, "opt-175b")
    report = MODELS.seed(db_session)
    assert "deleted" in report.skipped["opt-175b"]
    assert ModelRepository(db_session).get("opt-175b") is None


def test_slug_created_before_the_seed_is_kept(db_session: Session) -> None:
    db_session.query(CatalogueSeedRow).filter_by(slug="t5-base").delete()
    db_session.flush()
    report = MODELS.seed(db_session)
    assert "created through the API" in report.skipped["t5-base"]
