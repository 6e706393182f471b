"""The planner: search every parallel training configuration and rank the ones that fit.

What is searched (:class:`PlanRequest` holds the inputs and their defaults)
    Every combination of GPU type, GPU count, data-parallel strategy, offload, tensor-parallel
    degree ``t``, pipeline-parallel degree ``p``, micro-batch size and activation checkpointing
    that passes the validity rules below. Precision, optimizer, attention kernel, dropout,
    sequence parallelism and sequence length are fixed by the request.

    * GPU counts: the powers of two up to ``max_gpus`` and the multiples of ``gpus_per_node`` up
      to ``max_gpus`` (:func:`gpu_counts`). Powers of two because the parallel degrees and the
      batch sizes are powers of two in practice; multiples of a node because clusters are rented
      and scheduled by whole nodes.
    * ``t`` in {1, 2, 4, 8}, at most ``gpus_per_node``: tensor parallelism stays inside a node,
      where NVLink carries its all-reduces (Narayanan et al. 2021, "Efficient Large-Scale
      Language Model Training on GPU Clusters Using Megatron-LM", SC21, sec. 3.3, takeaway #1).
      ``t`` must divide the attention heads (Megatron-LM splits heads; :mod:`memory` enforces it)
      and the key/value heads (Megatron-Core divides the ``num_query_groups`` by the
      tensor-parallel size).
    * ``p``: the divisors of the layer count up to 64 (:func:`pipeline_degrees`; Megatron-LM
      requires the layers to split evenly over the stages). Powers of two that do not divide the
      layers are left out for that reason.
    * ``t·p`` must divide the GPU count; the data-parallel degree is ``gpus / (t·p)``
      (Narayanan et al. 2021, sec. 3: ``n = p·t·d``).
    * Strategies: ``single`` on one GPU only, every other strategy on two or more;
      ``fsdp-hybrid-shard`` shards within groups of ``gpus_per_node`` GPUs, so only where
      ``gpus_per_node`` divides the data-parallel degree and is smaller than it.
    * Offload where the framework offers it (:data:`OFFLOAD_SUPPORT`): DeepSpeed's
      ``offload_optimizer`` works with ZeRO stages 1-3 and ``offload_param`` with stage 3 only
      (DeepSpeed configuration reference, ``zero_optimization``); PyTorch FSDP's
      ``CPUOffload(offload_params=True)`` moves parameters, gradients and the optimizer step
      to the CPU and has no optimizer-only mode (``torch.distributed.fsdp.CPUOffload``); PyTorch
      DDP and FSDP ``NO_SHARD`` offload nothing; one GPU can run the ZeRO-Offload single-GPU
      schedule (Ren et al. 2021, USENIX ATC, sec. 4) or ZeRO-Infinity (Rajbhandari et al. 2021).
    * Micro-batch sizes {1, 2, 4, 8, 16, 32}; checkpointing none, selective or full.

    Invalid combinations are skipped before evaluation; ``evaluated`` counts only the
    configurations whose memory, time and cost were computed.

Memory
    Per-GPU bytes are exactly those of :func:`service.domain.memory.estimate_memory` (ZeRO
    sec. 5, Korthikanti et al. 2022 for activations; see that module). :func:`memory_arrays` is its
    vectorised twin over numpy arrays of configurations, term by term in the same floating-point
    order, so both give the same integer bytes; the search evaluates the same terms on broadcast
    grids (model states per GPU count, strategy and offload; activations per ``t``, ``p``,
    micro-batch and checkpointing) and adds them.

Time and cost
    Executed FLOPs per token are :func:`service.domain.compute.estimate_compute`'s: ``6N``
    (Kaplan et al. 2020, sec. 2.1), ``8N`` with full recomputation (Narayanan et al. 2021,
    sec. 5.1), attention terms only when asked. The base ``mfu`` (default
    :data:`~service.domain.compute.DEFAULT_MFU`) is the utilisation the kernels reach on executed
    FLOPs without a pipeline bubble, so full recomputation costs a third more time. With ``p``
    pipeline stages the 1F1B schedule idles for a bubble fraction ``(p - 1) / (m + p - 1)`` of
    the step, ``m`` being the micro-batches per pipeline per step (Narayanan et al. 2021, sec.
    2.2.1; Huang et al. 2019, GPipe, sec. 2.3), so the pipeline efficiency is
    ``m / (m + p - 1)`` and::

        gpu_seconds   = executed FLOPs per token x tokens / (mfu x efficiency x dense peak)
        days          = gpu_seconds / gpus / 86,400
        cost          = gpu_seconds / 3,600 x price per GPU-hour
        effective MFU = mfu x efficiency x model FLOPs / executed FLOPs

    ``m = global batch / (micro-batch x sequence length x data-parallel degree)`` must be a whole
    number of at least 1 (Megatron-LM's micro-batch calculator requires the global batch to be
    divisible by micro-batch x data-parallel size); the default global batch is 4,194,304 tokens,
    LLaMA's 4M (Touvron et al. 2023, Table 2). The dense peak is the GPU's bf16 peak for
    (mixed) bf16, else its fp16 peak (:func:`~service.domain.compute.dense_peak_tflops`).
    Communication is assumed to overlap perfectly with computation and offloading to cost no
    time: nothing else slows a configuration down. Ties are broken in favour of what costs the
    least communication and memory (see :data:`TIE_BREAKS`).

Misses and explanations
    When nothing is feasible, :attr:`PlanResult.nearest_misses` holds one miss per strategy: the
    best configuration (by the objective) that fits in memory and splits the batch but misses a
    limit (``max_days``, ``max_cost_usd``, ``min_mfu``), else the memory miss with the smallest
    ``total / usable`` (preferring one that passes every other check, and always one whose batch
    gives each data-parallel GPU a micro-batch). Limit misses come first, then memory misses,
    nearest first. Each carries ``needs``: sentences with numbers saying what would make it fit
    or meet the limits (more GPUs, stronger sharding, checkpointing, offload, a smaller
    micro-batch, more tensor or pipeline parallelism, another or larger GPU type). Every claim
    comes from re-evaluating the changed configuration with the scalar path
    (:func:`evaluate_plan`); only single changes are tried, not combinations.
    :attr:`PlanResult.per_strategy` gives every strategy's best configuration (or its best limit
    miss, or its smallest memory miss) with a sentence, e.g. why DDP does not fit without model
    parallelism.

Work and memory
    The grid is evaluated in blocks of at most :data:`BLOCK_CONFIGURATIONS` configurations (one
    strategy's rows on one GPU type), so a search needs tens of megabytes whatever ``max_gpus``
    (at most :data:`MAX_PLANNER_GPUS`); ``bench/planner_throughput.py`` measures tens of millions
    of configurations per second on one core (``bench/PLANNER.md``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from service.domain.activations import (
    FLASH_STATISTIC_BYTES,
    LOGIT_BYTES,
    MASK_BYTES,
    layer_counts,
)
from service.domain.architecture import Architecture, count_parameters, validate_architecture
from service.domain.compute import (
    DEFAULT_MFU,
    MAX_TOKENS,
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    ComputeConfig,
    ComputeEstimate,
    dense_peak_tflops,
    estimate_compute,
)
from service.domain.errors import InvalidInputError
from service.domain.hardware import GpuSpec
from service.domain.memory import (
    DEFAULT_FRAMEWORK_OVERHEAD_BYTES,
    DEFAULT_HEADROOM,
    GATHERED_LAYERS,
    MAX_MICRO_BATCH,
    MAX_PARAMETERS,
    MAX_SEQUENCE_LENGTH,
    ZERO_STAGE,
    BytesPerParameter,
    MemoryConfig,
    MemoryEstimate,
    Mode,
    PerGpuMemory,
    estimate_memory,
)
from service.domain.types import (
    Attention,
    Checkpointing,
    Convention,
    Offload,
    Optimizer,
    Precision,
    Strategy,
)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
#: ``progress(evaluated, total)``: called at the start, after every block (one strategy's rows,
#: at most :data:`BLOCK_CONFIGURATIONS` configurations, on one GPU type) and at the end.
Progress = Callable[[int, int], None]


class PlanObjective(StrEnum):
    """What the ranking minimises first: dollars, wall-clock days or GPUs."""

    COST = "cost"
    TIME = "time"
    GPUS = "gpus"


#: Enum orders used by the integer codes of :class:`ConfigArrays`.
STRATEGIES: tuple[Strategy, ...] = tuple(Strategy)
OFFLOADS: tuple[Offload, ...] = tuple(Offload)
CHECKPOINTINGS: tuple[Checkpointing, ...] = tuple(Checkpointing)
#: Tensor-parallel degrees tried (Megatron-LM runs within an 8-GPU node: 1, 2, 4, 8).
TENSOR_PARALLEL_DEGREES = (1, 2, 4, 8)
#: Micro-batch sizes tried by default.
MICRO_BATCH_SIZES = (1, 2, 4, 8, 16, 32)
#: Largest pipeline-parallel degree tried.
MAX_PIPELINE_PARALLEL = 64
#: LLaMA's global batch, 4M tokens (Touvron et al. 2023, Table 2).
DEFAULT_GLOBAL_BATCH_TOKENS = 4_194_304
#: GPUs per node (DGX/HGX A100 and H100 servers hold 8).
DEFAULT_GPUS_PER_NODE = 8
DEFAULT_TOP_K = 20
MAX_TOP_K = 1000
DEFAULT_MISSES = 5
MAX_MISSES = 100
#: Smallest base MFU accepted: with the deepest pipeline (p = 64, m = 1) and full recomputation
#: the effective MFU stays above :data:`service.domain.compute.MIN_THROUGHPUT`.
MIN_MFU = 0.001
#: Most configurations evaluated in one numpy block (bounds the search's working memory to
#: tens of megabytes whatever ``max_gpus``).
BLOCK_CONFIGURATIONS = 1 << 20
#: Largest ``max_gpus`` searched (keeps a request's search space bounded).
MAX_PLANNER_GPUS = 65_536
MAX_GPUS_PER_NODE = 64
#: The "more GPUs" remedy of a miss tries up to 2^10 times its GPU count.
MAX_GPU_DOUBLINGS = 10
#: Offload modes each strategy's framework offers (module docstring).
OFFLOAD_SUPPORT: Mapping[Strategy, frozenset[Offload]] = {
    Strategy.SINGLE: frozenset(Offload),
    Strategy.DDP: frozenset({Offload.NONE}),
    Strategy.FSDP_NO_SHARD: frozenset({Offload.NONE}),
    Strategy.ZERO_1: frozenset({Offload.NONE, Offload.OPTIMIZER}),
    Strategy.ZERO_2: frozenset({Offload.NONE, Offload.OPTIMIZER}),
    Strategy.ZERO_3: frozenset(Offload),
    Strategy.FSDP_FULL_SHARD: frozenset({Offload.NONE, Offload.OPTIMIZER_AND_PARAMETERS}),
    Strategy.FSDP_SHARD_GRAD_OP: frozenset({Offload.NONE, Offload.OPTIMIZER_AND_PARAMETERS}),
    Strategy.FSDP_HYBRID_SHARD: frozenset({Offload.NONE, Offload.OPTIMIZER_AND_PARAMETERS}),
}
#: How equally ranked configurations are ordered after the objective's three keys.
TIE_BREAKS = (
    "no offload before optimizer offload before parameter offload (offloading moves data over "
    "PCIe every step, which this model does not charge for)",
    "no checkpointing before selective before full",
    "the smallest t x p, then the smallest t (less model-parallel communication)",
    "the least data-parallel traffic per step (ZeRO sec. 7: 2 parameter-sized transfers for "
    "DDP and stages 1-2, 3 for stage 3)",
    "the largest micro-batch (larger matrix products run closer to peak)",
    "the fewest bytes per GPU",
    "the order of enumeration (GPU type as given, strategy, GPU count, t, p, offload, "
    "micro-batch, checkpointing)",
)

_LABELS: Mapping[Strategy, str] = {
    Strategy.SINGLE: "Single GPU",
    Strategy.DDP: "DDP",
    Strategy.ZERO_1: "ZeRO-1",
    Strategy.ZERO_2: "ZeRO-2",
    Strategy.ZERO_3: "ZeRO-3",
    Strategy.FSDP_FULL_SHARD: "FSDP full shard",
    Strategy.FSDP_SHARD_GRAD_OP: "FSDP shard-grad-op",
    Strategy.FSDP_HYBRID_SHARD: "FSDP hybrid shard",
    Strategy.FSDP_NO_SHARD: "FSDP no-shard",
}
_CHECKPOINTING_WORDS: Mapping[Checkpointing, str] = {
    Checkpointing.NONE: "no checkpointing",
    Checkpointing.SELECTIVE: "selective checkpointing",
    Checkpointing.FULL: "full checkpointing",
}
_OFFLOAD_WORDS: Mapping[Offload, str] = {
    Offload.NONE: "no offload",
    Offload.OPTIMIZER: "optimizer offload",
    Offload.OPTIMIZER_AND_PARAMETERS: "optimizer and parameter offload",
}
#: Stronger sharding to suggest for a miss, by framework family.
_DEEPSPEED_SHARDING = (Strategy.ZERO_1, Strategy.ZERO_2, Strategy.ZERO_3)
_FSDP_SHARDING = (Strategy.FSDP_SHARD_GRAD_OP, Strategy.FSDP_FULL_SHARD)
_FSDP = frozenset(
    {
        Strategy.FSDP_FULL_SHARD,
        Strategy.FSDP_SHARD_GRAD_OP,
        Strategy.FSDP_HYBRID_SHARD,
        Strategy.FSDP_NO_SHARD,
    }
)
_STAGE_BY_CODE = np.array([ZERO_STAGE[s] for s in STRATEGIES], dtype=np.int64)
_HYBRID = STRATEGIES.index(Strategy.FSDP_HYBRID_SHARD)
_SINGLE = STRATEGIES.index(Strategy.SINGLE)
_NO_OFFLOAD = OFFLOADS.index(Offload.NONE)
_FULL_OFFLOAD = OFFLOADS.index(Offload.OPTIMIZER_AND_PARAMETERS)
_SELECTIVE = CHECKPOINTINGS.index(Checkpointing.SELECTIVE)
_FULL = CHECKPOINTINGS.index(Checkpointing.FULL)
#: Reasons a configuration is infeasible, as keys of :attr:`PlanResult.infeasible_counts`.
REASONS = ("memory", "batch", "max_days", "max_cost_usd", "no_price", "min_mfu")


# --- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanRequest:
    """Everything a search depends on (validated by :func:`search_plans`).

    The model is ``parameters`` and/or ``architecture`` (without an architecture a GPT shape is
    derived from ``parameters`` for the activations, as :func:`estimate_memory` does; without
    ``parameters`` they are counted from the architecture). ``tokens`` is the training-set size.
    ``gpu_types`` are the accelerators allowed; ``alternative_gpus`` (for instance the whole
    catalogue) are only consulted to say which larger GPU would fit a miss. ``max_days``,
    ``max_cost_usd`` and ``min_mfu`` are optional limits. ``precision`` ``None`` means mixed bf16,
    or mixed fp16 on a GPU without a bf16 peak. ``strategies``, ``offloads``, ``checkpointing``
    and ``micro_batch_sizes`` narrow the search space; ``top_k`` feasible configurations and at
    most ``misses`` nearest misses are returned.
    """

    tokens: float
    gpu_types: tuple[GpuSpec, ...]
    max_gpus: int
    parameters: int | None = None
    architecture: Architecture | None = None
    objective: PlanObjective = PlanObjective.COST
    max_days: float | None = None
    max_cost_usd: float | None = None
    min_mfu: float | None = None
    top_k: int = DEFAULT_TOP_K
    misses: int = DEFAULT_MISSES
    gpus_per_node: int = DEFAULT_GPUS_PER_NODE
    global_batch_tokens: int = DEFAULT_GLOBAL_BATCH_TOKENS
    sequence_length: int | None = None
    precision: Precision | None = None
    optimizer: Optimizer = Optimizer.ADAMW
    convention: Convention = Convention.ZERO
    attention: Attention = Attention.FLASH
    dropout: bool = True
    sequence_parallel: bool = False
    mfu: float = DEFAULT_MFU
    active_parameters: float | None = None
    include_attention_flops: bool = False
    headroom: float = DEFAULT_HEADROOM
    framework_overhead_bytes: int = DEFAULT_FRAMEWORK_OVERHEAD_BYTES
    strategies: tuple[Strategy, ...] = STRATEGIES
    offloads: tuple[Offload, ...] = OFFLOADS
    checkpointing: tuple[Checkpointing, ...] = CHECKPOINTINGS
    micro_batch_sizes: tuple[int, ...] = MICRO_BATCH_SIZES
    alternative_gpus: tuple[GpuSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class PlanSettings:
    """The choices that make one configuration (``gpu`` is a slug of the request's GPUs).

    ``sharding_factor`` is the FSDP hybrid-shard group size and ``None`` for other strategies.
    """

    gpu: str
    gpus: int
    strategy: Strategy
    offload: Offload
    tensor_parallel: int
    pipeline_parallel: int
    micro_batch_size: int
    activation_checkpointing: Checkpointing
    sharding_factor: int | None = None


@dataclass(frozen=True, slots=True)
class PlanCandidate:
    """One configuration, evaluated with the scalar reference functions.

    ``micro_batches`` is ``m``, the micro-batches per pipeline per step (gradient-accumulation
    steps); ``pipeline_bubble`` is ``(p - 1) / (m + p - 1)``; ``effective_mfu`` is the base MFU x
    pipeline efficiency x model/executed FLOPs. ``memory`` and ``compute`` are the full scalar
    estimates (assumptions included; ``compute`` runs at ``effective_mfu``). ``feasible`` is
    ``True`` when it fits and meets the batch rule and every limit; ``reasons`` says why not.
    """

    settings: PlanSettings
    gpu_name: str
    data_parallel: int
    micro_batches: int
    per_gpu: PerGpuMemory
    usable_gpu_memory_bytes: int
    memory_fraction: float
    fits: bool
    feasible: bool
    reasons: tuple[str, ...]
    pipeline_bubble: float
    effective_mfu: float
    gpu_hours: float
    wall_clock_days: float
    cost_usd: float | None
    tokens_per_second: float
    memory: MemoryEstimate
    compute: ComputeEstimate


@dataclass(frozen=True, slots=True)
class Remedy:
    """One change to a miss, re-evaluated: ``kind`` is ``more-gpus``, ``sharding``,
    ``checkpointing``, ``offload``, ``micro-batch``, ``model-parallel`` or ``larger-gpu``."""

    kind: str
    sentence: str
    candidate: PlanCandidate

    @property
    def fits(self) -> bool:
        """Whether the changed configuration fits in GPU memory."""
        return self.candidate.fits


@dataclass(frozen=True, slots=True)
class NearMiss:
    """A configuration that does not fit, with what would make it fit (``needs``, sentences)."""

    candidate: PlanCandidate
    needs: tuple[str, ...]
    remedies: tuple[Remedy, ...]


@dataclass(frozen=True, slots=True)
class StrategyVerdict:
    """The best feasible configuration of one strategy, else its smallest memory miss.

    ``evaluated`` and ``feasible_count`` count this strategy's configurations; ``sentence``
    explains the verdict with numbers.
    """

    strategy: Strategy
    fits: bool
    best: PlanCandidate | None
    evaluated: int
    feasible_count: int
    sentence: str


@dataclass(frozen=True, slots=True)
class PlanResult:
    """Answer of :func:`search_plans`.

    ``feasible`` holds the top ``top_k`` feasible configurations, best first, out of
    ``feasible_count``; ``evaluated`` is every configuration whose memory, time and cost were
    computed; ``infeasible_counts`` counts the failures of each check in :data:`REASONS` (a
    configuration can fail several). ``nearest_misses`` is filled only when nothing is feasible.
    """

    objective: PlanObjective
    evaluated: int
    feasible_count: int
    feasible: tuple[PlanCandidate, ...]
    nearest_misses: tuple[NearMiss, ...]
    per_strategy: tuple[StrategyVerdict, ...]
    infeasible_counts: Mapping[str, int]
    gpu_counts: tuple[int, ...]
    assumptions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ConfigArrays:
    """Configurations as equal-length 1-D integer arrays, one row each.

    ``strategy``, ``offload`` and ``checkpointing`` are indices into :data:`STRATEGIES`,
    :data:`OFFLOADS` and :data:`CHECKPOINTINGS`; ``sharding_factor`` is 0 except for
    ``fsdp-hybrid-shard``.
    """

    gpus: IntArray
    strategy: IntArray
    offload: IntArray
    tensor_parallel: IntArray
    pipeline_parallel: IntArray
    micro_batch_size: IntArray
    checkpointing: IntArray
    sharding_factor: IntArray


@dataclass(frozen=True, slots=True)
class MemoryArrays:
    """Per-GPU bytes of every configuration, the fields of :class:`PerGpuMemory` as arrays.

    ``usable_gpu_memory_bytes`` and ``fits`` are ``None`` when the template has no GPU capacity.
    """

    weights_bytes: IntArray
    gradients_bytes: IntArray
    optimizer_states_bytes: IntArray
    model_states_bytes: IntArray
    activations_bytes: IntArray
    overhead_bytes: IntArray
    total_bytes: IntArray
    usable_gpu_memory_bytes: int | None
    fits: BoolArray | None


# --- the vectorised memory model ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Shape:
    """What the memory of one model depends on besides the configuration."""

    parameters: int
    architecture: Architecture
    encoder_layers: int
    decoder_layers: int
    sequence_length: int
    element_bytes: int
    dropout: bool
    sequence_parallel: bool
    attention: Attention
    bpp: BytesPerParameter
    framework_overhead_bytes: int


def _round(values: FloatArray) -> IntArray:
    """Round byte counts half up, as :func:`service.domain.memory._bytes` does."""
    return np.floor(values + 0.5).astype(np.int64)


def _layer_arrays(
    shape: _Shape, tokens: FloatArray, t: IntArray, *, cross: bool
) -> tuple[FloatArray, FloatArray]:
    """(bytes kept without recomputation, core-attention bytes) of one layer, one micro-batch.

    :func:`service.domain.activations._layer`, the same operations in the same order, on
    broadcastable arrays (training only).
    """
    arch = shape.architecture
    s = shape.sequence_length
    e = float(shape.element_bytes)
    keep_masks = 1.0 if shape.dropout else 0.0
    mask = MASK_BYTES * keep_masks
    tf = t.astype(np.float64)
    replicated_divisor: FloatArray | float = tf if shape.sequence_parallel else 1.0
    h = float(arch.d_model)
    heads_per_gpu = arch.n_heads / tf
    q_width = heads_per_gpu * arch.attention_head_dim
    kv_width = (-(-arch.kv_heads // t) * arch.attention_head_dim).astype(np.float64)

    attn_replicated = (2.0 * e + mask) * tokens * h / replicated_divisor
    attn_split = e * tokens * (2.0 * q_width + 2.0 * kv_width)
    if shape.attention is Attention.EAGER:
        core = heads_per_gpu * s * tokens * (e + keep_masks * (MASK_BYTES + e))
    else:
        core = FLASH_STATISTIC_BYTES * heads_per_gpu * tokens
    attention = attn_replicated + attn_split + core

    routed = float(arch.experts_per_token) if arch.n_experts > 1 else 0.0
    copies = max(routed, 1.0)
    activation_inputs = 2.0 if arch.gated_mlp else 1.0
    mlp_replicated = ((2.0 * e + mask) * tokens * h + routed * e * tokens * h) / replicated_divisor
    mlp_split = copies * e * tokens * arch.d_ff * (activation_inputs + 1.0) / tf

    blocks = 2.0 if cross else 1.0
    full: FloatArray = blocks * attention + mlp_replicated + mlp_split
    return full, blocks * core


def _activation_arrays(
    shape: _Shape, t: IntArray, p: IntArray, micro_batch: IntArray, checkpointing: IntArray
) -> IntArray:
    """Activation bytes on the busiest GPU, broadcast over the four arrays.

    :func:`service.domain.activations.activation_memory` for training (Korthikanti et al. 2022,
    sec. 4-5; 1F1B peak of Narayanan et al. 2021, sec. 2.2.1), the four rounded components
    (layers, embedding masks, output layer, recomputed layer) added as integers.
    """
    arch = shape.architecture
    n_layers = shape.encoder_layers + shape.decoder_layers
    tokens = (shape.sequence_length * micro_batch).astype(np.float64)
    e = float(shape.element_bytes)
    tf = t.astype(np.float64)
    replicated_divisor: FloatArray | float = tf if shape.sequence_parallel else 1.0
    h = float(arch.d_model)
    layer_input = e * tokens * h / replicated_divisor

    self_full, self_core = _layer_arrays(shape, tokens, t, cross=False)
    cross_full, cross_core = _layer_arrays(shape, tokens, t, cross=True)
    has_decoder = shape.decoder_layers > 0
    encoder_output = layer_input if has_decoder else 0.0
    largest_full = cross_full if has_decoder else self_full
    largest_core = cross_core if has_decoder else self_core
    output = 2.0 * e * tokens * h / replicated_divisor + LOGIT_BYTES * tokens * arch.vocab_size / tf

    full = checkpointing == _FULL
    selective = checkpointing == _SELECTIVE
    per_self = np.where(full, layer_input, np.where(selective, self_full - self_core, self_full))
    per_cross = np.where(
        full, layer_input, np.where(selective, cross_full - cross_core, cross_full)
    )
    all_layers = shape.encoder_layers * per_self + shape.decoder_layers * per_cross + encoder_output
    transient = np.where(full, largest_full, np.where(selective, largest_core, 0.0))
    embedding_mask = MASK_BYTES * tokens * h / replicated_divisor if shape.dropout else 0.0 * tokens

    per_stage = -(-n_layers // p)
    stage_layers = per_stage * all_layers / n_layers
    first = p * stage_layers + p * embedding_mask
    last = stage_layers + output
    only = p == 1
    use_first = first >= last
    layers = np.where(only, all_layers, np.where(use_first, p * stage_layers, stage_layers))
    embedding = np.where(only, embedding_mask, np.where(use_first, p * embedding_mask, 0.0))
    out = np.where(only | ~use_first, output, 0.0)
    total: IntArray = _round(layers) + _round(embedding) + _round(out) + _round(transient)
    return total


def _state_arrays(
    shape: _Shape,
    t: IntArray,
    p: IntArray,
    stage: IntArray,
    degree: IntArray,
    offload: IntArray,
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """(weights, gradients, optimizer states, overhead) bytes per GPU, broadcast.

    :func:`service.domain.memory.estimate_memory`'s model states (ZeRO sec. 5: weights divided by
    the sharding degree from stage 3, gradients from stage 2, optimizer states from stage 1),
    offloading and transient buffers, in the same order of operations.
    """
    bpp = shape.bpp
    local = shape.parameters / (t * p)
    weights = bpp.weights * local / np.where(stage >= 3, degree, 1)
    gradients = bpp.gradients * local / np.where(stage >= 2, degree, 1)
    states = bpp.optimizer_states * local / np.where(stage >= 1, degree, 1)
    offload_states = offload != _NO_OFFLOAD
    offload_weights = offload == _FULL_OFFLOAD
    gpu_weights = np.where(offload_weights, 0.0, weights)
    gpu_gradients = np.where(offload_states, 0.0, gradients)
    gpu_states = np.where(offload_states, 0.0, states)
    layer_parameters = shape.parameters / (t * (shape.encoder_layers + shape.decoder_layers))
    holds_gradient_buffer = (stage >= 2) | offload_states
    gathers_parameters = (stage >= 3) | offload_weights
    transient = (
        layer_parameters * bpp.gradients * holds_gradient_buffer
        + GATHERED_LAYERS * layer_parameters * bpp.weights * gathers_parameters
    )
    overhead = shape.framework_overhead_bytes + transient
    return _round(gpu_weights), _round(gpu_gradients), _round(gpu_states), _round(overhead)


def _shape_of(template: MemoryConfig) -> _Shape:
    """Resolve a training template the way :func:`estimate_memory` does (validating it)."""
    if Mode(template.mode) is not Mode.TRAINING:
        raise InvalidInputError("mode", "the vectorised estimate covers training only")
    probe = replace(
        template,
        strategy=Strategy.SINGLE,
        gpus=1,
        sharding_factor=None,
        offload=Offload.NONE,
        tensor_parallel=1,
        pipeline_parallel=1,
        micro_batch_size=1,
        activation_checkpointing=Checkpointing.NONE,
    )
    resolved = estimate_memory(probe).resolved
    encoder, decoder = layer_counts(resolved.architecture)
    return _Shape(
        parameters=template.parameters,
        architecture=resolved.architecture,
        encoder_layers=encoder,
        decoder_layers=decoder,
        sequence_length=resolved.sequence_length,
        element_bytes=resolved.activation_bytes_per_element,
        dropout=template.dropout,
        sequence_parallel=template.sequence_parallel,
        attention=Attention(template.attention),
        bpp=resolved.bytes_per_parameter,
        framework_overhead_bytes=template.framework_overhead_bytes,
    )


def _check_configs(template: MemoryConfig, configs: ConfigArrays, shape: _Shape) -> IntArray:
    """Reject rows :func:`estimate_memory` would reject; return the data-parallel degrees."""
    columns = {
        "gpus": configs.gpus,
        "strategy": configs.strategy,
        "offload": configs.offload,
        "tensor_parallel": configs.tensor_parallel,
        "pipeline_parallel": configs.pipeline_parallel,
        "micro_batch_size": configs.micro_batch_size,
        "checkpointing": configs.checkpointing,
        "sharding_factor": configs.sharding_factor,
    }
    size = configs.gpus.shape
    for name, column in columns.items():
        if column.ndim != 1 or column.shape != size:
            raise InvalidInputError(f"configs.{name}", "must be a 1-D array as long as gpus")
    limits = {
        "strategy": len(STRATEGIES),
        "offload": len(OFFLOADS),
        "checkpointing": len(CHECKPOINTINGS),
    }
    for name, upper in limits.items():
        column = columns[name]
        if np.any((column < 0) | (column >= upper)):
            raise InvalidInputError(f"configs.{name}", f"codes must be in [0, {upper})")
    for name in ("gpus", "tensor_parallel", "pipeline_parallel", "micro_batch_size"):
        if np.any(columns[name] < 1):
            raise InvalidInputError(f"configs.{name}", "must be positive")
    t, p, gpus = configs.tensor_parallel, configs.pipeline_parallel, configs.gpus
    if np.any(gpus % (t * p)):
        raise InvalidInputError("configs.gpus", "must be a multiple of tensor x pipeline")
    data_parallel = gpus // (t * p)
    hybrid = configs.strategy == _HYBRID
    factor = configs.sharding_factor
    if np.any(hybrid & ((factor < 1) | (data_parallel % np.maximum(factor, 1) != 0))):
        raise InvalidInputError(
            "configs.sharding_factor", "must divide the data-parallel degree for hybrid shard"
        )
    if np.any(~hybrid & (factor != 0)):
        raise InvalidInputError("configs.sharding_factor", "must be 0 except for hybrid shard")
    if np.any((configs.strategy == _SINGLE) & (gpus != 1)):
        raise InvalidInputError("configs.gpus", "strategy single runs on one GPU")
    if template.architecture is not None and (
        np.any(shape.architecture.n_heads % t)
        or np.any(p > shape.encoder_layers + shape.decoder_layers)
    ):
        raise InvalidInputError(
            "configs.tensor_parallel",
            "t must divide the attention heads and p must not exceed the layers",
        )
    return data_parallel


def memory_arrays(template: MemoryConfig, configs: ConfigArrays) -> MemoryArrays:
    """Vectorised :func:`estimate_memory` over many configurations of one model.

    ``template`` fixes the model and everything that does not vary (parameters, architecture,
    precision, optimizer, convention, attention, dropout, sequence parallelism, sequence length,
    capacity, headroom, overhead); its strategy, GPU count, offload, parallel degrees,
    micro-batch, checkpointing and sharding factor are ignored and taken from ``configs`` row by
    row. Every row gives the same integer bytes as ``estimate_memory`` with those fields
    replaced (the floating-point operations are the same, in the same order). Training only;
    rows ``estimate_memory`` would reject raise :class:`InvalidInputError`.
    """
    shape = _shape_of(template)
    data_parallel = _check_configs(template, configs, shape)
    hybrid = configs.strategy == _HYBRID
    degree = np.where(hybrid, configs.sharding_factor, data_parallel)
    t, p = configs.tensor_parallel, configs.pipeline_parallel
    weights, gradients, states, overhead = _state_arrays(
        shape, t, p, _STAGE_BY_CODE[configs.strategy], degree, configs.offload
    )
    activations = _activation_arrays(shape, t, p, configs.micro_batch_size, configs.checkpointing)
    model_states = weights + gradients + states
    total = model_states + activations + overhead
    usable: int | None = None
    fits: BoolArray | None = None
    if template.gpu_memory_bytes is not None:
        usable = math.floor(template.gpu_memory_bytes * (1.0 - template.headroom))
        fits = total <= usable
    return MemoryArrays(
        weights_bytes=weights,
        gradients_bytes=gradients,
        optimizer_states_bytes=states,
        model_states_bytes=model_states,
        activations_bytes=activations,
        overhead_bytes=overhead,
        total_bytes=total,
        usable_gpu_memory_bytes=usable,
        fits=fits,
    )


# --- search-space rules ------------------------------------------------------------------------


def gpu_counts(max_gpus: int, gpus_per_node: int = DEFAULT_GPUS_PER_NODE) -> tuple[int, ...]:
    """GPU counts searched: powers of two and multiples of a node, up to ``max_gpus``."""
    counts = {1 << k for k in range(max_gpus.bit_length()) if 1 << k <= max_gpus}
    counts.update(range(gpus_per_node, max_gpus + 1, gpus_per_node))
    return tuple(sorted(counts))


def tensor_degrees(arch: Architecture, gpus_per_node: int) -> tuple[int, ...]:
    """Tensor-parallel degrees: {1, 2, 4, 8} within a node, dividing the (key/value) heads."""
    return tuple(
        t
        for t in TENSOR_PARALLEL_DEGREES
        if t <= gpus_per_node and arch.n_heads % t == 0 and arch.kv_heads % t == 0
    )


def pipeline_degrees(arch: Architecture) -> tuple[int, ...]:
    """Pipeline-parallel degrees: the divisors of the layer count, at most 64."""
    encoder, decoder = layer_counts(arch)
    layers = encoder + decoder
    return tuple(p for p in range(1, min(layers, MAX_PIPELINE_PARALLEL) + 1) if layers % p == 0)


# --- request resolution ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Resolved:
    """A validated request with everything the search derives once."""

    request: PlanRequest
    objective: PlanObjective
    parameters: int
    architecture: Architecture
    shape: _Shape
    template: MemoryConfig
    batch_sequences: int
    gpus: tuple[GpuSpec, ...]
    catalogue: Mapping[str, GpuSpec]
    strategies: tuple[Strategy, ...]
    offloads: tuple[Offload, ...]
    checkpointing: tuple[Checkpointing, ...]
    micro_batches: tuple[int, ...]
    tensor: tuple[int, ...]
    pipeline: tuple[int, ...]
    counts: tuple[int, ...]
    executed_total: tuple[float, ...]
    flops_ratio: tuple[float, ...]


def _finite(name: str, value: object, *, lower: float = 0.0, upper: float | None = None) -> float:
    """A finite real number above ``lower`` (exclusive) and at most ``upper``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(name, "must be a number")
    number = float(value)
    if not math.isfinite(number) or number <= lower or (upper is not None and number > upper):
        bound = f" and at most {upper:g}" if upper is not None else ""
        raise InvalidInputError(name, f"must be a finite number above {lower:g}{bound}")
    return number


