"""The in-memory catalogue snapshot: revalidated by fingerprint, refreshed after writes."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from service.app import create_app
from service.config import Settings
from service.persistence.engine import create_db_engine, create_session_factory
from service.persistence.repositories import ModelRepository, catalogue_fingerprint
from service.persistence.tables import ModelRow
from service.usecases.catalogue_cache import CatalogueCache
from service.usecases.migrate import migrate_and_seed
from tests.conftest import API_KEY, fresh_database, make_settings


@pytest.fixture
def migrated(backend: str, tmp_path: Path) -> Any:
    with fresh_database(backend, tmp_path) as url:
        engine = create_db_engine(Settings(database_url=url))
        migrate_and_seed(engine)
        try:
            yield url, engine
        finally:
            engine.dispose()


def test_refresh_reloads_only_when_another_writer_changed_something(migrated: Any) -> None:
    _, engine = migrated
    sessions = create_session_factory(engine)
    cache = CatalogueCache(sessions, refresh_s=3600)
    assert cache.snapshot is None
    assert cache.refresh() is True
    snapshot = cache.snapshot
    assert snapshot is not None
    assert snapshot.models["llama-7b"].parameters == 6_700_000_000
    assert snapshot.catalogues.gpu("a100-80gb").memory_bytes == 80 * 2**30
    assert cache.refresh() is False
    assert cache.snapshot is snapshot
    # Another process edits a model through the ORM (its version moves).
    with Session(engine) as other:
        row = ModelRepository(other).get("llama-7b")
        assert row is not None
        row.training_tokens = 2 * 10**12
        other.commit()
    assert cache.refresh() is True
    assert cache.snapshot is not None
    assert cache.snapshot.models["llama-7b"].training_tokens == 2 * 10**12


def test_fingerprint_moves_on_insert_update_and_delete(migrated: Any) -> None:
    _, engine = migrated
    with Session(engine) as session:
        start = catalogue_fingerprint(session)
        session.add(
            ModelRow(
                slug="x-1", name="X", family="decoder-only", objective="causal-lm",
                parameters=10, origin="api", use_cases=[], sources=[],
            )
        )  # fmt: skip
        session.commit()
        inserted = catalogue_fingerprint(session)
        row = ModelRepository(session).get("gpt2")
        assert row is not None
        row.year = 1999
        session.commit()
        updated = catalogue_fingerprint(session)
        session.delete(row)
        session.commit()
        deleted = catalogue_fingerprint(session)
    assert len({start, inserted, updated, deleted}) == 4


def test_background_revalidation_sees_another_replicas_write(migrated: Any) -> None:
    _, engine = migrated
    cache = CatalogueCache(create_session_factory(engine), refresh_s=0.05)

    async def scenario() -> int | None:
        stop = asyncio.Event()
        task = asyncio.create_task(cache.keep_fresh(stop))
        await asyncio.sleep(0.2)
        with Session(engine) as other:
            other.execute(
                update(ModelRow)
                .where(ModelRow.slug == "gpt2")
                .values(training_tokens=123, version=ModelRow.version + 1)
            )
            other.commit()
        await asyncio.sleep(0.5)
        stop.set()
        await task
        assert cache.snapshot is not None
        return cache.snapshot.models["gpt2"].training_tokens

    assert asyncio.run(scenario()) == 123


def test_estimates_see_a_new_model_at_once(migrated: Any) -> None:
    url, _ = migrated
    app = create_app(make_settings(url))
    body = {
        "slug": "tiny-1",
        "name": "Tiny",
        "family": "decoder-only",
        "objective": "causal-lm",
        "parameters": 1_000_000,
        "training_tokens": 20_000_000,
    }
    with TestClient(app) as client:
        before = client.post("/v1/estimates/compute", json={"model": "tiny-1"})
        assert before.status_code == 422
        created = client.post("/v1/models", json=body, headers={"X-API-Key": API_KEY})
        assert created.status_code == 201
        after = client.post("/v1/estimates/compute", json={"model": "tiny-1"})
        assert after.status_code == 200, after.text
        assert after.json()["tokens"] == 20_000_000


def test_estimates_before_the_first_load_are_503() -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:9/none"
    app = create_app(make_settings(url, db_connect_timeout_s=1, catalogue_refresh_s=60))
    with TestClient(app) as client:
        response = client.post("/v1/estimates/memory", json={"parameters": 10**9})
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"


class CountingSessions:
    """The engine's sessions, counted; ``hold`` blocks the next one until ``release``."""

    def __init__(self, engine: Any) -> None:
        self._sessions = create_session_factory(engine)
        self.opened = 0
        self.hold = threading.Event()
        self.holding = threading.Event()
        self.release = threading.Event()
        self.fail: Exception | None = None

    def __call__(self) -> Session:
        self.opened += 1
        if self.hold.is_set():
            self.hold.clear()
            self.holding.set()
            assert self.release.wait(30)
        if self.fail is not None:
            raise self.fail
        return self._sessions()


def test_concurrent_revalidations_share_refreshes(migrated: Any) -> None:
    _, engine = migrated
    sessions = CountingSessions(engine)
    cache = CatalogueCache(sessions, refresh_s=3600)
    cache.refresh()
    sessions.opened = 0

    async def burst() -> None:
        await asyncio.gather(*(cache.revalidate() for _ in range(50)))

    asyncio.run(burst())
    # The first caller starts a refresh; the 49 that arrived meanwhile share one more.
    assert 1 <= sessions.opened <= 2


def test_a_revalidation_waits_for_a_refresh_that_began_after_it_arrived(migrated: Any) -> None:
    """A write committed before the read asked must show, even when a refresh that began
    before the write is still running: joining that one would answer stale."""
    _, engine = migrated
    sessions = CountingSessions(engine)
    cache = CatalogueCache(sessions, refresh_s=3600)
    cache.refresh()

    async def scenario() -> int | None:
        sessions.hold.set()
        early = asyncio.create_task(cache.revalidate())  # its refresh blocks before reading
        await asyncio.to_thread(sessions.holding.wait, 30)
        with Session(engine) as other:  # another replica writes, and commits
            other.execute(
                update(ModelRow)
                .where(ModelRow.slug == "gpt2")
                .values(training_tokens=456, version=ModelRow.version + 1)
            )
            other.commit()
        late = asyncio.create_task(cache.revalidate())  # asks after the commit
        await asyncio.sleep(0.05)
        sessions.release.set()
        await asyncio.gather(early, late)
        assert cache.snapshot is not None
        return cache.snapshot.models["gpt2"].training_tokens

    assert asyncio.run(scenario()) == 456


def test_a_failed_revalidation_reaches_every_caller_and_the_next_one_retries(
    migrated: Any,
) -> None:
    _, engine = migrated
    sessions = CountingSessions(engine)
    cache = CatalogueCache(sessions, refresh_s=3600)
    cache.refresh()
    sessions.fail = OperationalError("SELECT 1", {}, Exception("database is down"))

    async def burst() -> list[BaseException | None]:
        return await asyncio.gather(
            *(cache.revalidate() for _ in range(10)), return_exceptions=True
        )

    outcomes = asyncio.run(burst())
    assert all(isinstance(outcome, OperationalError) for outcome in outcomes)
    sessions.fail = None
    asyncio.run(cache.revalidate())
    assert cache.snapshot is not None
