"""Scaling-law use-cases: resolve a law (built-in or fitted), convert budgets, map answers."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.domain.compute import DEFAULT_MFU, dense_peak_tflops
from service.domain.errors import DomainError
from service.domain.fit import Run, fit_scaling_law
from service.domain.scaling import (
    ComputeOptimal,
    IsoFlopPoint,
    chinchilla_check,
    compute_optimal,
    compute_optimal_for_tokens,
    data_constrained_plan,
    iso_flop_curve,
    plan_domain_adaptation,
    predict_loss,
)
from service.domain.scaling_laws import (
    BUILTIN_LAWS,
    DEFAULT_LAW_ID,
    DEFAULT_LOSS_LAW_ID,
    PF_DAY_FLOPS,
    ScalingLaw,
    parametric_law,
)
from service.domain.svg import iso_flop_svg
from service.domain.types import Precision
from service.persistence.repositories import ScalingLawRepository
from service.persistence.tables import ScalingLawRow
from service.schemas.scaling import (
    Band,
    Budget,
    ChinchillaCheckResponse,
    ComputeOptimalPoint,
    ComputeOptimalRequest,
    ComputeOptimalResponse,
    DataConstrained,
    DomainAlternative,
    DomainPlanRequest,
    DomainPlanResponse,
    FitQuality,
    IsoFlopPointOut,
    IsoFlopResponse,
    LawFitRequest,
    LawRead,
    LawRef,
    LossRequest,
    LossResponse,
    OptimalParametersRequest,
    OptimalParametersResponse,
)
from service.usecases.errors import Conflict, InvalidRequest, NotFound, located
from service.usecases.estimates import Catalogues, catalogues_of, lookup_gpu

_DEFAULTS = {
    DEFAULT_LAW_ID: ["compute-optimal", "optimal-parameters", "chinchilla", "domain-plan"],
    DEFAULT_LOSS_LAW_ID: ["loss", "isoflop", "predicted losses of checks and plans"],
}


def law_ref(law: ScalingLaw) -> LawRef:
    """The law an answer used, as echoed in every answer."""
    return LawRef(id=law.id, citation=law.citation, constants=dict(law.constants))


def law_from_row(row: ScalingLawRow) -> ScalingLaw:
    """A fitted law as the core's parametric law (Hoffmann et al. 2022, eq. 2)."""
    constants = row.constants
    return parametric_law(
        row.slug,
        E=constants["E"],
        A=constants["A"],
        B=constants["B"],
        alpha=constants["alpha"],
        beta=constants["beta"],
        citation=row.citation,
        notes=(f"Fitted to {row.fit['runs']} runs submitted through the API.",),
        loss_units="the loss units of the submitted runs",
    )


def resolve_law(source: Session | Catalogues, law_id: str, field: str) -> ScalingLaw:
    """A built-in law, else a fitted one; an unknown id is a 422 naming ``field``.

    Fitted laws live in the database, and in the API's catalogue snapshot; the command line's
    :class:`Catalogues` (no database) knows none, so only the built-in laws resolve there."""
    builtin = BUILTIN_LAWS.get(law_id)
    if builtin is not None:
        return builtin
    if isinstance(source, Catalogues):
        fitted = source.law(law_id)
    else:
        row = ScalingLawRepository(source).get(law_id)
        fitted = None if row is None else law_from_row(row)
    if fitted is None:
        known = ", ".join(BUILTIN_LAWS)
        raise InvalidRequest(
            f"Unknown law '{law_id}'. Built-in laws: {known}; fitted laws are listed by "
            "GET /v1/scaling/laws.",
            field=field,
        )
    return fitted


def _law_read(law: ScalingLaw, row: ScalingLawRow | None = None) -> LawRead:
    return LawRead(
        id=law.id,
        kind=law.kind.value,
        citation=law.citation,
        constants=dict(law.constants),
        constant_sources=dict(law.constant_sources),
        answers=list(law.answers),
        notes=list(law.notes),
        loss_units=law.loss_units,
        builtin=row is None,
        default_for=_DEFAULTS.get(law.id, []),
        fit=FitQuality.model_validate(row.fit) if row is not None else None,
        created_at=row.created_at if row is not None else None,
    )


def list_laws(session: Session) -> list[LawRead]:
    """Built-in laws first (in registry order), then fitted ones (oldest first)."""
    laws = [_law_read(law) for law in BUILTIN_LAWS.values()]
    laws += [_law_read(law_from_row(row), row) for row in ScalingLawRepository(session).all()]
    return laws


def get_law(session: Session, law_id: str) -> LawRead:
    """One law by id (404 when unknown)."""
    if law_id in BUILTIN_LAWS:
        return _law_read(BUILTIN_LAWS[law_id])
    row = ScalingLawRepository(session).get(law_id)
    if row is None:
        raise NotFound(f"No scaling law with id '{law_id}'.", field="path.law_id")
    return _law_read(law_from_row(row), row)