def _integer(name: str, value: object, lower: int, upper: int) -> int:
    """An integer (not a bool) in ``[lower, upper]``."""
    if isinstance(value, bool) or not isinstance(value, int) or not lower <= value <= upper:
        raise InvalidInputError(name, f"must be an integer between {lower} and {upper:,}")
    return value


def _members(name: str, kind: type[Any], values: object) -> tuple[Any, ...]:
    """A non-empty tuple of enum members (wire strings accepted), duplicates dropped."""
    if not isinstance(values, tuple | list) or not values:
        raise InvalidInputError(name, "must be a non-empty list")
    try:
        members = tuple(kind(value) for value in values)
    except ValueError:
        known = ", ".join(member.value for member in kind)
        raise InvalidInputError(name, f"unknown value; use {known}") from None
    return tuple(dict.fromkeys(members))


def _gpu_list(name: str, values: object, *, allow_empty: bool) -> tuple[GpuSpec, ...]:
    """GPU specs with distinct slugs and a positive memory size."""
    if not isinstance(values, tuple | list) or (not values and not allow_empty):
        raise InvalidInputError(name, "must be a non-empty list of GPU types")
    seen: set[str] = set()
    for gpu in values:
        if not isinstance(gpu, GpuSpec):
            raise InvalidInputError(name, "must hold GPU specifications")
        if gpu.slug in seen:
            raise InvalidInputError(name, f"lists {gpu.slug} twice")
        if gpu.memory_bytes < 1:
            raise InvalidInputError(name, f"{gpu.slug} has no memory size")
        seen.add(gpu.slug)
    return tuple(values)


