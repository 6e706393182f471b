"""Hardware catalogue use-cases, and the bridge from a stored accelerator to the core's GpuSpec."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.domain.hardware import GpuSpec
from service.persistence.repositories import HardwareFilter, HardwareRepository
from service.persistence.tables import HardwareRow
from service.schemas.common import Page
from service.schemas.hardware import HardwareCreate, HardwareRead, HardwareReplace
from service.usecases.catalogue import Catalogue
from service.usecases.errors import NotFound

COLUMNS = (
    "name",
    "vendor",
    "kind",
    "form_factor",
    "memory_bytes",
    "peak_tflops",
    "sparse_peak_tflops",
    "memory_bandwidth_gbps",
    "interconnect_bandwidth_gbps",
    "power_watts",
    "price_per_hour_usd",
    "price_date",
    "price_source",
    "sources",
    "notes",
)


def to_read(row: HardwareRow) -> HardwareRead:
    """Map a row to its wire form."""
    return HardwareRead.model_validate(
        {
            "slug": row.slug,
            **{name: getattr(row, name) for name in COLUMNS},
            "origin": row.origin,
            "version": row.version,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )


HARDWARE: Catalogue[HardwareRow, HardwareRead] = Catalogue(
    kind="hardware",
    noun="accelerator",
    row=HardwareRow,
    columns=COLUMNS,
    to_read=to_read,
    create_schema=HardwareCreate,
    replace_schema=HardwareReplace,
)


def list_hardware(
    session: Session, filters: HardwareFilter, *, sort: str, limit: int, offset: int
) -> Page[HardwareRead]:
    """A page of the hardware catalogue."""
    rows, total = HardwareRepository(session).list(filters, sort=sort, limit=limit, offset=offset)
    items = [to_read(row) for row in rows]
    return Page[HardwareRead](items=items, total=total, limit=limit, offset=offset)


def to_gpu_spec(row: HardwareRow) -> GpuSpec:
    """The core's view of a stored accelerator (dense peaks only; sparse kept apart)."""
    return GpuSpec(
        slug=row.slug,
        name=row.name,
        memory_bytes=row.memory_bytes,
        peak_tflops={k: float(v) for k, v in row.peak_tflops.items() if v is not None},
        sparse_peak_tflops={
            k: float(v) for k, v in row.sparse_peak_tflops.items() if v is not None
        },
        memory_bandwidth_gbps=row.memory_bandwidth_gbps,
        interconnect_bandwidth_gbps=row.interconnect_bandwidth_gbps,
        power_watts=row.power_watts,
        price_per_hour_usd=row.price_per_hour_usd,
    )


def gpu_spec(session: Session, slug: str, *, field: str = "body.gpu") -> GpuSpec:
    """The accelerator named in a request, or 404 naming the request field."""
    row = HardwareRepository(session).get(slug)
    if row is None:
        raise NotFound(f"No accelerator with slug '{slug}' in the hardware catalogue.", field=field)
    return to_gpu_spec(row)
