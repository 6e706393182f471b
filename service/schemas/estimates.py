"""Wire contracts of the estimates: which model, and the memory and compute answers."""

from __future__ import annotations

import math
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from service.domain.memory import Mode
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
from service.schemas.fields import FiniteFloat, Parameters, Slug, Tokens
from service.schemas.models import ModelArchitecture

Degree = Annotated[int, Field(ge=1, le=1_000_000)]
Gpus = Annotated[int, Field(ge=1, le=10_000_000, description="Number of accelerators.")]


class EstimateArchitecture(ModelArchitecture):
    """A transformer given by its shape; ``n_layers`` may be left out for encoder-decoder."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "family": "decoder-only",
                    "n_layers": 32,
                    "d_model": 4096,
                    "n_heads": 32,
                    "n_kv_heads": 8,
                    "d_ff": 14336,
                    "vocab_size": 32000,
                    "context_length": 8192,
                    "tied_embeddings": False,
                    "gated_mlp": True,
                    "position_embedding": "rotary",
                    "norm": "rmsnorm",
                    "bias": False,
                }
            ]
        },
    )

    family: Family
    n_layers: Annotated[int, Field(ge=1, le=10_000_000)] = Field(
        description="Blocks; may be omitted for encoder-decoder models (then the sum)."
    )

    @model_validator(mode="after")
    def _family_and_layers_agree(self) -> Self:
        split = self.n_encoder_layers is not None
        if (self.family is Family.ENCODER_DECODER) != split:
            raise ValueError(
                "encoder-decoder models give n_encoder_layers and n_decoder_layers; "
                "other families give n_layers only"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _fill_layers(cls, data: Any) -> Any:
        if isinstance(data, dict) and "n_layers" not in data:
            encoder, decoder = data.get("n_encoder_layers"), data.get("n_decoder_layers")
            if isinstance(encoder, int) and isinstance(decoder, int):
                return {**data, "n_layers": encoder + decoder}
        return data


#: A Hugging Face config.json nests a few levels (``text_config.rope_scaling``); anything much
#: deeper is no config, and past pydantic's serialization depth storing a plan would fail (500).
HF_CONFIG_MAX_DEPTH = 32


def _config_like(config: dict[str, Any]) -> dict[str, Any]:
    """Refuse what no config.json holds: NaN or infinite numbers, absurdly deep nesting."""
    stack: list[tuple[Any, int]] = [(config, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > HF_CONFIG_MAX_DEPTH:
            raise ValueError(f"must not nest deeper than {HF_CONFIG_MAX_DEPTH} levels")
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, float) and not math.isfinite(child):
                raise ValueError("numbers must be finite (no NaN or Infinity)")
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return config


class ModelSpec(BaseModel):
    """Exactly one of: a catalogue ``model`` slug, a bare ``parameters`` count, an
    ``architecture``, or ``hf_config`` (a pasted Hugging Face ``config.json``)."""

    model_config = ConfigDict(extra="forbid")

    model: Slug | None = Field(default=None, description="A catalogue slug, e.g. llama-7b.")
    parameters: Parameters | None = Field(default=None, description="Total parameter count.")
    architecture: EstimateArchitecture | None = None
    hf_config: Annotated[dict[str, Any], AfterValidator(_config_like)] | None = Field(
        default=None,
        description="A Hugging Face config.json, mapped offline (llama, mistral, mixtral, qwen2, "
        "gpt2, bert, roberta, t5, bart, bloom, opt, falcon, gpt_neox, ...).",
    )

    @model_validator(mode="after")
    def _exactly_one_model(self) -> Self:
        given = [
            name
            for name in ("model", "parameters", "architecture", "hf_config")
            if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of model, parameters, architecture or hf_config"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self


class ResolvedModel(BaseModel):
    """The model the estimate used, and how its parameter count was obtained."""

    source: str = Field(description="'catalogue', 'parameters', 'architecture' or 'hf_config'.")
    slug: str | None = None
    parameters: int = Field(description="Total parameters (memory counts all of them).")
    active_parameters: int = Field(description="Parameters one token passes through (FLOPs).")
    non_embedding_parameters: int | None = Field(
        default=None, description="Kaplan et al. 2020's N (embeddings excluded)."
    )
    published_parameters: int | None = Field(
        default=None, description="The catalogue's published figure, when it differs."
    )
    architecture: dict[str, Any] | None = None
    counted_terms: list[str] = Field(default_factory=list)


_MEMORY_EXAMPLE: JsonDict = {
    "model": "llama-7b",
    "precision": "mixed-bf16",
    "optimizer": "adamw",
    "strategy": "zero-3",
    "gpus": 8,
    "micro_batch_size": 1,
    "sequence_length": 2048,
    "activation_checkpointing": "selective",
    "gpu": "a100-80gb",
}


class MemoryRequest(ModelSpec):
    """A training (or inference) configuration whose per-GPU memory is wanted."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                _MEMORY_EXAMPLE,
                {"parameters": 1_000_000_000, "precision": "fp32", "optimizer": "adam"},
            ]
        },
    )

    mode: Mode = Field(default=Mode.TRAINING, description="training, or inference (weights only).")
    precision: Precision = Precision.MIXED_BF16
    optimizer: Optimizer = Optimizer.ADAMW
    strategy: Strategy = Strategy.SINGLE
    gpus: Gpus = 1
    sharding_factor: Degree | None = Field(
        default=None, description="GPUs per sharding group, fsdp-hybrid-shard only."
    )
    offload: Offload = Offload.NONE
    tensor_parallel: Degree = 1
    pipeline_parallel: Degree = 1
    sequence_parallel: bool = False
    micro_batch_size: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    sequence_length: Annotated[int, Field(ge=1, le=100_000_000)] | None = Field(
        default=None, description="Tokens per sequence; default: the model's context length."
    )
    activation_checkpointing: Checkpointing = Checkpointing.NONE
    attention: Attention = Attention.FLASH
    dropout: bool = True
    convention: Convention = Convention.ZERO
    gpu: Slug = Field(default="a100-80gb", description="Hardware slug for the capacity check.")
    headroom: Annotated[FiniteFloat, Field(ge=0, lt=1)] = Field(
        default=0.10, description="Fraction of GPU memory kept free (fragmentation, spikes)."
    )


