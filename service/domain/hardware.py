"""Accelerator specifications, as the estimates need them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class GpuSpec:
    """One accelerator: memory, dense peak throughput by precision, bandwidths, power, price.

    ``peak_tflops`` holds *dense* peaks keyed by ``fp32``, ``tf32``, ``fp16``, ``bf16``, ``fp8``,
    ``int8`` (TFLOP/s, or TOP/s for int8); structured-sparsity peaks live in
    ``sparse_peak_tflops`` and are never used by an estimate unless asked for by name.
    """

    slug: str
    name: str
    memory_bytes: int
    peak_tflops: Mapping[str, float]
    sparse_peak_tflops: Mapping[str, float] = field(default_factory=dict)
    memory_bandwidth_gbps: float | None = None
    interconnect_bandwidth_gbps: float | None = None
    power_watts: float | None = None
    price_per_hour_usd: float | None = None
