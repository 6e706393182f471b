"""Wire contracts of the model catalogue."""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from service.domain.scaling import Verdict
from service.domain.scaling_laws import DEFAULT_LAW_ID
from service.domain.types import FAMILY_ALIASES, Family, Objective, PositionEmbedding
from service.schemas.common import PageQuery
from service.schemas.fields import (
    Dimension,
    LongText,
    Parameters,
    ShortText,
    Slug,
    Source,
    Tokens,
)

UseCase = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
#: The ``model.precision`` column is VARCHAR(32); longer text would be a 500 on PostgreSQL.
PrecisionText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)
]


class Norm(StrEnum):
    LAYERNORM = "layernorm"
    RMSNORM = "rmsnorm"


class ModelArchitecture(BaseModel):
    """Transformer hyper-parameters of a catalogue model (the family is the model's own)."""

    model_config = ConfigDict(extra="forbid")

    n_layers: Dimension = Field(description="Blocks; for encoder-decoder, encoder + decoder.")
    n_encoder_layers: Dimension | None = None
    n_decoder_layers: Dimension | None = None
    d_model: Dimension
    n_heads: Dimension
    n_kv_heads: Dimension | None = Field(
        default=None, description="Key/value heads; below n_heads for grouped-query attention."
    )
    head_dim: Dimension | None = Field(
        default=None, description="Per-head width when it differs from d_model / n_heads."
    )
    d_ff: Dimension
    vocab_size: Dimension
    context_length: Dimension
    tied_embeddings: bool = True
    gated_mlp: bool = False
    position_embedding: PositionEmbedding = PositionEmbedding.LEARNED
    norm: Norm = Norm.LAYERNORM
    bias: bool = True
    n_experts: Dimension = 1
    experts_per_token: Dimension = 1

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.n_kv_heads is not None and self.n_heads % self.n_kv_heads:
            raise ValueError("n_kv_heads must divide n_heads")
        if self.experts_per_token > self.n_experts:
            raise ValueError("experts_per_token cannot exceed n_experts")
        split = (self.n_encoder_layers, self.n_decoder_layers)
        if any(part is not None for part in split):
            if None in split:
                raise ValueError("give both n_encoder_layers and n_decoder_layers, or neither")
            if sum(part or 0 for part in split) != self.n_layers:
                raise ValueError("n_layers must equal n_encoder_layers + n_decoder_layers")
        return self


class _ModelFields(BaseModel):
    """Everything of a model but its slug (PUT replaces all of these)."""

    model_config = ConfigDict(extra="forbid")

    name: ShortText = Field(examples=["LLaMA-7B"])
    family: Family
    objective: Objective
    parameters: Parameters = Field(description="Published parameter count.")
    training_tokens: Tokens | None = Field(default=None, description="Published training tokens.")
    training_tokens_note: LongText | None = Field(
        default=None, description="How the token count was derived, when the paper gives steps."
    )
    architecture: ModelArchitecture | None = None
    precision: PrecisionText | None = Field(default=None, examples=["bf16"])
    hardware: ShortText | None = Field(default=None, examples=["2048 A100-80GB"])
    gpu_hours: float | None = Field(default=None, gt=0, le=1e12)
    organization: ShortText | None = None
    year: int | None = Field(default=None, ge=1950, le=2100)
    domain: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,63}$")] = "general"
    use_cases: list[UseCase] = Field(default_factory=list, max_length=50)
    sources: list[Source] = Field(default_factory=list, max_length=100)

    @field_validator("gpu_hours")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @model_validator(mode="after")
    def _family_matches_architecture(self) -> Self:
        arch = self.architecture
        if arch is None:
            return self
        split = arch.n_encoder_layers is not None
        if self.family is Family.ENCODER_DECODER and not split:
            raise ValueError(
                "architecture: encoder-decoder models give n_encoder_layers and n_decoder_layers"
            )
        if self.family is not Family.ENCODER_DECODER and split:
            raise ValueError(
                "architecture: only encoder-decoder models have encoder and decoder layer counts"
            )
        return self