def _gpu_precision(request: PlanRequest, gpu: GpuSpec) -> Precision:
    """The request's precision, else mixed bf16 (mixed fp16 where the GPU has no bf16 peak)."""
    if request.precision is not None:
        dense_peak_tflops(gpu, request.precision)
        return request.precision
    try:
        dense_peak_tflops(gpu, Precision.MIXED_BF16)
    except InvalidInputError:
        dense_peak_tflops(gpu, Precision.MIXED_FP16)
        return Precision.MIXED_FP16
    return Precision.MIXED_BF16


def _resolve(request: PlanRequest) -> _Resolved:
    """Validate a request (errors name the field) and derive the fixed parts of the search."""
    objective = _members("objective", PlanObjective, [request.objective])[0]
    tokens = _finite("tokens", request.tokens, upper=MAX_TOKENS)
    gpus = _gpu_list("gpu_types", request.gpu_types, allow_empty=False)
    alternatives = _gpu_list("alternative_gpus", request.alternative_gpus, allow_empty=True)
    _integer("max_gpus", request.max_gpus, 1, MAX_PLANNER_GPUS)
    _integer("gpus_per_node", request.gpus_per_node, 1, MAX_GPUS_PER_NODE)
    _integer("top_k", request.top_k, 1, MAX_TOP_K)
    _integer("misses", request.misses, 0, MAX_MISSES)
    for name in ("max_days", "max_cost_usd"):
        value = getattr(request, name)
        if value is not None:
            _finite(name, value)
    if request.min_mfu is not None:
        _finite("min_mfu", request.min_mfu, upper=1.0)
    if _finite("mfu", request.mfu, upper=1.0) < MIN_MFU:
        raise InvalidInputError("mfu", f"must be at least {MIN_MFU:g}")
    strategies = _members("strategies", Strategy, request.strategies)
    offloads = _members("offloads", Offload, request.offloads)
    checkpointing = _members("checkpointing", Checkpointing, request.checkpointing)
    if not isinstance(request.micro_batch_sizes, tuple | list) or not request.micro_batch_sizes:
        raise InvalidInputError("micro_batch_sizes", "must be a non-empty list")
    micro_batches = tuple(
        sorted(
            {
                _integer("micro_batch_sizes", b, 1, MAX_MICRO_BATCH)
                for b in request.micro_batch_sizes
            }
        )
    )
    if request.precision is not None:
        _members("precision", Precision, [request.precision])
    for name, kind in (
        ("optimizer", Optimizer),
        ("convention", Convention),
        ("attention", Attention),
    ):
        _members(name, kind, [getattr(request, name)])

    if request.architecture is not None:
        validate_architecture(request.architecture)
    if request.parameters is None:
        if request.architecture is None:
            raise InvalidInputError("parameters", "give parameters or an architecture")
        parameters = count_parameters(request.architecture).total
    else:
        parameters = request.parameters
    _integer("parameters", parameters, 1, MAX_PARAMETERS)
    if request.sequence_length is not None:
        _integer("sequence_length", request.sequence_length, 1, MAX_SEQUENCE_LENGTH)
    precisions = tuple(_gpu_precision(request, gpu) for gpu in gpus)
    template = MemoryConfig(
        parameters=parameters,
        architecture=request.architecture,
        precision=request.precision or Precision.MIXED_BF16,
        optimizer=request.optimizer,
        sequence_parallel=request.sequence_parallel,
        sequence_length=request.sequence_length,
        attention=request.attention,
        dropout=request.dropout,
        convention=request.convention,
        headroom=request.headroom,
        framework_overhead_bytes=request.framework_overhead_bytes,
    )
    shape = _shape_of(template)
    sequence_length = shape.sequence_length
    batch = _integer("global_batch_tokens", request.global_batch_tokens, 1, 10**15)
    if batch % sequence_length:
        raise InvalidInputError(
            "global_batch_tokens",
            f"{batch} tokens is not a whole number of {sequence_length}-token sequences",
        )

    executed: list[float] = []
    ratio: list[float] = []
    for mode in CHECKPOINTINGS:
        flops = estimate_compute(
            ComputeConfig(
                parameters=parameters,
                tokens=tokens,
                gpu=gpus[0],
                active_parameters=request.active_parameters,
                architecture=request.architecture,
                precision=precisions[0],
                activation_checkpointing=mode,
                include_attention_flops=request.include_attention_flops,
            )
        )
        executed.append(flops.flops_per_token * tokens)
        ratio.append(flops.model_flops_per_token / flops.flops_per_token)
    catalogue = {gpu.slug: gpu for gpu in (*alternatives, *gpus)}
    return _Resolved(
        request=request,
        objective=objective,
        parameters=parameters,
        architecture=shape.architecture,
        shape=shape,
        template=template,
        batch_sequences=batch // sequence_length,
        gpus=gpus,
        catalogue=catalogue,
        strategies=strategies,
        offloads=offloads,
        checkpointing=checkpointing,
        micro_batches=micro_batches,
        tensor=tensor_degrees(shape.architecture, request.gpus_per_node),
        pipeline=pipeline_degrees(shape.architecture),
        counts=gpu_counts(request.max_gpus, request.gpus_per_node),
        executed_total=tuple(executed),
        flops_ratio=tuple(ratio),
    )


