"""An in-memory snapshot of the catalogues, revalidated cheaply, for the hot read paths.

Estimates look up a model and a GPU on every request, and catalogue pages are read far more
often than written. Each process keeps an immutable snapshot of both tables and a fingerprint
of them (row count, sum of row versions, newest ``updated_at``, per table). A background task
compares the fingerprint every ``refresh_s`` seconds (one aggregate query) and reloads only
when it changed; a write in this process refreshes at once. So a read in the process that
wrote sees the write immediately, and other replicas see it within ``refresh_s``. Writes are
never served from the snapshot: ``If-Match`` is always checked against the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from service.domain.hardware import GpuSpec
from service.persistence.repositories import (
    CatalogueFingerprint,
    HardwareRepository,
    ModelRepository,
    catalogue_fingerprint,
)
from service.usecases.errors import InvalidRequest
from service.usecases.estimates import Catalogues
from service.usecases.hardware import to_gpu_spec

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CachedModel:
    """What an estimate reads of a catalogue model."""

    slug: str
    family: str
    parameters: int
    training_tokens: int | None
    architecture: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class CatalogueSnapshot:
    """Both catalogues at one fingerprint."""

    fingerprint: CatalogueFingerprint
    models: Mapping[str, CachedModel]
    hardware: Mapping[str, GpuSpec]
    catalogues: Catalogues = field(init=False)

    def __post_init__(self) -> None:
        def gpu(slug: str) -> GpuSpec:
            found = self.hardware.get(slug)
            if found is None:
                raise InvalidRequest(
                    f"No accelerator with slug '{slug}' in the hardware catalogue.",
                    field="body.gpu",
                )
            return found

        object.__setattr__(self, "catalogues", Catalogues(model=self.models.get, gpu=gpu))


def load_snapshot(session: Session) -> CatalogueSnapshot:
    """Read both catalogues (two queries) and their fingerprint, in one transaction."""
    fingerprint = catalogue_fingerprint(session)
    models = {
        row.slug: CachedModel(
            slug=row.slug,
            family=row.family,
            parameters=row.parameters,
            training_tokens=row.training_tokens,
            architecture=row.architecture,
        )
        for row in ModelRepository(session).all()
    }
    hardware = {row.slug: to_gpu_spec(row) for row in HardwareRepository(session).all()}
    return CatalogueSnapshot(fingerprint, MappingProxyType(models), MappingProxyType(hardware))


class CatalogueCache:
    """The process's current snapshot, and the task that keeps it fresh."""

    def __init__(
        self, sessions: Callable[[], AbstractContextManager[Session]], refresh_s: float
    ) -> None:
        self._sessions = sessions
        self.refresh_s = refresh_s
        self._snapshot: CatalogueSnapshot | None = None
        # Refreshes run one at a time: a writer's refresh, started after its commit, then
        # always leaves a snapshot that includes its write (a slower, older load cannot
        # overwrite a newer one).
        self._lock = threading.Lock()

    @property
    def snapshot(self) -> CatalogueSnapshot | None:
        """The latest snapshot, or None before the first successful load."""
        return self._snapshot

    def refresh(self) -> bool:
        """Reload when the fingerprint moved (blocking; call from a thread). True if reloaded."""
        with self._lock, self._sessions() as session:
            current = self._snapshot
            if current is not None and catalogue_fingerprint(session) == current.fingerprint:
                return False
            self._snapshot = load_snapshot(session)
            return True

    async def keep_fresh(self, stop: asyncio.Event) -> None:
        """Revalidate every ``refresh_s`` seconds until ``stop`` is set; a refresh in progress
        always completes (its connection goes back to the pool before the engine is disposed).
        Database errors keep the last snapshot (readiness reports the outage); the next round
        retries."""
        while not stop.is_set():
            try:
                await run_in_threadpool(self.refresh)
            except SQLAlchemyError as error:
                logger.warning("catalogue snapshot not refreshed: %s", type(error).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.refresh_s)
