"""Readiness: the database answers and its schema is at the code's migration head."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from service.persistence.migrations import current_revision, head_revision


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    database: str
    revision: str | None
    expected_revision: str | None


def check_readiness(engine: Engine) -> Readiness:
    """Connect once; compare the schema revision with the newest migration."""
    expected = head_revision()
    try:
        with engine.connect() as connection:
            revision = current_revision(connection)
    except SQLAlchemyError:
        return Readiness(False, "unreachable", None, expected)
    return Readiness(revision == expected, "ok", revision, expected)
