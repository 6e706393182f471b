"""The planner: vector/scalar agreement, the LLaMA-7B plan, objectives, limits, misses, errors."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain import planner as planner_module
from service.domain.architecture import Architecture, count_parameters
from service.domain.errors import InvalidInputError
from service.domain.hardware import GpuSpec
from service.domain.memory import MemoryConfig, Mode, estimate_memory
from service.domain.planner import (
    CHECKPOINTINGS,
    OFFLOAD_SUPPORT,
    OFFLOADS,
    REASONS,
    STRATEGIES,
    ConfigArrays,
    PlanCandidate,
    PlanObjective,
    PlanRequest,
    PlanResult,
    PlanSettings,
    evaluate_plan,
    explain_strategies,
    gpu_counts,
    memory_arrays,
    pipeline_degrees,
    search_plans,
    tensor_degrees,
)
from service.domain.types import (
    Attention,
    Checkpointing,
    Convention,
    Family,
    Offload,
    Optimizer,
    PositionEmbedding,
    Precision,
    Strategy,
)

GIB = 2**30
GB = 1e9

# LLaMA-7B (Touvron et al. 2023, Table 2): 32 layers, d_model 4096, 32 heads, SwiGLU d_ff 11008,
# 32,000-token vocabulary, 2048-token context, untied head, RMSNorm, no biases.
LLAMA_7B = Architecture(
    Family.DECODER_ONLY,
    32,
    4096,
    32,
    11008,
    32000,
    2048,
    tied_embeddings=False,
    gated_mlp=True,
    position_embedding=PositionEmbedding.ROTARY,
    bias=False,
    norm="rmsnorm",
)
# LLaMA-2-70B (Touvron et al. 2023b, Table 1): 80 layers, 8192, 64 heads, 8 KV heads (GQA).
LLAMA_70B = Architecture(
    Family.DECODER_ONLY,
    80,
    8192,
    64,
    28672,
    32000,
    4096,
    n_kv_heads=8,
    tied_embeddings=False,
    gated_mlp=True,
    position_embedding=PositionEmbedding.ROTARY,
    bias=False,
    norm="rmsnorm",
)
T5_LIKE = Architecture(
    Family.ENCODER_DECODER,
    12,
    512,
    8,
    1024,
    32128,
    512,
    n_encoder_layers=6,
    n_decoder_layers=6,
    gated_mlp=True,
    position_embedding=PositionEmbedding.RELATIVE_BIAS,
)
MOE = Architecture(
    Family.DECODER_ONLY,
    8,
    1024,
    16,
    2816,
    32000,
    1024,
    n_kv_heads=4,
    gated_mlp=True,
    n_experts=8,
    experts_per_token=2,
    position_embedding=PositionEmbedding.ROTARY,
)
GPT_LIKE = Architecture(Family.DECODER_ONLY, 12, 768, 12, 3072, 50257, 1024)
BERT_LIKE = Architecture(Family.ENCODER_ONLY, 6, 512, 8, 2048, 30522, 512)

A100 = GpuSpec("a100-80gb", "A100-80GB", 80 * GIB, {"bf16": 312.0, "fp16": 312.0, "fp32": 19.5},
               price_per_hour_usd=5.12)  # fmt: skip
H100 = GpuSpec("h100-80gb", "H100-80GB", 80 * GIB, {"bf16": 989.4, "fp16": 989.4},
               price_per_hour_usd=12.29)  # fmt: skip
MI300X = GpuSpec("mi300x-192gb", "MI300X-192GB", 192 * GIB, {"bf16": 1307.4, "fp16": 1307.4},
                 price_per_hour_usd=6.0)  # fmt: skip
V100 = GpuSpec("v100-32gb", "V100-32GB", 32 * GIB, {"fp16": 125.0, "fp32": 15.7})
BIG_FP16 = GpuSpec("big-fp16", "Big fp16-only", 180 * GIB, {"fp16": 100.0})
UNPRICED = GpuSpec("h200-141gb", "H200-141GB", 141 * GIB, {"bf16": 989.4, "fp16": 989.4})

LLAMA_7B_PARAMETERS = count_parameters(LLAMA_7B).total


def llama_request(**kw: Any) -> PlanRequest:
    base: dict[str, Any] = {
        "tokens": 1e12,
        "gpu_types": (A100,),
        "max_gpus": 64,
        "architecture": LLAMA_7B,
    }
    base.update(kw)
    return PlanRequest(**base)


@pytest.fixture(scope="module")
def llama() -> PlanResult:
    return search_plans(llama_request())


def finite(candidate: PlanCandidate) -> bool:
    numbers = [
        candidate.memory_fraction,
        candidate.pipeline_bubble,
        candidate.effective_mfu,
        candidate.gpu_hours,
        candidate.wall_clock_days,
        candidate.tokens_per_second,
        candidate.compute.wall_clock_days,
    ]
    if candidate.cost_usd is not None:
        numbers.append(candidate.cost_usd)
    return all(math.isfinite(x) for x in numbers)


# --- the vectorised twin of estimate_memory ----------------------------------------------------


def random_configs(
    template: MemoryConfig, rng: np.random.Generator, count: int
) -> tuple[list[MemoryConfig], ConfigArrays]:
    """``count`` random configurations ``estimate_memory`` accepts, as configs and arrays."""
    kept: list[MemoryConfig] = []
    rows: list[tuple[int, ...]] = []
    while len(kept) < count:
        strategy = STRATEGIES[rng.integers(len(STRATEGIES))]
        t = int(rng.choice([1, 2, 4, 8]))
        p = int(rng.choice([1, 2, 3, 4, 5, 8]))
        dp = int(rng.choice([1, 2, 3, 4, 8, 16]))
        gpus = 1 if strategy is Strategy.SINGLE else t * p * dp
        if strategy is Strategy.SINGLE:
            t = p = 1
        factor = None
        if strategy is Strategy.FSDP_HYBRID_SHARD:
            factor = int(rng.choice([d for d in range(1, dp + 1) if dp % d == 0]))
        config = replace(
            template,
            strategy=strategy,
            gpus=gpus,
            sharding_factor=factor,
            offload=OFFLOADS[rng.integers(len(OFFLOADS))],
            tensor_parallel=t,
            pipeline_parallel=p,
            micro_batch_size=int(rng.choice([1, 2, 3, 4, 8, 32])),
            activation_checkpointing=CHECKPOINTINGS[rng.integers(len(CHECKPOINTINGS))],
        )
        try:
            estimate_memory(config)
        except InvalidInputError:
            continue
        kept.append(config)
        rows.append(
            (
                gpus,
                STRATEGIES.index(strategy),
                OFFLOADS.index(config.offload),
                t,
                p,
                config.micro_batch_size,
                CHECKPOINTINGS.index(config.activation_checkpointing),
                factor or 0,
            )
        )
    columns = np.asarray(rows, dtype=np.int64).T
    return kept, ConfigArrays(*columns)


def assert_agree(template: MemoryConfig, configs: list[MemoryConfig], arrays: ConfigArrays) -> None:
    vector = memory_arrays(template, arrays)
    for i, config in enumerate(configs):
        scalar = estimate_memory(config)
        g = scalar.per_gpu
        got = (
            vector.weights_bytes[i],
            vector.gradients_bytes[i],
            vector.optimizer_states_bytes[i],
            vector.model_states_bytes[i],
            vector.activations_bytes[i],
            vector.overhead_bytes[i],
            vector.total_bytes[i],
        )
        expected = (
            g.weights_bytes,
            g.gradients_bytes,
            g.optimizer_states_bytes,
            g.model_states_bytes,
            g.activations_bytes,
            g.overhead_bytes,
            g.total_bytes,
        )
        assert tuple(int(x) for x in got) == expected, config
        if vector.fits is not None:
            assert bool(vector.fits[i]) == scalar.fits
            assert vector.usable_gpu_memory_bytes == scalar.usable_gpu_memory_bytes


TEMPLATES = {
    "llama-7b": MemoryConfig(
        parameters=LLAMA_7B_PARAMETERS, architecture=LLAMA_7B, gpu_memory_bytes=80 * GIB
    ),
    "llama-70b-gqa-sequence-parallel-no-dropout": MemoryConfig(
        parameters=count_parameters(LLAMA_70B).total,
        architecture=LLAMA_70B,
        sequence_parallel=True,
        dropout=False,
        sequence_length=4096,
    ),
    "t5-eager-fp32-adam": MemoryConfig(
        parameters=count_parameters(T5_LIKE).total,
        architecture=T5_LIKE,
        attention=Attention.EAGER,
        precision=Precision.FP32,
        optimizer=Optimizer.ADAM,
        gpu_memory_bytes=16 * GIB,
        headroom=0.2,
    ),
    "moe-megatron-8bit": MemoryConfig(
        parameters=count_parameters(MOE).total,
        architecture=MOE,
        convention=Convention.MEGATRON,
        optimizer=Optimizer.ADAMW_8BIT,
        sequence_parallel=True,
        attention=Attention.EAGER,
    ),
    "gpt-adafactor-bf16": MemoryConfig(
        parameters=count_parameters(GPT_LIKE).total,
        architecture=GPT_LIKE,
        optimizer=Optimizer.ADAFACTOR,
        precision=Precision.BF16,
        framework_overhead_bytes=0,
    ),
    "bert-sgd-momentum-fp16": MemoryConfig(
        parameters=count_parameters(BERT_LIKE).total,
        architecture=BERT_LIKE,
        optimizer=Optimizer.SGD_MOMENTUM,
        precision=Precision.MIXED_FP16,
        sequence_length=128,
    ),
    "derived-1.3b-sgd": MemoryConfig(
        parameters=1_300_000_000, optimizer=Optimizer.SGD, sequence_length=4096
    ),
}


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_memory_arrays_agree_with_estimate_memory(name: str) -> None:
    """1,000 random configurations per model (7,000 in all) give the scalar bytes exactly."""
    template = TEMPLATES[name]
    rng = np.random.default_rng(sorted(TEMPLATES).index(name))
    configs, arrays = random_configs(template, rng, 1000)
    assert_agree(template, configs, arrays)


@settings(max_examples=25, deadline=None)
@given(
    n_layers=st.integers(1, 48),
    heads=st.sampled_from([1, 2, 4, 8, 16, 32]),
    head_dim=st.sampled_from([16, 64, 128]),
    kv_divisor=st.sampled_from([1, 2, 4]),
    d_ff=st.integers(1, 20_000),
    vocab=st.integers(1, 200_000),
    gated=st.booleans(),
    dropout=st.booleans(),
    sequence_parallel=st.booleans(),
    eager=st.booleans(),
    sequence=st.integers(1, 8192),
    seed=st.integers(0, 2**32 - 1),
)
def test_memory_arrays_agree_on_random_architectures(
    n_layers: int,
    heads: int,
    head_dim: int,
    kv_divisor: int,
    d_ff: int,
    vocab: int,
    gated: bool,
    dropout: bool,
    sequence_parallel: bool,
    eager: bool,
    sequence: int,
    seed: int,
) -> None:
    arch = Architecture(
        Family.DECODER_ONLY,
        n_layers,
        heads * head_dim,
        heads,
        d_ff,
        vocab,
        sequence,
        n_kv_heads=max(1, heads // kv_divisor),
        gated_mlp=gated,
    )
    template = MemoryConfig(
        parameters=count_parameters(arch).total,
        architecture=arch,
        dropout=dropout,
        sequence_parallel=sequence_parallel,
        attention=Attention.EAGER if eager else Attention.FLASH,
        gpu_memory_bytes=40 * GIB,
    )
    configs, arrays = random_configs(template, np.random.default_rng(seed), 30)
    assert_agree(template, configs, arrays)


def one_row(**kw: int) -> ConfigArrays:
    row = {
        "gpus": 8,
        "strategy": STRATEGIES.index(Strategy.ZERO_3),
        "offload": 0,
        "tensor_parallel": 1,
        "pipeline_parallel": 1,
        "micro_batch_size": 1,
        "checkpointing": 0,
        "sharding_factor": 0,
    }
    row.update(kw)
    return ConfigArrays(**{k: np.asarray([v], dtype=np.int64) for k, v in row.items()})


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"strategy": 99}, "configs.strategy"),
        ({"offload": -1}, "configs.offload"),
        ({"checkpointing": 3}, "configs.checkpointing"),
        ({"micro_batch_size": 0}, "configs.micro_batch_size"),
        ({"gpus": 6, "tensor_parallel": 4}, "configs.gpus"),
        (
            {"strategy": STRATEGIES.index(Strategy.FSDP_HYBRID_SHARD), "sharding_factor": 3},
            "configs.sharding_factor",
        ),
        (
            {"strategy": STRATEGIES.index(Strategy.FSDP_HYBRID_SHARD), "sharding_factor": 0},
            "configs.sharding_factor",
        ),
        ({"sharding_factor": 2}, "configs.sharding_factor"),
        ({"strategy": STRATEGIES.index(Strategy.SINGLE)}, "configs.gpus"),
        ({"tensor_parallel": 8, "gpus": 8, "strategy": 1}, "configs.tensor_parallel"),
        ({"pipeline_parallel": 64, "gpus": 64}, "configs.tensor_parallel"),
    ],
)
def test_memory_arrays_reject_invalid_rows(row: dict[str, int], field: str) -> None:
    arch = replace(GPT_LIKE, n_heads=12)  # 12 heads: t = 8 does not divide them
    template = MemoryConfig(parameters=10**8, architecture=arch)
    with pytest.raises(InvalidInputError) as error:
        memory_arrays(template, one_row(**row))
    assert error.value.field == field


def test_memory_arrays_check_shapes_and_mode() -> None:
    template = MemoryConfig(parameters=10**8)
    arrays = one_row()
    ragged = replace(arrays, offload=np.zeros(2, dtype=np.int64))
    with pytest.raises(InvalidInputError, match="1-D array") as error:
        memory_arrays(template, ragged)
    assert error.value.field == "configs.offload"
    with pytest.raises(InvalidInputError) as error:
        memory_arrays(replace(template, mode=Mode.INFERENCE), arrays)
    assert error.value.field == "mode"
    with pytest.raises(InvalidInputError) as error:
        memory_arrays(replace(template, precision=Precision.INT8), arrays)
    assert error.value.field == "precision"


def test_memory_arrays_without_capacity_and_derived_shapes_unchecked() -> None:
    """Without a GPU size there is no fit; a derived shape is not checked against t (as
    estimate_memory does not)."""
    template = MemoryConfig(parameters=10**9)
    arrays = one_row(tensor_parallel=8, gpus=8, strategy=STRATEGIES.index(Strategy.DDP))
    vector = memory_arrays(template, arrays)
    assert vector.fits is None
    assert vector.usable_gpu_memory_bytes is None
    scalar = estimate_memory(replace(template, strategy=Strategy.DDP, gpus=8, tensor_parallel=8))
    assert int(vector.total_bytes[0]) == scalar.per_gpu.total_bytes


# --- the search's grids against the scalar path ------------------------------------------------


SEARCH_CASES = {
    "llama-7b": {"architecture": LLAMA_7B},
    "llama-70b-sp": {
        "architecture": LLAMA_70B,
        "sequence_parallel": True,
        "dropout": False,
        "tokens": 2e12,
    },
    "t5-eager": {
        "architecture": T5_LIKE,
        "attention": Attention.EAGER,
        "global_batch_tokens": 512 * 1024,
        "include_attention_flops": True,
    },
    "derived-fp32": {"architecture": None, "parameters": 1_300_000_000, "precision": "fp32"},
}


@pytest.mark.parametrize("name", sorted(SEARCH_CASES))
def test_search_grids_agree_with_the_scalar_path(name: str) -> None:
    """Sampled grid entries have the scalar bytes; every ranked pick the scalar cost and days."""
    request = llama_request(gpu_types=(A100, V100), max_gpus=128, top_k=100, **SEARCH_CASES[name])
    r = planner_module._resolve(request)
    rng = np.random.default_rng(7)
    checked = 0
    for block in planner_module._blocks(r):
        sample = rng.choice(block.size, size=min(60, block.size), replace=False)
        for flat in sample:
            row, o, b, c = (int(i) for i in np.unravel_index(flat, block.total.shape))
            settings_ = PlanSettings(
                gpu="v100-32gb",
                gpus=int(block.gpus[row]),
                strategy=block.strategy,
                offload=OFFLOADS[int(block.offload_codes[o])],
                tensor_parallel=int(block.t[row]),
                pipeline_parallel=int(block.p[row]),
                micro_batch_size=r.micro_batches[b],
                activation_checkpointing=r.checkpointing[c],
                sharding_factor=8 if block.strategy is Strategy.FSDP_HYBRID_SHARD else None,
            )
            data_parallel = settings_.gpus // (
                settings_.tensor_parallel * settings_.pipeline_parallel
            )
            if settings_.micro_batch_size * data_parallel > r.batch_sequences:
                continue  # the batch cannot give every data-parallel GPU a micro-batch
            candidate = evaluate_plan(request, settings_)
            assert candidate.per_gpu.total_bytes == block.total[row, o, b, c]
            checked += 1
        for gpu in r.gpus:
            tally = planner_module._Tally()
            counts = dict.fromkeys(REASONS, 0)
            for pick in planner_module._search_block(r, gpu, block, 0, tally, counts):
                candidate = evaluate_plan(request, pick.settings)
                assert candidate.feasible
                cost = math.inf if candidate.cost_usd is None else candidate.cost_usd
                by_objective = (cost, candidate.wall_clock_days, float(candidate.settings.gpus))
                assert pick.key[:3] == by_objective
                assert pick.key[-2] == candidate.per_gpu.total_bytes
                checked += 1
    assert checked > 500


def test_lex_smallest_matches_a_full_sort() -> None:
    rng = np.random.default_rng(3)
    columns = [rng.integers(0, 3, 2000), rng.integers(0, 4, 2000), rng.random(2000).round(1)]
    keys = [lambda idx, col=col: col[idx] for col in columns]  # type: ignore[misc]
    idx = np.arange(2000, dtype=np.int64)
    full = idx[np.lexsort([idx, *reversed(columns)])]
    for k in (1, 7, 50, 1999, 2000, 5000):
        got = planner_module._lex_smallest(keys, idx, k)
        assert got.tolist() == full[:k].tolist()
    assert planner_module._lex_smallest([], idx[::-1].copy(), 3).tolist() == [0, 1, 2]


# --- LLaMA-7B on A100-80GB ---------------------------------------------------------------------


def test_llama_7b_counts_and_sanity(llama: PlanResult) -> None:
    assert LLAMA_7B_PARAMETERS == 6_738_415_616
    assert llama.gpu_counts == (1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 64)
    assert llama.evaluated == 27_774
    assert 0 < llama.feasible_count < llama.evaluated
    assert len(llama.feasible) == 20
    assert llama.nearest_misses == ()  # something fits
    assert set(llama.infeasible_counts) == set(REASONS)
    assert all(finite(c) for c in llama.feasible)
    assert all(c.feasible and c.fits and not c.reasons for c in llama.feasible)
    assert any("overlap perfectly" in a for a in llama.assumptions)


def test_llama_7b_ddp_never_fits_without_model_parallelism(llama: PlanResult) -> None:
    """16 bytes/parameter x 6.74B = 107.8 GB of replicated model states > 77.3 GB usable."""
    verdict = next(v for v in llama.per_strategy if v.strategy is Strategy.DDP)
    for phrase in ("16 bytes/parameter", "6.74B", "107.8 GB", "77.3 GB usable", "GPU count"):
        assert phrase in verdict.sentence
    ddp_only = search_plans(llama_request(strategies=(Strategy.DDP,), top_k=1000))
    assert 0 < ddp_only.feasible_count <= 1000
    assert all(
        c.settings.tensor_parallel * c.settings.pipeline_parallel >= 2 for c in ddp_only.feasible
    )
    # Every pure-data-parallel DDP configuration misses (the states alone are 107.8 GB).
    for gpus in (2, 8, 64):
        candidate = evaluate_plan(
            llama_request(),
            PlanSettings(
                "a100-80gb", gpus, Strategy.DDP, Offload.NONE, 1, 1, 1, Checkpointing.FULL
            ),
        )
        assert not candidate.fits
        assert candidate.per_gpu.model_states_bytes == 16 * LLAMA_7B_PARAMETERS
    assert verdict.fits
    assert verdict.best is not None
    assert verdict.best.settings.tensor_parallel * verdict.best.settings.pipeline_parallel >= 2
    assert "With model parallelism it fits" in verdict.sentence


@pytest.mark.parametrize("strategy", [Strategy.ZERO_3, Strategy.FSDP_FULL_SHARD])
@pytest.mark.parametrize("gpus", [8, 16, 64])
def test_llama_7b_full_sharding_fits_from_one_node(strategy: Strategy, gpus: int) -> None:
    candidate = evaluate_plan(
        llama_request(),
        PlanSettings("a100-80gb", gpus, strategy, Offload.NONE, 1, 1, 1, Checkpointing.NONE),
    )
    assert candidate.feasible
    assert candidate.per_gpu.model_states_bytes == pytest.approx(16 * LLAMA_7B_PARAMETERS / gpus)


def test_llama_7b_cheapest_plans_are_what_an_engineer_picks(llama: PlanResult) -> None:
    """Pure data parallelism over all 64 GPUs with gradient+optimizer sharding, no tensor or
    pipeline parallelism, no offload, no recomputation, the largest micro-batch that fits."""
    top = llama.feasible[0]
    s = top.settings
    assert (s.gpus, s.tensor_parallel, s.pipeline_parallel) == (64, 1, 1)
    assert s.strategy is Strategy.ZERO_2
    assert (s.offload, s.activation_checkpointing, s.micro_batch_size) == (
        Offload.NONE,
        Checkpointing.NONE,
        4,
    )
    assert top.data_parallel == 64
    assert top.micro_batches == 8
    assert top.pipeline_bubble == 0.0
    assert top.effective_mfu == pytest.approx(0.40)
    # 6 x 6.74e9 x 1e12 FLOPs at 40% of 312 TFLOP/s: 89,990 GPU-hours, $460,746, 58.6 days.
    gpu_hours = 6 * LLAMA_7B_PARAMETERS * 1e12 / (0.4 * 312e12) / 3600
    assert top.gpu_hours == pytest.approx(gpu_hours)
    assert top.cost_usd == pytest.approx(gpu_hours * 5.12)
    assert top.wall_clock_days == pytest.approx(gpu_hours / 64 / 24)
    assert top.compute.wall_clock_days == pytest.approx(top.wall_clock_days, rel=1e-12)
    assert top.per_gpu.total_bytes == top.memory.per_gpu.total_bytes
    assert 54e9 < top.per_gpu.total_bytes < 55e9
    # The first five: sharded data parallelism at 64 GPUs, t = p = 1, nothing recomputed.
    for candidate in llama.feasible[:5]:
        s = candidate.settings
        assert s.strategy in {Strategy.ZERO_1, Strategy.ZERO_2, Strategy.FSDP_SHARD_GRAD_OP}
        assert (s.gpus, s.tensor_parallel, s.pipeline_parallel) == (64, 1, 1)
        assert s.activation_checkpointing is Checkpointing.NONE
        assert s.offload is Offload.NONE
    # No feasible plan in the top 20 recomputes or offloads: neither is needed for 7B on 64.
    assert all(
        c.settings.activation_checkpointing is not Checkpointing.FULL for c in llama.feasible
    )
    costs = [c.cost_usd for c in llama.feasible]
    assert costs == sorted(costs)


def test_llama_7b_every_sharding_strategy_fits(llama: PlanResult) -> None:
    verdicts = {v.strategy: v for v in llama.per_strategy}
    assert set(verdicts) == set(Strategy)
    for strategy in set(Strategy) - {Strategy.SINGLE}:
        verdict = verdicts[strategy]
        assert verdict.fits
        assert verdict.best is not None
        assert verdict.feasible_count > 0
        assert verdict.best.settings.gpus == 64
    full = verdicts[Strategy.ZERO_3]
    assert full.sentence.startswith("ZeRO-3 fits: the best by cost is 64 x A100-80GB, ZeRO-3")
    assert "41.9 GB of 77.3 GB usable per GPU, 58.6 days, $460,746" in full.sentence
    assert explain_strategies(llama_request(strategies=(Strategy.ZERO_3,)))[0] == full


def test_objectives_rank_differently(llama: PlanResult) -> None:
    fastest = search_plans(llama_request(objective=PlanObjective.TIME))
    fewest = search_plans(llama_request(objective="gpus", top_k=5))
    assert fastest.feasible[0].settings.gpus == 64
    days = [c.wall_clock_days for c in fastest.feasible]
    assert days == sorted(days)
    # One GPU fits with ZeRO-Offload (optimizer states and gradients in host memory).
    single = fewest.feasible[0].settings
    assert (single.gpus, single.strategy) == (1, Strategy.SINGLE)
    assert single.offload is not Offload.NONE
    assert [c.settings.gpus for c in fewest.feasible] == sorted(
        c.settings.gpus for c in fewest.feasible
    )
    assert fewest.feasible[0].wall_clock_days > 3000
    assert fewest.feasible_count == fastest.feasible_count == llama.feasible_count


def test_pipeline_bubble_slows_and_recomputation_costs_a_third(llama: PlanResult) -> None:
    request = llama_request()
    plain = PlanSettings(
        "a100-80gb", 64, Strategy.ZERO_2, Offload.NONE, 1, 1, 1, Checkpointing.NONE
    )
    base = evaluate_plan(request, plain)
    full = evaluate_plan(request, replace(plain, activation_checkpointing=Checkpointing.FULL))
    assert full.cost_usd == pytest.approx(base.cost_usd * 4 / 3)  # type: ignore[operator]
    assert full.effective_mfu == pytest.approx(0.30)
    piped = evaluate_plan(request, replace(plain, gpus=64, tensor_parallel=2, pipeline_parallel=4))
    # dp = 8, m = 2048 / 8 = 256 micro-batches, bubble 3 / 259.
    assert piped.micro_batches == 256
    assert piped.pipeline_bubble == pytest.approx(3 / 259)
    assert piped.wall_clock_days == pytest.approx(base.wall_clock_days * 259 / 256)


def test_limits_filter() -> None:
    cheap = search_plans(llama_request(max_cost_usd=500_000, top_k=1000))
    assert cheap.feasible_count > 0
    assert all(c.cost_usd is not None and c.cost_usd <= 500_000 for c in cheap.feasible)
    assert cheap.infeasible_counts["max_cost_usd"] > 0  # full recomputation costs $614k
    efficient = search_plans(llama_request(min_mfu=0.39, top_k=1000))
    assert all(c.effective_mfu >= 0.39 for c in efficient.feasible)
    assert efficient.infeasible_counts["min_mfu"] > 0
    recomputed = PlanSettings(
        "a100-80gb", 64, Strategy.ZERO_3, Offload.NONE, 1, 1, 1, Checkpointing.FULL
    )
    slow = evaluate_plan(llama_request(min_mfu=0.39), recomputed)
    assert slow.reasons == ("min_mfu: effective MFU 30.0% is below 39.0%",)
    unlimited = search_plans(llama_request(max_days=1e6, gpu_types=(H100, A100)))
    assert (
        unlimited.feasible_count
        == search_plans(llama_request(gpu_types=(H100, A100))).feasible_count
    )
    quick = search_plans(llama_request(max_days=60, max_gpus=128))
    assert all(c.wall_clock_days <= 60 for c in quick.feasible)
    assert quick.feasible[0].settings.gpus == 128
    assert quick.infeasible_counts["max_days"] > 0


def test_time_limit_misses_say_how_many_gpus_are_needed() -> None:
    """64 A100s need 58.6 days; 30 days needs 128 (verified), or MI300Xs."""
    result = search_plans(llama_request(max_days=30, alternative_gpus=(MI300X,)))
    assert result.feasible_count == 0
    assert result.feasible == ()
    assert result.infeasible_counts["max_days"] == result.evaluated
    miss = result.nearest_misses[0]
    assert miss.candidate.fits
    assert not miss.candidate.feasible
    assert miss.candidate.settings.gpus == 64
    assert miss.needs[0] == "max_days: takes 58.6 days, over 30"
    assert any("over 128 GPUs" in need and "meets every limit" in need for need in miss.needs)
    assert any("MI300X-192GB" in need for need in miss.needs)
    for remedy in miss.remedies:
        again = evaluate_plan(
            llama_request(max_days=30, alternative_gpus=(MI300X,)), remedy.candidate.settings
        )
        assert again == remedy.candidate
    verdict = next(v for v in result.per_strategy if v.strategy is Strategy.ZERO_2)
    assert "fits in memory but misses the limits" in verdict.sentence
    assert not verdict.fits
    both = search_plans(llama_request(max_days=5, gpu_types=(H100, A100)))
    assert both.feasible_count == 0
    assert both.nearest_misses[0].candidate.settings.gpu == "h100-80gb"  # the cheaper per FLOP


def test_cost_limit_miss_suggests_a_cheaper_gpu_or_lighter_checkpointing() -> None:
    request = llama_request(
        max_cost_usd=300_000,
        strategies=(Strategy.ZERO_3,),
        checkpointing=(Checkpointing.FULL,),
        alternative_gpus=(MI300X, UNPRICED),
    )
    result = search_plans(request)
    assert result.feasible_count == 0
    needs = result.nearest_misses[0].needs
    assert needs[0].startswith("max_cost_usd: costs $614,328, over $300,000")
    assert any(need.startswith("The same plan on the MI300X-192GB") for need in needs)
    kinds = {remedy.kind for remedy in result.nearest_misses[0].remedies}
    assert "checkpointing" in kinds
    assert "other-gpu" in kinds


def test_unpriced_gpus_rank_after_priced_ones_by_cost() -> None:
    request = llama_request(
        gpu_types=(UNPRICED, A100),
        max_gpus=8,
        strategies=(Strategy.ZERO_3,),
        offloads=(Offload.NONE,),
        checkpointing=(Checkpointing.NONE,),
        top_k=1000,
    )
    result = search_plans(request)
    assert result.feasible_count == len(result.feasible)
    priced = [c.cost_usd is not None for c in result.feasible]
    assert priced[0]
    assert not priced[-1]
    assert priced == sorted(priced, reverse=True)
    unpriced = next(c for c in result.feasible if c.cost_usd is None)
    assert unpriced.compute.cost_usd is None
    assert finite(unpriced)
    capped = search_plans(llama_request(gpu_types=(UNPRICED,), max_cost_usd=1e9))
    assert capped.feasible_count == 0
    assert capped.infeasible_counts["no_price"] == capped.evaluated
    assert "no_price" in capped.nearest_misses[0].needs[0]


# --- nearest misses ----------------------------------------------------------------------------


def test_70b_on_eight_gpus_misses_and_says_what_would_fit() -> None:
    """LLaMA-2-70B (69B parameters, 16 bytes each) cannot fit 8 A100s without offload."""
    request = PlanRequest(
        tokens=2e12,
        gpu_types=(A100,),
        max_gpus=8,
        architecture=LLAMA_70B,
        offloads=(Offload.NONE,),
        alternative_gpus=(MI300X, H100),
    )
    result = search_plans(request)
    assert result.feasible_count == 0
    assert result.infeasible_counts["memory"] == result.evaluated
    assert 1 <= len(result.nearest_misses) <= 5
    fractions = [m.candidate.memory_fraction for m in result.nearest_misses]
    assert all(f > 1 for f in fractions)
    sharded = next(
        m for m in result.nearest_misses if m.candidate.settings.strategy is Strategy.ZERO_3
    )
    assert sharded.needs[0].startswith("needs 145.7 GB per GPU but the A100-80GB offers 77.3 GB")
    text = " | ".join(sharded.needs)
    assert "ZeRO-3 over 16 GPUs brings it to 76.7 GB (fits)" in text
    assert "Optimizer offload brings it to" in text
    assert "The same plan on the MI300X-192GB brings it to 145.7 GB (fits)" in text
    for miss in result.nearest_misses:
        assert finite(miss.candidate)
        for remedy in miss.remedies:
            # Every claim was evaluated: re-evaluating gives the same figures.
            again = evaluate_plan(request, remedy.candidate.settings)
            assert again.per_gpu == remedy.candidate.per_gpu
            assert remedy.fits == (again.per_gpu.total_bytes <= again.usable_gpu_memory_bytes)
            assert "GB" in remedy.sentence
    ddp = next(v for v in result.per_strategy if v.strategy is Strategy.DDP)
    assert "1103.6 GB of model states" in ddp.sentence
    assert "Even with model parallelism the nearest configuration" in ddp.sentence
    hybrid = next(v for v in result.per_strategy if v.strategy is Strategy.FSDP_HYBRID_SHARD)
    assert hybrid.evaluated == 0
    assert "was not evaluated" in hybrid.sentence


def remedies_for(request: PlanRequest, settings_: PlanSettings) -> list[Any]:
    """The remedies the planner would list for one (missing) configuration."""
    r = planner_module._resolve(request)
    miss = evaluate_plan(request, settings_)
    assert not miss.feasible
    return planner_module._remedies(r, miss)


def test_fsdp_misses_are_offered_fsdp_sharding_and_model_parallelism() -> None:
    request = PlanRequest(tokens=2e12, gpu_types=(A100,), max_gpus=8, architecture=LLAMA_70B)
    miss = PlanSettings(
        "a100-80gb", 8, Strategy.FSDP_SHARD_GRAD_OP, Offload.NONE, 1, 1, 4, Checkpointing.NONE
    )
    sentences = [remedy.sentence for remedy in remedies_for(request, miss)]
    assert any(s.startswith("FSDP full shard on the same 8 GPUs brings it to") for s in sentences)
    assert not any("ZeRO" in s for s in sentences)
    for start in ("Tensor parallelism 2", "Pipeline parallelism 2", "Micro-batch 1", "Full act"):
        assert any(s.startswith(start) for s in sentences), start
    assert any(s.startswith("Optimizer and parameter offload") for s in sentences)
    assert not any(s.startswith("Optimizer offload") for s in sentences)  # not in FSDP


def test_invalid_single_changes_are_skipped() -> None:
    """Hybrid shard over 24 GPUs: t = 2 or p = 2 leaves dp = 12, which groups of 8 cannot split."""
    request = PlanRequest(tokens=2e12, gpu_types=(A100,), max_gpus=24, architecture=LLAMA_70B)
    miss = PlanSettings(
        "a100-80gb", 24, Strategy.FSDP_HYBRID_SHARD, Offload.NONE, 1, 1, 1, Checkpointing.NONE, 8
    )
    kinds = [remedy.kind for remedy in remedies_for(request, miss)]
    assert "model-parallel" not in kinds
    assert "more-gpus" not in kinds
    assert "checkpointing" in kinds


def test_more_gpus_remedy_lowers_the_micro_batch_when_needed() -> None:
    request = PlanRequest(tokens=2e12, gpu_types=(A100,), max_gpus=8, architecture=LLAMA_70B)
    miss = PlanSettings("a100-80gb", 8, Strategy.ZERO_3, Offload.NONE, 1, 1, 16, Checkpointing.FULL)
    more = next(r for r in remedies_for(request, miss) if r.kind == "more-gpus")
    assert more.candidate.feasible
    assert more.candidate.settings.micro_batch_size < 16
    assert f"with micro-batch {more.candidate.settings.micro_batch_size}" in more.sentence


def test_when_no_single_change_is_enough_the_closest_is_given() -> None:
    """A trillion parameters on one V100: even offloading everything leaves two gathered layers
    (2 x 5.8B parameters) that do not fit."""
    request = PlanRequest(
        tokens=1e12, gpu_types=(V100,), max_gpus=1, parameters=10**12, offloads=(Offload.NONE,)
    )
    result = search_plans(request)
    (miss,) = result.nearest_misses
    assert miss.remedies
    assert not any(remedy.fits for remedy in miss.remedies)
    assert miss.needs[-1].endswith("no single change tried is enough")
    assert "still" in miss.needs[-1]


def test_memory_misses_that_also_miss_a_limit() -> None:
    """70B on 8 A100s in a day: nothing fits, and what fits with more (or larger) GPUs is slow."""
    request = PlanRequest(
        tokens=2e12,
        gpu_types=(A100,),
        max_gpus=8,
        architecture=LLAMA_70B,
        max_days=1,
        offloads=(Offload.NONE,),
        precision=Precision.MIXED_BF16,
        alternative_gpus=(V100, BIG_FP16, MI300X),
    )
    result = search_plans(request)
    assert result.feasible_count == 0
    miss = next(
        m for m in result.nearest_misses if m.candidate.settings.strategy is Strategy.ZERO_3
    )
    assert not miss.candidate.fits
    assert any(need.startswith("max_days") for need in miss.needs)
    more = next(r for r in miss.remedies if r.kind == "more-gpus")
    assert more.fits
    assert not more.candidate.feasible
    assert "but fails max_days" in more.sentence
    larger = next(r for r in miss.remedies if r.kind == "larger-gpu")
    assert larger.candidate.settings.gpu == "mi300x-192gb"
    assert larger.fits
    verdict = next(v for v in result.per_strategy if v.strategy is Strategy.ZERO_3)
    assert "(and fails max_days" in verdict.sentence


def test_memory_miss_whose_fits_cannot_split_the_batch() -> None:
    """A derived 20B shape (47 layers of 47 heads: no tensor or pipeline split) needs ZeRO-3
    over 8 GPUs, but one sequence per step cannot feed 8 data-parallel GPUs."""
    request = PlanRequest(
        tokens=1e11,
        gpu_types=(A100,),
        max_gpus=16,
        parameters=20 * 10**9,
        strategies=(Strategy.ZERO_3,),
        offloads=(Offload.NONE,),
        checkpointing=(Checkpointing.FULL,),
        micro_batch_sizes=(1,),
        global_batch_tokens=2048,
    )
    result = search_plans(request)
    assert result.feasible_count == 0
    assert result.nearest_misses == ()
    assert result.per_strategy[0].sentence == (
        "ZeRO-3 has no feasible configuration: 2 of its 4 fit in memory, but none of those "
        "splits the global batch of 1 sequences into whole micro-batches for every "
        "data-parallel GPU."
    )
    three = search_plans(replace(request, global_batch_tokens=3 * 2048))
    verdict = three.per_strategy[0]
    assert verdict.sentence.startswith("ZeRO-3 does not fit: the nearest configuration, 2 x")
    assert "2 of its configurations fit in memory but none splits the global batch of 3" in (
        verdict.sentence
    )
    assert "(and fails batch:" in verdict.sentence
    batch_only = search_plans(
        llama_request(
            architecture=GPT_LIKE,
            max_gpus=16,
            strategies=(Strategy.ZERO_3,),
            micro_batch_sizes=(2,),
            global_batch_tokens=3 * 1024,
            max_days=10**6,
        )
    )
    assert batch_only.feasible_count == 0
    assert batch_only.nearest_misses == ()
    assert batch_only.per_strategy[0].sentence.endswith("and meets the limits.")


def test_single_gpu_miss_is_only_offered_offload_and_larger_gpus() -> None:
    request = PlanRequest(
        tokens=1e10,
        gpu_types=(V100,),
        max_gpus=1,
        architecture=LLAMA_7B,
        offloads=(Offload.NONE,),
        alternative_gpus=(A100, MI300X),
    )
    result = search_plans(request)
    (miss,) = result.nearest_misses
    kinds = [remedy.kind for remedy in miss.remedies]
    assert "more-gpus" not in kinds
    assert "sharding" not in kinds
    assert "offload" in kinds
    assert "larger-gpu" in kinds
    larger = next(r for r in miss.remedies if r.kind == "larger-gpu")
    assert larger.candidate.settings.gpu == "mi300x-192gb"  # the A100 is too small too


# --- progress, inputs, precision ----------------------------------------------------------------


def test_progress_is_reported_a_bounded_number_of_times() -> None:
    calls: list[tuple[int, int]] = []
    result = search_plans(
        llama_request(gpu_types=(A100, H100)),
        progress=lambda done, total: calls.append((done, total)),
    )
    totals = {total for _, total in calls}
    assert totals == {result.evaluated}
    assert calls[0] == (0, result.evaluated)
    assert calls[-1] == (result.evaluated,) * 2
    assert len(calls) <= 2 + 2 * len(Strategy)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_search_space_rules() -> None:
    assert gpu_counts(1) == (1,)
    assert gpu_counts(20, 8) == (1, 2, 4, 8, 16)
    assert gpu_counts(100, 16)[-3:] == (64, 80, 96)
    assert tensor_degrees(LLAMA_70B, 8) == (1, 2, 4, 8)
    assert tensor_degrees(LLAMA_70B, 4) == (1, 2, 4)
    assert tensor_degrees(replace(LLAMA_70B, n_kv_heads=2), 8) == (1, 2)
    assert pipeline_degrees(LLAMA_70B) == (1, 2, 4, 5, 8, 10, 16, 20, 40)
    assert pipeline_degrees(LLAMA_7B) == (1, 2, 4, 8, 16, 32)
    assert pipeline_degrees(T5_LIKE) == (1, 2, 3, 4, 6, 12)
    assert OFFLOAD_SUPPORT[Strategy.DDP] == {Offload.NONE}
    assert OFFLOAD_SUPPORT[Strategy.ZERO_3] == set(Offload)


def test_search_respects_the_space_rules(llama: PlanResult) -> None:
    request = llama_request(top_k=1000, max_gpus=64)
    result = search_plans(request)
    for candidate in result.feasible:
        s = candidate.settings
        assert s.gpus % (s.tensor_parallel * s.pipeline_parallel) == 0
        assert (s.strategy is Strategy.SINGLE) == (s.gpus == 1)
        assert s.offload in OFFLOAD_SUPPORT[s.strategy]
        if s.strategy is Strategy.FSDP_HYBRID_SHARD:
            assert s.sharding_factor == 8
            assert candidate.data_parallel > 8
        else:
            assert s.sharding_factor is None


def test_parameters_come_from_the_architecture_and_precision_from_the_gpu() -> None:
    """V100 has no bf16 peak: mixed fp16 at 125 TFLOP/s, with the same bytes."""
    request = PlanRequest(tokens=1e10, gpu_types=(V100,), max_gpus=8, architecture=GPT_LIKE)
    result = search_plans(request)
    top = result.feasible[0]
    assert top.memory.resolved.precision is Precision.MIXED_FP16
    assert top.memory.resolved.parameters == count_parameters(GPT_LIKE).total
    assert top.compute.peak_tflops_per_gpu == 125.0
    derived = search_plans(replace(request, architecture=None, parameters=10**8))
    assert derived.feasible[0].memory.resolved.architecture_derived


BAD_REQUESTS: list[tuple[dict[str, Any], str]] = [
    ({"gpu_types": ()}, "gpu_types"),
    ({"gpu_types": "a100"}, "gpu_types"),
    ({"gpu_types": (A100, A100)}, "gpu_types"),
    ({"gpu_types": ("a100",)}, "gpu_types"),
    ({"gpu_types": (replace(A100, memory_bytes=0),)}, "gpu_types"),
    ({"alternative_gpus": (A100, A100)}, "alternative_gpus"),
    ({"max_gpus": 0}, "max_gpus"),
    ({"max_gpus": 10**6}, "max_gpus"),
    ({"max_gpus": True}, "max_gpus"),
    ({"objective": "speed"}, "objective"),
    ({"tokens": 0}, "tokens"),
    ({"tokens": math.nan}, "tokens"),
    ({"tokens": "many"}, "tokens"),
    ({"max_days": -1.0}, "max_days"),
    ({"max_cost_usd": math.inf}, "max_cost_usd"),
    ({"min_mfu": 1.5}, "min_mfu"),
    ({"mfu": 0.0}, "mfu"),
    ({"mfu": 1e-4}, "mfu"),
    ({"top_k": 0}, "top_k"),
    ({"misses": -1}, "misses"),
    ({"gpus_per_node": 0}, "gpus_per_node"),
    ({"strategies": ()}, "strategies"),
    ({"strategies": ("zero-4",)}, "strategies"),
    ({"offloads": ("disk",)}, "offloads"),
    ({"checkpointing": ["some"]}, "checkpointing"),
    ({"micro_batch_sizes": ()}, "micro_batch_sizes"),
    ({"micro_batch_sizes": (0,)}, "micro_batch_sizes"),
    ({"precision": "fp64"}, "precision"),
    ({"precision": "int8"}, "precision"),
    ({"precision": "fp8"}, "precision"),
    ({"optimizer": "lion"}, "optimizer"),
    ({"attention": "ring"}, "attention"),
    ({"convention": "hf"}, "convention"),
    ({"architecture": None}, "parameters"),
    ({"parameters": 0}, "parameters"),
    ({"architecture": replace(LLAMA_7B, n_layers=0)}, "architecture.n_layers"),
    ({"sequence_length": 0}, "sequence_length"),
    ({"global_batch_tokens": 1000}, "global_batch_tokens"),
    ({"global_batch_tokens": 0}, "global_batch_tokens"),
    ({"headroom": 1.0}, "headroom"),
]


@pytest.mark.parametrize(("change", "field"), BAD_REQUESTS)
def test_invalid_requests_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as error:
        search_plans(llama_request(**change))
    assert error.value.field == field


def test_evaluate_plan_rejects_unknown_gpus_and_unfillable_batches() -> None:
    plain = PlanSettings("a100-80gb", 8, Strategy.ZERO_3, Offload.NONE, 1, 1, 1, Checkpointing.NONE)
    with pytest.raises(InvalidInputError) as error:
        evaluate_plan(llama_request(), replace(plain, gpu="tpu"))
    assert error.value.field == "gpu"
    with pytest.raises(InvalidInputError) as error:
        evaluate_plan(llama_request(global_batch_tokens=4 * 2048), plain)
    assert error.value.field == "micro_batch_size"
    with pytest.raises(InvalidInputError) as error:
        evaluate_plan(llama_request(), replace(plain, strategy=Strategy.SINGLE))
    assert error.value.field == "gpus"
    odd = evaluate_plan(llama_request(global_batch_tokens=12 * 2048), plain)
    assert not odd.feasible
    assert odd.reasons[0].startswith("batch:")


def test_evaluate_plan_accepts_wire_strings() -> None:
    wire = PlanSettings("a100-80gb", 8, "zero-3", "none", 1, 1, 1, "full")  # type: ignore[arg-type]
    candidate = evaluate_plan(llama_request(), wire)
    assert candidate.settings.strategy is Strategy.ZERO_3
    assert candidate.settings.activation_checkpointing is Checkpointing.FULL
    with pytest.raises(InvalidInputError) as error:
        evaluate_plan(llama_request(), replace(wire, offload="disk"))
    assert error.value.field == "settings.offload"


def test_blocks_of_any_size_give_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    request = llama_request(gpu_types=(A100, H100), max_gpus=128)
    whole = search_plans(request)
    monkeypatch.setattr(planner_module, "BLOCK_CONFIGURATIONS", 500)
    calls: list[int] = []
    sliced = search_plans(request, progress=lambda done, total: calls.append(done))
    assert sliced == whole
    assert len(calls) > 2 + 2 * len(Strategy)


def test_no_nan_or_infinity_anywhere() -> None:
    for request in (
        llama_request(gpu_types=(A100, UNPRICED, V100), max_gpus=32, top_k=200),
        PlanRequest(
            tokens=2e12, gpu_types=(A100,), max_gpus=8, architecture=LLAMA_70B, min_mfu=0.2
        ),
    ):
        result = search_plans(request)
        candidates = [*result.feasible, *(m.candidate for m in result.nearest_misses)]
        candidates += [r.candidate for m in result.nearest_misses for r in m.remedies]
        candidates += [v.best for v in result.per_strategy if v.best is not None]
        assert candidates
        assert all(finite(c) for c in candidates)
