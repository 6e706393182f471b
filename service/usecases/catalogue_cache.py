"""An in-memory snapshot of the catalogues, revalidated cheaply, for every hot read path.

Catalogue pages, single entries, estimates and scaling answers read the catalogues far more
often than anyone writes them. Each process keeps an immutable snapshot of the model, hardware
and fitted-law tables, with each entry's wire form already serialised and its ETag, and a
fingerprint of the tables (row count, sum of row versions, newest timestamp, per table). A
background task compares the fingerprint every ``refresh_s`` seconds (one aggregate
statement) and reloads only when it moved; a write in this process refreshes at once, and a request
with ``Cache-Control: no-cache`` revalidates before it is answered (RFC 9111 sec. 5.2.1.4). So a
read in the process that wrote sees the write immediately, a revalidating read sees every
replica's writes, and other reads see them within ``refresh_s``. Writes are never served from
the snapshot: ``If-Match`` is always checked against the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from service.domain.hardware import GpuSpec
from service.domain.scaling_laws import ScalingLaw
from service.persistence.repositories import (
    CatalogueFingerprint,
    HardwareRepository,
    ModelRepository,
    ScalingLawRepository,
    catalogue_fingerprint,
)
from service.schemas.hardware import HardwareRead
from service.schemas.models import ModelRead
from service.usecases import hardware as hardware_usecase
from service.usecases import models as models_usecase
from service.usecases.errors import InvalidRequest
from service.usecases.estimates import Catalogues, Resolution, resolve_catalogue_model
from service.usecases.preconditions import etag
from service.usecases.scaling import law_from_row

logger = logging.getLogger(__name__)

ReadT = TypeVar("ReadT", ModelRead, HardwareRead)


@dataclass(frozen=True, slots=True)
class CachedModel:
    """What an estimate reads of a catalogue model."""

    slug: str
    family: str
    parameters: int
    training_tokens: int | None
    architecture: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Entry(Generic[ReadT]):
    """One catalogue entry as served: the schema object, its JSON and its strong ETag."""

    read: ReadT
    json: bytes
    etag: str


class Table(Generic[ReadT]):
    """One catalogue's entries in slug order, addressable by slug; immutable once built."""

    def __init__(self, schema: type[ReadT], reads: Iterable[ReadT]) -> None:
        adapter = TypeAdapter(schema)
        ordered = sorted(reads, key=lambda read: read.slug)
        self.entries: tuple[Entry[ReadT], ...] = tuple(
            Entry(read, adapter.dump_json(read), etag(read.version)) for read in ordered
        )
        self._by_slug: dict[str, Entry[ReadT]] = {entry.read.slug: entry for entry in self.entries}

    def get(self, slug: str) -> Entry[ReadT] | None:
        """The entry with this slug, or None."""
        return self._by_slug.get(slug)

    def select(self, keep: Callable[[ReadT], bool], sort: str) -> list[Entry[ReadT]]:
        """The entries ``keep`` accepts, ordered as the listing promises: by the sort field
        (a leading '-' for descending), missing values last either way, then by slug."""
        name = sort.lstrip("-")
        kept = [entry for entry in self.entries if keep(entry.read)]  # already by slug
        present = [entry for entry in kept if getattr(entry.read, name) is not None]
        missing = [entry for entry in kept if getattr(entry.read, name) is None]
        # Python's sort is stable, also with reverse=True: equal keys keep their slug order.
        present.sort(key=lambda entry: getattr(entry.read, name), reverse=sort.startswith("-"))
        return present + missing

    def page(
        self, keep: Callable[[ReadT], bool], *, sort: str, limit: int, offset: int
    ) -> tuple[bytes, int]:
        """One listing page as JSON, and the number of matches."""
        selected = self.select(keep, sort)
        chosen = selected[offset : offset + limit]
        return page_json(chosen, total=len(selected), limit=limit, offset=offset), len(selected)


def page_json(entries: list[Entry[Any]], *, total: int, limit: int, offset: int) -> bytes:
    """The JSON of a :class:`~service.schemas.common.Page` of pre-serialised entries (the
    same document ``Page.model_dump_json`` gives, without serialising the items again)."""
    items = b",".join(entry.json for entry in entries)
    return b'{"items":[%b],"total":%d,"limit":%d,"offset":%d}' % (items, total, limit, offset)


