"""Engine and session factory for SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings


def _prepare_sqlite_file(url: str) -> None:
    """Create the folder of an SQLite file on first use."""
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    """Foreign keys on, WAL for files, and transactions SQLAlchemy controls itself.

    The stdlib driver opens transactions lazily and ignores SAVEPOINTs issued around them; the
    recipe in SQLAlchemy's SQLite dialect docs ("Serializable isolation / Savepoints / Transactional
    DDL") hands BEGIN over to SQLAlchemy, which the per-test rollback fixtures rely on.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")


def create_db_engine(settings: Settings) -> Engine:
    """Build the engine for ``settings.database_url``."""
    url = settings.database_url
    if settings.is_sqlite:
        _prepare_sqlite_file(url)
        database = make_url(url).database
        engine = create_engine(url, connect_args={"check_same_thread": False})
        _configure_sqlite(engine, wal=bool(database) and database != ":memory:")
        return engine
    return create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_s,
        pool_pre_ping=True,
        connect_args={"connect_timeout": settings.db_connect_timeout_s},
    )


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that never expire loaded rows on commit (responses are built after commits)."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