# --- scalar reference --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Timing:
    efficiency: float
    gpu_seconds: float
    days: float
    gpu_hours: float
    cost: float | None
    effective_mfu: float


def _timing(
    r: _Resolved, gpu: GpuSpec, checkpointing: Checkpointing, p: int, m: int, gpus: int
) -> _Timing:
    """Time, cost and effective MFU of one configuration (module docstring)."""
    peak_flops = dense_peak_tflops(gpu, _gpu_precision(r.request, gpu))[1] * 1e12
    index = CHECKPOINTINGS.index(checkpointing)
    efficiency = m / (m + p - 1)
    gpu_seconds = r.executed_total[index] / (r.request.mfu * efficiency * peak_flops)
    gpu_hours = gpu_seconds / SECONDS_PER_HOUR
    price = gpu.price_per_hour_usd
    return _Timing(
        efficiency=efficiency,
        gpu_seconds=gpu_seconds,
        days=gpu_seconds / gpus / SECONDS_PER_DAY,
        gpu_hours=gpu_hours,
        cost=None if price is None else gpu_hours * price,
        effective_mfu=r.request.mfu * efficiency * r.flops_ratio[index],
    )


def _gb(value: float) -> str:
    """Decimal gigabytes, as the course counts them (1 GB = 10^9 bytes)."""
    return f"{value / 1e9:.1f} GB"


