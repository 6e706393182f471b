"""Training compute, time, cost and energy of a pre-training run.

FLOPs per token
    Training costs ``6 N`` FLOPs per token for a model with ``N`` (active) parameters: ``2 N``
    forward (one multiply-add per weight) and ``4 N`` backward (Kaplan et al. 2020, "Scaling Laws
    for Neural Language Models", sec. 2.1; Hoffmann et al. 2022, "Training Compute-Optimal Large
    Language Models", sec. 3 and App. F). When asked, and given an :class:`Architecture`, the
    attention-score term of Kaplan et al. 2020, Table 1 (forward ``2 n_layer n_ctx d_attn``, so
    ``6 n_layer n_ctx d_attn`` for training) is added, with ``d_attn = n_heads * head_dim`` and
    ``n_ctx`` the context length. (PaLM, Chowdhery et al. 2022, App. B, counts the same term as
    ``12 L H Q T``, twice Kaplan's, because it does not halve for the causal mask.)

Recomputation (``activation_checkpointing``)
    ``full`` re-runs the whole forward pass during the backward pass: ``8 N`` per token instead of
    ``6 N``, the ``8 T P / (n X)`` of Narayanan et al. 2021, "Efficient Large-Scale Language Model
    Training on GPU Clusters Using Megatron-LM", sec. 5.1 (the attention term is also recomputed:
    ``8 n_layer n_ctx d_attn``). ``selective`` re-runs only the attention core (``QK^T``, softmax,
    attention over ``V``; Korthikanti et al. 2022, "Reducing Activation Recomputation in Large
    Transformer Models", sec. 5), one more forward attention term, ``+2 n_layer n_ctx d_attn``
    per token, and nothing when attention FLOPs are not counted. These *executed* FLOPs are
    ``training_flops``; ``model_flops`` leave recomputation out, as the MFU definition of
    Chowdhery et al. 2022, sec. 4.1 and App. B requires.

Throughput (exactly one of)
    ``mfu``: model FLOPs utilisation, ``model FLOPs / (time x GPUs x peak)``; default
    :data:`DEFAULT_MFU`. ``achieved_tflops_per_gpu``: executed FLOPs per second per GPU, including
    recomputation, as Megatron-LM (Narayanan et al. 2021) and BloombergGPT (Wu et al. 2023,
    sec. 3, training configuration) report it. ``tokens_per_second_per_gpu``: measured token
    throughput, as LLaMA (Touvron et al. 2023, sec. 2.4) reports it. Utilisation above 100% of
    the dense peak is rejected.

Units
    1 petaflop/s-day = ``1e15 FLOP/s x 86,400 s = 8.64e19`` FLOPs (Brown et al. 2020, Table D.1
    reports GPT-3's compute in these units).

Energy is ``GPU-hours x TDP x PUE / 1000`` kWh, assuming every GPU draws its rated board power
for the whole run (an upper bound for the accelerators; host, network and storage are left out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

from service.domain.architecture import Architecture, validate_architecture
from service.domain.errors import InvalidInputError
from service.domain.hardware import GpuSpec
from service.domain.types import Checkpointing, Family, Precision

#: Default model FLOPs utilisation when no throughput is given. Chowdhery et al. 2022 (PaLM),
#: Table 3, report MFU 21.3% (GPT-3), 32.5% (Gopher), 30.2% (Megatron-Turing NLG) and 46.2%
#: (PaLM 540B); LLaMA-65B's 380 tokens/s/GPU on A100 (Touvron et al. 2023, sec. 2.4) is about 47%.
#: 40% is a well-tuned large run, not a guaranteed one.
DEFAULT_MFU = 0.40
#: Default power usage effectiveness: 1.10, the PUE Patterson et al. 2021, "Carbon Emissions and
#: Large Neural Network Training", Table 4, report for the datacenters that trained GPT-3 (1.10)
#: and Google's models (1.09-1.12); typical enterprise datacenters are higher.
DEFAULT_PUE = 1.10
#: FLOPs in one petaflop/s-day: 1e15 FLOP/s for 86,400 s.
PETAFLOP_S_DAY = 1e15 * 86_400
SECONDS_PER_DAY = 86_400.0
SECONDS_PER_HOUR = 3_600.0
#: Upper bounds that keep every product finite; far above any real plan.
MAX_PARAMETERS = 1e15
MAX_TOKENS = 1e17
MAX_GPUS = 10_000_000
#: Smallest ``mfu``, ``achieved_tflops_per_gpu`` or ``tokens_per_second_per_gpu`` accepted
#: (one in a million), so that no result underflows to zero.
MIN_THROUGHPUT = 1e-6

#: The dense peak each training precision runs at. Mixed precision does its matrix products in
#: the 16-bit type (Micikevicius et al. 2018, "Mixed Precision Training", sec. 3). ``fp32`` uses
#: the FP32 peak, not TF32: PyTorch has disabled TF32 matrix products by default since 1.12.
PEAK_KEY_BY_PRECISION: dict[Precision, str] = {
    Precision.FP32: "fp32",
    Precision.FP16: "fp16",
    Precision.MIXED_FP16: "fp16",
    Precision.BF16: "bf16",
    Precision.MIXED_BF16: "bf16",
    Precision.FP8: "fp8",
}

_THROUGHPUT_FIELDS = ("mfu", "achieved_tflops_per_gpu", "tokens_per_second_per_gpu")


@dataclass(frozen=True, slots=True, kw_only=True)
class ComputeConfig:
    """Inputs of :func:`estimate_compute`; validated on construction (``InvalidInputError``).

    ``active_parameters`` (parameters used per token, for mixture-of-experts models) defaults to
    ``parameters``. At most one of ``mfu``, ``achieved_tflops_per_gpu`` and
    ``tokens_per_second_per_gpu`` may be given; with none, :data:`DEFAULT_MFU` applies.
    ``precision`` ``None`` means mixed bf16, or mixed fp16 on a GPU without a bf16 peak.
    ``price_per_gpu_hour`` ``None`` means the GPU's catalogue price.
    """

    parameters: float
    tokens: float
    gpu: GpuSpec
    gpus: int = 1
    active_parameters: float | None = None
    architecture: Architecture | None = None
    mfu: float | None = None
    achieved_tflops_per_gpu: float | None = None
    tokens_per_second_per_gpu: float | None = None
    precision: Precision | None = None
    activation_checkpointing: Checkpointing = Checkpointing.NONE
    price_per_gpu_hour: float | None = None
    pue: float = DEFAULT_PUE
    include_attention_flops: bool = False

    def __post_init__(self) -> None:
        _check_number("parameters", self.parameters, lower=1.0, upper=MAX_PARAMETERS)
        _check_number("tokens", self.tokens, lower=1.0, upper=MAX_TOKENS)
        if isinstance(self.gpus, bool) or not isinstance(self.gpus, Integral):
            raise InvalidInputError("gpus", "must be a whole number")
        if not 1 <= self.gpus <= MAX_GPUS:
            raise InvalidInputError("gpus", f"must be between 1 and {MAX_GPUS:,}")
        object.__setattr__(self, "gpus", int(self.gpus))
        if self.active_parameters is not None:
            _check_number("active_parameters", self.active_parameters, lower=1.0)
            if self.active_parameters > self.parameters:
                raise InvalidInputError("active_parameters", "cannot exceed parameters")
        given = [name for name in _THROUGHPUT_FIELDS if getattr(self, name) is not None]
        if len(given) > 1:
            raise InvalidInputError(
                given[1], f"give only one of {', '.join(_THROUGHPUT_FIELDS)} (got {given})"
            )
        for name in given:
            _check_number(
                name,
                getattr(self, name),
                lower=MIN_THROUGHPUT,
                upper=1.0 if name == "mfu" else None,
            )
        if self.precision is not None:
            try:
                object.__setattr__(self, "precision", Precision(self.precision))
            except ValueError:
                raise InvalidInputError(
                    "precision", f"unknown precision {self.precision!r}"
                ) from None
        dense_peak_tflops(self.gpu, _resolve_precision(self)[0])  # GPU supports the precision
        try:
            object.__setattr__(
                self, "activation_checkpointing", Checkpointing(self.activation_checkpointing)
            )
        except ValueError:
            raise InvalidInputError(
                "activation_checkpointing", f"unknown value {self.activation_checkpointing!r}"
            ) from None
        if self.price_per_gpu_hour is not None:
            _check_number("price_per_gpu_hour", self.price_per_gpu_hour, allow_zero=True)
        _check_number("pue", self.pue, lower=1.0)  # PUE = facility / IT energy >= 1
        if not isinstance(self.include_attention_flops, bool):
            raise InvalidInputError("include_attention_flops", "must be true or false")
        if self.architecture is not None:
            validate_architecture(self.architecture)


@dataclass(frozen=True, slots=True)
class ComputeEstimate:
    """Result of :func:`estimate_compute`.

    ``flops_per_token`` and ``training_flops`` are executed FLOPs, recomputation included;
    ``model_flops_per_token`` and ``model_flops`` leave it out (they define ``mfu``).
    ``petaflop_s_days`` is ``training_flops / 8.64e19``. ``hfu`` is hardware FLOPs utilisation,
    executed FLOPs over peak. ``cost_usd`` and ``energy_kwh`` are ``None`` when the price or the
    GPU's power is unknown.
    """

    flops_per_token: float
    model_flops_per_token: float
    training_flops: float
    model_flops: float
    petaflop_s_days: float
    gpu_hours: float
    wall_clock_days: float
    cost_usd: float | None
    energy_kwh: float | None
    mfu: float
    hfu: float
    achieved_tflops_per_gpu: float
    peak_tflops_per_gpu: float
    peak_precision: str
    tokens_per_second: float
    tokens_per_second_per_gpu: float
    assumptions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PetaflopDayEquivalence:
    """How many of one GPU deliver 1 PF/s, i.e. make one petaflop/s-day in a day.

    ``gpus_per_petaflop_s`` is ``1000 / (dense peak TFLOP/s x mfu)``; the ``_sparse`` figures use
    the 2:4 structured-sparsity peak when the GPU lists one (``None`` otherwise).
    """

    gpu: str
    precision: str
    mfu: float
    dense_peak_tflops: float
    gpus_per_petaflop_s: float
    sparse_peak_tflops: float | None
    gpus_per_petaflop_s_sparse: float | None
    statement: str


def _check_number(
    field: str,
    value: object,
    *,
    lower: float | None = None,
    upper: float | None = None,
    allow_zero: bool = False,
) -> None:
    """Require a finite real number: positive (or >= 0), and within ``[lower, upper]``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InvalidInputError(field, "must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInputError(field, "must be finite (not NaN or infinite)")
    if number < 0 or (number == 0 and not allow_zero):
        raise InvalidInputError(field, "must be >= 0" if allow_zero else "must be positive")
    if lower is not None and number < lower:
        raise InvalidInputError(field, f"must be at least {lower:g}")
    if upper is not None and number > upper:
        raise InvalidInputError(field, f"must be at most {upper:g}")


def dense_peak_tflops(gpu: GpuSpec, precision: Precision) -> tuple[str, float]:
    """The peak key and dense peak TFLOP/s a training precision runs at on ``gpu``.

    Raises ``InvalidInputError("precision")`` for integer precisions and for a GPU without that
    peak (a missing key means unsupported).
    """
    key = PEAK_KEY_BY_PRECISION.get(precision)
    if key is None:
        raise InvalidInputError(
            "precision", f"{precision} is a storage format; training needs a float precision"
        )
    peak = gpu.peak_tflops.get(key)
    if peak is None or not math.isfinite(peak) or peak <= 0:
        raise InvalidInputError("precision", f"{gpu.name} has no {key} peak")
    return key, float(peak)


def _resolve_precision(config: ComputeConfig) -> tuple[Precision, str | None]:
    """The precision to use, and an assumption sentence when it was defaulted."""
    if config.precision is not None:
        return config.precision, None
    if "bf16" in config.gpu.peak_tflops:
        return Precision.MIXED_BF16, "No precision given: mixed bf16 is assumed."
    return (
        Precision.MIXED_FP16,
        f"No precision given and {config.gpu.name} has no bf16 peak: mixed fp16 is assumed.",
    )


def _stack_fraction(config: ComputeConfig) -> tuple[float, str]:
    """Fraction of the (active) parameters one token passes through, with its assumption."""
    arch = config.architecture
    if arch is None:
        return 1.0, (
            "No architecture given: every token passes through all parameters "
            "(decoder-only or encoder-only model)."
        )
    if arch.family is Family.ENCODER_DECODER:
        return 0.5, (
            "Encoder-decoder: tokens are input plus target tokens and each passes through one "
            "stack, so FLOPs per token use half the parameters, 6 x N/2 (Raffel et al. 2020, T5, "
            "sec. 3.2.2: an L+L-layer encoder-decoder costs about as much as an L-layer "
            "decoder-only model); exact when the stacks are the same size or inputs and targets "
            "are the same length."
        )
    return 1.0, f"{arch.family.value} model: every token passes through all parameters."


def _attention_forward_per_token(arch: Architecture) -> tuple[float, str]:
    """Forward attention-score FLOPs per token, ``2 n_layer n_ctx d_attn`` (Kaplan Table 1)."""
    d_attn = arch.n_heads * arch.attention_head_dim
    n_ctx = arch.context_length
    if arch.family is Family.ENCODER_DECODER:
        n_enc = arch.n_encoder_layers if arch.n_encoder_layers is not None else arch.n_layers / 2
        n_dec = arch.n_decoder_layers if arch.n_decoder_layers is not None else arch.n_layers / 2
        # Half the tokens are inputs (encoder self-attention), half targets (decoder self- and
        # cross-attention, both over n_ctx positions).
        layers = (n_enc + 2 * n_dec) / 2
        note = (
            f"attention layers per token (n_enc + 2 n_dec) / 2 = {layers:g}, counting decoder "
            "cross-attention like self-attention"
        )
    else:
        layers = float(arch.n_layers)
        note = f"n_layer = {arch.n_layers}"
    flops = 2.0 * layers * n_ctx * d_attn
    return flops, f"{note}, n_ctx = {n_ctx}, d_attn = {d_attn}"


def _flops_per_token(config: ComputeConfig, assumptions: list[str]) -> tuple[float, float]:
    """(executed, model) FLOPs per token; appends the assumptions it makes."""
    active = config.active_parameters if config.active_parameters is not None else config.parameters
    arch = config.architecture
    if active < config.parameters:
        assumptions.append(
            f"Mixture of experts: FLOPs use the {active:.4g} parameters active per token, "
            f"not all {config.parameters:.4g}."
        )
    elif arch is not None and arch.n_experts > 1:
        assumptions.append(
            f"The architecture has {arch.n_experts} experts but active_parameters was not given: "
            "all parameters are treated as active, which overstates FLOPs."
        )
    fraction, family_note = _stack_fraction(config)
    assumptions.append(family_note)
    n = active * fraction
    assumptions.append(
        f"6N FLOPs per token with N = {n:.4g} (forward 2N + backward 4N; Kaplan et al. 2020 "
        "sec. 2.1, Hoffmann et al. 2022); parameters are counted as given."
    )
    attention = 0.0
    if config.include_attention_flops and arch is not None:
        attention, detail = _attention_forward_per_token(arch)
        assumptions.append(
            f"Attention FLOPs added: 6 n_layer n_ctx d_attn per token (Kaplan et al. 2020, "
            f"Table 1), {detail}."
        )
    elif config.include_attention_flops:
        assumptions.append(
            "include_attention_flops was set but no architecture was given: attention FLOPs "
            "are not counted."
        )
    else:
        assumptions.append(
            "Attention-score FLOPs (Kaplan et al. 2020, Table 1) are not counted; they add "
            "6 n_layer n_ctx d_attn per token when include_attention_flops is set with an "
            "architecture."
        )
    model = 3.0 * (2.0 * n + attention)
    ckpt = config.activation_checkpointing
    if ckpt is Checkpointing.FULL:
        executed = 4.0 * (2.0 * n + attention)
        assumptions.append(
            "Full activation recomputation re-runs the forward pass: 8N instead of 6N FLOPs per "
            "token (Narayanan et al. 2021, sec. 5.1, 8TP/(nX)); MFU counts only model FLOPs."
        )
    elif ckpt is Checkpointing.SELECTIVE:
        executed = model + attention
        assumptions.append(
            "Selective recomputation re-runs only the attention core (Korthikanti et al. 2022, "
            "sec. 5), "
            + (
                "adding 2 n_layer n_ctx d_attn FLOPs per token."
                if attention
                else "whose FLOPs are not counted here, so it adds none."
            )
        )
    else:
        executed = model
        assumptions.append("No activation recomputation.")
    return executed, model


def estimate_compute(config: ComputeConfig) -> ComputeEstimate:
    """FLOPs, time, cost and energy of one training run (module docstring for every formula)."""
    assumptions: list[str] = []
    flops_per_token, model_flops_per_token = _flops_per_token(config, assumptions)
    training_flops = flops_per_token * config.tokens
    model_flops = model_flops_per_token * config.tokens

    precision, precision_note = _resolve_precision(config)
    if precision_note is not None:
        assumptions.append(precision_note)
    key, peak_tflops = dense_peak_tflops(config.gpu, precision)
    assumptions.append(
        f"Peak {peak_tflops:g} TFLOP/s per GPU: the {config.gpu.name} dense {key} peak "
        "(structured-sparsity peaks are not used)."
    )
    if precision is Precision.FP32:
        assumptions.append(
            "fp32 runs at the FP32 peak, not TF32 (PyTorch has disabled TF32 matrix products "
            "by default since 1.12)."
        )
    peak = peak_tflops * 1e12
    gpus = config.gpus

    if config.achieved_tflops_per_gpu is not None:
        field = "achieved_tflops_per_gpu"
        seconds = training_flops / (config.achieved_tflops_per_gpu * 1e12 * gpus)
        assumptions.append(
            f"Achieved {config.achieved_tflops_per_gpu:g} TFLOP/s per GPU counts every executed "
            "FLOP, recomputation included (as Megatron-LM and BloombergGPT report it)."
        )
    elif config.tokens_per_second_per_gpu is not None:
        field = "tokens_per_second_per_gpu"
        seconds = config.tokens / (config.tokens_per_second_per_gpu * gpus)
        assumptions.append(
            f"Time = tokens / ({config.tokens_per_second_per_gpu:g} tokens/s per GPU x {gpus} "
            "GPUs); MFU is derived from it."
        )
    else:
        field = "mfu"
        mfu_in = config.mfu if config.mfu is not None else DEFAULT_MFU
        seconds = model_flops / (mfu_in * peak * gpus)
        if config.mfu is None:
            assumptions.append(
                f"No throughput given: MFU {DEFAULT_MFU:.0%} assumed (PaLM, Chowdhery et al. "
                "2022, Table 3, reports 21.3%-46.2% MFU for GPT-3, Gopher, MT-NLG and PaLM)."
            )
        else:
            assumptions.append(f"MFU {mfu_in:g}: model FLOPs run at that fraction of peak.")
    _require_finite(field, seconds)
    if seconds <= 0:
        raise InvalidInputError(field, "is so large that the run takes no time")
    gpu_seconds = seconds * gpus
    achieved = training_flops / gpu_seconds
    hfu = training_flops / (gpu_seconds * peak)
    if hfu > 1.0 + 1e-9:
        raise InvalidInputError(
            field,
            f"implies {hfu:.1%} of the {config.gpu.name} dense {key} peak "
            f"({peak_tflops:g} TFLOP/s); utilisation cannot exceed 100%",
        )
    mfu = model_flops / (gpu_seconds * peak)
    assumptions.append(
        "Wall-clock time assumes all GPUs work in parallel at this throughput for the whole run: "
        "no failures, restarts, evaluation or queueing."
    )
    gpu_hours = gpu_seconds / SECONDS_PER_HOUR

    price = config.price_per_gpu_hour
    cost: float | None = None
    if price is None and config.gpu.price_per_hour_usd is not None:
        price = config.gpu.price_per_hour_usd
        assumptions.append(
            f"Cost uses the catalogue price of ${price:g} per {config.gpu.name} hour."
        )
    elif price is not None:
        assumptions.append(f"Cost uses the given price of ${price:g} per GPU-hour.")
    else:
        assumptions.append(f"No price known for {config.gpu.name}: cost is not estimated.")
    if price is not None:
        cost = gpu_hours * price
        _require_finite("price_per_gpu_hour", cost)

    energy: float | None = None
    watts = config.gpu.power_watts
    if watts is None:
        assumptions.append(f"No power figure for {config.gpu.name}: energy is not estimated.")
    else:
        energy = gpu_hours * watts * config.pue / 1000.0
        _require_finite("pue", energy)
        assumptions.append(
            f"Energy = GPU-hours x {watts:g} W x PUE {config.pue:g}: every GPU is assumed to draw "
            "its rated power (TDP) throughout; host CPUs, network and storage are not counted."
            + (
                " PUE 1.10 is the datacenter figure Patterson et al. 2021, Table 4, report."
                if config.pue == DEFAULT_PUE
                else ""
            )
        )

    return ComputeEstimate(
        flops_per_token=flops_per_token,
        model_flops_per_token=model_flops_per_token,
        training_flops=training_flops,
        model_flops=model_flops,
        petaflop_s_days=training_flops / PETAFLOP_S_DAY,
        gpu_hours=gpu_hours,
        wall_clock_days=seconds / SECONDS_PER_DAY,
        cost_usd=cost,
        energy_kwh=energy,
        mfu=mfu,
        hfu=hfu,
        achieved_tflops_per_gpu=achieved / 1e12,
        peak_tflops_per_gpu=peak_tflops,
        peak_precision=key,
        tokens_per_second=config.tokens / seconds,
        tokens_per_second_per_gpu=config.tokens / gpu_seconds,
        assumptions=tuple(assumptions),
    )


def _require_finite(field: str, value: float) -> None:
    """Reject an input whose result overflows float64."""
    if not math.isfinite(value):
        raise InvalidInputError(field, "gives an estimate too large to represent")


def petaflop_s_day_equivalents(
    gpu: GpuSpec, precision: Precision = Precision.FP16, mfu: float = 1.0
) -> PetaflopDayEquivalence:
    """How many ``gpu`` make 1 PF/s (so one petaflop/s-day per day) at ``mfu`` of peak.

    Checks the course's "a petaflop/s-day equals 8 V100s or 2 A100s for a day at full
    efficiency": V100 fp16 dense 125 TFLOP/s gives 8; A100 fp16 dense 312 TFLOP/s gives 3.2, and
    only its 2:4 structured-sparsity peak (624) gives 1.6, about 2.
    """
    _check_number("mfu", mfu, upper=1.0)
    key, dense = dense_peak_tflops(gpu, precision)
    gpus_dense = 1000.0 / (dense * mfu)
    sparse = gpu.sparse_peak_tflops.get(key)
    gpus_sparse: float | None = None
    statement = (
        f"1 PF/s-day = {gpus_dense:.3g} x {gpu.name} for one day at {mfu:.0%} of the dense "
        f"{key} peak ({dense:g} TFLOP/s)"
    )
    if sparse is not None and math.isfinite(sparse) and sparse > 0:
        gpus_sparse = 1000.0 / (sparse * mfu)
        statement += (
            f"; {gpus_sparse:.3g} at the 2:4 structured-sparsity peak ({sparse:g} TFLOP/s), "
            "which dense training does not reach"
        )
    else:
        sparse = None
    return PetaflopDayEquivalence(
        gpu=gpu.slug,
        precision=key,
        mfu=mfu,
        dense_peak_tflops=dense,
        gpus_per_petaflop_s=gpus_dense,
        sparse_peak_tflops=sparse,
        gpus_per_petaflop_s_sparse=gpus_sparse,
        statement=statement + ".",
    )
