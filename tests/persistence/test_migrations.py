"""The Alembic history on both backends: up, down, up again; and no drift from the ORM."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from service.config import Settings
from service.persistence import migrations
from service.persistence.engine import create_db_engine
from service.persistence.tables import Base
from tests.conftest import fresh_database


def test_upgrade_downgrade_upgrade(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path) as url:
        engine = create_db_engine(Settings(database_url=url))
        try:
            migrations.upgrade(engine)
            assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
            migrations.downgrade(engine)
            remaining = set(inspect(engine).get_table_names()) - {"alembic_version"}
            assert remaining == set()
            migrations.upgrade(engine)
            with engine.connect() as connection:
                assert migrations.current_revision(connection) == migrations.head_revision()
        finally:
            engine.dispose()


def test_orm_metadata_matches_the_migrations(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path) as url:
        engine = create_db_engine(Settings(database_url=url))
        try:
            migrations.upgrade(engine)
            with engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                assert compare_metadata(context, Base.metadata) == []
        finally:
            engine.dispose()


def test_migration_files_are_dated() -> None:
    files = sorted(p.name for p in (migrations.MIGRATIONS_DIR / "versions").glob("*.py"))
    assert files
    assert all(name[:4].isdigit() and name[4] == "_" for name in files), files
