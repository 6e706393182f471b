"""Bring a database to the code's schema and load the shipped catalogue."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from service.persistence import migrations
from service.usecases.seed import SeedReport, seed_models


def migrate_and_seed(engine: Engine) -> list[SeedReport]:
    """Apply every migration, then upsert the seed data idempotently."""
    migrations.upgrade(engine)
    with Session(engine, expire_on_commit=False) as session:
        return [seed_models(session)]
