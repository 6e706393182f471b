"""Engine and session factory for SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings

#: Execution option naming how an SQLite transaction begins. A deferred BEGIN reads from a
#: snapshot and only asks for the write lock at its first write; if another connection wrote
#: meanwhile, SQLite refuses at once with SQLITE_BUSY ("database is locked", busy_timeout or
#: not), which a racing PATCH or POST would see as a 503. Write requests begin IMMEDIATE: they
#: queue for the write lock (up to busy_timeout) and then read the latest rows, so the version
#: check answers 412 and the slug check 409, as on PostgreSQL. Reads stay deferred (in WAL mode
#: they never wait for a writer).
SQLITE_BEGIN = "planner_sqlite_begin"
#: How long an SQLite writer waits for its turn (SQLite's busy_timeout, and this process's queue).
SQLITE_BUSY_TIMEOUT_S = 5.0
_HOLDS_WRITER_TURN = "planner_holds_writer_turn"


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
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    # Writers of this process queue on a lock before BEGIN IMMEDIATE, and hold it until their
    # connection goes back to the pool (after COMMIT or ROLLBACK). SQLite's own busy handler
    # serves waiting writers in no order, sleeping up to 100 ms between tries: under 32
    # concurrent plan writes some waited past busy_timeout (p99 seconds, bench/README.md).
    # Writers of other processes on the same file still meet at SQLite's lock.
    writers = threading.Lock()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(SQLITE_BEGIN) != "IMMEDIATE":
            connection.exec_driver_sql("BEGIN")
            return
        info = connection.connection.info  # the pooled connection's, shared with its record
        if not writers.acquire(timeout=SQLITE_BUSY_TIMEOUT_S):
            raise OperationalError(
                "BEGIN IMMEDIATE", None, TimeoutError("no turn to write within busy_timeout")
            )
        info[_HOLDS_WRITER_TURN] = True
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    def _release(record: Any) -> None:
        if record is not None and record.info.pop(_HOLDS_WRITER_TURN, False):
            writers.release()

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        _release(record)

    @event.listens_for(engine, "invalidate")
    def _on_invalidate(_dbapi_connection: Any, record: Any, _error: Any) -> None:
        _release(record)


def _postgres_connect_args(settings: Settings) -> dict[str, Any]:
    """Bounds on every wait a PostgreSQL connection can impose on a request.

    ``connect_timeout`` bounds a new connection; ``statement_timeout`` and ``lock_timeout``
    (server side) bound a query and a row-lock wait; TCP keepalives and ``tcp_user_timeout``
    (libpq, Linux) notice a server or network that stopped answering, which no read timeout
    in the driver would (libpq connection parameters, PostgreSQL docs sec. 34.1.2).
    """
    statement_ms = int(settings.db_statement_timeout_s * 1000)
    lock_ms = min(statement_ms, 5000)
    return {
        "connect_timeout": settings.db_connect_timeout_s,
        "options": f"-c statement_timeout={statement_ms} -c lock_timeout={lock_ms}",
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 3,
        "tcp_user_timeout": statement_ms,
    }


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
        connect_args=_postgres_connect_args(settings),
    )


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that never expire loaded rows on commit (responses are built after commits)."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
