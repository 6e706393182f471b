"""Readiness: the database answers and its schema is at the code's migration head."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from service.persistence.migrations import current_revision, head_revision, known_revisions


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    database: str
    revision: str | None
    expected_revision: str | None


def check_readiness(engine: Engine) -> Readiness:
    """Connect once; compare the schema revision with the newest migration this code knows.

    Ready at our head, and also at a revision this code does not know: during a rolling
    upgrade the new release migrates first (additively), and the old replicas must keep
    serving until they are replaced. Not ready with no schema or an older known revision.
    """
    expected = head_revision()
    try:
        with engine.connect() as connection:
            revision = current_revision(connection)
    except SQLAlchemyError:
        return Readiness(False, "unreachable", None, expected)
    ahead = revision is not None and revision not in known_revisions()
    return Readiness(revision == expected or ahead, "ok", revision, expected)
