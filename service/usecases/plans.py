"""Training plans: compute a whole run once, store it as computed, read it back unchanged."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from functools import cache
from importlib import resources

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from service import __version__
from service.domain.hardware import GpuSpec
from service.domain.memory_chart import memory_bar_svg
from service.domain.scaling import chinchilla_check, compute_optimal_for_parameters
from service.domain.scaling_laws import BUILTIN_LAWS, DEFAULT_LOSS_LAW_ID
from service.persistence.repositories import HardwareRepository, PlanFilter, PlanRepository
from service.persistence.tables import PlanRow
from service.schemas.common import Page
from service.schemas.estimates import ComputeRequest, MemoryRequest, MemoryResponse
from service.schemas.plans import (
    PlanChinchilla,
    PlanComparison,
    PlanCreate,
    PlanPatch,
    PlanRead,
    PlanResults,
    PlanSummary,
)
from service.schemas.scaling import Band, ComputeOptimalPoint
from service.usecases.catalogue_cache import CatalogueSnapshot
from service.usecases.errors import Conflict, InvalidRequest, NotFound, PreconditionFailed
from service.usecases.estimates import (
    Catalogues,
    compute_estimate,
    memory_estimate,
    resolve_model,
)
from service.usecases.preconditions import Precondition
from service.usecases.scaling import law_ref, resolve_law

GB = 1e9
_MEMORY_FIELDS = set(MemoryRequest.model_fields)
_COMPUTE_FIELDS = set(ComputeRequest.model_fields)


@cache
def estimator_version() -> str:
    """The package version plus a digest of the estimation core's source.

    Any change to a formula in ``service/domain`` changes the digest, so a stored plan says
    exactly which code computed it.
    """
    digest = hashlib.sha256()
    domain = resources.files("service.domain")
    for name in sorted(item.name for item in domain.iterdir() if item.name.endswith(".py")):
        digest.update(name.encode())
        digest.update(domain.joinpath(name).read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


def _gb(value: float) -> str:
    return f"{value / GB:,.1f} GB"


def _larger_gpus(
    source: Session | Catalogues, hardware: Sequence[GpuSpec] | None, memory_bytes: int
) -> list[str]:
    """Slugs of the accelerators with more memory than ``memory_bytes``, smallest first: from
    ``hardware`` when given (the command line's catalogue), else from the database."""
    if hardware is None:
        if not isinstance(source, Session):
            raise TypeError("compute_plan needs the hardware catalogue with Catalogues")
        return HardwareRepository(source).list_all_by_memory(memory_bytes)
    larger = sorted(
        (gpu.memory_bytes, gpu.slug) for gpu in hardware if gpu.memory_bytes > memory_bytes
    )
    return [slug for _, slug in larger]


def _alternatives(
    session: Session | Catalogues,
    inputs: PlanCreate,
    memory: MemoryResponse,
    hardware: Sequence[GpuSpec] | None,
) -> list[str]:
    """Verified changes that make a configuration fit (each one evaluated, smallest first)."""
    base = inputs.model_dump(include=_MEMORY_FIELDS, exclude_unset=False)
    found: list[str] = []

    def attempt(description: str, **changes: object) -> bool:
        request = MemoryRequest.model_validate({**base, **changes})
        try:
            result = memory_estimate(session, request)
        except InvalidRequest:
            return False
        if result.fits:
            found.append(
                f"{description} needs {_gb(result.per_gpu.total_bytes)} per GPU, which fits "
                f"{result.gpu}'s {_gb(result.usable_gpu_memory_bytes)} usable."
            )
        return result.fits

    stages = ("zero-1", "zero-2", "zero-3") if inputs.gpus > 1 else ()
    for strategy in stages:
        same_gpus = f"ZeRO-{strategy[-1]} over the same {inputs.gpus} GPUs"
        if strategy != inputs.strategy.value and attempt(same_gpus, strategy=strategy):
            break
    if inputs.activation_checkpointing.value != "full":
        attempt("Full activation checkpointing", activation_checkpointing="full")
    if inputs.offload.value == "none":
        attempt("Offloading the optimizer states to CPU (ZeRO-Offload)", offload="optimizer")
    gpus = max(inputs.gpus, 1)
    while gpus < 4096:
        gpus *= 2
        if attempt(f"ZeRO-3 over {gpus} GPUs", strategy="zero-3", gpus=gpus):
            break
    for slug in _larger_gpus(session, hardware, memory.gpu_memory_bytes)[:3]:
        if attempt(f"A larger accelerator ({slug}) with the same settings", gpu=slug):
            break
    return found


def _recommendations(
    session: Session | Catalogues,
    inputs: PlanCreate,
    results: PlanResults,
    hardware: Sequence[GpuSpec] | None,
) -> list[str]:
    memory, compute, check = results.memory, results.compute, results.chinchilla
    lines: list[str] = []
    strategy = inputs.strategy.value
    if memory.fits:
        lines.append(
            f"Fits with {strategy} on {inputs.gpus} x {memory.gpu}: "
            f"{_gb(memory.per_gpu.total_bytes)} per GPU of {_gb(memory.usable_gpu_memory_bytes)} "
            f"usable."
        )
    else:
        lines.append(
            f"Does not fit with {strategy} on {inputs.gpus} x {memory.gpu}: "
            f"{_gb(memory.per_gpu.total_bytes)} per GPU needed "
            f"({_gb(memory.per_gpu.model_states_bytes)} of model states at "
            f"{memory.bytes_per_parameter['total']:g} bytes per parameter before sharding), "
            f"{_gb(memory.usable_gpu_memory_bytes)} usable."
        )
        alternatives = _alternatives(session, inputs, memory, hardware)
        lines.extend(alternatives)
        if not alternatives:
            lines.append(
                "No single change tried (ZeRO stages, checkpointing, optimizer offload, up to "
                "4096 GPUs, a larger accelerator) makes it fit; try POST /v1/planner/search."
            )
    ratio = check.token_ratio
    law = check.law.id
    if check.verdict.value == "under-trained":
        lines.append(
            f"Under-trained by {1 / ratio:.1f}x for its size under {law}: "
            f"{check.optimal_tokens:.3g} tokens would be compute-optimal, the plan has "
            f"{results.tokens:.3g}; for the same compute, a {check.compute_optimal.parameters:.3g}"
            f"-parameter model on {check.compute_optimal.tokens:.3g} tokens is predicted to do "
            "better."
        )
    elif check.verdict.value == "over-trained":
        lines.append(
            f"Over-trained by {ratio:.1f}x for its size under {law}: the same compute would be "
            f"compute-optimal for a {check.compute_optimal.parameters:.3g}-parameter model; "
            "a smaller model trained longer can still be the right choice when inference "
            "dominates the cost."
        )
    else:
        lines.append(
            f"Near-optimal under {law}: {check.tokens_per_parameter:.1f} tokens per parameter, "
            f"{ratio:.2f}x the law's {check.optimal_tokens:.3g} tokens for its size."
        )
    cost = f", about ${compute.cost_usd:,.0f}" if compute.cost_usd is not None else ""
    lines.append(
        f"{compute.training_flops:.3g} FLOPs ({compute.petaflop_s_days:,.0f} petaflop/s-days): "
        f"{compute.wall_clock_days:,.1f} days on {inputs.gpus} x {compute.gpu} at "
        f"{compute.mfu:.0%} MFU, {compute.gpu_hours:,.0f} GPU-hours{cost}."
    )
    return lines


def compute_plan(
    session: Session | Catalogues,
    inputs: PlanCreate,
    *,
    hardware: Sequence[GpuSpec] | None = None,
) -> PlanResults:
    """Memory, compute, Chinchilla check and recommendations for one run.

    ``session`` is the database, or the command line's :class:`Catalogues` (no database: only
    built-in laws), which also needs ``hardware``, every accelerator of the catalogue (for the
    "a larger accelerator" recommendation)."""
    resolution = resolve_model(session, inputs)
    law = resolve_law(session, inputs.law, "body.law")
    parameters = resolution.model.parameters
    if inputs.tokens == "compute-optimal":
        tokens = round(compute_optimal_for_parameters(parameters, law).tokens)
        source = f"compute-optimal for {parameters:,} parameters under {law.id}"
    elif inputs.tokens is not None:
        tokens, source = inputs.tokens, "given"
    elif resolution.training_tokens is not None:
        tokens = resolution.training_tokens
        source = f"the catalogue's published count for {inputs.model}"
    else:
        raise InvalidRequest(
            "tokens is required: give a count or 'compute-optimal'.", field="body.tokens"
        )
    memory = memory_estimate(
        session, MemoryRequest.model_validate(inputs.model_dump(include=_MEMORY_FIELDS))
    )
    compute_fields = inputs.model_dump(include=_COMPUTE_FIELDS - {"tokens"})
    compute = compute_estimate(
        session, ComputeRequest.model_validate({**compute_fields, "tokens": tokens})
    )
    loss_law = resolve_law(session, DEFAULT_LOSS_LAW_ID, "body.law")
    check = chinchilla_check(parameters, tokens, law, loss_law=loss_law)
    low, high = check.band
    chinchilla = PlanChinchilla(
        law=law_ref(law),
        tokens_per_parameter=check.tokens_per_parameter,
        optimal_tokens=check.optimal_tokens,
        token_ratio=check.token_ratio,
        verdict=check.verdict,
        band=Band(
            low=low,
            high=high,
            rule=f"near-optimal when tokens / optimal tokens is within [{low:g}, {high:g}]",
        ),
        compute_optimal=ComputeOptimalPoint(
            parameters=check.compute_optimal.parameters,
            tokens=check.compute_optimal.tokens,
            compute_flops=check.compute_optimal.compute_flops,
        ),
        predicted_loss=check.predicted_loss,
        optimal_predicted_loss=check.optimal_predicted_loss,
    )
    results = PlanResults(
        model=resolution.model,
        tokens=tokens,
        tokens_source=source,
        memory=memory,
        compute=compute,
        chinchilla=chinchilla,
        recommendations=[],
    )
    results.recommendations = _recommendations(session, inputs, results, hardware)
    return results


def to_read(row: PlanRow, successors: list[str]) -> PlanRead:
    """A stored plan as served (its results exactly as stored)."""
    return PlanRead(
        id=row.id,
        name=row.name,
        notes=row.notes,
        tags=row.tags,
        fits=row.fits,
        inputs=PlanCreate.model_validate(row.inputs),
        results=PlanResults.model_validate(row.results),
        estimator_version=row.estimator_version,
        recomputed_from=row.recomputed_from,
        recomputed_as=successors,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _store(
    session: Session, inputs: PlanCreate, results: PlanResults, recomputed_from: str | None
) -> PlanRead:
    row = PlanRow(
        id=str(uuid.uuid4()),
        name=inputs.name,
        notes=inputs.notes,
        tags=list(inputs.tags),
        model=inputs.model,
        model_source=results.model.source,
        gpu=results.memory.gpu,
        gpus=inputs.gpus,
        fits=results.memory.fits,
        inputs=inputs.model_dump(mode="json", exclude_unset=True),
        results=results.model_dump(mode="json"),
        estimator_version=estimator_version(),
        recomputed_from=recomputed_from,
    )
    PlanRepository(session).add(row)
    session.commit()
    return to_read(row, [])


def create_plan(
    session: Session, inputs: PlanCreate, snapshot: CatalogueSnapshot | None = None
) -> PlanRead:
    """Compute and store a plan.

    With the process's catalogue ``snapshot`` (and a built-in law) the plan is computed without
    touching the database, so the write transaction holds only the INSERT: on SQLite, where a
    write transaction takes the database's one write lock, concurrent plan creations then wait
    microseconds for each other instead of the whole computation.
    """
    if snapshot is not None and inputs.law in BUILTIN_LAWS:
        hardware = sorted(snapshot.hardware.values(), key=lambda gpu: gpu.slug)
        results = compute_plan(snapshot.catalogues, inputs, hardware=hardware)
    else:
        results = compute_plan(session, inputs)
    return _store(session, inputs, results, None)


def _row(session: Session, plan_id: str) -> PlanRow:
    row = PlanRepository(session).get(plan_id)
    if row is None:
        raise NotFound(f"No plan with id '{plan_id}'.", field="path.plan_id")
    return row


def get_plan(session: Session, plan_id: str) -> PlanRead:
    """One stored plan."""
    row = _row(session, plan_id)
    return to_read(row, PlanRepository(session).successors(row.id))


def recompute_plan(session: Session, plan_id: str) -> PlanRead:
    """A new plan from the same inputs with today's formulas, linked to the old one."""
    row = _row(session, plan_id)
    inputs = PlanCreate.model_validate(row.inputs)
    try:
        results = compute_plan(session, inputs)
    except InvalidRequest as error:
        raise Conflict(
            f"The plan's inputs can no longer be computed: {error.detail}", field=error.field
        ) from error
    return _store(session, inputs, results, row.id)


def list_plans(
    session: Session, filters: PlanFilter, *, sort: str, limit: int, offset: int
) -> Page[PlanRead]:
    """A page of plans."""
    repository = PlanRepository(session)
    rows, total = repository.list(filters, sort=sort, limit=limit, offset=offset)
    items = [to_read(row, repository.successors(row.id)) for row in rows]
    return Page[PlanRead](items=items, total=total, limit=limit, offset=offset)


def patch_plan(
    session: Session, plan_id: str, patch: PlanPatch, precondition: Precondition
) -> PlanRead:
    """Rename, annotate or tag a plan (its figures never change)."""
    row = _row(session, plan_id)
    precondition.check(row.version)
    for name, value in patch.model_dump(exclude_unset=True).items():
        setattr(row, name, value)
    try:
        session.commit()
    except StaleDataError as error:
        session.rollback()
        raise PreconditionFailed(
            "The plan changed while this update was applied; fetch it and retry.",
            field="header.If-Match",
        ) from error
    return to_read(row, PlanRepository(session).successors(row.id))


def delete_plan(session: Session, plan_id: str, precondition: Precondition) -> None:
    """Remove a plan (plans recomputed from it keep their figures; their link is cleared)."""
    row = _row(session, plan_id)
    precondition.check(row.version)
    try:
        PlanRepository(session).delete(row)
        session.commit()
    except StaleDataError as error:
        session.rollback()
        raise PreconditionFailed(
            "The plan changed while it was being deleted; fetch it again.",
            field="header.If-Match",
        ) from error


def memory_chart(session: Session, plan_id: str) -> str:
    """The plan's per-GPU memory as an SVG stacked bar against the GPU's capacity."""
    plan = get_plan(session, plan_id)
    memory = plan.results.memory
    per_gpu = memory.per_gpu
    inputs = plan.inputs
    return memory_bar_svg(
        [
            ("weights", per_gpu.weights_bytes),
            ("gradients", per_gpu.gradients_bytes),
            ("optimizer states", per_gpu.optimizer_states_bytes),
            ("activations", per_gpu.activations_bytes),
            ("overhead", per_gpu.overhead_bytes),
        ],
        capacity_bytes=memory.gpu_memory_bytes,
        usable_bytes=memory.usable_gpu_memory_bytes,
        title=f"{plan.name}: memory per GPU",
        subtitle=(
            f"{inputs.strategy.value} on {inputs.gpus} x {memory.gpu}, {inputs.precision.value}, "
            f"{inputs.optimizer.value}, micro-batch {inputs.micro_batch_size}, sequence "
            f"{memory.sequence_length}, checkpointing {inputs.activation_checkpointing.value}"
        ),
    )


def summary(plan: PlanRead) -> PlanSummary:
    """The figures a comparison lines up."""
    results = plan.results
    return PlanSummary(
        id=plan.id,
        name=plan.name,
        model=plan.inputs.model,
        parameters=results.model.parameters,
        tokens=results.tokens,
        gpu=results.memory.gpu,
        gpus=plan.inputs.gpus,
        strategy=plan.inputs.strategy.value,
        fits=plan.fits,
        per_gpu_total_bytes=results.memory.per_gpu.total_bytes,
        gpu_memory_bytes=results.memory.gpu_memory_bytes,
        training_flops=results.compute.training_flops,
        gpu_hours=results.compute.gpu_hours,
        wall_clock_days=results.compute.wall_clock_days,
        cost_usd=results.compute.cost_usd,
        energy_kwh=results.compute.energy_kwh,
        verdict=results.chinchilla.verdict.value,
        token_ratio=results.chinchilla.token_ratio,
        created_at=plan.created_at,
    )


def compare_plans(session: Session, plan_ids: list[str]) -> PlanComparison:
    """Plans side by side, in the order asked (404 naming any that do not exist)."""
    rows = PlanRepository(session).get_many(plan_ids)
    missing = [plan_id for plan_id in plan_ids if plan_id not in rows]
    if missing:
        raise NotFound(f"No plans with ids: {', '.join(missing)}.", field="query.ids")
    summaries = [summary(to_read(rows[plan_id], [])) for plan_id in plan_ids]
    columns = [name for name in PlanSummary.model_fields if name not in ("id", "created_at")]
    metrics = {name: [getattr(item, name) for item in summaries] for name in columns}
    return PlanComparison(plans=summaries, metrics=metrics)