def _money(value: float) -> str:
    return f"${value:,.0f}"


def _evaluate(r: _Resolved, settings: PlanSettings) -> PlanCandidate:
    """Evaluate one configuration with the scalar reference functions."""
    gpu = r.catalogue.get(settings.gpu)
    if gpu is None:
        raise InvalidInputError("gpu", f"{settings.gpu!r} is not among the request's GPU types")
    request = r.request
    precision = _gpu_precision(request, gpu)
    memory = estimate_memory(
        replace(
            r.template,
            precision=precision,
            strategy=settings.strategy,
            gpus=settings.gpus,
            sharding_factor=settings.sharding_factor,
            offload=settings.offload,
            tensor_parallel=settings.tensor_parallel,
            pipeline_parallel=settings.pipeline_parallel,
            micro_batch_size=settings.micro_batch_size,
            activation_checkpointing=settings.activation_checkpointing,
            gpu_memory_bytes=gpu.memory_bytes,
        )
    )
    data_parallel = memory.resolved.data_parallel
    grid = settings.micro_batch_size * data_parallel
    m = r.batch_sequences // grid
    if m < 1:
        raise InvalidInputError(
            "micro_batch_size",
            f"the global batch of {r.batch_sequences} sequences cannot fill micro-batch "
            f"{settings.micro_batch_size} x data-parallel {data_parallel} = {grid}",
        )
    timing = _timing(
        r, gpu, settings.activation_checkpointing, settings.pipeline_parallel, m, settings.gpus
    )
    compute = estimate_compute(
        ComputeConfig(
            parameters=r.parameters,
            tokens=request.tokens,
            gpu=gpu,
            gpus=settings.gpus,
            active_parameters=request.active_parameters,
            architecture=request.architecture,
            mfu=timing.effective_mfu,
            precision=precision,
            activation_checkpointing=settings.activation_checkpointing,
            include_attention_flops=request.include_attention_flops,
        )
    )
    total = memory.per_gpu.total_bytes
    usable = math.floor(gpu.memory_bytes * (1.0 - request.headroom))
    reasons: list[str] = []
    if total > usable:
        reasons.append(
            f"memory: needs {_gb(total)} per GPU but the {gpu.name} offers {_gb(usable)} usable"
        )
    if r.batch_sequences % grid:
        reasons.append(
            f"batch: the global batch of {r.batch_sequences} sequences is not a multiple of "
            f"micro-batch {settings.micro_batch_size} x data-parallel {data_parallel} = {grid}"
        )
    if request.max_days is not None and timing.days > request.max_days:
        reasons.append(f"max_days: takes {timing.days:.1f} days, over {request.max_days:g}")
    if request.max_cost_usd is not None:
        if timing.cost is None:
            reasons.append(f"no_price: no price is known for the {gpu.name}")
        elif timing.cost > request.max_cost_usd:
            reasons.append(
                f"max_cost_usd: costs {_money(timing.cost)}, over {_money(request.max_cost_usd)}"
            )
    if request.min_mfu is not None and timing.effective_mfu < request.min_mfu:
        reasons.append(
            f"min_mfu: effective MFU {timing.effective_mfu:.1%} is below {request.min_mfu:.1%}"
        )
    return PlanCandidate(
        settings=settings,
        gpu_name=gpu.name,
        data_parallel=data_parallel,
        micro_batches=m,
        per_gpu=memory.per_gpu,
        usable_gpu_memory_bytes=usable,
        memory_fraction=total / max(usable, 1),
        fits=total <= usable,
        feasible=not reasons,
        reasons=tuple(reasons),
        pipeline_bubble=1.0 - timing.efficiency,
        effective_mfu=timing.effective_mfu,
        gpu_hours=timing.gpu_hours,
        wall_clock_days=timing.days,
        cost_usd=timing.cost,
        tokens_per_second=request.tokens / (timing.gpu_seconds / settings.gpus),
        memory=memory,
        compute=compute,
    )


def evaluate_plan(request: PlanRequest, settings: PlanSettings) -> PlanCandidate:
    """Re-evaluate one configuration with the scalar reference path (full estimates).

    ``settings.gpu`` must be the slug of one of ``gpu_types`` or ``alternative_gpus``. Raises
    :class:`InvalidInputError` for settings :func:`estimate_memory` rejects, or when the global
    batch cannot give every data-parallel GPU one micro-batch.
    """
    normalised = replace(
        settings,
        strategy=_members("settings.strategy", Strategy, [settings.strategy])[0],
        offload=_members("settings.offload", Offload, [settings.offload])[0],
        activation_checkpointing=_members(
            "settings.activation_checkpointing", Checkpointing, [settings.activation_checkpointing]
        )[0],
    )
    return _evaluate(_resolve(request), normalised)


# --- the search --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rows:
    """A slice of one strategy's valid rows (GPU count, t, p), in enumeration order."""

    strategy: Strategy
    offload_codes: IntArray
    gpus: IntArray
    t: IntArray
    p: IntArray
    t_index: IntArray
    p_index: IntArray
    size: int


@dataclass(frozen=True, slots=True)
class _Block:
    """Rows of one strategy with their memory grid over (row, offload, micro-batch,
    checkpointing)."""

    strategy: Strategy
    offload_codes: IntArray
    gpus: IntArray
    t: IntArray
    p: IntArray
    data_parallel: IntArray
    communication: FloatArray
    total: IntArray

    @property
    def size(self) -> int:
        return int(self.total.size)


@dataclass(frozen=True, slots=True)
class _Pick:
    """A configuration picked during the search: its sort key and settings."""

    key: tuple[float, ...]
    settings: PlanSettings


@dataclass
class _Tally:
    """Counts of one strategy across GPU types (mutable while searching)."""

    evaluated: int = 0
    feasible: int = 0
    best: _Pick | None = None
    miss: _Pick | None = None
    limited: _Pick | None = None
    fitting: int = 0


def _rows(r: _Resolved) -> tuple[IntArray, IntArray, IntArray]:
    """Every valid (GPU count, t, p), in enumeration order."""
    gpus: list[int] = []
    ts: list[int] = []
    ps: list[int] = []
    for n in r.counts:
        for t in r.tensor:
            for p in r.pipeline:
                if n % (t * p) == 0:
                    gpus.append(n)
                    ts.append(t)
                    ps.append(p)
    as_array = np.asarray
    return (
        as_array(gpus, dtype=np.int64),
        as_array(ts, dtype=np.int64),
        as_array(ps, dtype=np.int64),
    )


def _communication(
    shape: _Shape, stage: int, t: IntArray, p: IntArray, degree: IntArray, replicas: IntArray
) -> FloatArray:
    """:func:`service.domain.memory.communication_bytes_per_step` for training, vectorised."""
    local = shape.parameters / (t * p)
    w, g = shape.bpp.weights, shape.bpp.gradients
    per_element = {0: 2.0 * g, 1: g + w, 2: g + w}.get(stage, g + 2.0 * w)
    within = local * per_element
    across = 2.0 * local / degree * g
    result: FloatArray = (degree > 1) * within + (replicas > 1) * across
    return result


