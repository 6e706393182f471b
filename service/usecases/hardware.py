"""Hardware catalogue use-cases, and the bridge from a stored accelerator to the core's GpuSpec."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from service.domain.compute import petaflop_s_day_equivalents
from service.domain.hardware import GpuSpec
from service.domain.types import Precision
from service.persistence.repositories import HardwareRepository
from service.persistence.tables import HardwareRow
from service.schemas.hardware import HardwareCreate, HardwareRead, HardwareReplace, PetaflopDay
from service.usecases.catalogue import Catalogue
from service.usecases.errors import InvalidRequest

if TYPE_CHECKING:
    from service.usecases.catalogue_cache import CatalogueSnapshot

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


def petaflop_s_day(gpu: GpuSpec) -> PetaflopDay | None:
    """The course's petaflop/s-day equivalence, at the 16-bit dense peak (fp16, else bf16)."""
    for precision in (Precision.FP16, Precision.BF16):
        if precision.value in gpu.peak_tflops:
            equivalence = petaflop_s_day_equivalents(gpu, precision)
            return PetaflopDay(
                precision=equivalence.precision,
                dense_peak_tflops=equivalence.dense_peak_tflops,
                gpus_per_petaflop_s=equivalence.gpus_per_petaflop_s,
                sparse_peak_tflops=equivalence.sparse_peak_tflops,
                gpus_per_petaflop_s_sparse=equivalence.gpus_per_petaflop_s_sparse,
                statement=equivalence.statement,
            )
    return None


def to_read(row: HardwareRow) -> HardwareRead:
    """Map a row to its wire form."""
    return HardwareRead.model_validate(
        {
            "slug": row.slug,
            **{name: getattr(row, name) for name in COLUMNS},
            "petaflop_s_day": petaflop_s_day(to_gpu_spec(row)),
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


@dataclass(frozen=True, slots=True)
class HardwareFilter:
    """Filters of the hardware listing; ``None`` means no filter."""

    vendor: str | None = None
    kind: str | None = None
    min_memory_bytes: int | None = None


def list_hardware(
    snapshot: CatalogueSnapshot, filters: HardwareFilter, *, sort: str, limit: int, offset: int
) -> tuple[bytes, int]:
    """A page of the hardware catalogue as JSON (a ``Page[HardwareRead]``) and the number of
    matches; ``vendor`` is compared case-insensitively."""
    vendor = filters.vendor.casefold() if filters.vendor is not None else None

    def keep(item: HardwareRead) -> bool:
        return (
            (vendor is None or item.vendor.casefold() == vendor)
            and (filters.kind is None or item.kind == filters.kind)
            and (filters.min_memory_bytes is None or item.memory_bytes >= filters.min_memory_bytes)
        )

    return snapshot.hardware_table.page(keep, sort=sort, limit=limit, offset=offset)


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
    """The accelerator a request names; an unknown slug is a 422 naming the request field."""
    row = HardwareRepository(session).get(slug)
    if row is None:
        raise InvalidRequest(
            f"No accelerator with slug '{slug}' in the hardware catalogue.", field=field
        )
    return to_gpu_spec(row)
