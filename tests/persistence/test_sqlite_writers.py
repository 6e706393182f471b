"""SQLite writers of one process take turns on a lock before ``BEGIN IMMEDIATE``, held until
their connection returns to the pool, so they are served in turn rather than by SQLite's
sleeping busy handler; a turn not given within the busy timeout is a database error (503)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from service.config import Settings
from service.persistence import engine as engine_module
from service.persistence.engine import SQLITE_BEGIN, create_db_engine, create_session_factory
from service.persistence.tables import ModelRow
from service.usecases.migrate import migrate_and_seed

WRITE = {SQLITE_BEGIN: "IMMEDIATE"}


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Engine:
    engine = create_db_engine(Settings(database_url=f"sqlite:///{tmp_path}/w.sqlite3"))
    migrate_and_seed(engine)
    return engine


def model(slug: str) -> ModelRow:
    return ModelRow(
        slug=slug, name=slug, family="decoder-only", objective="causal-lm", parameters=10,
        origin="api", use_cases=[], sources=[],
    )  # fmt: skip


def test_concurrent_writers_all_land_and_failures_give_the_turn_back(
    sqlite_engine: Engine,
) -> None:
    sessions = create_session_factory(sqlite_engine)
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        try:
            for item in range(5):
                with sessions(execution_options=WRITE) as session:
                    session.add(model(f"w-{index}-{item}"))
                    if item == 2:  # a failed write: rolled back, its turn given back
                        session.flush()
                        session.rollback()
                        continue
                    session.commit()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(index,)) for index in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    with Session(sqlite_engine) as session:
        slugs = set(session.scalars(select(ModelRow.slug).where(ModelRow.slug.like("w-%"))))
    assert len(slugs) == 12 * 4
    assert not any(slug.endswith("-2") for slug in slugs)
    # The turn is free again: a write begins at once.
    started = time.monotonic()
    with sessions(execution_options=WRITE) as session:
        session.add(model("after"))
        session.commit()
    assert time.monotonic() - started < 1.0


def test_no_turn_within_the_timeout_is_a_database_error(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_S", 0.2)
    sessions = create_session_factory(sqlite_engine)
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with sessions(execution_options=WRITE) as session:
            session.add(model("holder"))
            session.flush()
            holding.set()
            done.wait(10)
            session.commit()

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    try:
        with sessions(execution_options=WRITE) as session:
            session.add(model("waiter"))
            with pytest.raises(OperationalError, match="no turn to write"):
                session.flush()
        # Reads never queue.
        with sessions() as reader:
            assert reader.scalar(select(ModelRow.slug).where(ModelRow.slug == "gpt2")) == "gpt2"
    finally:
        done.set()
        holder.join(10)