class ModelCreate(_ModelFields):
    """Body of ``POST /v1/models``; only slug, name, family, objective, parameters are required."""

    slug: Slug = Field(examples=["pythia-1b"])

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "slug": "pythia-1b",
                    "name": "Pythia-1B",
                    "family": "decoder-only",
                    "objective": "causal-lm",
                    "parameters": 1011781632,
                    "training_tokens": 300000000000,
                    "organization": "EleutherAI",
                    "year": 2023,
                    "sources": ["Biderman et al. 2023, Pythia, arXiv:2304.01373, Table 1"],
                }
            ]
        },
    )


class ModelReplace(_ModelFields):
    """Body of ``PUT /v1/models/{slug}``: a full replacement (the slug stays)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "GPT-2 (re-measured)",
                    "family": "decoder-only",
                    "objective": "causal-lm",
                    "parameters": 124439808,
                    "sources": ["Counted from the Hugging Face gpt2 config.json"],
                }
            ]
        },
    )


class ModelPatch(BaseModel):
    """Body of ``PATCH /v1/models/{slug}``: only the fields given change (JSON merge semantics)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"training_tokens": 1400000000000, "year": 2023}]},
    )

    name: ShortText | None = None
    family: Family | None = None
    objective: Objective | None = None
    parameters: Parameters | None = None
    training_tokens: Tokens | None = None
    training_tokens_note: LongText | None = None
    architecture: ModelArchitecture | None = None
    precision: PrecisionText | None = None
    hardware: ShortText | None = None
    gpu_hours: float | None = Field(default=None, gt=0, le=1e12)
    organization: ShortText | None = None
    year: int | None = Field(default=None, ge=1950, le=2100)
    domain: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,63}$")] | None = None
    use_cases: list[UseCase] | None = Field(default=None, max_length=50)
    sources: list[Source] | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _required_stay_set(self) -> Self:
        for name in ("name", "family", "objective", "parameters", "domain", "use_cases", "sources"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class ModelRead(_ModelFields):
    """A catalogue model as served."""

    slug: Slug
    family_alias: str = Field(
        description="The course's word for the family: autoencoding, autoregressive, "
        "sequence-to-sequence."
    )
    origin: str = Field(description="'seed' (shipped catalogue) or 'api' (created or edited).")
    version: int = Field(description="Incremented on every change; the ETag is derived from it.")
    created_at: datetime
    updated_at: datetime


def family_alias(family: Family | str) -> str:
    """The course notes' name for a family."""
    return FAMILY_ALIASES[Family(family)]


class ModelSort(StrEnum):
    """Allow-listed sort keys; a leading '-' sorts descending."""

    SLUG = "slug"
    SLUG_DESC = "-slug"
    NAME = "name"
    NAME_DESC = "-name"
    PARAMETERS = "parameters"
    PARAMETERS_DESC = "-parameters"
    YEAR = "year"
    YEAR_DESC = "-year"
    TRAINING_TOKENS = "training_tokens"
    TRAINING_TOKENS_DESC = "-training_tokens"
    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"


class ModelQuery(PageQuery):
    """The query string of ``GET /v1/models``."""

    family: Family | None = Field(default=None, description="Architecture family.")
    objective: Objective | None = Field(default=None, description="Pre-training objective.")
    domain: str | None = Field(
        default=None, max_length=64, description="Domain, e.g. general or finance."
    )
    q: str | None = Field(
        default=None, max_length=200, description="Case-insensitive text in name or slug."
    )
    min_parameters: int | None = Field(default=None, ge=1, le=10**15)
    max_parameters: int | None = Field(default=None, ge=1, le=10**15)
    sort: ModelSort = Field(
        default=ModelSort.PARAMETERS, description="Sort key; '-' for descending."
    )
    verdict: Verdict | None = Field(
        default=None, description="Chinchilla verdict under `law` (see /chinchilla)."
    )
    law: str = Field(
        default=DEFAULT_LAW_ID,
        min_length=1,
        max_length=64,
        description="Law for the verdict filter.",
    )