@dataclass(frozen=True, slots=True)
class CatalogueSnapshot:
    """The catalogues at one fingerprint."""

    fingerprint: CatalogueFingerprint
    models: Mapping[str, CachedModel]
    hardware: Mapping[str, GpuSpec]
    laws: Mapping[str, ScalingLaw] = field(default_factory=dict)
    model_table: Table[ModelRead] = field(default_factory=lambda: Table(ModelRead, ()))
    hardware_table: Table[HardwareRead] = field(default_factory=lambda: Table(HardwareRead, ()))
    catalogues: Catalogues = field(init=False)
    _resolutions: dict[str, Resolution | InvalidRequest] = field(init=False)

    def __post_init__(self) -> None:
        def gpu(slug: str) -> GpuSpec:
            found = self.hardware.get(slug)
            if found is None:
                raise InvalidRequest(
                    f"No accelerator with slug '{slug}' in the hardware catalogue.",
                    field="body.gpu",
                )
            return found

        catalogues = Catalogues(
            model=self.models.get, gpu=gpu, law=self.laws.get, resolve=self._resolve
        )
        object.__setattr__(self, "catalogues", catalogues)
        object.__setattr__(self, "_resolutions", {})

    def _resolve(self, slug: str) -> Resolution:
        """A slug's resolution (architecture, counted parameters), computed once per snapshot:
        it depends only on the stored entry, which cannot change within a snapshot."""
        found = self._resolutions.get(slug)
        if found is None:
            row = self.models.get(slug)
            try:
                found = resolve_catalogue_model(slug, row)
            except InvalidRequest as error:
                found = error
            if row is not None:  # unknown slugs are not remembered: the map stays bounded
                self._resolutions[slug] = found
        if isinstance(found, InvalidRequest):
            # A new exception each time: re-raising one instance would grow its traceback.
            raise InvalidRequest(found.detail, field=found.field)
        return found


def load_snapshot(session: Session) -> CatalogueSnapshot:
    """Read the catalogues (one query per table) and their fingerprint, in one transaction."""
    fingerprint = catalogue_fingerprint(session)
    model_rows = ModelRepository(session).all()
    hardware_rows = HardwareRepository(session).all()
    models = {
        row.slug: CachedModel(
            slug=row.slug,
            family=row.family,
            parameters=row.parameters,
            training_tokens=row.training_tokens,
            architecture=row.architecture,
        )
        for row in model_rows
    }
    hardware = {row.slug: hardware_usecase.to_gpu_spec(row) for row in hardware_rows}
    laws = {row.slug: law_from_row(row) for row in ScalingLawRepository(session).all()}
    return CatalogueSnapshot(
        fingerprint,
        MappingProxyType(models),
        MappingProxyType(hardware),
        MappingProxyType(laws),
        Table(ModelRead, (models_usecase.to_read(row) for row in model_rows)),
        Table(HardwareRead, (hardware_usecase.to_read(row) for row in hardware_rows)),
    )


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
        # Revalidations requested by reads (event-loop side, see ``revalidate``).
        self._started = 0
        self._inflight: asyncio.Future[bool] | None = None
        self._inflight_number = 0

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

    async def revalidate(self) -> None:
        """Refresh for a read that asked to revalidate, sharing the work with the reads that ask
        at the same time: a caller waits for a refresh that started after it arrived (so it sees
        every write committed before it asked), joining one already started for another caller
        when there is one, else starting it. Under a burst of such reads this runs about one
        refresh at a time instead of one each. Database errors reach every caller that shared
        the refresh; a caller that goes away does not cancel it for the others."""
        arrived = self._started
        while True:
            # A finished refresh whose callback has not run yet counts as none in flight.
            if self._inflight is None or self._inflight.done():
                self._started += 1
                self._inflight_number = self._started
                self._inflight = asyncio.ensure_future(run_in_threadpool(self.refresh))
                self._inflight.add_done_callback(self._finished)
            inflight, number = self._inflight, self._inflight_number
            await asyncio.shield(inflight)
            if number > arrived:
                return

    def _finished(self, done: asyncio.Future[bool]) -> None:
        if self._inflight is done:
            self._inflight = None
        if not done.cancelled():
            done.exception()  # retrieved: an error reaches the waiters, not the loop's log

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