def fit_law(session: Session, request: LawFitRequest) -> LawRead:
    """Fit L(N, D) to the runs the way Hoffmann et al. did, and store it (409 on a taken id)."""
    repository = ScalingLawRepository(session)
    taken = Conflict(f"A scaling law with id '{request.id}' already exists.", field="body.id")
    if request.id in BUILTIN_LAWS or repository.get(request.id) is not None:
        raise taken
    runs = [Run(run.parameters, run.tokens, run.loss) for run in request.runs]
    citation = request.citation or f"Fitted through the API to {len(runs)} runs"
    try:
        result = fit_scaling_law(runs, law_id=request.id, citation=citation)
    except DomainError as error:
        raise InvalidRequest(error.message, field=f"body.{error.field}") from error
    fit = FitQuality(
        runs=result.runs,
        huber_delta=result.huber_delta,
        huber_objective=result.huber_objective,
        rms_log_residual=result.rms_log_residual,
        residuals=list(result.residuals),
        converged=result.converged,
        initialisations=result.initialisations,
        refined=result.refined,
        evaluations=result.evaluations,
    )
    row = ScalingLawRow(
        slug=request.id,
        kind=result.law.kind.value,
        citation=citation,
        constants=dict(result.law.constants),
        fit=fit.model_dump(mode="json"),
        runs=[run.model_dump() for run in request.runs],
    )
    try:
        repository.add(row)
        session.commit()
    except IntegrityError as error:
        session.rollback()
        raise taken from error
    return _law_read(law_from_row(row), row)


def delete_law(session: Session, law_id: str) -> None:
    """Remove a fitted law (built-in laws cannot be deleted)."""
    if law_id in BUILTIN_LAWS:
        raise Conflict(f"'{law_id}' is a built-in law and cannot be deleted.", field="path.law_id")
    repository = ScalingLawRepository(session)
    row = repository.get(law_id)
    if row is None:
        raise NotFound(f"No scaling law with id '{law_id}'.", field="path.law_id")
    repository.delete(row)
    session.commit()


def _peak_precision(peaks: dict[str, float], precision: Precision | None) -> Precision:
    if precision is not None:
        return precision
    return Precision.BF16 if "bf16" in peaks else Precision.FP16


def budget_to_flops(source: Session | Catalogues, budget: Budget) -> tuple[float, list[str]]:
    """The budget in FLOPs, and sentences saying how it was converted."""
    if budget.compute_flops is not None:
        return budget.compute_flops, [f"Budget: {budget.compute_flops:.3g} FLOPs as given."]
    if budget.petaflop_s_days is not None:
        flops = budget.petaflop_s_days * PF_DAY_FLOPS
        return flops, [
            f"Budget: {budget.petaflop_s_days:g} petaflop/s-days x 8.64e19 FLOPs "
            f"(1e15 FLOP/s for 86,400 s) = {flops:.3g} FLOPs."
        ]
    notes: list[str] = []
    gpu = lookup_gpu(source, budget.gpu) if budget.gpu is not None else None
    if budget.achieved_tflops_per_gpu is not None:
        per_gpu = budget.achieved_tflops_per_gpu * 1e12
        notes.append(f"Each GPU sustains {budget.achieved_tflops_per_gpu:g} TFLOP/s (as given).")
    else:
        assert gpu is not None  # Budget's validator  # noqa: S101
        precision = _peak_precision(dict(gpu.peak_tflops), budget.precision)
        try:
            key, peak = dense_peak_tflops(gpu, precision)
        except DomainError as error:
            raise InvalidRequest(error.message, field="body.precision") from error
        mfu = budget.mfu if budget.mfu is not None else DEFAULT_MFU
        per_gpu = peak * 1e12 * mfu
        notes.append(
            f"Each {gpu.name} runs at {mfu:.0%} MFU of its dense {key} peak ({peak:g} TFLOP/s)"
            + ("" if budget.mfu is not None else "; 40% is the default MFU (PaLM, Table 3)")
            + "."
        )
    if budget.gpu_hours is not None:
        hours = budget.gpu_hours
    else:
        assert gpu is not None  # Budget's validator  # noqa: S101
        assert budget.budget_usd is not None  # noqa: S101
        price = budget.price_per_gpu_hour or gpu.price_per_hour_usd
        if price is None:
            raise InvalidRequest(
                f"{gpu.name} has no catalogue price; give price_per_gpu_hour.",
                field="body.price_per_gpu_hour",
            )
        hours = budget.budget_usd / price
        notes.append(
            f"${budget.budget_usd:,.0f} at ${price:g} per GPU-hour = {hours:,.0f} GPU-hours."
        )
    flops = hours * 3600 * per_gpu
    notes.append(
        f"Budget: {hours:,.0f} GPU-hours x 3600 s x {per_gpu:.3g} FLOP/s = {flops:.3g} FLOPs."
    )
    return flops, notes