def _row_blocks(r: _Resolved) -> list[_Rows]:
    """Each strategy's valid rows, in slices of at most :data:`BLOCK_CONFIGURATIONS`."""
    gpus, t, p = _rows(r)
    node = r.request.gpus_per_node
    t_index = np.searchsorted(np.asarray(r.tensor, dtype=np.int64), t)
    p_index = np.searchsorted(np.asarray(r.pipeline, dtype=np.int64), p)
    data_parallel = gpus // (t * p)
    per_row = len(r.micro_batches) * len(r.checkpointing)
    out: list[_Rows] = []
    for strategy in r.strategies:
        offloads = [o for o in r.offloads if o in OFFLOAD_SUPPORT[strategy]]
        if strategy is Strategy.SINGLE:
            keep = gpus == 1
        elif strategy is Strategy.FSDP_HYBRID_SHARD:
            keep = (data_parallel % node == 0) & (data_parallel > node)
        else:
            keep = gpus > 1
        rows = np.flatnonzero(keep)
        if not offloads or rows.size == 0:
            continue
        offload_codes = np.asarray([OFFLOADS.index(o) for o in offloads], dtype=np.int64)
        step = max(1, BLOCK_CONFIGURATIONS // (len(offloads) * per_row))
        for start in range(0, rows.size, step):
            part = rows[start : start + step]
            out.append(
                _Rows(
                    strategy=strategy,
                    offload_codes=offload_codes,
                    gpus=gpus[part],
                    t=t[part],
                    p=p[part],
                    t_index=t_index[part],
                    p_index=p_index[part],
                    size=part.size * len(offloads) * per_row,
                )
            )
    return out


def _activation_table(r: _Resolved) -> IntArray:
    """Activation bytes over (t, p, micro-batch, checkpointing) of the search space."""
    checkpoint_codes = [CHECKPOINTINGS.index(c) for c in r.checkpointing]
    return _activation_arrays(
        r.shape,
        np.asarray(r.tensor, dtype=np.int64)[:, None, None, None],
        np.asarray(r.pipeline, dtype=np.int64)[None, :, None, None],
        np.asarray(r.micro_batches, dtype=np.int64)[None, None, :, None],
        np.asarray(checkpoint_codes, dtype=np.int64)[None, None, None, :],
    )


def _grid(r: _Resolved, rows: _Rows, activations: IntArray) -> _Block:
    """Per-GPU bytes of every configuration of a slice of rows: model states and overhead per
    (row, offload) plus activations per (row, micro-batch, checkpointing)."""
    node = r.request.gpus_per_node
    data_parallel = rows.gpus // (rows.t * rows.p)
    hybrid = rows.strategy is Strategy.FSDP_HYBRID_SHARD
    degree = np.full_like(data_parallel, node) if hybrid else data_parallel
    stage = ZERO_STAGE[rows.strategy]
    weights, gradients, states, overhead = _state_arrays(
        r.shape,
        rows.t[:, None],
        rows.p[:, None],
        np.asarray(stage, dtype=np.int64),
        degree[:, None],
        rows.offload_codes[None, :],
    )
    fixed = weights + gradients + states + overhead
    row_activations = activations[rows.t_index, rows.p_index]
    replicas = data_parallel // degree
    return _Block(
        strategy=rows.strategy,
        offload_codes=rows.offload_codes,
        gpus=rows.gpus,
        t=rows.t,
        p=rows.p,
        data_parallel=data_parallel,
        communication=_communication(r.shape, stage, rows.t, rows.p, degree, replicas),
        total=fixed[:, :, None, None] + row_activations[:, None, :, :],
    )


def _blocks(r: _Resolved) -> list[_Block]:
    """Every block of the search space with its memory grid (for tests and benchmarks)."""
    activations = _activation_table(r)
    return [_grid(r, rows, activations) for rows in _row_blocks(r)]


def _lex_order(keys: Sequence[Callable[[IntArray], npt.NDArray[Any]]], idx: IntArray) -> IntArray:
    """``idx`` sorted by the keys, then by ``idx`` itself."""
    columns = [idx, *(key(idx) for key in reversed(keys))]
    return idx[np.lexsort(columns)]


def _lex_smallest(
    keys: Sequence[Callable[[IntArray], npt.NDArray[Any]]], idx: IntArray, k: int
) -> IntArray:
    """The ``k`` lexicographically smallest of ``idx`` in order, in time linear in ``idx``.

    Partition on the first key: everything below the k-th value is in, sorted fully; the ties
    at the k-th value compete on the remaining keys (recursively), the final tie-break being
    ``idx`` ascending.
    """
    if idx.size <= k:
        return _lex_order(keys, idx)
    if not keys:
        return np.sort(idx)[:k]
    values = keys[0](idx)
    kth = np.partition(values, k - 1)[k - 1]
    head = _lex_order(keys, idx[values < kth])
    ties = _lex_smallest(keys[1:], idx[values == kth], k - head.size)
    return np.concatenate([head, ties])


def _objective_order(objective: PlanObjective) -> tuple[int, int, int]:
    """Positions of (cost, days, gpus) in the sort key."""
    return {
        PlanObjective.COST: (0, 1, 2),
        PlanObjective.TIME: (1, 0, 2),
        PlanObjective.GPUS: (2, 0, 1),
    }[objective]


def _search_block(
    r: _Resolved,
    gpu: GpuSpec,
    block: _Block,
    base: int,
    tally: _Tally,
    counts: dict[str, int],
) -> list[_Pick]:
    """Evaluate one strategy's grid on one GPU type; return its top-k picks."""
    request = r.request
    usable = math.floor(gpu.memory_bytes * (1.0 - request.headroom))
    micro = np.asarray(r.micro_batches, dtype=np.int64)
    codes = [CHECKPOINTINGS.index(c) for c in r.checkpointing]
    executed = np.asarray([r.executed_total[c] for c in codes])
    ratio = np.asarray([r.flops_ratio[c] for c in codes])
    peak_flops = dense_peak_tflops(gpu, _gpu_precision(request, gpu))[1] * 1e12
    n_offloads = block.offload_codes.size
    n_checkpointing = len(codes)

    # Time and cost over (row, micro-batch, checkpointing); the same for every offload.
    grid = micro[None, :] * block.data_parallel[:, None]
    m = r.batch_sequences // grid
    batch_ok = r.batch_sequences % grid == 0
    m = np.maximum(m, 1)
    efficiency = m / (m + block.p[:, None] - 1)
    mfu_efficiency = request.mfu * efficiency
    gpu_seconds = executed[None, None, :] / (mfu_efficiency * peak_flops)[:, :, None]
    days = gpu_seconds / block.gpus[:, None, None] / SECONDS_PER_DAY
    gpu_hours = gpu_seconds / SECONDS_PER_HOUR
    price = gpu.price_per_hour_usd
    cost = gpu_hours * (math.inf if price is None else price)
    effective_mfu = mfu_efficiency[:, :, None] * ratio[None, None, :]
    ok = np.broadcast_to(batch_ok[:, :, None], days.shape)
    counts["batch"] += int(np.count_nonzero(~batch_ok)) * n_offloads * n_checkpointing
    limits: list[tuple[str, BoolArray]] = []
    if request.max_days is not None:
        limits.append(("max_days", days > request.max_days))
    if request.max_cost_usd is not None:
        limits.append(
            ("no_price" if price is None else "max_cost_usd", cost > request.max_cost_usd)
        )
    if request.min_mfu is not None:
        limits.append(("min_mfu", effective_mfu < request.min_mfu))
    for name, failed in limits:
        counts[name] += int(np.count_nonzero(failed)) * n_offloads
        ok = ok & ~failed

    fits = block.total <= usable
    feasible = fits & ok[:, None, :, :]
    n_fit = int(np.count_nonzero(fits))
    n_feasible = int(np.count_nonzero(feasible))
    counts["memory"] += block.size - n_fit
    tally.evaluated += block.size
    tally.feasible += n_feasible
    tally.fitting += n_fit
    shape = block.total.shape
    flat_total = block.total.reshape(-1)

    def settings_of(flat: int) -> PlanSettings:
        row, o, b, c = (int(i) for i in np.unravel_index(flat, shape))
        return PlanSettings(
            gpu=gpu.slug,
            gpus=int(block.gpus[row]),
            strategy=block.strategy,
            offload=OFFLOADS[int(block.offload_codes[o])],
            tensor_parallel=int(block.t[row]),
            pipeline_parallel=int(block.p[row]),
            micro_batch_size=r.micro_batches[b],
            activation_checkpointing=CHECKPOINTINGS[codes[c]],
            sharding_factor=(
                request.gpus_per_node if block.strategy is Strategy.FSDP_HYBRID_SHARD else None
            ),
        )

    # The smallest memory miss (preferring misses that pass every other check).
    if n_fit < block.size:
        # A miss must give every data-parallel GPU at least one micro-batch (m >= 1).
        misses = ~fits & (grid <= r.batch_sequences)[:, None, :, None]
        clean = misses & ok[:, None, :, :]
        pool = clean if np.any(clean) else misses
        flat = int(np.argmin(np.where(pool, block.total, np.iinfo(np.int64).max)))
        key = (
            0.0 if pool is clean else 1.0,
            float(flat_total[flat]) / max(usable, 1),
            float(base + flat),
        )
        if pool[np.unravel_index(flat, shape)] and (tally.miss is None or key < tally.miss.key):
            tally.miss = _Pick(key, settings_of(flat))

    def unravel(idx: IntArray) -> tuple[IntArray, ...]:
        return tuple(np.asarray(a, dtype=np.int64) for a in np.unravel_index(idx, shape))

    def cost_key(idx: IntArray) -> FloatArray:
        row, _, b, c = unravel(idx)
        return np.asarray(cost[row, b, c], dtype=np.float64)

    def days_key(idx: IntArray) -> FloatArray:
        row, _, b, c = unravel(idx)
        return np.asarray(days[row, b, c], dtype=np.float64)

    def gpus_key(idx: IntArray) -> IntArray:
        return block.gpus[unravel(idx)[0]]

    def offload_key(idx: IntArray) -> IntArray:
        return block.offload_codes[unravel(idx)[1]]

    checkpoint_codes = np.asarray(codes, dtype=np.int64)

    def checkpointing_key(idx: IntArray) -> IntArray:
        return checkpoint_codes[unravel(idx)[3]]

    model_parallel = block.t * block.p

    def model_parallel_key(idx: IntArray) -> IntArray:
        return model_parallel[unravel(idx)[0]]

    def tensor_key(idx: IntArray) -> IntArray:
        return block.t[unravel(idx)[0]]

    def communication_key(idx: IntArray) -> FloatArray:
        return block.communication[unravel(idx)[0]]

    def micro_batch_key(idx: IntArray) -> IntArray:
        return -micro[unravel(idx)[2]]

    def total_key(idx: IntArray) -> IntArray:
        return flat_total[idx]

    primary: list[Callable[[IntArray], npt.NDArray[Any]]] = [cost_key, days_key, gpus_key]
    keys = [primary[i] for i in _objective_order(r.objective)] + [
        offload_key,
        checkpointing_key,
        model_parallel_key,
        tensor_key,
        communication_key,
        micro_batch_key,
        total_key,
    ]

    def ranked(pool: BoolArray, k: int) -> list[_Pick]:
        chosen = _lex_smallest(keys, np.flatnonzero(pool).astype(np.int64), k)
        columns = [key(chosen).tolist() for key in keys]
        return [
            _Pick((*(float(col[i]) for col in columns), float(base + flat)), settings_of(flat))
            for i, flat in enumerate(chosen.tolist())
        ]

    # The best configuration by the objective that fits and splits the batch but misses a limit.
    if limits and n_fit > n_feasible:
        limited = fits & (batch_ok[:, None, :, None] & ~ok[:, None, :, :])
        if np.any(limited):
            pick = ranked(limited, 1)[0]
            if tally.limited is None or pick.key < tally.limited.key:
                tally.limited = pick
    if n_feasible == 0:
        return []
    picks = ranked(feasible, request.top_k)
    if tally.best is None or picks[0].key < tally.best.key:
        tally.best = picks[0]
    return picks


def search_plans(request: PlanRequest, progress: Progress | None = None) -> PlanResult:
    """Search the configuration space of a request and rank what is feasible.

    Every configuration's per-GPU memory, fit, time, cost and effective MFU are computed with
    numpy over whole grids (:func:`memory_arrays`'s terms); the top ``top_k``, each strategy's
    best and the nearest misses are then re-evaluated with the scalar reference
    (:func:`evaluate_plan`) so that they carry full estimates. ``progress(evaluated, total)`` is
    called a bounded number of times (see :data:`Progress`).
    """
    r = _resolve(request)
    slices = _row_blocks(r)
    activations = _activation_table(r)
    total = sum(rows.size for rows in slices) * len(r.gpus)
    if progress is not None:
        progress(0, total)
    counts = dict.fromkeys(REASONS, 0)
    tallies = {strategy: _Tally() for strategy in r.strategies}
    picks: list[_Pick] = []
    evaluated = 0
    for gpu in r.gpus:
        for rows in slices:
            block = _grid(r, rows, activations)
            found = _search_block(r, gpu, block, evaluated, tallies[block.strategy], counts)
            evaluated += block.size
            picks = sorted([*picks, *found], key=lambda pick: pick.key)[: request.top_k]
            if progress is not None:
                progress(evaluated, total)
    feasible_count = sum(tally.feasible for tally in tallies.values())
    top = tuple(_evaluate(r, pick.settings) for pick in picks)
    verdicts = tuple(_verdict(r, strategy, tallies[strategy]) for strategy in r.strategies)
    misses: tuple[NearMiss, ...] = ()
    if feasible_count == 0:
        misses = _nearest_misses(r, tallies)
    if progress is not None:
        progress(evaluated, total)
    return PlanResult(
        objective=r.objective,
        evaluated=evaluated,
        feasible_count=feasible_count,
        feasible=top,
        nearest_misses=misses,
        per_strategy=verdicts,
        infeasible_counts=counts,
        gpu_counts=r.counts,
        assumptions=_assumptions(r),
    )


def explain_strategies(request: PlanRequest) -> tuple[StrategyVerdict, ...]:
    """Each strategy's best configuration (or smallest miss) with a sentence saying why."""
    return search_plans(request).per_strategy


# --- explanations ------------------------------------------------------------------------------


def _describe(candidate: PlanCandidate) -> str:
    """``64 x A100-80GB, ZeRO-2, t=1, p=1, dp=64, micro-batch 4, no checkpointing, ...``."""
    s = candidate.settings
    sharding = (
        f" in groups of {s.sharding_factor}" if s.strategy is Strategy.FSDP_HYBRID_SHARD else ""
    )
    return (
        f"{s.gpus} x {candidate.gpu_name}, {_LABELS[s.strategy]}{sharding}, "
        f"t={s.tensor_parallel}, p={s.pipeline_parallel}, dp={candidate.data_parallel}, "
        f"micro-batch {s.micro_batch_size}, {_CHECKPOINTING_WORDS[s.activation_checkpointing]}, "
        f"{_OFFLOAD_WORDS[s.offload]}"
    )


def _figures(candidate: PlanCandidate) -> str:
    """Memory, days and cost of a candidate in words."""
    cost = "" if candidate.cost_usd is None else f", {_money(candidate.cost_usd)}"
    return (
        f"{_gb(candidate.per_gpu.total_bytes)} of {_gb(candidate.usable_gpu_memory_bytes)} "
        f"usable per GPU, {candidate.wall_clock_days:.1f} days{cost}"
    )


def _replica_sentence(r: _Resolved, strategy: Strategy) -> str | None:
    """Why a replicating strategy cannot fit without model parallelism, when it cannot.

    Applies to strategies that neither shard nor offload (DDP, FSDP no-shard): every
    data-parallel GPU keeps all model states, whatever the GPU count (ZeRO sec. 5 baseline).
    The model-state bytes come from :func:`estimate_memory` at t = p = 1.
    """
    if ZERO_STAGE[strategy] != 0 or OFFLOAD_SUPPORT[strategy] != {Offload.NONE}:
        return None
    largest = max(r.gpus, key=lambda gpu: gpu.memory_bytes)
    usable = math.floor(largest.memory_bytes * (1.0 - r.request.headroom))
    memory = estimate_memory(
        replace(r.template, strategy=strategy, gpus=2, gpu_memory_bytes=largest.memory_bytes)
    )
    states = memory.per_gpu.model_states_bytes
    if states <= usable:
        return None
    bpp = memory.resolved.bytes_per_parameter.total
    even = "even the " if len(r.gpus) > 1 else "the "
    return (
        f"{_LABELS[strategy]} does not fit without tensor or pipeline parallelism: "
        f"{bpp:g} bytes/parameter x {r.parameters / 1e9:.2f}B parameters = {_gb(states)} of "
        f"model states per GPU exceeds {even}{largest.name}'s {_gb(usable)} usable, whatever "
        "the GPU count (every data-parallel GPU keeps a full replica)."
    )


def _has_limits(request: PlanRequest) -> bool:
    """Whether the request sets any of max_days, max_cost_usd and min_mfu."""
    return any(
        limit is not None for limit in (request.max_days, request.max_cost_usd, request.min_mfu)
    )


def _verdict(r: _Resolved, strategy: Strategy, tally: _Tally) -> StrategyVerdict:
    """One strategy's best configuration, else its best limit miss, else its smallest memory
    miss, with a sentence."""
    label = _LABELS[strategy]
    replica = _replica_sentence(r, strategy)
    prefix = f"{replica} With model parallelism it" if replica else f"{label}"
    best: PlanCandidate | None = None
    objective = r.objective.value
    if tally.best is not None:
        best = _evaluate(r, tally.best.settings)
        sentence = f"{prefix} fits: the best by {objective} is {_describe(best)}: {_figures(best)}."
    elif tally.limited is not None:
        best = _evaluate(r, tally.limited.settings)
        sentence = (
            f"{prefix} fits in memory but misses the limits: the best by {objective}, "
            f"{_describe(best)}, {_figures(best)}, fails {'; '.join(best.reasons)}."
        )
    elif tally.miss is not None:
        best = _evaluate(r, tally.miss.settings)
        nearest = (
            f"the nearest configuration, {_describe(best)}, needs {_gb(best.per_gpu.total_bytes)} "
            f"per GPU but the {best.gpu_name} offers {_gb(best.usable_gpu_memory_bytes)} usable"
        )
        if best.reasons[1:]:
            nearest += " (and fails " + "; ".join(best.reasons[1:]) + ")"
        if tally.fitting:
            nearest += (
                f"; {tally.fitting:,} of its configurations fit in memory but none splits the "
                f"global batch of {r.batch_sequences} sequences evenly"
            )
        sentence = (
            f"{replica} Even with model parallelism {nearest}."
            if replica
            else f"{label} does not fit: {nearest}."
        )
    elif tally.evaluated:
        sentence = (
            f"{label} has no feasible configuration: {tally.fitting:,} of its "
            f"{tally.evaluated:,} fit in memory, but none of those splits the global batch of "
            f"{r.batch_sequences} sequences into whole micro-batches for every data-parallel GPU"
            + (" and meets the limits." if _has_limits(r.request) else ".")
        )
    else:
        sentence = (
            f"{label} was not evaluated: no configuration of it is in the search space (the "
            "GPU counts, the offload modes requested or, for hybrid sharding, a data-parallel "
            f"degree that is a multiple of and larger than {r.request.gpus_per_node})."
        )
    return StrategyVerdict(
        strategy=strategy,
        fits=tally.best is not None,
        best=best,
        evaluated=tally.evaluated,
        feasible_count=tally.feasible,
        sentence=sentence,
    )


def _try(r: _Resolved, settings: PlanSettings) -> PlanCandidate | None:
    """Evaluate a changed configuration; ``None`` if it is not a valid one."""
    try:
        return _evaluate(r, settings)
    except InvalidInputError:
        return None


def _others(candidate: PlanCandidate) -> list[str]:
    """The reasons a candidate fails besides memory."""
    return [reason for reason in candidate.reasons if not reason.startswith("memory")]


def _remedy(miss: PlanCandidate, kind: str, candidate: PlanCandidate, what: str) -> Remedy:
    """A remedy sentence: memory figures for a memory miss, time and cost for a limit miss."""
    gpu = "" if candidate.settings.gpu == miss.settings.gpu else f" on the {candidate.gpu_name}"
    total = candidate.per_gpu.total_bytes
    if not miss.fits:
        if candidate.fits:
            others = _others(candidate)
            verdict = "fits" + (f", but fails {'; '.join(others)}" if others else "")
        else:
            verdict = f"still {_gb(total - candidate.usable_gpu_memory_bytes)} over"
        return Remedy(kind, f"{what}{gpu} brings it to {_gb(total)} ({verdict})", candidate)
    verdict = (
        "meets every limit" if candidate.feasible else f"still fails {'; '.join(candidate.reasons)}"
    )
    return Remedy(kind, f"{what}{gpu}: {_figures(candidate)} ({verdict})", candidate)


def _more_gpus(r: _Resolved, miss: PlanCandidate) -> Remedy | None:
    """The smallest doubling of the GPU count that makes the miss feasible, with the largest
    micro-batch (no larger than the miss's) the global batch still divides; for a memory miss
    of a sharding strategy, else the smallest doubling that fits in memory."""
    s = miss.settings
    replicated = ZERO_STAGE[s.strategy] == 0 or s.strategy is Strategy.FSDP_HYBRID_SHARD
    if s.strategy is Strategy.SINGLE or (replicated and not miss.fits):
        return None
    sizes = sorted((b for b in r.micro_batches if b <= s.micro_batch_size), reverse=True)
    fallback: PlanCandidate | None = None
    for k in range(1, MAX_GPU_DOUBLINGS + 1):
        tried = [_try(r, replace(s, gpus=s.gpus << k, micro_batch_size=b)) for b in sizes]
        valid = [candidate for candidate in tried if candidate is not None]
        feasible = [candidate for candidate in valid if candidate.feasible]
        fitting = [candidate for candidate in valid if candidate.fits]
        if feasible:
            fallback = feasible[0]
            break
        if fallback is None and fitting and not miss.fits:
            clean = [c for c in fitting if not any(x.startswith("batch") for x in c.reasons)]
            fallback = (clean or fitting)[0]
    if fallback is None:
        return None
    batch = fallback.settings.micro_batch_size
    what = f"{_LABELS[s.strategy]} over {fallback.settings.gpus} GPUs" + (
        f" with micro-batch {batch}" if batch != s.micro_batch_size else ""
    )
    return _remedy(miss, "more-gpus", fallback, what)


def _memory_tries(r: _Resolved, s: PlanSettings) -> list[tuple[str, PlanSettings, str]]:
    """Single changes that lower the memory of a configuration."""
    tries: list[tuple[str, PlanSettings, str]] = []
    stage = ZERO_STAGE[s.strategy]
    family = _FSDP_SHARDING if s.strategy in _FSDP else _DEEPSPEED_SHARDING
    for stronger in family:
        if ZERO_STAGE[stronger] > stage and s.gpus > 1:
            offload = s.offload if s.offload in OFFLOAD_SUPPORT[stronger] else Offload.NONE
            changed = replace(s, strategy=stronger, offload=offload, sharding_factor=None)
            tries.append(("sharding", changed, f"{_LABELS[stronger]} on the same {s.gpus} GPUs"))
    for mode in (Checkpointing.SELECTIVE, Checkpointing.FULL):
        if CHECKPOINTINGS.index(mode) > CHECKPOINTINGS.index(s.activation_checkpointing):
            what = {Checkpointing.SELECTIVE: "Selective", Checkpointing.FULL: "Full"}[mode]
            changed = replace(s, activation_checkpointing=mode)
            tries.append(("checkpointing", changed, f"{what} activation checkpointing"))
    for offload in (Offload.OPTIMIZER, Offload.OPTIMIZER_AND_PARAMETERS):
        if OFFLOADS.index(offload) > OFFLOADS.index(s.offload) and (
            offload in OFFLOAD_SUPPORT[s.strategy]
        ):
            what = _OFFLOAD_WORDS[offload].capitalize()
            tries.append(("offload", replace(s, offload=offload), what))
    smallest = min(r.micro_batches)
    if s.micro_batch_size > smallest:
        changed = replace(s, micro_batch_size=smallest)
        tries.append(("micro-batch", changed, f"Micro-batch {smallest}"))
    for t in r.tensor:
        if t > s.tensor_parallel and s.gpus % (t * s.pipeline_parallel) == 0:
            what = f"Tensor parallelism {t}"
            tries.append(("model-parallel", replace(s, tensor_parallel=t), what))
            break
    for p in r.pipeline:
        if p > s.pipeline_parallel and s.gpus % (s.tensor_parallel * p) == 0:
            what = f"Pipeline parallelism {p}"
            tries.append(("model-parallel", replace(s, pipeline_parallel=p), what))
            break
    return tries


def _limit_tries(s: PlanSettings) -> list[tuple[str, PlanSettings, str]]:
    """Single changes that make a configuration faster or cheaper: lighter checkpointing."""
    return [
        (
            "checkpointing",
            replace(s, activation_checkpointing=mode),
            _CHECKPOINTING_WORDS[mode].capitalize(),
        )
        for mode in (Checkpointing.NONE, Checkpointing.SELECTIVE)
        if CHECKPOINTINGS.index(mode) < CHECKPOINTINGS.index(s.activation_checkpointing)
    ]


def _other_gpu(r: _Resolved, miss: PlanCandidate) -> Remedy | None:
    """Another GPU type that makes the miss feasible (for a memory miss, a larger one that at
    least fits), the smallest first."""
    s = miss.settings
    fallback: PlanCandidate | None = None
    for gpu in sorted(r.catalogue.values(), key=lambda gpu: (gpu.memory_bytes, gpu.slug)):
        usable = math.floor(gpu.memory_bytes * (1.0 - r.request.headroom))
        if gpu.slug == s.gpu or (not miss.fits and usable <= miss.usable_gpu_memory_bytes):
            continue
        candidate = _try(r, replace(s, gpu=gpu.slug))
        if candidate is None:
            continue
        if candidate.feasible:
            fallback = candidate
            break
        if fallback is None and candidate.fits and not miss.fits:
            fallback = candidate
    if fallback is None:
        return None
    return _remedy(miss, "larger-gpu" if not miss.fits else "other-gpu", fallback, "The same plan")


def _remedies(r: _Resolved, miss: PlanCandidate) -> list[Remedy]:
    """Single changes to a miss, each re-evaluated with the scalar path."""
    tries = _memory_tries(r, miss.settings) if not miss.fits else _limit_tries(miss.settings)
    out = [_more_gpus(r, miss)]
    for kind, settings, what in tries:
        candidate = _try(r, settings)
        if candidate is not None:
            out.append(_remedy(miss, kind, candidate, what))
    out.append(_other_gpu(r, miss))
    return [remedy for remedy in out if remedy is not None]


def _near_miss(r: _Resolved, miss: PlanCandidate) -> NearMiss:
    """A miss with the sentences saying what would make it fit (or meet the limits)."""
    remedies = _remedies(r, miss)
    needs: list[str] = []
    if not miss.fits:
        total = miss.per_gpu.total_bytes
        usable = miss.usable_gpu_memory_bytes
        needs.append(
            f"needs {_gb(total)} per GPU but the {miss.gpu_name} offers {_gb(usable)} usable "
            f"({_gb(total - usable)} over)"
        )
    needs.extend(_others(miss))
    working = [remedy for remedy in remedies if remedy.candidate.feasible]
    if not working and not miss.fits:
        working = [remedy for remedy in remedies if remedy.fits]
    seen: set[str] = set()
    for remedy in working:
        if remedy.kind not in seen:
            seen.add(remedy.kind)
            needs.append(remedy.sentence)
    if not working and remedies:
        closest = min(remedies, key=lambda remedy: remedy.candidate.memory_fraction)
        needs.append(closest.sentence + "; no single change tried is enough")
    return NearMiss(candidate=miss, needs=tuple(needs), remedies=tuple(remedies))


def _nearest_misses(r: _Resolved, tallies: Mapping[Strategy, _Tally]) -> tuple[NearMiss, ...]:
    """Per strategy its best limit miss, else its smallest memory miss; limit misses first,
    then memory misses by ``total / usable``; equivalent configurations once."""
    picks: list[tuple[tuple[float, ...], PlanSettings]] = []
    for tally in tallies.values():
        if tally.limited is not None:
            picks.append(((0.0, *tally.limited.key), tally.limited.settings))
        elif tally.miss is not None:
            picks.append(((1.0, *tally.miss.key), tally.miss.settings))
    picks.sort(key=lambda pick: pick[0])
    out: list[NearMiss] = []
    seen: set[tuple[object, ...]] = set()
    for _, settings in picks:
        if len(out) >= r.request.misses:
            break
        candidate = _evaluate(r, settings)
        s = candidate.settings
        same = (
            s.gpu,
            s.gpus,
            s.tensor_parallel,
            s.pipeline_parallel,
            s.offload,
            s.micro_batch_size,
            s.activation_checkpointing,
            candidate.per_gpu.total_bytes,
        )
        if same not in seen:
            seen.add(same)
            out.append(_near_miss(r, candidate))
    return tuple(out)


def _assumptions(r: _Resolved) -> tuple[str, ...]:
    """Plain sentences stating the search's conventions."""
    request = r.request
    return (
        f"Searched GPU counts: powers of two and multiples of {request.gpus_per_node} "
        f"(one node) up to {request.max_gpus}; tensor parallelism {r.tensor} within a node; "
        f"pipeline parallelism {r.pipeline} (divisors of the layer count up to "
        f"{MAX_PIPELINE_PARALLEL}); data parallelism = GPUs / (t x p).",
        "Per-GPU memory is service.domain.memory.estimate_memory's (ZeRO, Korthikanti et al. "
        "2022), computed for whole grids with numpy and re-evaluated with the scalar function "
        "for every configuration shown.",
        f"Time uses {r.request.mfu:.0%} MFU on executed FLOPs (6N per token, 8N with full "
        "recomputation) times the pipeline efficiency m / (m + p - 1) of the 1F1B schedule "
        "(Narayanan et al. 2021, sec. 2.2), m being the micro-batches per pipeline per step.",
        f"The global batch is {request.global_batch_tokens:,} tokens ({r.batch_sequences} "
        "sequences); it must split into a whole number m >= 1 of micro-batches per "
        "data-parallel GPU (Megatron-LM requires global batch divisible by micro-batch x "
        "data-parallel size).",
        "Communication is assumed to overlap perfectly with computation and offloading to cost "
        "no time; only the pipeline bubble and recomputation slow a configuration down.",
        "Activation memory assumes p micro-batches in flight on the first pipeline stage even "
        "when m < p, which overstates it slightly for short pipelines of few micro-batches.",
        "Offload is only combined with strategies whose framework offers it: ZeRO-1/2 optimizer "
        "offload, ZeRO-3 optimizer and parameter offload, FSDP CPUOffload (parameters, "
        "gradients and optimizer), ZeRO-Offload/Infinity on one GPU; never DDP or FSDP no-shard.",
        "Cost is GPU-hours x the GPU's price; GPUs without a price rank after priced ones by cost "
        "and fail max_cost_usd.",
        "Ties are broken by: " + "; ".join(TIE_BREAKS) + ".",
        "Gigabytes in sentences are decimal (1 GB = 10^9 bytes).",
    )
