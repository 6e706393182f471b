"""Wire contracts of training plans and of the planner search."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from service.domain.scaling import Verdict
from service.domain.scaling_laws import DEFAULT_LAW_ID
from service.schemas.estimates import (
    ComputeResponse,
    MemoryRequest,
    MemoryResponse,
    ResolvedModel,
    Throughput,
)
from service.schemas.fields import FiniteFloat, ShortText, Tokens
from service.schemas.scaling import Band, ComputeOptimalPoint, LawId, LawRef

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Notes = Annotated[str, StringConstraints(max_length=10_000)]


class PlanCreate(MemoryRequest, Throughput):
    """A whole run: the model, the data, the hardware, the parallelism and the utilisation."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "LLaMA-7B on 64 A100s",
                    "model": "llama-7b",
                    "tokens": 1_000_000_000_000,
                    "gpu": "a100-80gb",
                    "gpus": 64,
                    "strategy": "zero-3",
                    "micro_batch_size": 4,
                    "activation_checkpointing": "selective",
                    "mfu": 0.45,
                    "tags": ["llama", "baseline"],
                },
                {
                    "name": "Compute-optimal 1B",
                    "parameters": 1_000_000_000,
                    "tokens": "compute-optimal",
                    "law": "chinchilla-approach1",
                    "gpu": "h100-80gb",
                    "gpus": 8,
                    "strategy": "ddp",
                },
            ]
        },
    )

    name: ShortText
    notes: Notes | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    tokens: Tokens | Literal["compute-optimal"] | None = Field(
        default=None,
        description="Training tokens, or 'compute-optimal' for the model's size under `law`; "
        "default: the catalogue model's published count.",
    )
    law: LawId = Field(default=DEFAULT_LAW_ID, description="For the Chinchilla check.")
    include_attention_flops: bool = False
    price_per_gpu_hour: Annotated[FiniteFloat, Field(gt=0, le=1e4)] | None = None
    pue: Annotated[FiniteFloat, Field(ge=1, le=3)] = 1.10


class PlanChinchilla(BaseModel):
    law: LawRef
    tokens_per_parameter: float
    optimal_tokens: float
    token_ratio: float
    verdict: Verdict
    band: Band
    compute_optimal: ComputeOptimalPoint
    predicted_loss: float | None
    optimal_predicted_loss: float | None


class PlanResults(BaseModel):
    """Everything computed for a plan, stored as computed."""

    model: ResolvedModel
    tokens: int
    tokens_source: str
    memory: MemoryResponse
    compute: ComputeResponse
    chinchilla: PlanChinchilla
    recommendations: list[str]


class PlanRead(BaseModel):
    id: str
    name: str
    notes: str | None
    tags: list[str]
    fits: bool
    inputs: PlanCreate
    results: PlanResults
    estimator_version: str = Field(description="The code that computed the results.")
    recomputed_from: str | None = Field(description="The plan this one recomputed.")
    recomputed_as: list[str] = Field(description="Plans recomputed from this one.")
    version: int
    created_at: datetime
    updated_at: datetime


class PlanPatch(BaseModel):
    """Only a plan's name, notes and tags change; its figures never do."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"notes": "Approved for Q1", "tags": ["approved"]}]},
    )

    name: ShortText | None = None
    notes: Notes | None = None
    tags: list[Tag] | None = Field(default=None, max_length=20)

    @model_validator(mode="after")
    def _name_stays(self) -> Self:
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name cannot be null")
        return self


class PlanSummary(BaseModel):
    id: str
    name: str
    model: str | None
    parameters: int
    tokens: int
    gpu: str
    gpus: int
    strategy: str
    fits: bool
    per_gpu_total_bytes: int
    gpu_memory_bytes: int
    training_flops: float
    gpu_hours: float
    wall_clock_days: float
    cost_usd: float | None
    energy_kwh: float | None
    verdict: str
    token_ratio: float
    created_at: datetime


class PlanComparison(BaseModel):
    """Plans side by side: one summary each, and one row per metric."""

    plans: list[PlanSummary]
    metrics: dict[str, list[float | int | str | bool | None]]