def _reraise(error: DomainError, location: str = "body") -> InvalidRequest:
    return InvalidRequest(error.message, field=located(error.field, location))


def optimal_for_budget(
    source: Session | Catalogues, request: ComputeOptimalRequest
) -> ComputeOptimalResponse:
    """The compute-optimal model size and tokens for a budget (``source``: the database, or the
    command line's :class:`Catalogues`)."""
    law = resolve_law(source, request.law, "body.law")
    flops, notes = budget_to_flops(source, request)
    try:
        result = compute_optimal(flops, law)
    except DomainError as error:
        raise _reraise(error) from error
    return ComputeOptimalResponse(
        law=law_ref(law),
        compute_flops=result.compute_flops,
        petaflop_s_days=result.compute_flops / PF_DAY_FLOPS,
        parameters=result.parameters,
        tokens=result.tokens,
        tokens_per_parameter=result.tokens_per_parameter,
        predicted_loss=result.predicted_loss,
        loss_units=law.loss_units,
        assumptions=[*notes, *result.assumptions],
    )


def loss(source: Session | Catalogues, request: LossRequest) -> LossResponse:
    """The loss a law predicts for N parameters trained on D tokens."""
    law = resolve_law(source, request.law, "body.law")
    try:
        prediction = predict_loss(request.parameters, request.tokens, law)
    except DomainError as error:
        raise _reraise(error) from error
    return LossResponse(
        law=law_ref(law),
        parameters=prediction.parameters,
        tokens=prediction.tokens,
        loss=prediction.loss,
        terms=dict(prediction.terms),
        formula=prediction.formula,
        units=prediction.units,
        notes=list(prediction.notes),
    )


def optimal_parameters(
    source: Session | Catalogues, request: OptimalParametersRequest
) -> OptimalParametersResponse:
    """The size compute-optimal for the tokens at hand; with a budget, the repetition plan."""
    law = resolve_law(source, request.law, "body.law")
    tokens = request.tokens if request.tokens is not None else request.unique_tokens
    assert tokens is not None  # the schema's validator  # noqa: S101
    try:
        result: ComputeOptimal = compute_optimal_for_tokens(tokens, law)
        plan = (
            data_constrained_plan(request.compute_flops, tokens, law)
            if request.compute_flops is not None
            else None
        )
    except DomainError as error:
        raise _reraise(error) from error
    constrained = None
    if plan is not None:
        constrained = DataConstrained(
            compute_flops=plan.compute_flops,
            unique_tokens=plan.unique_tokens,
            parameters=plan.parameters,
            tokens=plan.tokens,
            epochs=plan.epochs,
            effective_tokens=plan.effective_tokens,
            effective_parameters=plan.effective_parameters,
            last_epoch_value=plan.last_epoch_value,
            predicted_loss=plan.predicted_loss,
            unconstrained_parameters=plan.unconstrained.parameters,
            unconstrained_tokens=plan.unconstrained.tokens,
            unconstrained_epochs=plan.unconstrained_epochs,
            method=plan.method,
            r_star_d=plan.r_star_d,
            r_star_n=plan.r_star_n,
            assumptions=list(plan.assumptions),
        )
    return OptimalParametersResponse(
        law=law_ref(law),
        tokens=result.tokens,
        parameters=result.parameters,
        compute_flops=result.compute_flops,
        tokens_per_parameter=result.tokens_per_parameter,
        predicted_loss=result.predicted_loss,
        data_constrained=constrained,
        assumptions=list(result.assumptions),
    )


def _point(point: IsoFlopPoint) -> IsoFlopPointOut:
    return IsoFlopPointOut(parameters=point.parameters, tokens=point.tokens, loss=point.loss)


def isoflop(
    source: Session | Catalogues, compute_flops: float, law_id: str, points: int, span: float
) -> IsoFlopResponse:
    """Points of the iso-FLOP curve and its minimum."""
    law = resolve_law(source, law_id, "query.law")
    try:
        curve = iso_flop_curve(compute_flops, law, points=points, span=span)
    except DomainError as error:
        raise _reraise(error, "query") from error
    optimum = curve.law_optimum
    assert optimum.predicted_loss is not None  # iso-FLOP curves need a loss law  # noqa: S101
    return IsoFlopResponse(
        law=law_ref(law),
        compute_flops=curve.compute_flops,
        loss_units=curve.loss_units,
        points=[_point(point) for point in curve.points],
        minimum=_point(curve.minimum),
        law_optimum=IsoFlopPointOut(
            parameters=optimum.parameters, tokens=optimum.tokens, loss=optimum.predicted_loss
        ),
    )


