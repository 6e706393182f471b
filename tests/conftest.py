"""Shared fixtures: one database per backend, built by the real migrations, and per-test rollback.

Every database test runs twice, on SQLite and on PostgreSQL. PostgreSQL comes from
``PLANNER_TEST_POSTGRES_URL`` (default: the local server); when it cannot be reached the
PostgreSQL runs are skipped with the reason, unless ``PLANNER_TEST_REQUIRE_POSTGRES=1`` (as in CI),
which turns that into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from service.api.deps import get_session
from service.app import create_app
from service.config import Settings
from service.persistence.engine import create_db_engine
from service.usecases.catalogue_cache import CatalogueCache
from service.usecases.migrate import migrate_and_seed

POSTGRES_URL = os.environ.get(
    "PLANNER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("PLANNER_TEST_REQUIRE_POSTGRES") == "1"
API_KEY = "test-key-0123456789"

# CI runs the same examples every time (a red CI must be reproducible); local runs explore new
# ones. `HYPOTHESIS_PROFILE=stress` searches much harder, for a property before it lands.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.register_profile("stress", max_examples=5000, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
BACKENDS = ["sqlite", "postgresql"]


def _postgres_admin() -> Engine:
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        engine.dispose()
        message = f"PostgreSQL unreachable at {make_url(POSTGRES_URL).render_as_string()}: {error}"
        if REQUIRE_POSTGRES:
            pytest.fail(f"{message} (PLANNER_TEST_REQUIRE_POSTGRES=1)", pytrace=False)
        pytest.skip(message)
    return engine


@contextmanager
def fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of ``backend`` that is dropped afterwards; yields its URL."""
    if backend == "sqlite":
        yield f"sqlite:///{(tmp_path / f'{uuid.uuid4().hex}.sqlite3').as_posix()}"
        return
    admin = _postgres_admin()
    name = f"planner_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend under test."""
    return str(request.param)


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated and seeded database, shared by the session's tests (each rolls back)."""
    with fresh_database(backend, tmp_path_factory.mktemp(backend)) as url:
        engine = create_db_engine(Settings(database_url=url))
        try:
            migrate_and_seed(engine)
        finally:
            engine.dispose()
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """The session-wide engine on the migrated database."""
    engine = create_db_engine(Settings(database_url=database_url))
    yield engine
    engine.dispose()


@pytest.fixture
def db_session(engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back after the test.

    Commits made by use-cases become savepoint releases (``create_savepoint``), so tests see
    real commit behaviour and still leave nothing behind.
    """
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(
        bind=connection,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        autoflush=False,
    )
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()


def make_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for an app under test (migrations are done by the fixtures)."""
    values: dict[str, object] = {
        "database_url": database_url,
        "api_keys": (API_KEY,),
        "auto_migrate": False,
    }
    values.update(overrides)
    return Settings.model_validate(values)


def in_transaction(app: FastAPI, session: Session) -> FastAPI:
    """Run every request of ``app`` in ``session`` (the test's rolled-back transaction), and
    build its catalogue snapshot from that session too, once the lifespan has started, so that
    reads see what the test's writes did (``refresh_s`` long: refreshes follow the writes)."""

    def session_override() -> Iterator[Session]:
        yield session

    app.dependency_overrides[get_session] = session_override
    started = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with started(app) as state:
            catalogue = CatalogueCache(lambda: nullcontext(session), refresh_s=3600)
            catalogue.refresh()
            app.state.catalogue = catalogue
            yield state

    app.router.lifespan_context = lifespan
    return app


@pytest.fixture
def client(database_url: str, db_session: Session) -> Iterator[TestClient]:
    """The real app, its requests running in the test's rolled-back transaction."""
    app = in_transaction(create_app(make_settings(database_url)), db_session)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def auth() -> dict[str, str]:
    """Headers carrying a valid API key."""
    return {"X-API-Key": API_KEY}
