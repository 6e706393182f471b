"""Wire contracts of the scaling laws: budgets, optima, losses, iso-FLOP curves, checks, plans."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.domain.scaling import Verdict
from service.domain.scaling_laws import DEFAULT_LAW_ID, DEFAULT_LOSS_LAW_ID
from service.domain.types import Precision
from service.schemas.fields import FiniteFloat, ShortText, Slug

LawId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9](?:[a-z0-9.\-]{0,62}[a-z0-9])?$",
        description="A built-in law id (GET /v1/scaling/laws) or the id of a fitted one.",
    ),
]
Flops = Annotated[FiniteFloat, Field(gt=0, le=1e36)]
Count = Annotated[FiniteFloat, Field(ge=1, le=1e18)]


class FitQuality(BaseModel):
    """How well a fitted law matches its runs (Hoffmann et al. 2022, appendix D.2 objective)."""

    runs: int
    huber_delta: float
    huber_objective: float
    rms_log_residual: float
    residuals: list[float] = Field(description="log(predicted) - log(observed), per run.")
    converged: bool
    initialisations: int
    refined: int
    evaluations: int


class LawRead(BaseModel):
    """A scaling law: what it is, where its constants come from, what it can answer."""

    id: str
    kind: str
    citation: str
    constants: dict[str, float]
    constant_sources: dict[str, str]
    answers: list[str]
    notes: list[str]
    loss_units: str | None
    builtin: bool
    default_for: list[str] = Field(
        default_factory=list, description="Endpoints that use this law when none is named."
    )
    fit: FitQuality | None = None
    created_at: datetime | None = None


class LawRef(BaseModel):
    """The law an answer used, with its constants (every answer says which)."""

    id: str
    citation: str
    constants: dict[str, float]


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parameters: Count
    tokens: Count
    loss: Annotated[FiniteFloat, Field(gt=0, le=100)]


class LawFitRequest(BaseModel):
    """Runs of a sweep to fit L(N, D) = E + A/N^alpha + B/D^beta to."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "my-sweep",
                    "citation": "Internal sweep, 2026-11",
                    "runs": [
                        {"parameters": 1.0e8, "tokens": 2.0e9, "loss": 3.52},
                        {"parameters": 2.0e8, "tokens": 4.0e9, "loss": 3.21},
                        {"parameters": 4.0e8, "tokens": 8.0e9, "loss": 2.98},
                        {"parameters": 1.0e8, "tokens": 8.0e9, "loss": 3.31},
                        {"parameters": 4.0e8, "tokens": 2.0e9, "loss": 3.24},
                        {"parameters": 8.0e8, "tokens": 1.6e10, "loss": 2.79},
                    ],
                }
            ]
        },
    )

    id: Slug
    citation: ShortText | None = None
    runs: list[RunIn] = Field(min_length=5, max_length=10_000)


class Budget(BaseModel):
    """A compute budget in one of several forms (exactly one of the first four)."""

    model_config = ConfigDict(extra="forbid")

    compute_flops: Flops | None = None
    petaflop_s_days: Annotated[FiniteFloat, Field(gt=0, le=1e20)] | None = None
    gpu_hours: Annotated[FiniteFloat, Field(gt=0, le=1e12)] | None = None
    budget_usd: Annotated[FiniteFloat, Field(gt=0, le=1e13)] | None = None
    gpu: Slug | None = Field(default=None, description="For gpu_hours and budget_usd.")
    mfu: Annotated[FiniteFloat, Field(gt=0, le=1)] | None = Field(
        default=None, description="Model FLOPs utilisation for gpu_hours/budget_usd (default 0.4)."
    )
    achieved_tflops_per_gpu: Annotated[FiniteFloat, Field(gt=0, le=1e6)] | None = Field(
        default=None, description="Instead of mfu: measured TFLOP/s per GPU."
    )
    precision: Precision | None = Field(default=None, description="Selects the GPU's peak.")
    price_per_gpu_hour: Annotated[FiniteFloat, Field(gt=0, le=1e4)] | None = Field(
        default=None, description="For budget_usd; default: the hardware catalogue price."
    )

    @model_validator(mode="after")
    def _one_budget(self) -> Self:
        forms = ("compute_flops", "petaflop_s_days", "gpu_hours", "budget_usd")
        given = [name for name in forms if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one budget: compute_flops, petaflop_s_days, gpu_hours or budget_usd"
            )
        if given[0] in ("gpu_hours", "budget_usd"):
            if self.gpu is None and self.achieved_tflops_per_gpu is None:
                raise ValueError(f"{given[0]} needs a gpu (or achieved_tflops_per_gpu)")
            if given[0] == "budget_usd" and self.gpu is None:
                raise ValueError("budget_usd needs a gpu for its price")
        if self.mfu is not None and self.achieved_tflops_per_gpu is not None:
            raise ValueError("give mfu or achieved_tflops_per_gpu, not both")
        return self


class ComputeOptimalRequest(Budget):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"compute_flops": 5.76e23, "law": "chinchilla-approach1"},
                {"gpu_hours": 100000, "gpu": "h100-80gb", "mfu": 0.4},
                {"budget_usd": 1000000, "gpu": "a100-80gb", "law": "epoch-2024"},
            ]
        },
    )

    law: LawId = Field(default=DEFAULT_LAW_ID)


