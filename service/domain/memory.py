"""GPU memory of training (or serving) a transformer: model states, activations, overhead.

Model states follow Rajbhandari et al. 2019/2020, "ZeRO: Memory Optimizations Toward Training
Trillion Parameter Models" (SC20, arXiv:1910.02054):

* sec. 3.1: mixed-precision Adam keeps fp16 weights and gradients (``2Ψ + 2Ψ`` bytes) and an
  fp32 copy of the weights, momentum and variance (``KΨ`` with ``K = 12``): ``16Ψ`` bytes for
  ``Ψ`` parameters;
* sec. 5, Fig. 1: with data-parallel degree ``N_d`` the per-GPU model states are
  ``(2 + 2 + K)Ψ`` (baseline), ``2Ψ + 2Ψ + KΨ/N_d`` (stage 1, ``P_os``),
  ``2Ψ + (2 + K)Ψ/N_d`` (stage 2, ``P_os+g``) and ``(2 + 2 + K)Ψ/N_d`` (stage 3, ``P_os+g+p``);
* sec. 7: data-parallel traffic per GPU and step is ``2Ψ`` (all-reduce = reduce-scatter +
  all-gather) for the baseline and stages 1-2 and ``3Ψ`` for stage 3 (all-gather of the
  parameters in the forward and again in the backward pass, reduce-scatter of the gradients).

PyTorch FSDP (Zhao et al. 2023, "PyTorch FSDP: Experiences on Scaling Fully Sharded Data
Parallel", VLDB, sec. 3.2) maps onto the same algebra: ``FULL_SHARD`` = stage 3,
``SHARD_GRAD_OP`` = stage 2, ``NO_SHARD`` = DDP, and ``HYBRID_SHARD`` = stage 3 inside groups of
``sharding_factor`` GPUs with replicas across groups (one extra all-reduce of the gradient shard
between replicas).

Tensor and pipeline parallelism (Shoeybi et al. 2019, "Megatron-LM", sec. 3; Narayanan et al.
2021, "Efficient Large-Scale Language Model Training on GPU Clusters Using Megatron-LM", sec. 2-3)
split the model ``t·p`` ways before data parallelism shards what is left, so the data-parallel
degree is ``N_d = gpus / (t·p)``. Offloading follows ZeRO-Offload (Ren et al. 2021, USENIX ATC,
sec. 3-4, the offload strategy and single-GPU schedule: fp16 parameters stay on the GPU,
gradients and every fp32 optimizer state move to the CPU) and ZeRO-Infinity (Rajbhandari et al.
2021, SC21) / FSDP ``CPUOffload(offload_params=True)`` (parameters too). Activations come from
:mod:`service.domain.activations`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from service.domain.activations import (
    DEFAULT_SEQUENCE_LENGTH,
    ActivationConfig,
    ActivationEstimate,
    activation_memory,
    derive_architecture,
    layer_counts,
)
from service.domain.architecture import Architecture
from service.domain.errors import InvalidInputError
from service.domain.types import (
    Attention,
    Checkpointing,
    Convention,
    Family,
    Offload,
    Optimizer,
    Precision,
    Strategy,
)

_E = TypeVar("_E", bound=StrEnum)


class Mode(StrEnum):
    """What the GPUs do: train (weights, gradients, optimizer) or serve (weights only)."""

    TRAINING = "training"
    INFERENCE = "inference"


#: Bytes per stored weight (IEEE 754 binary32/16, bfloat16, FP8 of Micikevicius et al. 2022,
#: int8/int4 integers). Mixed precision computes with 16-bit weights (ZeRO sec. 3.1).
WEIGHT_BYTES: dict[Precision, float] = {
    Precision.FP32: 4.0,
    Precision.FP16: 2.0,
    Precision.BF16: 2.0,
    Precision.MIXED_FP16: 2.0,
    Precision.MIXED_BF16: 2.0,
    Precision.FP8: 1.0,
    Precision.INT8: 1.0,
    Precision.INT4: 0.5,
}
#: Precisions accepted for training; fp8, int8 and int4 describe stored or served weights.
TRAINING_PRECISIONS = frozenset(
    {Precision.FP32, Precision.FP16, Precision.BF16, Precision.MIXED_FP16, Precision.MIXED_BF16}
)
MIXED_PRECISIONS = frozenset({Precision.MIXED_FP16, Precision.MIXED_BF16})
#: Bytes of the fp32 master weights of mixed precision (Micikevicius et al. 2018, "Mixed
#: Precision Training", sec. 3.1; ZeRO sec. 3.1).
MASTER_WEIGHT_BYTES = 4.0
#: Full-size optimizer states per parameter: Adam's momentum and variance (Kingma & Ba 2015,
#: Algorithm 1), SGD's momentum buffer, none for plain SGD. Adafactor and 8-bit AdamW are
#: handled in :func:`bytes_per_parameter`.
OPTIMIZER_STATES: dict[Optimizer, float] = {
    Optimizer.ADAM: 2.0,
    Optimizer.ADAMW: 2.0,
    Optimizer.SGD: 0.0,
    Optimizer.SGD_MOMENTUM: 1.0,
    Optimizer.ADAFACTOR: 0.0,
    Optimizer.ADAMW_8BIT: 2.0,
}
#: Bytes per 8-bit optimizer state value (Dettmers et al. 2022, "8-bit Optimizers via
#: Block-wise Quantization", ICLR: both Adam moments quantised block-wise, blocks of 2048).
EIGHT_BIT_STATE_BYTES = 1.0
#: ZeRO stage equivalent of each strategy: which of optimizer states (1), gradients (2) and
#: parameters (3) are sharded (ZeRO sec. 5; FSDP sec. 3.2).
ZERO_STAGE: dict[Strategy, int] = {
    Strategy.SINGLE: 0,
    Strategy.DDP: 0,
    Strategy.FSDP_NO_SHARD: 0,
    Strategy.ZERO_1: 1,
    Strategy.ZERO_2: 2,
    Strategy.FSDP_SHARD_GRAD_OP: 2,
    Strategy.ZERO_3: 3,
    Strategy.FSDP_FULL_SHARD: 3,
    Strategy.FSDP_HYBRID_SHARD: 3,
}
#: CUDA context, cuBLAS/cuDNN workspaces and loaded kernels. The Hugging Face "Model training
#: anatomy" guide puts the kernels alone at 1-2 GB; with lazy module loading (CUDA 11.7+) the
#: lower end applies. Configurable per request.
DEFAULT_FRAMEWORK_OVERHEAD_BYTES = 2**30
#: Share of GPU memory left unused when deciding ``fits``: PyTorch's caching allocator
#: fragments memory and the backward pass allocates temporary gradient buffers.
DEFAULT_HEADROOM = 0.10
#: Layers whose parameters are gathered at once under parameter sharding: the one computing and
#: the one prefetched (FSDP's default backward prefetch and its rate limiter allow at most two
#: in-flight all-gathers, Zhao et al. 2023, backward prefetching and rate limiter; DeepSpeed's
#: stage-3 prefetch bucket plays the same role).
GATHERED_LAYERS = 2
#: Input bounds: beyond them the estimate is meaningless (and floats could overflow).
MAX_PARAMETERS = 10**15
MAX_GPUS = 10**7
MAX_MICRO_BATCH = 10**6
MAX_SEQUENCE_LENGTH = 10**8


@dataclass(frozen=True, slots=True)
class MemoryConfig:
    """Everything a memory estimate depends on; defaults describe one GPU training in bf16.

    ``parameters`` is the total parameter count. ``architecture`` is optional: without it a
    GPT-like shape is derived from ``parameters`` for the activations
    (:func:`service.domain.activations.derive_architecture`). ``sequence_length=None`` takes the
    architecture's context length (2048 for a derived shape). ``sharding_factor`` is only for
    ``fsdp-hybrid-shard``. ``gpu_memory_bytes`` (optional) is one GPU's capacity for ``fits``;
    ``headroom`` is the fraction of it kept free. ``attention`` defaults to ``flash``, the kernel
    PyTorch SDPA, Hugging Face Transformers and Megatron-Core pick by default; ``dropout``
    defaults to ``True``, the Korthikanti et al. accounting (GPT-2/BERT/T5 style).
    """

    parameters: int
    architecture: Architecture | None = None
    mode: Mode = Mode.TRAINING
    precision: Precision = Precision.MIXED_BF16
    optimizer: Optimizer = Optimizer.ADAMW
    strategy: Strategy = Strategy.SINGLE
    gpus: int = 1
    sharding_factor: int | None = None
    offload: Offload = Offload.NONE
    tensor_parallel: int = 1
    pipeline_parallel: int = 1
    sequence_parallel: bool = False
    micro_batch_size: int = 1
    sequence_length: int | None = None
    activation_checkpointing: Checkpointing = Checkpointing.NONE
    attention: Attention = Attention.FLASH
    dropout: bool = True
    convention: Convention = Convention.ZERO
    gpu_memory_bytes: int | None = None
    headroom: float = DEFAULT_HEADROOM
    framework_overhead_bytes: int = DEFAULT_FRAMEWORK_OVERHEAD_BYTES


@dataclass(frozen=True, slots=True)
class BytesPerParameter:
    """Bytes each parameter costs: weights, gradients, optimizer states (master copy included)."""

    weights: float
    gradients: float
    optimizer_states: float

    @property
    def total(self) -> float:
        """All model-state bytes per parameter (16 for mixed-precision Adam, ZeRO sec. 3.1)."""
        return self.weights + self.gradients + self.optimizer_states


@dataclass(frozen=True, slots=True)
class PerGpuMemory:
    """Bytes on one GPU; ``model_states_bytes`` = weights + gradients + optimizer states and
    ``total_bytes`` = model states + activations + overhead."""

    weights_bytes: int
    gradients_bytes: int
    optimizer_states_bytes: int
    model_states_bytes: int
    activations_bytes: int
    overhead_bytes: int
    total_bytes: int


@dataclass(frozen=True, slots=True)
class ResolvedMemoryInputs:
    """The values the estimate actually used, after defaults and derivations.

    ``data_parallel`` is ``gpus / (t·p)``; ``sharding_degree`` the number of GPUs sharding the
    model states (``data_parallel``, or ``sharding_factor`` for hybrid sharding);
    ``replicas`` the number of such groups; ``zero_stage`` the ZeRO stage the strategy amounts
    to; ``bytes_per_parameter`` before any sharding.
    """

    parameters: int
    architecture: Architecture
    architecture_derived: bool
    mode: Mode
    precision: Precision
    sequence_length: int
    micro_batch_size: int
    gpus: int
    tensor_parallel: int
    pipeline_parallel: int
    data_parallel: int
    sharding_degree: int
    replicas: int
    zero_stage: int
    bytes_per_parameter: BytesPerParameter
    activation_bytes_per_element: int


@dataclass(frozen=True, slots=True)
class MemoryEstimate:
    """The answer: bytes per GPU, host memory for offloading, fit, traffic, and assumptions.

    ``cpu_offload_bytes`` is host memory per GPU (multiply by GPUs per node for a node's RAM).
    ``usable_gpu_memory_bytes`` is ``gpu_memory_bytes × (1 - headroom)``, and ``fits`` compares
    ``per_gpu.total_bytes`` with it (``None`` without a capacity). ``communication_bytes_per_step``
    is what one GPU sends per optimizer step for data parallelism.
    """

    per_gpu: PerGpuMemory
    activations: ActivationEstimate
    cpu_offload_bytes: int
    gpu_memory_bytes: int | None
    usable_gpu_memory_bytes: int | None
    headroom: float
    fits: bool | None
    communication_bytes_per_step: int
    resolved: ResolvedMemoryInputs
    assumptions: tuple[str, ...]


def _bytes(value: float) -> int:
    """Round a byte count half up to an integer."""
    return math.floor(value + 0.5)


def storage_bytes(parameters: int, precision: Precision) -> int:
    """Bytes to store ``parameters`` weights: 4 GB per billion in fp32, 2 in fp16/bf16, 1 in
    int8/fp8, 0.5 in int4 (the course's rule of thumb; quantisation scales not included)."""
    return _bytes(parameters * WEIGHT_BYTES[Precision(precision)])


def bytes_per_parameter(
    precision: Precision,
    optimizer: Optimizer,
    *,
    mode: Mode = Mode.TRAINING,
    convention: Convention = Convention.ZERO,
    d_model: int | None = None,
) -> BytesPerParameter:
    """Bytes per parameter of weights, gradients and optimizer states before any sharding.

    * ``fp32``: 4 + 4 + states in fp32 (Adam: 16 bytes in all; no master copy).
    * ``fp16``/``bf16`` (pure half precision): 2 + 2 + states in the same 16-bit format, no
      master copy (what ``torch.optim`` does for a model cast to bf16).
    * ``mixed-fp16``/``mixed-bf16``: 2 + 2 + (4 master + fp32 states), ZeRO sec. 3.1 (Adam:
      K = 12, 16 in all). ``convention=megatron`` keeps fp32 gradients, 2 + 4 + 12 = 18, as
      Megatron-LM's distributed-optimizer guide counts for bf16 (``--accumulate-allreduce-grads-
      in-fp32``).
    * optimizer states: Adam/AdamW two, SGD with momentum one, SGD none (Kingma & Ba 2015);
      8-bit AdamW two 1-byte states (Dettmers et al. 2022); Adafactor (Shazeer & Stern 2018,
      "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost", ICML: factored
      second-moment estimation, momentum removed, ``beta1 = 0``) keeps a row and a column
      accumulator per matrix, ``n + m`` values for ``n·m`` parameters, taken as a square
      ``d_model × d_model`` matrix: ``2 / d_model`` states per parameter.
    * inference: weights only.
    """
    precision = Precision(precision)
    optimizer = Optimizer(optimizer)
    weights = WEIGHT_BYTES[precision]
    if Mode(mode) is Mode.INFERENCE:
        return BytesPerParameter(weights, 0.0, 0.0)
    if precision not in TRAINING_PRECISIONS:
        raise InvalidInputError(
            "precision",
            f"{precision.value} is a storage/inference precision; train with fp32, fp16, bf16, "
            "mixed-fp16 or mixed-bf16 (FP8 training keeps bf16 weights and fp32 master weights, "
            "so plan it as mixed-bf16), or set mode to inference",
        )
    mixed = precision in MIXED_PRECISIONS
    fp32_gradients = mixed and Convention(convention) is Convention.MEGATRON
    gradients = 4.0 if fp32_gradients else weights
    state_bytes = 4.0 if mixed else weights
    if optimizer is Optimizer.ADAMW_8BIT:
        state_bytes = EIGHT_BIT_STATE_BYTES
    states = OPTIMIZER_STATES[optimizer]
    if optimizer is Optimizer.ADAFACTOR:
        if d_model is None or d_model < 1:
            raise InvalidInputError("optimizer", "adafactor needs the model width (d_model)")
        states = 2.0 / d_model
    master = MASTER_WEIGHT_BYTES if mixed else 0.0
    return BytesPerParameter(weights, gradients, master + states * state_bytes)


def data_parallel_degree(gpus: int, tensor_parallel: int = 1, pipeline_parallel: int = 1) -> int:
    """``N_d = gpus / (t·p)`` (Narayanan et al. 2021, sec. 3: ``n = p·t·d``); must be exact."""
    for name, value in (
        ("gpus", gpus),
        ("tensor_parallel", tensor_parallel),
        ("pipeline_parallel", pipeline_parallel),
    ):
        if value < 1:
            raise InvalidInputError(name, "must be a positive integer")
    model_parallel = tensor_parallel * pipeline_parallel
    if gpus % model_parallel:
        raise InvalidInputError(
            "gpus",
            f"{gpus} GPUs cannot be split into groups of tensor_parallel × pipeline_parallel = "
            f"{tensor_parallel} × {pipeline_parallel} = {model_parallel}; "
            "the GPU count must be a multiple of it",
        )
    return gpus // model_parallel


def communication_bytes_per_step(
    parameters: int,
    bpp: BytesPerParameter,
    zero_stage: int,
    sharding_degree: int,
    replicas: int,
    model_parallel: int = 1,
    *,
    training: bool = True,
) -> float:
    """Data-parallel bytes one GPU sends per optimizer step (ZeRO sec. 7).

    Each GPU holds ``Ψ' = Ψ / (t·p)`` parameters. Baseline data parallelism all-reduces the
    gradients: ``2Ψ'`` elements at the gradient size. Stages 1 and 2 reduce-scatter the gradients
    (``Ψ'`` at the gradient size) and all-gather the updated parameters (``Ψ'`` at the weight
    size). Stage 3 all-gathers the parameters twice (forward, backward) and reduce-scatters the
    gradients once: ``3Ψ'``. Hybrid sharding adds an all-reduce of each GPU's gradient shard
    across the ``replicas`` groups, ``2Ψ'/F``. These are ZeRO's bandwidth-optimal figures; a
    ring moves ``(N-1)/N`` of them. Nothing moves without peers. One micro-batch per step is
    assumed (stage 3 repeats its all-gathers for every accumulated micro-batch). Inference with
    sharded parameters all-gathers them once per forward pass.
    """
    local = parameters / model_parallel
    w, g = bpp.weights, bpp.gradients
    has_peers = 1.0 if sharding_degree > 1 else 0.0
    has_replicas = 1.0 if replicas > 1 else 0.0
    if not training:
        return has_peers * local * w if zero_stage == 3 else 0.0
    if zero_stage == 0:
        within = 2.0 * local * g
    elif zero_stage < 3:
        within = local * (g + w)
    else:
        within = local * (g + 2.0 * w)
    across = 2.0 * local / sharding_degree * g
    return has_peers * within + has_replicas * across


def _enum(kind: type[_E], value: str, name: str) -> _E:
    """Accept an enum member or its wire string; reject anything else with the field name."""
    if isinstance(value, kind):  # already a member (the API's validated requests)
        return value
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(member.value for member in kind)
        raise InvalidInputError(name, f"unknown value {value!r}; use one of {known}") from None


def _bounded(name: str, value: int, upper: int) -> None:
    """Require ``1 <= value <= upper``."""
    if value < 1 or value > upper:
        raise InvalidInputError(name, f"must be an integer between 1 and {upper}")


def _validate(config: MemoryConfig) -> None:
    """Range checks that do not depend on other inputs."""
    _bounded("parameters", config.parameters, MAX_PARAMETERS)
    _bounded("gpus", config.gpus, MAX_GPUS)
    _bounded("micro_batch_size", config.micro_batch_size, MAX_MICRO_BATCH)
    if config.sequence_length is not None:
        _bounded("sequence_length", config.sequence_length, MAX_SEQUENCE_LENGTH)
    _bounded("tensor_parallel", config.tensor_parallel, config.gpus)
    _bounded("pipeline_parallel", config.pipeline_parallel, config.gpus)
    if not 0.0 <= config.headroom < 1.0:
        raise InvalidInputError("headroom", "must be a fraction in [0, 1)")
    if config.gpu_memory_bytes is not None and config.gpu_memory_bytes < 1:
        raise InvalidInputError("gpu_memory_bytes", "must be a positive number of bytes")
    if config.framework_overhead_bytes < 0:
        raise InvalidInputError("framework_overhead_bytes", "must not be negative")


def _sharding(config: MemoryConfig, strategy: Strategy, data_parallel: int) -> tuple[int, int]:
    """(GPUs sharding the model states, replica groups) for a strategy."""
    if strategy is Strategy.SINGLE and config.gpus != 1:
        raise InvalidInputError(
            "gpus",
            f"strategy single runs on one GPU, not {config.gpus}; pick ddp, zero-* or fsdp-*",
        )
    factor = config.sharding_factor
    if strategy is not Strategy.FSDP_HYBRID_SHARD:
        if factor is not None:
            raise InvalidInputError("sharding_factor", "only applies to fsdp-hybrid-shard")
        return data_parallel, 1
    if factor is None or factor < 1 or data_parallel % factor:
        raise InvalidInputError(
            "sharding_factor",
            f"fsdp-hybrid-shard needs a sharding_factor that divides the data-parallel degree "
            f"{data_parallel} (gpus / (tensor_parallel × pipeline_parallel)); got {factor}",
        )
    return factor, data_parallel // factor


def _check_model_parallel(arch: Architecture, tensor_parallel: int, pipeline_parallel: int) -> None:
    """Megatron splits attention heads over ``t`` GPUs and layers over ``p`` stages."""
    if arch.n_heads % tensor_parallel:
        raise InvalidInputError(
            "tensor_parallel",
            f"tensor_parallel={tensor_parallel} must divide the {arch.n_heads} attention heads "
            "(Megatron-LM splits heads across GPUs)",
        )
    encoder, decoder = layer_counts(arch)
    if pipeline_parallel > encoder + decoder:
        raise InvalidInputError(
            "pipeline_parallel",
            f"pipeline_parallel={pipeline_parallel} exceeds the {encoder + decoder} layers",
        )


def estimate_memory(config: MemoryConfig) -> MemoryEstimate:
    """Per-GPU memory, host memory, fit and data-parallel traffic for one configuration.

    Model states per GPU (``Ψ' = Ψ/(t·p)``, ``F`` the sharding degree): weights
    ``w·Ψ'/F^[stage≥3]``, gradients ``g·Ψ'/F^[stage≥2]``, optimizer states ``K·Ψ'/F^[stage≥1]``
    (ZeRO sec. 5). Offloading moves optimizer states and gradients (``optimizer``) and the
    weights too (``optimizer-and-parameters``) to host memory. Overhead is the framework
    constant plus the transient buffers of sharding/offloading: one layer's unsharded gradients
    before they are reduce-scattered or copied out, and two layers of gathered parameters
    (a layer taken as ``Ψ'·p / L``; see :data:`GATHERED_LAYERS`).
    """
    mode = _enum(Mode, config.mode, "mode")
    precision = _enum(Precision, config.precision, "precision")
    optimizer = _enum(Optimizer, config.optimizer, "optimizer")
    strategy = _enum(Strategy, config.strategy, "strategy")
    offload = _enum(Offload, config.offload, "offload")
    checkpointing = _enum(
        Checkpointing, config.activation_checkpointing, "activation_checkpointing"
    )
    attention = _enum(Attention, config.attention, "attention")
    convention = _enum(Convention, config.convention, "convention")
    _validate(config)
    t, p = config.tensor_parallel, config.pipeline_parallel
    data_parallel = data_parallel_degree(config.gpus, t, p)
    sharding_degree, replicas = _sharding(config, strategy, data_parallel)
    stage = ZERO_STAGE[strategy]

    derived = config.architecture is None
    if config.architecture is None:
        arch = derive_architecture(
            config.parameters, config.sequence_length or DEFAULT_SEQUENCE_LENGTH
        )
    else:
        arch = config.architecture
        _check_model_parallel(arch, t, p)
    sequence_length = config.sequence_length or arch.context_length
    training = mode is Mode.TRAINING
    bpp = bytes_per_parameter(
        precision, optimizer, mode=mode, convention=convention, d_model=arch.d_model
    )

    # Model states (ZeRO sec. 5), per GPU, before offloading.
    local = config.parameters / (t * p)
    weights = bpp.weights * local / (sharding_degree if stage >= 3 else 1)
    gradients = bpp.gradients * local / (sharding_degree if stage >= 2 else 1)
    states = bpp.optimizer_states * local / (sharding_degree if stage >= 1 else 1)
    offload_states = offload is not Offload.NONE
    offload_weights = offload is Offload.OPTIMIZER_AND_PARAMETERS
    cpu = (states + gradients) * offload_states + weights * offload_weights
    gpu_weights = 0.0 if offload_weights else weights
    gpu_gradients = 0.0 if offload_states else gradients
    gpu_states = 0.0 if offload_states else states

    element_bytes = 4 if precision is Precision.FP32 else 2
    activations = activation_memory(
        arch,
        ActivationConfig(
            sequence_length=sequence_length,
            micro_batch_size=config.micro_batch_size,
            tensor_parallel=t,
            pipeline_parallel=p,
            sequence_parallel=config.sequence_parallel,
            checkpointing=checkpointing,
            attention=attention,
            dropout=config.dropout,
            bytes_per_element=element_bytes,
            training=training,
        ),
    )

    encoder_layers, decoder_layers = layer_counts(arch)
    layer_parameters = config.parameters / (t * (encoder_layers + decoder_layers))
    holds_gradient_buffer = stage >= 2 or offload_states
    gathers_parameters = stage >= 3 or offload_weights
    transient = (
        layer_parameters * bpp.gradients * holds_gradient_buffer
        + GATHERED_LAYERS * layer_parameters * bpp.weights * gathers_parameters
    )
    overhead = config.framework_overhead_bytes + transient

    parts = (_bytes(gpu_weights), _bytes(gpu_gradients), _bytes(gpu_states))
    model_states = sum(parts)
    overhead_bytes = _bytes(overhead)
    total = model_states + activations.total_bytes + overhead_bytes
    per_gpu = PerGpuMemory(
        weights_bytes=parts[0],
        gradients_bytes=parts[1],
        optimizer_states_bytes=parts[2],
        model_states_bytes=model_states,
        activations_bytes=activations.total_bytes,
        overhead_bytes=overhead_bytes,
        total_bytes=total,
    )
    usable = (
        None
        if config.gpu_memory_bytes is None
        else math.floor(config.gpu_memory_bytes * (1.0 - config.headroom))
    )
    communication = communication_bytes_per_step(
        config.parameters, bpp, stage, sharding_degree, replicas, t * p, training=training
    )
    resolved = ResolvedMemoryInputs(
        parameters=config.parameters,
        architecture=arch,
        architecture_derived=derived,
        mode=mode,
        precision=precision,
        sequence_length=sequence_length,
        micro_batch_size=config.micro_batch_size,
        gpus=config.gpus,
        tensor_parallel=t,
        pipeline_parallel=p,
        data_parallel=data_parallel,
        sharding_degree=sharding_degree,
        replicas=replicas,
        zero_stage=stage,
        bytes_per_parameter=bpp,
        activation_bytes_per_element=element_bytes,
    )
    return MemoryEstimate(
        per_gpu=per_gpu,
        activations=activations,
        cpu_offload_bytes=_bytes(cpu),
        gpu_memory_bytes=config.gpu_memory_bytes,
        usable_gpu_memory_bytes=usable,
        headroom=config.headroom,
        fits=None if usable is None else total <= usable,
        communication_bytes_per_step=_bytes(communication),
        resolved=resolved,
        assumptions=_assumptions(
            config,
            resolved,
            strategy,
            optimizer,
            offload,
            checkpointing,
            attention,
            convention,
            transient,
        ),
    )


_OPTIMIZER_SENTENCES: dict[Optimizer, str] = {
    Optimizer.ADAM: "Adam keeps a momentum and a variance per parameter (Kingma & Ba 2015).",
    Optimizer.ADAMW: (
        "AdamW keeps a momentum and a variance per parameter (Loshchilov & Hutter 2019; "
        "the same states as Adam)."
    ),
    Optimizer.SGD: "Plain SGD keeps no optimizer state.",
    Optimizer.SGD_MOMENTUM: "SGD with momentum keeps one momentum buffer per parameter.",
    Optimizer.ADAFACTOR: (
        "Adafactor (Shazeer & Stern 2018) keeps no first moment (beta1 = 0) and a "
        "factored second moment, one accumulator per row and per column of each matrix; it is "
        "approximated as a square d_model x d_model matrix, 2/d_model states per parameter."
    ),
    Optimizer.ADAMW_8BIT: (
        "8-bit AdamW (Dettmers et al. 2022) keeps both moments in 1 byte each, 2 bytes per "
        "parameter; its block-wise quantisation constants (one fp32 value per 2048) are ignored."
    ),
}

_STRATEGY_SENTENCES: dict[int, str] = {
    0: (
        "Each of the {nd} data-parallel GPUs holds a full replica of the model states (the "
        "ZeRO baseline, sec. 5); PyTorch DDP's gradient buckets are taken as views of the "
        "gradients (gradient_as_bucket_view=True), its default copies would add one more "
        "gradient-sized buffer."
    ),
    1: "ZeRO stage 1 (P_os, sec. 5.1) shards the optimizer states over {f} data-parallel GPUs.",
    2: (
        "ZeRO stage 2 (P_os+g, sec. 5.2; FSDP SHARD_GRAD_OP) shards the optimizer states and "
        "gradients over {f} data-parallel GPUs; the 16-bit weights stay replicated."
    ),
    3: (
        "ZeRO stage 3 (P_os+g+p, sec. 5.3; FSDP FULL_SHARD) shards optimizer states, gradients "
        "and parameters over {f} data-parallel GPUs."
    ),
}


def _assumptions(
    config: MemoryConfig,
    resolved: ResolvedMemoryInputs,
    strategy: Strategy,
    optimizer: Optimizer,
    offload: Offload,
    checkpointing: Checkpointing,
    attention: Attention,
    convention: Convention,
    transient_bytes: float,
) -> tuple[str, ...]:
    """Plain sentences stating every convention behind one estimate."""
    arch = resolved.architecture
    precision = resolved.precision
    bpp = resolved.bytes_per_parameter
    t, p = resolved.tensor_parallel, resolved.pipeline_parallel
    training = resolved.mode is Mode.TRAINING
    out = [
        "All figures are bytes; the course's rule of thumb uses decimal gigabytes "
        "(1 GB = 10^9 bytes): one billion parameters take 4 GB in fp32, 2 GB in fp16/bf16, "
        "1 GB in int8 and 0.5 GB in int4."
    ]
    if not training:
        out.append(
            "Inference keeps the weights only (no gradients or optimizer states) and the working "
            "set of one forward pass, taken as one layer's activations plus the logits; a KV "
            "cache for autoregressive generation is not included."
        )
        if precision in (Precision.FP8, Precision.INT8, Precision.INT4):
            out.append(
                f"{precision.value} weights take {bpp.weights:g} bytes each; quantisation "
                "scales and zero points are not included, and activations are 16-bit."
            )
    elif precision in MIXED_PRECISIONS:
        if convention is Convention.ZERO:
            out.append(
                "Mixed precision follows the ZeRO paper (Rajbhandari et al. 2019, sec. 3.1): "
                "16-bit weights and gradients (2 + 2 bytes) plus fp32 master weights and fp32 "
                "optimizer states (K = 12 bytes with Adam), 16 bytes per parameter with Adam."
            )
        else:
            out.append(
                "Gradients are kept in fp32 (4 bytes), the Megatron-LM convention for bf16 "
                "training (its distributed-optimizer guide counts 18 bytes per parameter with "
                "Adam), where the ZeRO paper counts 16-bit gradients (16 bytes)."
            )
        out.append(
            "The Hugging Face 'Model training anatomy' guide counts 18 bytes per parameter for "
            "mixed-precision AdamW (fp32 weights 4 + 16-bit copy 2 + fp32 gradients 4 + "
            "Adam 8) because it keeps fp32 weights in the model and fp32 gradients."
        )
    elif precision is Precision.FP32:
        out.append(
            "fp32 training keeps 4-byte weights, 4-byte gradients and fp32 optimizer states "
            "with no separate master copy (one billion parameters with Adam: 4 + 4 + 8 = 16 GB "
            "of model states before activations)."
        )
    else:
        out.append(
            f"Pure {precision.value} training keeps weights, gradients and optimizer states in "
            f"{precision.value} (2 bytes each) with no fp32 master copy."
        )
    if training:
        out.append(_OPTIMIZER_SENTENCES[optimizer])
        out.append(
            f"Model states cost {bpp.weights:g} (weights) + {bpp.gradients:g} (gradients) + "
            f"{bpp.optimizer_states:.4g} (optimizer states) = {bpp.total:.4g} bytes per "
            "parameter before sharding."
        )
    if strategy is Strategy.FSDP_HYBRID_SHARD:
        out.append(
            f"FSDP HYBRID_SHARD shards all model states as ZeRO stage 3 within groups of "
            f"{resolved.sharding_degree} GPUs and replicates them across {resolved.replicas} "
            "groups (Zhao et al. 2023, sec. 3.2)."
        )
    elif strategy is Strategy.SINGLE:
        out.append("A single GPU holds all model states.")
    else:
        out.append(
            _STRATEGY_SENTENCES[resolved.zero_stage].format(
                nd=resolved.data_parallel, f=resolved.sharding_degree
            )
        )
    if t * p > 1:
        out.append(
            f"Tensor ({t}) and pipeline ({p}) parallelism split the model states evenly "
            f"{t * p} ways (Megatron-LM); the embedding's extra share on the first and last "
            "pipeline stages is ignored."
        )
    if offload is Offload.OPTIMIZER:
        out.append(
            "Optimizer states (with the fp32 master weights) and gradients live in host memory "
            "as in ZeRO-Offload (Ren et al. 2021); the GPU keeps the weights and one "
            "layer's gradients in flight. cpu_offload_bytes is host memory per GPU."
        )
    elif offload is Offload.OPTIMIZER_AND_PARAMETERS:
        out.append(
            "Weights, gradients and optimizer states live in host memory (ZeRO-Infinity; FSDP "
            "CPUOffload(offload_params=True)); the GPU keeps only the layers being computed. "
            "cpu_offload_bytes is host memory per GPU."
        )
    if resolved.architecture_derived:
        out.append(
            f"No architecture was given: activations use a derived GPT-like shape of "
            f"{arch.n_layers} layers, d_model {arch.d_model} ({arch.n_heads} heads of 128), "
            "d_ff = 4 d_model and a 50,257-token vocabulary (Kaplan et al. 2020: N ≈ 12 L d², "
            "with d_model = 128 L, the shape of GPT-3 175B)."
        )
    out.append(
        f"Activations follow Korthikanti et al. 2022 (sec. 4) for {resolved.sequence_length} "
        f"tokens x micro-batch {resolved.micro_batch_size}: "
        f"{resolved.activation_bytes_per_element}-byte values, 1-byte dropout masks, fused "
        "activation kernels that keep only their inputs, and fp32 logits for the loss."
    )
    if attention is Attention.FLASH:
        out.append(
            "Attention uses a FlashAttention-style kernel (Dao et al. 2022): the s x s scores "
            "are recomputed in the backward pass and only an fp32 log-sum-exp per token and "
            "head is kept."
        )
    else:
        out.append(
            "Attention is eager: the s x s softmax output (with dropout, also its 1-byte mask "
            "and the dropout output) is kept for every head, 5as²b bytes per layer in the "
            "paper's terms."
        )
    if training:
        out.append(
            "Dropout is on: attention, residual and embedding dropout masks are kept."
            if config.dropout
            else "Dropout is off: no masks are kept."
        )
        out.append(
            {
                Checkpointing.NONE: "No activation recomputation: every layer keeps its "
                "activations until its backward pass.",
                Checkpointing.SELECTIVE: "Selective recomputation (Korthikanti et al. 2022, "
                "sec. 5) re-runs the core attention; the peak adds one layer's recomputed core "
                "attention.",
                Checkpointing.FULL: "Full recomputation keeps only each layer's input and "
                "re-runs the layer in the backward pass; the peak adds one layer's full "
                "activations while it is back-propagated.",
            }[checkpointing]
        )
    if t > 1:
        out.append(
            f"Sequence parallelism splits the layer-norm and dropout activations {t} ways too "
            "(Korthikanti et al. 2022, sec. 4.2.2)."
            if config.sequence_parallel
            else f"Without sequence parallelism the layer-norm inputs, each block's first "
            f"linear-layer input and the dropout masks are replicated on all {t} "
            "tensor-parallel GPUs (Korthikanti et al. 2022, sec. 4.2.1)."
        )
    if p > 1 and training:
        out.append(
            f"Pipeline parallelism uses the 1F1B schedule: the first stage keeps {p} "
            f"micro-batches of its layers in flight (Korthikanti et al. 2022, sec. 4.2.3), "
            f"assuming at least {p} micro-batches per step; the figure is for the busiest stage."
        )
    if arch.kv_heads < arch.n_heads:
        out.append(
            f"Grouped-query attention keeps K and V for {arch.kv_heads} key/value heads only; "
            "implementations that repeat K and V to every head before an eager kernel keep more."
        )
    if arch.gated_mlp:
        out.append(
            "The gated MLP keeps its fused activation's input (gate and up projections) and the "
            "down projection's input, 3 d_ff values per token instead of GeLU's 2 d_ff; unfused "
            "implementations also keep the activation's output (4 d_ff)."
        )
    if arch.n_experts > 1:
        out.append(
            f"Mixture-of-experts layers keep the MLP activations once for each of the "
            f"{arch.experts_per_token} experts a token is routed to (capacity factor 1)."
        )
    if arch.family is Family.ENCODER_DECODER:
        out.append(
            "Decoder layers add cross-attention over an encoder sequence of the same length; "
            "the encoder output is counted once."
        )
    overhead = (
        f"Overhead is {config.framework_overhead_bytes} bytes of CUDA context, kernels and "
        "library workspaces (the Hugging Face 'Model training anatomy' guide: 1-2 GB)"
    )
    if transient_bytes > 0:
        overhead += (
            f" plus {_bytes(transient_bytes)} bytes of transient buffers: one layer of "
            "unsharded gradients before they are reduce-scattered or offloaded, and the "
            f"gathered parameters of {GATHERED_LAYERS} layers (the one computing and the one "
            "prefetched) under parameter sharding or offloading, a layer being "
            "parameters / layers"
        )
    out.append(overhead + ".")
    if config.gpu_memory_bytes is not None:
        out.append(
            f"fits compares the total with {1.0 - config.headroom:.0%} of the GPU's "
            f"{config.gpu_memory_bytes} bytes, keeping {config.headroom:.0%} free for allocator "
            "fragmentation and temporary buffers."
        )
    out.append(
        "communication_bytes_per_step is what each GPU sends per optimizer step for data "
        "parallelism (ZeRO sec. 7): 2Ψ values for DDP and stages 1-2, 3Ψ for stage 3, Ψ being "
        "the parameters of one model-parallel shard, at the gradient and weight sizes, with one "
        "micro-batch per step; tensor- and pipeline-parallel traffic is not included."
    )
    return tuple(out)
