"""Bring a database to the code's schema and load the shipped catalogues."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from service.persistence import migrations
from service.usecases.catalogue import SeedReport
from service.usecases.hardware import HARDWARE
from service.usecases.models import MODELS


def migrate_and_seed(engine: Engine) -> list[SeedReport]:
    """Apply every migration, then upsert the seed data idempotently."""
    migrations.upgrade(engine)
    with Session(engine, expire_on_commit=False) as session:
        return [MODELS.seed(session), HARDWARE.seed(session)]
