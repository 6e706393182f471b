"""Wire contracts of the hardware catalogue."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.config import JsonDict

from service.schemas.common import PageQuery
from service.schemas.fields import FiniteFloat, LongText, ShortText, Slug, Source

Tflops = Annotated[FiniteFloat, Field(gt=0, le=1e6)]
PriceDate = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}(-\d{2})?$")]
#: ``hardware.vendor`` and ``.form_factor`` are VARCHAR(64); longer would be a 500 on PostgreSQL.
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class HardwareKind(StrEnum):
    GPU = "gpu"
    TPU = "tpu"
    ACCELERATOR = "accelerator"


class PeakTflops(BaseModel):
    """Dense peak throughput in TFLOP/s (TOP/s for int8); null where the part has no such mode."""

    model_config = ConfigDict(extra="forbid")

    fp32: Tflops | None = None
    tf32: Tflops | None = None
    fp16: Tflops | None = None
    bf16: Tflops | None = None
    fp8: Tflops | None = None
    int8: Tflops | None = None


class SparsePeakTflops(BaseModel):
    """2:4 structured-sparsity peaks, kept apart: no estimate uses them unless asked by name."""

    model_config = ConfigDict(extra="forbid")

    tf32: Tflops | None = None
    fp16: Tflops | None = None
    bf16: Tflops | None = None
    fp8: Tflops | None = None
    int8: Tflops | None = None


_EXAMPLE_BODY: JsonDict = {
    "name": "NVIDIA B200 192GB",
    "vendor": "NVIDIA",
    "kind": "gpu",
    "memory_bytes": 206158430208,
    "peak_tflops": {"bf16": 2250.0, "fp16": 2250.0, "fp8": 4500.0},
    "sources": ["NVIDIA DGX B200 datasheet (per-GPU dense figures)"],
}
_EXAMPLE: JsonDict = {"slug": "b200-192gb", **_EXAMPLE_BODY}


class _HardwareFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ShortText
    vendor: Label
    kind: HardwareKind = HardwareKind.GPU
    form_factor: Label | None = None
    memory_bytes: int = Field(gt=0, le=2**50, description="Device memory in bytes.")
    peak_tflops: PeakTflops
    sparse_peak_tflops: SparsePeakTflops = Field(default_factory=SparsePeakTflops)
    memory_bandwidth_gbps: Annotated[FiniteFloat, Field(gt=0, le=1e6)] | None = None
    interconnect_bandwidth_gbps: Annotated[FiniteFloat, Field(gt=0, le=1e6)] | None = None
    power_watts: Annotated[FiniteFloat, Field(gt=0, le=1e5)] | None = None
    price_per_hour_usd: Annotated[FiniteFloat, Field(gt=0, le=1e4)] | None = None
    price_date: PriceDate | None = None
    price_source: LongText | None = None
    sources: list[Source] = Field(default_factory=list, max_length=100)
    notes: Annotated[str, StringConstraints(max_length=8000)] | None = None

    @model_validator(mode="after")
    def _has_a_peak(self) -> Self:
        if all(value is None for value in self.peak_tflops.model_dump().values()):
            raise ValueError("peak_tflops needs at least one dense peak")
        return self


class HardwareCreate(_HardwareFields):
    """Body of ``POST /v1/hardware``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    slug: Slug


class HardwareReplace(_HardwareFields):
    """Body of ``PUT /v1/hardware/{slug}``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [_EXAMPLE_BODY]},
    )


class HardwarePatch(BaseModel):
    """Body of ``PATCH /v1/hardware/{slug}``: only the given fields change."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"price_per_hour_usd": 3.2, "price_date": "2026-11", "price_source": "x"}]
        },
    )

    name: ShortText | None = None
    vendor: Label | None = None
    kind: HardwareKind | None = None
    form_factor: Label | None = None
    memory_bytes: int | None = Field(default=None, gt=0, le=2**50)
    peak_tflops: PeakTflops | None = None
    sparse_peak_tflops: SparsePeakTflops | None = None
    memory_bandwidth_gbps: Annotated[FiniteFloat, Field(gt=0, le=1e6)] | None = None
    interconnect_bandwidth_gbps: Annotated[FiniteFloat, Field(gt=0, le=1e6)] | None = None
    power_watts: Annotated[FiniteFloat, Field(gt=0, le=1e5)] | None = None
    price_per_hour_usd: Annotated[FiniteFloat, Field(gt=0, le=1e4)] | None = None
    price_date: PriceDate | None = None
    price_source: LongText | None = None
    sources: list[Source] | None = Field(default=None, max_length=100)
    notes: Annotated[str, StringConstraints(max_length=8000)] | None = None


class PetaflopDay(BaseModel):
    """What "a petaflop/s-day is 8 V100s or 2 A100s for a day" is true of, for this accelerator."""

    precision: str
    dense_peak_tflops: float
    gpus_per_petaflop_s: float = Field(description="At the dense peak, 100% utilisation.")
    sparse_peak_tflops: float | None
    gpus_per_petaflop_s_sparse: float | None = Field(
        description="At the 2:4 structured-sparsity peak, which dense training never reaches."
    )
    statement: str


class HardwareRead(_HardwareFields):
    """An accelerator as served."""

    slug: Slug
    petaflop_s_day: PetaflopDay | None = Field(
        default=None, description="How many of this accelerator make 1 PF/s (1 PF/s-day a day)."
    )
    origin: str
    version: int
    created_at: datetime
    updated_at: datetime


class HardwareSort(StrEnum):
    SLUG = "slug"
    SLUG_DESC = "-slug"
    MEMORY = "memory_bytes"
    MEMORY_DESC = "-memory_bytes"
    PRICE = "price_per_hour_usd"
    PRICE_DESC = "-price_per_hour_usd"


class HardwareQuery(PageQuery):
    """The query string of ``GET /v1/hardware``."""

    vendor: str | None = Field(default=None, max_length=64, examples=["NVIDIA"])
    kind: HardwareKind | None = None
    min_memory_bytes: int | None = Field(default=None, ge=1, le=2**50)
    sort: HardwareSort = HardwareSort.SLUG