class ComputeOptimalResponse(BaseModel):
    law: LawRef
    compute_flops: float
    petaflop_s_days: float
    parameters: float
    tokens: float
    tokens_per_parameter: float
    predicted_loss: float | None
    loss_units: str | None
    assumptions: list[str]


class LossRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"parameters": 7e10, "tokens": 1.4e12, "law": "epoch-2024"}]
        },
    )

    parameters: Count
    tokens: Count
    law: LawId = Field(default=DEFAULT_LOSS_LAW_ID)


class LossResponse(BaseModel):
    law: LawRef
    parameters: float
    tokens: float
    loss: float
    terms: dict[str, float]
    formula: str
    units: str
    notes: list[str]


class OptimalParametersRequest(BaseModel):
    """A data-limited domain: the tokens you have, and optionally the compute you could spend."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"tokens": 3.63e11, "law": "chinchilla-approach1"},
                {"unique_tokens": 1e11, "compute_flops": 1e23, "law": "epoch-2024"},
            ]
        },
    )

    tokens: Count | None = Field(default=None, description="Tokens available (one pass).")
    unique_tokens: Count | None = Field(
        default=None, description="Unique tokens available, for repeating them (same as tokens)."
    )
    compute_flops: Flops | None = Field(
        default=None, description="A budget: how many epochs over the data are worth it."
    )
    law: LawId = Field(default=DEFAULT_LAW_ID)

    @model_validator(mode="after")
    def _one_amount(self) -> Self:
        if (self.tokens is None) == (self.unique_tokens is None):
            raise ValueError("give exactly one of tokens or unique_tokens")
        return self


class DataConstrained(BaseModel):
    """Repeating data (Muennighoff et al. 2023, eq. 5): what a budget buys on limited data."""

    compute_flops: float
    unique_tokens: float
    parameters: float
    tokens: float
    epochs: float
    effective_tokens: float
    effective_parameters: float
    last_epoch_value: float
    predicted_loss: float | None
    unconstrained_parameters: float
    unconstrained_tokens: float
    unconstrained_epochs: float
    method: str
    r_star_d: float
    r_star_n: float
    assumptions: list[str]


class OptimalParametersResponse(BaseModel):
    law: LawRef
    tokens: float
    parameters: float
    compute_flops: float
    tokens_per_parameter: float
    predicted_loss: float | None
    data_constrained: DataConstrained | None
    assumptions: list[str]


class IsoFlopPointOut(BaseModel):
    parameters: float
    tokens: float
    loss: float


class IsoFlopResponse(BaseModel):
    law: LawRef
    compute_flops: float
    loss_units: str
    points: list[IsoFlopPointOut]
    minimum: IsoFlopPointOut = Field(description="The lowest point on the sampled curve.")
    law_optimum: IsoFlopPointOut = Field(description="The law's closed-form optimum.")


class Band(BaseModel):
    low: float
    high: float
    rule: str


class ComputeOptimalPoint(BaseModel):
    parameters: float
    tokens: float
    compute_flops: float


class ChinchillaCheckResponse(BaseModel):
    slug: str
    law: LawRef
    loss_law: LawRef | None
    parameters: float
    tokens: float
    tokens_per_parameter: float
    training_flops: float
    optimal_tokens: float
    optimal_tokens_per_parameter: float
    token_ratio: float = Field(description="Actual tokens / the law's optimal tokens for the size.")
    compute_optimal: ComputeOptimalPoint
    predicted_loss: float | None
    optimal_predicted_loss: float | None
    verdict: Verdict
    band: Band
    assumptions: list[str]


class DomainPlanRequest(Budget):
    """BloombergGPT's question: a domain corpus, public data and a budget."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "domain_tokens": 363e9,
                    "general_tokens": 345e9,
                    "gpu_hours": 1.3e6,
                    "gpu": "a100-40gb",
                    "achieved_tflops_per_gpu": 102,
                    "recompute_overhead": 0.3333,
                    "law": "chinchilla-approach1",
                }
            ]
        },
    )

    domain_tokens: Count
    general_tokens: Annotated[FiniteFloat, Field(ge=0, le=1e18)]
    law: LawId = Field(default=DEFAULT_LAW_ID)
    loss_law: LawId | None = Field(default=DEFAULT_LOSS_LAW_ID)
    safety_margin: Annotated[FiniteFloat, Field(ge=0, le=0.95)] = 0.30
    recompute_overhead: Annotated[FiniteFloat, Field(ge=0, le=10)] = 0.0
    min_domain_fraction: Annotated[FiniteFloat, Field(ge=0, le=1)] = 0.5


class DomainAlternative(BaseModel):
    name: str
    description: str
    parameters: float
    tokens: float
    compute_flops: float
    domain_epochs: float | None
    general_epochs: float | None
    effective_tokens: float
    predicted_loss: float | None


class DomainPlanResponse(BaseModel):
    law: LawRef
    loss_law: LawRef | None
    budget_flops: float
    usable_flops: float
    compute_flops: float
    reserve_fraction: float
    safety_margin: float
    parameters: float
    tokens: float
    tokens_per_parameter: float
    domain_tokens_used: float
    general_tokens_used: float
    domain_fraction: float
    epochs: dict[str, float]
    data_limited: bool
    predicted_loss: float | None
    alternatives: list[DomainAlternative]
    assumptions: list[str]