def isoflop_chart(
    source: Session | Catalogues, compute_flops: Sequence[float], law_id: str, points: int
) -> str:
    """The iso-FLOP curves of several budgets as one SVG chart."""
    law = resolve_law(source, law_id, "query.law")
    try:
        curves = [iso_flop_curve(flops, law, points=points) for flops in compute_flops]
        return iso_flop_svg(curves, title=f"Iso-FLOP curves under {law.id}")
    except DomainError as error:
        raise _reraise(error, "query") from error


def check_model(
    source: Session | Catalogues, slug: str, law_id: str, loss_law_id: str | None
) -> ChinchillaCheckResponse:
    """Was a catalogue model trained compute-optimally under ``law``?"""
    row = catalogues_of(source).model(slug)
    if row is None:
        raise NotFound(f"No model with slug '{slug}' in the catalogue.", field="path.slug")
    if row.training_tokens is None:
        raise InvalidRequest(
            f"'{slug}' has no published training token count to check.", field="path.slug"
        )
    law = resolve_law(source, law_id, "query.law")
    loss_law = resolve_law(source, loss_law_id, "query.loss_law") if loss_law_id else None
    try:
        check = chinchilla_check(row.parameters, row.training_tokens, law, loss_law=loss_law)
    except DomainError as error:
        raise _reraise(error, "query") from error
    low, high = check.band
    return ChinchillaCheckResponse(
        slug=row.slug,
        law=law_ref(law),
        loss_law=law_ref(check.loss_law) if check.loss_law is not None else None,
        parameters=check.parameters,
        tokens=check.tokens,
        tokens_per_parameter=check.tokens_per_parameter,
        training_flops=check.training_flops,
        optimal_tokens=check.optimal_tokens,
        optimal_tokens_per_parameter=check.optimal_tokens_per_parameter,
        token_ratio=check.token_ratio,
        compute_optimal=ComputeOptimalPoint(
            parameters=check.compute_optimal.parameters,
            tokens=check.compute_optimal.tokens,
            compute_flops=check.compute_optimal.compute_flops,
        ),
        predicted_loss=check.predicted_loss,
        optimal_predicted_loss=check.optimal_predicted_loss,
        verdict=check.verdict,
        band=Band(
            low=low,
            high=high,
            rule=f"near-optimal when actual tokens / optimal tokens for the size is within "
            f"[{low:g}, {high:g}]; below is under-trained, above over-trained",
        ),
        assumptions=list(check.assumptions),
    )


def domain_plan(source: Session | Catalogues, request: DomainPlanRequest) -> DomainPlanResponse:
    """Size a domain-adapted model the way BloombergGPT was sized."""
    law = resolve_law(source, request.law, "body.law")
    loss_law = resolve_law(source, request.loss_law, "body.loss_law") if request.loss_law else None
    flops, notes = budget_to_flops(source, request)
    try:
        plan = plan_domain_adaptation(
            domain_tokens=request.domain_tokens,
            general_tokens=request.general_tokens,
            law=law,
            compute_flops=flops,
            safety_margin=request.safety_margin,
            recompute_overhead=request.recompute_overhead,
            min_domain_fraction=request.min_domain_fraction,
            loss_law=loss_law,
        )
    except DomainError as error:
        raise _reraise(error) from error
    return DomainPlanResponse(
        law=law_ref(law),
        loss_law=law_ref(plan.loss_law) if plan.loss_law is not None else None,
        budget_flops=plan.budget_flops,
        usable_flops=plan.usable_flops,
        compute_flops=plan.compute_flops,
        reserve_fraction=plan.reserve_fraction,
        safety_margin=plan.safety_margin,
        parameters=plan.parameters,
        tokens=plan.tokens,
        tokens_per_parameter=plan.tokens_per_parameter,
        domain_tokens_used=plan.domain_tokens_used,
        general_tokens_used=plan.general_tokens_used,
        domain_fraction=plan.domain_fraction,
        epochs=dict(plan.epochs),
        data_limited=plan.data_limited,
        predicted_loss=plan.predicted_loss,
        alternatives=[
            DomainAlternative(
                name=alt.name,
                description=alt.description,
                parameters=alt.parameters,
                tokens=alt.tokens,
                compute_flops=alt.compute_flops,
                domain_epochs=alt.domain_epochs,
                general_epochs=alt.general_epochs,
                effective_tokens=alt.effective_tokens,
                predicted_loss=alt.predicted_loss,
            )
            for alt in plan.alternatives
        ],
        assumptions=[*notes, *plan.assumptions],
    )
