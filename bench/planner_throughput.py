"""Configurations the planner evaluates per second on one core, and the scalar path's rate.

For LLaMA-7B (1T tokens) and LLaMA-2-70B (2T tokens) over A100-80GB, H100-80GB and MI300X-192GB
with ``max_gpus`` 1024 and 4096, time :func:`service.domain.planner.search_plans` end to end (the
vectorised grid, the ranking, and the scalar re-evaluation of the top 20, of each strategy's best
and of the misses), best of ``--repeats`` runs, and divide ``evaluated`` by it. A one-GPU-type row
shows the rate without the memory grid being shared between GPU types. Then time the scalar
reference on a sample of the same configurations: :func:`estimate_memory` plus the time/cost
formula (what the grid computes), and :func:`evaluate_plan` (which also builds the full compute
estimate and every assumption sentence).

Threads are pinned to one before numpy is imported and, on Linux, the process to one CPU::

    .venv/bin/python bench/planner_throughput.py            # ~1 minute
    .venv/bin/python bench/planner_throughput.py --repeats 3 --sample 500
"""

from __future__ import annotations

import os

for _name in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.domain import planner  # noqa: E402
from service.domain.architecture import Architecture  # noqa: E402
from service.domain.hardware import GpuSpec  # noqa: E402
from service.domain.memory import estimate_memory  # noqa: E402
from service.domain.types import Family, PositionEmbedding, Strategy  # noqa: E402

GIB = 2**30
TARGET = 100_000

# Datasheet dense bf16 peaks and the catalogue's prices (service/catalogue/data/hardware.json).
A100 = GpuSpec(
    "a100-80gb", "A100-80GB", 80 * GIB, {"bf16": 312.0, "fp16": 312.0}, price_per_hour_usd=5.12
)
H100 = GpuSpec(
    "h100-80gb", "H100-80GB", 80 * GIB, {"bf16": 989.4, "fp16": 989.4}, price_per_hour_usd=12.29
)
MI300X = GpuSpec(
    "mi300x-192gb",
    "MI300X-192GB",
    192 * GIB,
    {"bf16": 1307.4, "fp16": 1307.4},
    price_per_hour_usd=6.0,
)
GPUS = (A100, H100, MI300X)
LLAMA_7B = Architecture(
    Family.DECODER_ONLY, 32, 4096, 32, 11008, 32000, 2048, tied_embeddings=False, gated_mlp=True,
    position_embedding=PositionEmbedding.ROTARY, bias=False, norm="rmsnorm",
)  # fmt: skip
LLAMA_70B = Architecture(
    Family.DECODER_ONLY, 80, 8192, 64, 28672, 32000, 4096, n_kv_heads=8, tied_embeddings=False,
    gated_mlp=True, position_embedding=PositionEmbedding.ROTARY, bias=False, norm="rmsnorm",
)  # fmt: skip
CASES = (
    ("LLaMA-7B", LLAMA_7B, 1e12, GPUS, 1024),
    ("LLaMA-7B", LLAMA_7B, 1e12, GPUS, 4096),
    ("LLaMA-7B", LLAMA_7B, 1e12, (A100,), 4096),
    ("LLaMA-2-70B", LLAMA_70B, 2e12, GPUS, 1024),
    ("LLaMA-2-70B", LLAMA_70B, 2e12, GPUS, 4096),
)


def pin_to_one_cpu() -> str:
    """Restrict the process to one CPU where the OS allows it."""
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


def best_of(repeats: int, request: planner.PlanRequest) -> tuple[float, planner.PlanResult]:
    best = float("inf")
    result = planner.search_plans(request)
    for _ in range(repeats):
        start = time.perf_counter()
        result = planner.search_plans(request)
        best = min(best, time.perf_counter() - start)
    return best, result