class PerGpuBytes(BaseModel):
    weights_bytes: int
    gradients_bytes: int
    optimizer_states_bytes: int
    model_states_bytes: int
    activations_bytes: int
    overhead_bytes: int
    total_bytes: int


class ActivationDetail(BaseModel):
    """How the activation figure breaks down (Korthikanti et al. 2022, sec. 4)."""

    per_layer_bytes: int = Field(description="One layer, one micro-batch, after recomputation.")
    layers_bytes: int = Field(description="Every layer on the busiest stage, all micro-batches.")
    embedding_bytes: int
    output_bytes: int = Field(description="Final norm, output projection and fp32 logits.")
    recompute_bytes: int = Field(description="The transient re-materialised layer.")
    total_bytes: int
    stage: str = Field(description="Busiest pipeline stage: only, first or last.")
    layers_per_stage: int
    micro_batches_in_flight: int
    architecture_derived: bool = Field(
        description="True when only a parameter count was given and a shape was derived."
    )


class MemoryResponse(BaseModel):
    model: ResolvedModel
    parameters: int
    per_gpu: PerGpuBytes
    cpu_offload_bytes: int
    gpu: str
    gpu_memory_bytes: int
    usable_gpu_memory_bytes: int
    headroom: float
    fits: bool
    communication_bytes_per_step: int
    data_parallel_degree: int
    sharding_degree: int
    zero_stage: int
    bytes_per_parameter: dict[str, float]
    sequence_length: int
    convention: str
    activations: ActivationDetail
    assumptions: list[str]


class Throughput(BaseModel):
    """How fast the GPUs train: at most one of MFU, achieved TFLOP/s or tokens per second."""

    mfu: Annotated[FiniteFloat, Field(gt=0, le=1)] | None = Field(
        default=None, description="Model FLOPs utilisation (default 0.40, stated)."
    )
    achieved_tflops_per_gpu: Annotated[FiniteFloat, Field(gt=0, le=1e6)] | None = None
    tokens_per_second_per_gpu: Annotated[FiniteFloat, Field(gt=0, le=1e9)] | None = None

    @model_validator(mode="after")
    def _one_throughput(self) -> Self:
        given = [
            name
            for name in ("mfu", "achieved_tflops_per_gpu", "tokens_per_second_per_gpu")
            if getattr(self, name) is not None
        ]
        if len(given) > 1:
            raise ValueError(
                "give at most one of mfu, achieved_tflops_per_gpu, tokens_per_second_per_gpu"
            )
        return self


class ComputeRequest(ModelSpec, Throughput):
    """A training run whose FLOPs, time, cost and energy are wanted."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "model": "llama-65b",
                    "tokens": 1_400_000_000_000,
                    "gpu": "a100-80gb",
                    "gpus": 2048,
                    "tokens_per_second_per_gpu": 380,
                },
                {"parameters": 175_000_000_000, "tokens": 300_000_000_000, "gpus": 1024},
            ]
        },
    )

    tokens: Tokens | None = Field(
        default=None, description="Training tokens; default: the catalogue model's published count."
    )
    gpu: Slug = "a100-80gb"
    gpus: Gpus = 1
    precision: Precision | None = Field(
        default=None, description="Selects the GPU's dense peak (default bf16, else fp16)."
    )
    activation_checkpointing: Checkpointing = Checkpointing.NONE
    include_attention_flops: bool = False
    price_per_gpu_hour: Annotated[FiniteFloat, Field(gt=0, le=1e4)] | None = Field(
        default=None, description="USD; default: the hardware catalogue's price."
    )
    pue: Annotated[FiniteFloat, Field(ge=1, le=3)] = Field(
        default=1.10, description="Data-centre power usage effectiveness."
    )


class ComputeResponse(BaseModel):
    model: ResolvedModel
    tokens: int
    gpu: str
    gpus: int
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
    assumptions: list[str]
