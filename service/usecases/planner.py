"""The planner search: resolve the request, search every configuration, map the answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from service.domain.errors import DomainError
from service.domain.hardware import GpuSpec
from service.domain.planner import (
    CHECKPOINTINGS,
    MICRO_BATCH_SIZES,
    OFFLOADS,
    STRATEGIES,
    PlanCandidate,
    PlanRequest,
    PlanResult,
    search_plans,
)
from service.persistence.repositories import HardwareRepository
from service.schemas.estimates import PerGpuBytes
from service.schemas.planner import (
    PlannerCandidate,
    PlannerMiss,
    PlannerRemedy,
    PlannerSearchRequest,
    PlannerSearchResponse,
    PlannerSettings,
    PlannerStrategy,
)
from service.usecases.errors import InvalidRequest, located
from service.usecases.estimates import Catalogues, lookup_gpu, resolve_model, shallow_fields
from service.usecases.hardware import to_gpu_spec


def _candidate(candidate: PlanCandidate) -> PlannerCandidate:
    settings = candidate.settings
    memory, compute = candidate.memory, candidate.compute
    assumptions = list(dict.fromkeys([*memory.assumptions, *compute.assumptions]))
    return PlannerCandidate(
        settings=PlannerSettings(
            gpu=settings.gpu,
            gpus=settings.gpus,
            strategy=settings.strategy.value,
            offload=settings.offload.value,
            tensor_parallel=settings.tensor_parallel,
            pipeline_parallel=settings.pipeline_parallel,
            data_parallel=candidate.data_parallel,
            micro_batch_size=settings.micro_batch_size,
            micro_batches=candidate.micro_batches,
            activation_checkpointing=settings.activation_checkpointing.value,
            sharding_factor=settings.sharding_factor,
        ),
        gpu_name=candidate.gpu_name,
        per_gpu=PerGpuBytes(**shallow_fields(candidate.per_gpu)),
        usable_gpu_memory_bytes=candidate.usable_gpu_memory_bytes,
        memory_fraction=candidate.memory_fraction,
        fits=candidate.fits,
        feasible=candidate.feasible,
        reasons=list(candidate.reasons),
        cpu_offload_bytes=memory.cpu_offload_bytes,
        communication_bytes_per_step=memory.communication_bytes_per_step,
        pipeline_bubble=candidate.pipeline_bubble,
        effective_mfu=candidate.effective_mfu,
        training_flops=compute.training_flops,
        gpu_hours=candidate.gpu_hours,
        wall_clock_days=candidate.wall_clock_days,
        cost_usd=candidate.cost_usd,
        energy_kwh=compute.energy_kwh,
        tokens_per_second=candidate.tokens_per_second,
        assumptions=assumptions,
    )


def to_response(result: PlanResult, parameters: int) -> PlannerSearchResponse:
    """The core's search result on the wire."""
    return PlannerSearchResponse(
        objective=result.objective.value,
        evaluated=result.evaluated,
        feasible_count=result.feasible_count,
        feasible=[_candidate(candidate) for candidate in result.feasible],
        nearest_misses=[
            PlannerMiss(
                candidate=_candidate(miss.candidate),
                needs=list(miss.needs),
                remedies=[
                    PlannerRemedy(kind=remedy.kind, sentence=remedy.sentence, fits=remedy.fits)
                    for remedy in miss.remedies
                ],
            )
            for miss in result.nearest_misses
        ],
        per_strategy=[
            PlannerStrategy(
                strategy=verdict.strategy.value,
                fits=verdict.fits,
                evaluated=verdict.evaluated,
                feasible_count=verdict.feasible_count,
                sentence=verdict.sentence,
            )
            for verdict in result.per_strategy
        ],
        infeasible_counts=dict(result.infeasible_counts),
        gpu_counts=list(result.gpu_counts),
        parameters=parameters,
        assumptions=list(result.assumptions),
    )


def search(
    session: Session | Catalogues,
    request: PlannerSearchRequest,
    progress: Callable[[int, int], None] | None = None,
    *,
    hardware: Sequence[GpuSpec] | None = None,
) -> PlannerSearchResponse:
    """Every configuration of the allowed GPUs, strategies and degrees, ranked.

    ``session`` is the database, or the command line's :class:`Catalogues` with ``hardware``,
    every accelerator of the catalogue (the alternatives a nearest miss may suggest)."""
    resolution = resolve_model(session, request)
    gpus = tuple(
        lookup_gpu(session, slug, f"body.gpu_types.{index}")
        for index, slug in enumerate(dict.fromkeys(request.gpu_types))
    )
    if hardware is not None:
        catalogue = tuple(hardware)
    elif isinstance(session, Session):
        catalogue = tuple(to_gpu_spec(row) for row in HardwareRepository(session).all())
    else:
        raise TypeError("search needs the hardware catalogue with Catalogues")
    plan_request = PlanRequest(
        tokens=request.tokens,
        gpu_types=gpus,
        max_gpus=request.max_gpus,
        parameters=resolution.model.parameters,
        architecture=resolution.architecture,
        objective=request.objective,
        max_days=request.max_days,
        max_cost_usd=request.max_cost_usd,
        min_mfu=request.min_mfu,
        top_k=request.top_k,
        gpus_per_node=request.gpus_per_node,
        global_batch_tokens=request.global_batch_tokens,
        sequence_length=request.sequence_length,
        precision=request.precision,
        optimizer=request.optimizer,
        mfu=request.mfu,
        active_parameters=resolution.model.active_parameters,
        strategies=tuple(request.strategies) if request.strategies else STRATEGIES,
        offloads=tuple(request.offloads) if request.offloads else OFFLOADS,
        checkpointing=tuple(request.checkpointing) if request.checkpointing else CHECKPOINTINGS,
        micro_batch_sizes=(
            tuple(request.micro_batch_sizes) if request.micro_batch_sizes else MICRO_BATCH_SIZES
        ),
        alternative_gpus=catalogue,
    )
    try:
        result = search_plans(plan_request, progress)
    except DomainError as error:
        raise InvalidRequest(error.message, field=located(error.field)) from error
    return to_response(result, resolution.model.parameters)
