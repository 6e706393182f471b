"""Wire contracts of the planner search."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from service.domain.planner import PlanObjective
from service.domain.types import Checkpointing, Offload, Optimizer, Precision, Strategy
from service.schemas.estimates import ModelSpec, PerGpuBytes
from service.schemas.fields import FiniteFloat, Slug, Tokens


class PlannerSearchRequest(ModelSpec):
    """The model, the data, the GPU types allowed and the limits; every configuration is tried."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "model": "llama-7b",
                    "tokens": 1_000_000_000_000,
                    "gpu_types": ["a100-80gb"],
                    "max_gpus": 64,
                    "objective": "cost",
                },
                {
                    "model": "llama2-70b",
                    "tokens": 2_000_000_000_000,
                    "gpu_types": ["a100-80gb", "h100-80gb", "mi300x-192gb"],
                    "max_gpus": 1024,
                    "max_days": 60,
                    "objective": "time",
                },
            ]
        },
    )

    tokens: Tokens
    gpu_types: list[Slug] = Field(min_length=1, max_length=20, description="Hardware slugs.")
    max_gpus: Annotated[int, Field(ge=1, le=65_536)]
    objective: PlanObjective = PlanObjective.COST
    max_days: Annotated[FiniteFloat, Field(gt=0, le=1e6)] | None = None
    max_cost_usd: Annotated[FiniteFloat, Field(gt=0, le=1e13)] | None = None
    min_mfu: Annotated[FiniteFloat, Field(gt=0, le=1)] | None = Field(
        default=None, description="Drop configurations whose effective MFU is lower."
    )
    mfu: Annotated[FiniteFloat, Field(ge=0.001, le=1)] = Field(
        default=0.40, description="Base MFU before the pipeline bubble (PaLM, Table 3)."
    )
    top_k: Annotated[int, Field(ge=1, le=200)] = 20
    gpus_per_node: Annotated[int, Field(ge=1, le=64)] = 8
    global_batch_tokens: Annotated[int, Field(ge=1, le=10**10)] = Field(
        default=4_194_304, description="Tokens per optimizer step (LLaMA: 4M)."
    )
    sequence_length: Annotated[int, Field(ge=1, le=10**7)] | None = None
    precision: Precision | None = None
    optimizer: Optimizer = Optimizer.ADAMW
    strategies: list[Strategy] | None = Field(default=None, description="Default: all.")
    offloads: list[Offload] | None = Field(default=None, description="Default: all.")
    checkpointing: list[Checkpointing] | None = Field(default=None, description="Default: all.")
    micro_batch_sizes: list[Annotated[int, Field(ge=1, le=4096)]] | None = Field(
        default=None, max_length=16, description="Default: 1, 2, 4, 8, 16, 32."
    )


class PlannerSettings(BaseModel):
    gpu: str
    gpus: int
    strategy: str
    offload: str
    tensor_parallel: int
    pipeline_parallel: int
    data_parallel: int
    micro_batch_size: int
    micro_batches: int = Field(description="Micro-batches per pipeline per optimizer step.")
    activation_checkpointing: str
    sharding_factor: int | None


class PlannerCandidate(BaseModel):
    settings: PlannerSettings
    gpu_name: str
    per_gpu: PerGpuBytes
    usable_gpu_memory_bytes: int
    memory_fraction: float
    fits: bool
    feasible: bool
    reasons: list[str]
    cpu_offload_bytes: int
    communication_bytes_per_step: int
    pipeline_bubble: float
    effective_mfu: float
    training_flops: float
    gpu_hours: float
    wall_clock_days: float
    cost_usd: float | None
    energy_kwh: float | None
    tokens_per_second: float
    assumptions: list[str]


class PlannerRemedy(BaseModel):
    kind: str
    sentence: str
    fits: bool


class PlannerMiss(BaseModel):
    candidate: PlannerCandidate
    needs: list[str]
    remedies: list[PlannerRemedy]


class PlannerStrategy(BaseModel):
    strategy: str
    fits: bool
    evaluated: int
    feasible_count: int
    sentence: str


class PlannerSearchResponse(BaseModel):
    objective: str
    evaluated: int = Field(description="Configurations evaluated.")
    feasible_count: int
    feasible: list[PlannerCandidate] = Field(description="The best, ranked by the objective.")
    nearest_misses: list[PlannerMiss]
    per_strategy: list[PlannerStrategy]
    infeasible_counts: dict[str, int]
    gpu_counts: list[int]
    parameters: int
    assumptions: list[str]
