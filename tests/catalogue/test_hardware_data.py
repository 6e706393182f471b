"""The shipped hardware catalogue: complete, dense peaks apart from sparse, true to datasheets."""

from __future__ import annotations

import pytest

from service.catalogue import load_seed
from service.schemas.hardware import HardwareCreate

REQUIRED = {
    "v100-16gb", "v100-32gb", "a100-40gb", "a100-80gb", "h100-80gb", "h100-pcie-80gb",
    "h200-141gb", "l4-24gb", "a10g-24gb", "mi250x-128gb", "mi300x-192gb", "tpu-v4", "tpu-v5e",
    "tpu-v5p",
}  # fmt: skip
ENTRIES = {entry["slug"]: entry for entry in load_seed("hardware").entries}
GIB = 2**30


def test_every_required_slug_is_present() -> None:
    assert set(ENTRIES) >= REQUIRED


@pytest.mark.parametrize("slug", sorted(ENTRIES))
def test_entry_is_valid_sourced_and_priced_with_a_date(slug: str) -> None:
    entry = HardwareCreate.model_validate(ENTRIES[slug])
    assert entry.sources
    if entry.price_per_hour_usd is not None:
        assert entry.price_date
        assert entry.price_source
    dense = entry.peak_tflops.model_dump()
    for precision, sparse in entry.sparse_peak_tflops.model_dump().items():
        if sparse is not None:
            # NVIDIA and AMD quote 2:4 structured sparsity at exactly twice the dense rate.
            assert sparse == pytest.approx(2 * dense[precision], rel=1e-3), precision


# Dense peaks from the vendors' datasheets (sparse figures halved where only those are printed).
DATASHEET = [
    ("v100-32gb", 32 * GIB, {"fp16": 125.0, "fp32": 15.7}, "NVIDIA V100 datasheet (SXM2)"),
    ("a100-40gb", 40 * GIB, {"bf16": 312.0, "tf32": 156.0, "fp32": 19.5}, "NVIDIA A100 datasheet"),
    ("a100-80gb", 80 * GIB, {"bf16": 312.0, "int8": 624.0}, "NVIDIA A100 datasheet"),
    ("h100-80gb", 80 * GIB, {"bf16": 989.4, "fp8": 1978.9, "fp32": 67.0}, "NVIDIA H100 SXM"),
    ("mi300x-192gb", 192 * GIB, {"bf16": 1307.4, "fp8": 2614.9}, "AMD Instinct MI300X"),
    ("tpu-v4", 32 * GIB, {"bf16": 275.0}, "Google Cloud TPU v4 documentation"),
    ("tpu-v5p", 95 * GIB, {"bf16": 459.0}, "Google Cloud TPU v5p documentation"),
]


@pytest.mark.parametrize(("slug", "memory", "peaks", "source"), DATASHEET)
def test_datasheet_figures(slug: str, memory: int, peaks: dict[str, float], source: str) -> None:
    entry = ENTRIES[slug]
    assert entry["memory_bytes"] == memory, source
    for precision, value in peaks.items():
        assert entry["peak_tflops"][precision] == pytest.approx(value, rel=1e-3), source


def test_v100_has_no_bf16_tensor_cores() -> None:
    assert ENTRIES["v100-16gb"]["peak_tflops"]["bf16"] is None
