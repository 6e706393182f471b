"""Estimates: resolve the model a request names, then ask the pure core.

A request names its model in one of four ways (catalogue slug, parameter count, architecture,
Hugging Face config); :func:`resolve_model` turns each into a parameter count and, where known,
an :class:`~service.domain.architecture.Architecture`.

Catalogue slugs are looked up through :class:`Catalogues`: the database for the API
(:meth:`Catalogues.of_session`), the shipped seed files for the command line (``service.cli``),
so both answer from the same mapping code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from functools import partial
from typing import Any, Protocol

from sqlalchemy.orm import Session

from service.domain.architecture import Architecture, count_parameters, validate_architecture
from service.domain.compute import ComputeConfig, estimate_compute
from service.domain.errors import DomainError
from service.domain.hardware import GpuSpec
from service.domain.hf_config import architecture_from_hf_config
from service.domain.memory import MemoryConfig, estimate_memory
from service.domain.scaling_laws import ScalingLaw
from service.domain.types import Family, PositionEmbedding
from service.persistence.repositories import ModelRepository
from service.schemas.estimates import (
    ActivationDetail,
    ComputeRequest,
    ComputeResponse,
    MemoryRequest,
    MemoryResponse,
    ModelSpec,
    PerGpuBytes,
    ResolvedModel,
)
from service.usecases.errors import InvalidRequest
from service.usecases.hardware import gpu_spec

_ARCHITECTURE_FIELDS = {f.name for f in fields(Architecture)}


class CatalogueModel(Protocol):
    """What an estimate reads of a catalogue model: a stored row, or a seed entry."""

    @property
    def slug(self) -> str: ...
    @property
    def family(self) -> str: ...
    @property
    def parameters(self) -> int: ...
    @property
    def training_tokens(self) -> int | None: ...
    @property
    def architecture(self) -> dict[str, Any] | None: ...


def _no_fitted_law(law_id: str) -> ScalingLaw | None:
    return None


@dataclass(frozen=True, slots=True)
class Catalogues:
    """Where an estimate looks slugs up: ``model`` answers None when unknown; ``gpu`` raises
    :class:`InvalidRequest` naming ``body.gpu``; ``law`` finds a fitted scaling law (None when
    unknown; the built-in laws are the code's). ``resolve``, when given, replaces
    :func:`resolve_catalogue_model` for slugs (a snapshot remembers each slug's resolution)."""

    model: Callable[[str], CatalogueModel | None]
    gpu: Callable[[str], GpuSpec]
    law: Callable[[str], ScalingLaw | None] = _no_fitted_law
    resolve: Callable[[str], Resolution] | None = None

    @classmethod
    def of_session(cls, session: Session) -> Catalogues:
        """The database's catalogues (fitted laws are read by ``resolve_law`` itself)."""
        return cls(model=ModelRepository(session).get, gpu=partial(gpu_spec, session))

    def resolve_slug(self, slug: str) -> Resolution:
        """The catalogue model ``slug`` resolved for an estimate (422 naming ``body.model``)."""
        if self.resolve is not None:
            return self.resolve(slug)
        return resolve_catalogue_model(slug, self.model(slug))


def catalogues_of(source: Session | Catalogues) -> Catalogues:
    """``source`` as :class:`Catalogues` (a session's are read from the database)."""
    return source if isinstance(source, Catalogues) else Catalogues.of_session(source)


def lookup_gpu(source: Session | Catalogues, slug: str, field: str = "body.gpu") -> GpuSpec:
    """The accelerator ``slug`` from either catalogue source; unknown is a 422 naming ``field``."""
    try:
        return catalogues_of(source).gpu(slug)
    except InvalidRequest as error:
        raise InvalidRequest(error.detail, field=field) from error


@dataclass(frozen=True, slots=True)
class Resolution:
    """A request's model: what the API reports, and what the core computes with."""

    model: ResolvedModel
    architecture: Architecture | None
    training_tokens: int | None


def to_architecture(family: str, shape: dict[str, Any]) -> Architecture:
    """The core's architecture from a stored or posted shape (its keys are Architecture's)."""
    values = {k: v for k, v in shape.items() if k in _ARCHITECTURE_FIELDS and v is not None}
    values["family"] = Family(family)
    if "position_embedding" in values:
        values["position_embedding"] = PositionEmbedding(values["position_embedding"])
    if "norm" in values:
        values["norm"] = str(values["norm"])
    architecture = Architecture(**values)
    validate_architecture(architecture)
    return architecture


_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def shallow_fields(instance: Any) -> dict[str, Any]:
    """A dataclass's fields by name, values not copied (``dataclasses.asdict`` deep-copies
    recursively, ten times the cost, for flat records of numbers)."""
    kind = type(instance)
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in fields(kind))
    return {name: getattr(instance, name) for name in names}


def _with_architecture(
    source: str,
    architecture: Architecture,
    *,
    slug: str | None = None,
    published: int | None = None,
) -> ResolvedModel:
    count = count_parameters(architecture)
    shape = {
        key: (value.value if hasattr(value, "value") else value)
        for key, value in asdict(architecture).items()
        if value is not None
    }
    return ResolvedModel(
        source=source,
        slug=slug,
        parameters=count.total,
        active_parameters=count.active,
        non_embedding_parameters=count.non_embedding,
        published_parameters=published,
        architecture=shape,
        counted_terms=list(count.terms),
    )


def _prefixed(error: DomainError, prefix: str) -> InvalidRequest:
    field = error.field if error.field.startswith(prefix) else f"{prefix}.{error.field}"
    return InvalidRequest(error.message, field=f"body.{field}")


def resolve_catalogue_model(slug: str, row: CatalogueModel | None) -> Resolution:
    """A catalogue entry (``None``: not in the catalogue) as counts and a shape; 422 naming
    ``body.model`` when it is unknown or its stored shape is unusable."""
    if row is None:
        raise InvalidRequest(f"No model with slug '{slug}' in the catalogue.", field="body.model")
    if row.architecture is None:
        resolved = ResolvedModel(
            source="catalogue",
            slug=row.slug,
            parameters=row.parameters,
            active_parameters=row.parameters,
            published_parameters=row.parameters,
        )
        return Resolution(resolved, None, row.training_tokens)
    try:
        architecture = to_architecture(row.family, row.architecture)
    except (DomainError, TypeError, ValueError) as error:
        raise InvalidRequest(
            f"The catalogue entry '{row.slug}' has an unusable architecture: {error}",
            field="body.model",
        ) from error
    resolved = _with_architecture(
        "catalogue", architecture, slug=row.slug, published=row.parameters
    )
    return Resolution(resolved, architecture, row.training_tokens)


def resolve_model(source: Session | Catalogues, spec: ModelSpec) -> Resolution:
    """Turn the request's model into counts and a shape (422 naming the field when unusable)."""
    if spec.model is not None:
        return catalogues_of(source).resolve_slug(spec.model)
    if spec.architecture is not None:
        shape = spec.architecture.model_dump(mode="json", exclude={"family"})
        try:
            architecture = to_architecture(spec.architecture.family, shape)
        except DomainError as error:
            raise _prefixed(error, "architecture") from error
        return Resolution(_with_architecture("architecture", architecture), architecture, None)
    if spec.hf_config is not None:
        architecture = architecture_from_hf_config(spec.hf_config)
        return Resolution(_with_architecture("hf_config", architecture), architecture, None)
    assert spec.parameters is not None  # guaranteed by ModelSpec's validator  # noqa: S101
    resolved = ResolvedModel(
        source="parameters",
        parameters=spec.parameters,
        active_parameters=spec.parameters,
    )
    return Resolution(resolved, None, None)


def memory_estimate(source: Session | Catalogues, request: MemoryRequest) -> MemoryResponse:
    """Per-GPU memory for a configuration, checked against the chosen GPU."""
    catalogues = catalogues_of(source)
    resolution = resolve_model(catalogues, request)
    gpu = catalogues.gpu(request.gpu)
    config = MemoryConfig(
        parameters=resolution.model.parameters,
        architecture=resolution.architecture,
        mode=request.mode,
        precision=request.precision,
        optimizer=request.optimizer,
        strategy=request.strategy,
        gpus=request.gpus,
        sharding_factor=request.sharding_factor,
        offload=request.offload,
        tensor_parallel=request.tensor_parallel,
        pipeline_parallel=request.pipeline_parallel,
        sequence_parallel=request.sequence_parallel,
        micro_batch_size=request.micro_batch_size,
        sequence_length=request.sequence_length,
        activation_checkpointing=request.activation_checkpointing,
        attention=request.attention,
        dropout=request.dropout,
        convention=request.convention,
        gpu_memory_bytes=gpu.memory_bytes,
        headroom=request.headroom,
    )
    estimate = estimate_memory(config)
    resolved = estimate.resolved
    activations = estimate.activations
    assert estimate.fits is not None  # a capacity was given  # noqa: S101
    assert estimate.usable_gpu_memory_bytes is not None  # noqa: S101
    per_parameter = resolved.bytes_per_parameter
    return MemoryResponse(
        model=resolution.model,
        parameters=resolved.parameters,
        per_gpu=PerGpuBytes(**shallow_fields(estimate.per_gpu)),
        cpu_offload_bytes=estimate.cpu_offload_bytes,
        gpu=gpu.slug,
        gpu_memory_bytes=gpu.memory_bytes,
        usable_gpu_memory_bytes=estimate.usable_gpu_memory_bytes,
        headroom=estimate.headroom,
        fits=estimate.fits,
        communication_bytes_per_step=estimate.communication_bytes_per_step,
        data_parallel_degree=resolved.data_parallel,
        sharding_degree=resolved.sharding_degree,
        zero_stage=resolved.zero_stage,
        bytes_per_parameter={
            "weights": per_parameter.weights,
            "gradients": per_parameter.gradients,
            "optimizer_states": per_parameter.optimizer_states,
            "total": per_parameter.total,
        },
        sequence_length=resolved.sequence_length,
        convention=request.convention.value,
        activations=ActivationDetail(
            **shallow_fields(activations), architecture_derived=resolved.architecture_derived
        ),
        assumptions=list(estimate.assumptions),
    )


def compute_estimate(source: Session | Catalogues, request: ComputeRequest) -> ComputeResponse:
    """FLOPs, GPU-hours, days, dollars and energy of a training run."""
    catalogues = catalogues_of(source)
    resolution = resolve_model(catalogues, request)
    tokens = request.tokens if request.tokens is not None else resolution.training_tokens
    if tokens is None:
        raise InvalidRequest(
            "tokens is required (the model has no published training token count).",
            field="body.tokens",
        )
    gpu = catalogues.gpu(request.gpu)
    estimate = estimate_compute(
        ComputeConfig(
            parameters=resolution.model.parameters,
            active_parameters=resolution.model.active_parameters,
            architecture=resolution.architecture,
            tokens=tokens,
            gpu=gpu,
            gpus=request.gpus,
            mfu=request.mfu,
            achieved_tflops_per_gpu=request.achieved_tflops_per_gpu,
            tokens_per_second_per_gpu=request.tokens_per_second_per_gpu,
            precision=request.precision,
            activation_checkpointing=request.activation_checkpointing,
            price_per_gpu_hour=request.price_per_gpu_hour,
            pue=request.pue,
            include_attention_flops=request.include_attention_flops,
        )
    )
    assumptions = list(estimate.assumptions)
    if request.tokens is None:
        assumptions.insert(0, f"tokens: the catalogue's published count for {request.model}.")
    return ComputeResponse(
        model=resolution.model,
        tokens=tokens,
        gpu=gpu.slug,
        gpus=request.gpus,
        flops_per_token=estimate.flops_per_token,
        model_flops_per_token=estimate.model_flops_per_token,
        training_flops=estimate.training_flops,
        model_flops=estimate.model_flops,
        petaflop_s_days=estimate.petaflop_s_days,
        gpu_hours=estimate.gpu_hours,
        wall_clock_days=estimate.wall_clock_days,
        cost_usd=estimate.cost_usd,
        energy_kwh=estimate.energy_kwh,
        mfu=estimate.mfu,
        hfu=estimate.hfu,
        achieved_tflops_per_gpu=estimate.achieved_tflops_per_gpu,
        peak_tflops_per_gpu=estimate.peak_tflops_per_gpu,
        peak_precision=estimate.peak_precision,
        tokens_per_second=estimate.tokens_per_second,
        tokens_per_second_per_gpu=estimate.tokens_per_second_per_gpu,
        assumptions=assumptions,
    )