def sample_settings(
    request: planner.PlanRequest, size: int, rng: np.random.Generator
) -> list[planner.PlanSettings]:
    """Random configurations of the search space whose batch fills every data-parallel GPU."""
    r = planner._resolve(request)
    blocks = planner._blocks(r)
    out: list[planner.PlanSettings] = []
    while len(out) < size:
        block = blocks[rng.integers(len(blocks))]
        row, o, b, c = (
            int(i) for i in np.unravel_index(rng.integers(block.size), block.total.shape)
        )
        micro = r.micro_batches[b]
        if micro * int(block.data_parallel[row]) > r.batch_sequences:
            continue
        gpu = r.gpus[rng.integers(len(r.gpus))]
        out.append(
            planner.PlanSettings(
                gpu=gpu.slug,
                gpus=int(block.gpus[row]),
                strategy=block.strategy,
                offload=planner.OFFLOADS[int(block.offload_codes[o])],
                tensor_parallel=int(block.t[row]),
                pipeline_parallel=int(block.p[row]),
                micro_batch_size=micro,
                activation_checkpointing=r.checkpointing[c],
                sharding_factor=8 if block.strategy is Strategy.FSDP_HYBRID_SHARD else None,
            )
        )
    return out


def scalar_rates(request: planner.PlanRequest, size: int) -> tuple[float, float]:
    """(estimate_memory + time/cost, evaluate_plan) configurations per second on a sample."""
    r = planner._resolve(request)
    settings = sample_settings(request, size, np.random.default_rng(0))
    start = time.perf_counter()
    for s in settings:
        gpu = r.catalogue[s.gpu]
        memory = estimate_memory(
            replace(
                r.template,
                strategy=s.strategy,
                gpus=s.gpus,
                sharding_factor=s.sharding_factor,
                offload=s.offload,
                tensor_parallel=s.tensor_parallel,
                pipeline_parallel=s.pipeline_parallel,
                micro_batch_size=s.micro_batch_size,
                activation_checkpointing=s.activation_checkpointing,
                gpu_memory_bytes=gpu.memory_bytes,
            )
        )
        m = r.batch_sequences // (s.micro_batch_size * memory.resolved.data_parallel)
        planner._timing(r, gpu, s.activation_checkpointing, s.pipeline_parallel, m, s.gpus)
    memory_rate = size / (time.perf_counter() - start)
    start = time.perf_counter()
    for s in settings:
        planner.evaluate_plan(request, s)
    full_rate = size / (time.perf_counter() - start)
    return memory_rate, full_rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case (best kept)")
    parser.add_argument(
        "--sample", type=int, default=2000, help="configurations for the scalar path"
    )
    args = parser.parse_args()
    pinning = pin_to_one_cpu()
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, "
        f"{pinning}, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, best of {args.repeats}\n"
    )
    print("| model | GPU types | max_gpus | evaluated | feasible | best time | configs/s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    slowest = float("inf")
    for name, arch, tokens, gpus, max_gpus in CASES:
        request = planner.PlanRequest(
            tokens=tokens, gpu_types=gpus, max_gpus=max_gpus, architecture=arch
        )
        seconds, result = best_of(args.repeats, request)
        rate = result.evaluated / seconds
        slowest = min(slowest, rate)
        types = ", ".join(gpu.slug for gpu in gpus)
        print(
            f"| {name} | {types} | {max_gpus} | {result.evaluated:,} | {result.feasible_count:,} | "
            f"{seconds * 1000:.1f} ms | {rate:,.0f} |"
        )
    request = planner.PlanRequest(tokens=1e12, gpu_types=GPUS, max_gpus=4096, architecture=LLAMA_7B)
    memory_rate, full_rate = scalar_rates(request, args.sample)
    print(
        f"\nScalar reference on {args.sample} sampled LLaMA-7B configurations: "
        f"estimate_memory + time/cost {memory_rate:,.0f} configs/s, "
        f"evaluate_plan (full estimates) {full_rate:,.0f} configs/s."
    )
    print(
        f"Slowest search {slowest:,.0f} configs/s = {slowest / memory_rate:,.0f}x the scalar "
        f"memory + time path; target {TARGET:,}: {'met' if slowest >= TARGET else 'NOT met'}."
    )
    return 0 if slowest >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
