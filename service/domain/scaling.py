"""Planning with scaling laws: compute-optimal sizes, losses, iso-FLOP curves, checks, data limits.

Every function takes the :class:`~service.domain.scaling_laws.ScalingLaw` to use (built-in or
fitted by a user) and returns a frozen answer that carries that law, so each answer states
which law and which constants produced it. Constants and their sources live in
:mod:`service.domain.scaling_laws`.

Conventions (sources in :mod:`service.domain.scaling_laws`):

* training compute ``C = 6 N D`` FLOPs for ``N`` parameters and ``D`` training tokens;
* every law's compute-optimal frontier is a power law ``N_opt(C) = K C^p`` with
  ``D_opt(C) = C / (6 N_opt(C))``: :func:`frontier` gives ``(K, p)`` for any law;
* losses are in the units of the law (``law.loss_units``); losses of different laws are not
  comparable (Kaplan et al.'s WebText2 nats are not Hoffmann et al.'s MassiveText nats).

Errors: :class:`~service.domain.errors.InvalidInputError` names the offending argument
(``compute_flops``, ``parameters``, ``tokens``, ``unique_tokens``, ...);
:class:`~service.domain.errors.UnsupportedError` on field ``law`` when a law cannot answer the
question (e.g. a loss from Approach 1, which only predicts the allocation).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from scipy.optimize import minimize_scalar  # type: ignore[import-untyped]

from service.domain.errors import InvalidInputError
from service.domain.scaling_laws import (
    BLOOMBERGGPT_MIN_DOMAIN_FRACTION,
    BLOOMBERGGPT_SAFETY_MARGIN,
    FLOPS_PER_PARAMETER_TOKEN,
    LOSS_FORMULAS,
    MAX_COMPUTE_FLOPS,
    MAX_PARAMETERS,
    MAX_TOKENS,
    MIN_COMPUTE_FLOPS,
    PF_DAY_FLOPS,
    R_STAR_D,
    R_STAR_N,
    VERDICT_BAND,
    Capability,
    LawKind,
    ScalingLaw,
)

_LN6 = math.log(FLOPS_PER_PARAMETER_TOKEN)
_SECONDS_PER_HOUR = 3600.0
_TERA = 1e12

_ASSUMPTION_C6ND = (
    "Training compute C = 6 N D FLOPs (Kaplan et al. 2020 sec. 2.1; Hoffmann et al. 2022 "
    "appendix F): attention and recomputation FLOPs are not counted."
)
_ASSUMPTION_ONE_EPOCH = (
    "Every token is seen once: the laws were fitted to single-epoch runs (Hoffmann et al. 2022 "
    "appendix C)."
)


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------


def _in_range(value: float, field: str, low: float, high: float, what: str) -> float:
    if not math.isfinite(value) or value < low or value > high:
        raise InvalidInputError(field, f"{what} must be a finite number in [{low:g}, {high:g}]")
    return float(value)


def _compute(value: float, field: str = "compute_flops") -> float:
    return _in_range(value, field, MIN_COMPUTE_FLOPS, MAX_COMPUTE_FLOPS, "compute (FLOPs)")


def _parameters(value: float, field: str = "parameters") -> float:
    return _in_range(value, field, 1.0, MAX_PARAMETERS, "the parameter count")


def _tokens(value: float, field: str = "tokens") -> float:
    return _in_range(value, field, 1.0, MAX_TOKENS, "the token count")


# --------------------------------------------------------------------------------------------
# Frontier and loss of any law
# --------------------------------------------------------------------------------------------


def frontier(law: ScalingLaw) -> tuple[float, float]:
    """``(K, p)`` with ``N_opt(C) = K C^p`` for ``law`` (C in FLOPs, C = 6 N D).

    * ``parametric``: ``N_opt = G (C/6)^a``, ``G = (alpha A / (beta B))^(1/(alpha+beta))``,
      ``a = beta/(alpha+beta)`` (Hoffmann et al. 2022 eq. 4), so ``K = G 6^-a``, ``p = a``.
    * ``frontier``: ``K = G``, ``p = a`` (Hoffmann et al. 2022 Table 2 / Table 3).
    * ``kaplan``: ``N_opt = N_e C_min^p_N`` with ``C_min = C / (C_over_C_min * PF-day)``
      (Kaplan et al. 2020 Table 6, eq. 6.7).
    * ``tokens-per-parameter``: ``C = 6 r N^2`` so ``K = (6 r)^-1/2``, ``p = 1/2``.
    """
    ln_k, p = _ln_frontier(law)
    return math.exp(ln_k), p


def _ln_frontier(law: ScalingLaw) -> tuple[float, float]:
    c = law.constants
    if law.kind is LawKind.PARAMETRIC:
        alpha, beta = c["alpha"], c["beta"]
        ln_g = (math.log(alpha * c["A"]) - math.log(beta * c["B"])) / (alpha + beta)
        p = beta / (alpha + beta)
        return ln_g - p * _LN6, p
    if law.kind is LawKind.FRONTIER:
        return math.log(c["G"]), c["a"]
    if law.kind is LawKind.KAPLAN:
        p = c["p_N"]
        return math.log(c["N_e"]) - p * math.log(c["C_over_C_min"] * PF_DAY_FLOPS), p
    return -0.5 * math.log(FLOPS_PER_PARAMETER_TOKEN * c["ratio"]), 0.5


def _ln_compute_for_parameters(law: ScalingLaw, ln_n: float) -> float:
    ln_k, p = _ln_frontier(law)
    return (ln_n - ln_k) / p


def _ln_compute_for_tokens(law: ScalingLaw, ln_d: float) -> float:
    # D = C / (6 K C^p)  =>  ln C = (ln D + ln 6 + ln K) / (1 - p)
    ln_k, p = _ln_frontier(law)
    return (ln_d + _LN6 + ln_k) / (1.0 - p)


def _loss_terms(law: ScalingLaw, n: float, d: float) -> tuple[float, dict[str, float]]:
    c = law.constants
    if law.kind is LawKind.PARAMETRIC:
        terms = {
            "E": c["E"],
            "A/N^alpha": c["A"] * math.exp(-c["alpha"] * math.log(n)),
            "B/D^beta": c["B"] * math.exp(-c["beta"] * math.log(d)),
        }
        return terms["E"] + terms["A/N^alpha"] + terms["B/D^beta"], terms
    # Kaplan et al. 2020 eq. (1.5)
    ratio = c["alpha_N"] / c["alpha_D"]
    terms = {
        "(N_c/N)^(alpha_N/alpha_D)": math.exp(ratio * (math.log(c["N_c"]) - math.log(n))),
        "D_c/D": c["D_c"] / d,
    }
    return (terms["(N_c/N)^(alpha_N/alpha_D)"] + terms["D_c/D"]) ** c["alpha_D"], terms


def _loss(law: ScalingLaw, n: float, d: float) -> float:
    return _loss_terms(law, n, d)[0]


def _maybe_loss(law: ScalingLaw | None, n: float, d: float) -> float | None:
    if law is None or not law.can(Capability.LOSS):
        return None
    return _loss(law, n, d)


def _loss_law(law: ScalingLaw, loss_law: ScalingLaw | None) -> ScalingLaw | None:
    """The law that predicts losses for an answer: ``loss_law`` if given, else ``law`` if it can."""
    if loss_law is not None:
        loss_law.require(Capability.LOSS)
        return loss_law
    return law if law.can(Capability.LOSS) else None


# --------------------------------------------------------------------------------------------
# Loss
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LossPrediction:
    """Predicted final loss of a model with ``parameters`` trained on ``tokens`` under ``law``.

    ``terms`` are the named terms of ``formula`` (for the parametric form, the irreducible loss
    ``E``, the model-size term ``A/N^alpha`` and the data term ``B/D^beta``, which sum to
    ``loss``).
    """

    law: ScalingLaw
    parameters: float
    tokens: float
    loss: float
    terms: Mapping[str, float]
    formula: str
    units: str
    notes: tuple[str, ...]


def predict_loss(parameters: float, tokens: float, law: ScalingLaw) -> LossPrediction:
    """Predicted loss and its terms (Hoffmann et al. 2022 eq. 2; Kaplan et al. 2020 eq. 1.5)."""
    law.require(Capability.LOSS)
    n = _parameters(parameters)
    d = _tokens(tokens)
    loss, terms = _loss_terms(law, n, d)
    return LossPrediction(
        law=law,
        parameters=n,
        tokens=d,
        loss=loss,
        terms=MappingProxyType(terms),
        formula=LOSS_FORMULAS[law.kind],
        units=law.loss_units or "nats per token",
        notes=law.notes,
    )


# --------------------------------------------------------------------------------------------
# Compute-optimal allocation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComputeOptimal:
    """A compute-optimal model under ``law``: ``parameters`` and ``tokens`` with ``6 N D = C``."""

    law: ScalingLaw
    compute_flops: float
    parameters: float
    tokens: float
    tokens_per_parameter: float
    predicted_loss: float | None
    assumptions: tuple[str, ...]


def _optimum(
    law: ScalingLaw, ln_c: float, field: str, assumptions: tuple[str, ...]
) -> ComputeOptimal:
    ln_k, p = _ln_frontier(law)
    ln_n = ln_k + p * ln_c
    ln_d = ln_c - _LN6 - ln_n
    if ln_n < 0.0 or ln_d < 0.0:
        raise InvalidInputError(
            field, f"too small for law {law.id!r}: the optimum has under one parameter or token"
        )
    if ln_c > math.log(1e300) or ln_n > math.log(1e300) or ln_d > math.log(1e300):
        raise InvalidInputError(field, f"outside the range law {law.id!r} can answer")
    n, d, c = math.exp(ln_n), math.exp(ln_d), math.exp(ln_c)
    return ComputeOptimal(
        law=law,
        compute_flops=c,
        parameters=n,
        tokens=d,
        tokens_per_parameter=d / n,
        predicted_loss=_maybe_loss(law, n, d),
        assumptions=(_ASSUMPTION_C6ND, _ASSUMPTION_ONE_EPOCH, *assumptions, *law.notes),
    )


def compute_optimal(compute_flops: float, law: ScalingLaw) -> ComputeOptimal:
    """The compute-optimal model for a budget of ``compute_flops``.

    Approach 1/2: ``N = G C^a`` (Hoffmann et al. 2022 Table 2); Approach 3 style laws: the closed
    form of Hoffmann et al. eq. 4; Kaplan: Table 6 ``N = N_e C_min^0.73``; the rule of thumb:
    ``N = sqrt(C / (6 r))``. In every case ``D = C / (6 N)``.
    """
    law.require(Capability.COMPUTE_OPTIMAL)
    c = _compute(compute_flops)
    return _optimum(law, math.log(c), "compute_flops", ())


def compute_optimal_for_parameters(parameters: float, law: ScalingLaw) -> ComputeOptimal:
    """The budget (and tokens) for which a model of ``parameters`` is compute-optimal.

    This is the direction of Hoffmann et al. 2022 Table 3 and Table A3 ("how many FLOPs and
    training tokens would be needed to train compute-optimal models" of a given size).
    """
    law.require(Capability.OPTIMAL_FOR_PARAMETERS)
    n = _parameters(parameters)
    ln_c = _ln_compute_for_parameters(law, math.log(n))
    return _optimum(
        law, ln_c, "parameters", ("The model size is given; compute and tokens follow.",)
    )


def compute_optimal_for_tokens(tokens: float, law: ScalingLaw) -> ComputeOptimal:
    """The model size that is compute-optimal for ``tokens`` training tokens, and its compute.

    For a data-limited domain: with ``D`` tokens available (seen once), the frontier model that
    trains on exactly ``D`` tokens has ``N = K C^p`` with ``C`` solving ``C / (6 K C^p) = D``.
    """
    law.require(Capability.OPTIMAL_FOR_TOKENS)
    d = _tokens(tokens)
    ln_c = _ln_compute_for_tokens(law, math.log(d))
    return _optimum(
        law, ln_c, "tokens", ("The token count is given; model size and compute follow.",)
    )


# --------------------------------------------------------------------------------------------
# Iso-FLOP curves
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IsoFlopPoint:
    """One model on an iso-FLOP curve: ``6 * parameters * tokens`` equals the curve's compute."""

    parameters: float
    tokens: float
    loss: float


@dataclass(frozen=True)
class IsoFlopCurve:
    """Predicted loss along ``C = 6 N D`` for fixed ``compute_flops`` (Hoffmann et al. Fig. 3).

    ``minimum`` is the lowest loss on the curve (found numerically); ``law_optimum`` is the
    law's compute-optimal answer for the same budget. They coincide for the parametric laws
    (Hoffmann et al. eq. 4 is the exact minimiser); for Kaplan et al. the iso-FLOP minimum of
    eq. (1.5) differs from the Table 6 frontier, which also accounts for batch size.
    """

    law: ScalingLaw
    compute_flops: float
    points: tuple[IsoFlopPoint, ...]
    minimum: IsoFlopPoint
    law_optimum: ComputeOptimal
    loss_units: str


def _argmin_ln(fn: Callable[[float], float], low: float, high: float) -> float:
    """Minimiser of a unimodal ``fn`` on ``[low, high]`` (bounded Brent, Brent 1973)."""
    result = minimize_scalar(fn, bounds=(low, high), method="bounded", options={"xatol": 1e-10})
    return float(result.x)


def iso_flop_curve(
    compute_flops: float, law: ScalingLaw, *, points: int = 41, span: float = 10.0
) -> IsoFlopCurve:
    """Points ``(N, C/(6N), L)`` for ``points`` model sizes, log-spaced from ``N_min/span`` to
    ``N_max*span`` where ``N_min``/``N_max`` are the smaller/larger of the curve's minimum and the
    law's optimum (clipped so that both ``N`` and ``D`` stay >= 1)."""
    law.require(Capability.ISO_FLOP)
    c = _compute(compute_flops)
    if not 3 <= points <= 1001:
        raise InvalidInputError("points", "points must be between 3 and 1001")
    if not (math.isfinite(span) and 1.0 < span <= 1e6):
        raise InvalidInputError("span", "span must be a factor in (1, 1e6]")
    optimum = _optimum(law, math.log(c), "compute_flops", ())
    ln_c6 = math.log(c) - _LN6  # ln(C/6): N and D range over [1, C/6]

    def loss_at(ln_n: float) -> float:
        return _loss(law, math.exp(ln_n), math.exp(ln_c6 - ln_n))

    ln_best = _argmin_ln(loss_at, 0.0, ln_c6)
    ln_opt = math.log(optimum.parameters)
    low = max(0.0, min(ln_best, ln_opt) - math.log(span))
    high = min(ln_c6, max(ln_best, ln_opt) + math.log(span))
    step = (high - low) / (points - 1)
    curve = tuple(
        IsoFlopPoint(math.exp(x), math.exp(ln_c6 - x), loss_at(x))
        for x in (low + i * step for i in range(points))
    )
    minimum = IsoFlopPoint(math.exp(ln_best), math.exp(ln_c6 - ln_best), loss_at(ln_best))
    return IsoFlopCurve(
        law=law,
        compute_flops=c,
        points=curve,
        minimum=minimum,
        law_optimum=optimum,
        loss_units=law.loss_units or "nats per token",
    )


# --------------------------------------------------------------------------------------------
# Chinchilla check of a trained model
# --------------------------------------------------------------------------------------------


class Verdict(StrEnum):
    """How a run compares with the law's optimal tokens for its size."""

    UNDER_TRAINED = "under-trained"
    NEAR_OPTIMAL = "near-optimal"
    OVER_TRAINED = "over-trained"


@dataclass(frozen=True)
class ChinchillaCheck:
    """A trained model against the compute-optimal frontier of ``law``.

    ``token_ratio = tokens / optimal_tokens`` where ``optimal_tokens`` are the tokens the law
    pairs with this model size on its frontier; the verdict is ``near-optimal`` when the ratio is
    inside ``band`` (:data:`~service.domain.scaling_laws.VERDICT_BAND` by default),
    ``under-trained`` below it and ``over-trained`` above it. ``compute_optimal`` is the model the
    law would have trained with the same ``training_flops``. Losses come from ``loss_law``
    (``None`` when no law able to predict a loss was involved).
    """

    law: ScalingLaw
    loss_law: ScalingLaw | None
    parameters: float
    tokens: float
    tokens_per_parameter: float
    training_flops: float
    optimal_tokens: float
    optimal_tokens_per_parameter: float
    token_ratio: float
    compute_optimal: ComputeOptimal
    predicted_loss: float | None
    optimal_predicted_loss: float | None
    verdict: Verdict
    band: tuple[float, float]
    assumptions: tuple[str, ...]


def chinchilla_check(
    parameters: float,
    tokens: float,
    law: ScalingLaw,
    *,
    loss_law: ScalingLaw | None = None,
    band: tuple[float, float] = VERDICT_BAND,
) -> ChinchillaCheck:
    """Was a model with ``parameters`` trained on ``tokens`` trained compute-optimally?"""
    law.require(Capability.CHINCHILLA_CHECK)
    n = _parameters(parameters)
    d = _tokens(tokens)
    low, high = band
    if not (math.isfinite(low) and math.isfinite(high) and 0.0 < low < 1.0 < high):
        raise InvalidInputError("band", "the band must satisfy 0 < lower < 1 < upper")
    losses = _loss_law(law, loss_law)
    training_flops = FLOPS_PER_PARAMETER_TOKEN * n * d
    for_size = _optimum(law, _ln_compute_for_parameters(law, math.log(n)), "parameters", ())
    at_compute = _optimum(law, math.log(training_flops), "tokens", ())
    ratio = d / for_size.tokens
    if ratio < low:
        verdict = Verdict.UNDER_TRAINED
    elif ratio > high:
        verdict = Verdict.OVER_TRAINED
    else:
        verdict = Verdict.NEAR_OPTIMAL
    band_text = (
        f"Verdict band: near-optimal when tokens / optimal tokens for the model size is in "
        f"[{low:g}, {high:g}]; here it is {ratio:.3g}."
    )
    return ChinchillaCheck(
        law=law,
        loss_law=losses,
        parameters=n,
        tokens=d,
        tokens_per_parameter=d / n,
        training_flops=training_flops,
        optimal_tokens=for_size.tokens,
        optimal_tokens_per_parameter=for_size.tokens_per_parameter,
        token_ratio=ratio,
        compute_optimal=at_compute,
        predicted_loss=_maybe_loss(losses, n, d),
        optimal_predicted_loss=_maybe_loss(losses, at_compute.parameters, at_compute.tokens),
        verdict=verdict,
        band=(low, high),
        assumptions=(band_text, *at_compute.assumptions),
    )


# --------------------------------------------------------------------------------------------
# Data-constrained scaling (Muennighoff et al. 2023)
# --------------------------------------------------------------------------------------------


def _decayed(unique: float, total: float, r_star: float) -> float:
    """``U + U R* (1 - exp(-R / R*))`` with ``U = min(unique, total)`` and ``R = total/U - 1``."""
    u = min(unique, total)
    repeats = total / u - 1.0
    return u + u * r_star * -math.expm1(-repeats / r_star)


def effective_tokens(tokens: float, unique_tokens: float, *, r_star: float = R_STAR_D) -> float:
    """Effective data ``D'`` of ``tokens`` drawn from ``unique_tokens`` unique tokens.

    Muennighoff et al. 2023 eq. (5): ``D' = U_D + U_D R*_D (1 - exp(-R_D / R*_D))`` with
    ``U_D = min(unique, D)`` and ``R_D = D / U_D - 1`` repetitions; ``R*_D = 15.39`` (fitted on
    C4). At most ``(1 + R*_D) U_D`` however often the data are repeated.
    """
    d = _tokens(tokens)
    u = _tokens(unique_tokens, "unique_tokens")
    star = _in_range(r_star, "r_star_d", 1e-6, 1e6, "R*_D")
    return _decayed(u, d, star)


def effective_parameters(
    parameters: float, unique_parameters: float, *, r_star: float = R_STAR_N
) -> float:
    """Effective parameters ``N'`` (Muennighoff et al. 2023 eq. 5, parameter analogue).

    ``N' = U_N + U_N R*_N (1 - exp(-R_N / R*_N))`` with ``U_N = min(unique_parameters, N)``,
    ``R_N = N / U_N - 1``, ``R*_N = 5.31``: parameters beyond the compute-optimal size for the
    unique data are worth less and less.
    """
    n = _parameters(parameters)
    u = _parameters(unique_parameters, "unique_parameters")
    star = _in_range(r_star, "r_star_n", 1e-6, 1e6, "R*_N")
    return _decayed(u, n, star)


@dataclass(frozen=True)
class DataConstrainedPlan:
    """How to spend ``compute_flops`` when only ``unique_tokens`` unique tokens exist.

    ``epochs = tokens / unique_tokens``; ``repetitions = max(epochs - 1, 0)``;
    ``effective_tokens`` is ``D'`` of Muennighoff et al. eq. (5); ``last_epoch_value`` is what a
    token of the last repetition is worth relative to a fresh one, ``exp(-R_D / R*_D)``.
    ``unique_parameters`` is ``U_N``, the size compute-optimal for the unique tokens, and
    ``effective_parameters`` is ``N'``. ``unconstrained`` is the law's answer ignoring the data
    limit (``unconstrained_epochs`` shows how often it would repeat the data).
    """

    law: ScalingLaw
    compute_flops: float
    unique_tokens: float
    parameters: float
    tokens: float
    tokens_per_parameter: float
    epochs: float
    repetitions: float
    effective_tokens: float
    unique_parameters: float
    effective_parameters: float
    last_epoch_value: float
    predicted_loss: float | None
    unconstrained: ComputeOptimal
    unconstrained_epochs: float
    unconstrained_effective_tokens: float
    method: str
    r_star_d: float
    r_star_n: float
    assumptions: tuple[str, ...]


def data_constrained_plan(
    compute_flops: float,
    unique_tokens: float,
    law: ScalingLaw,
    *,
    r_star_d: float = R_STAR_D,
    r_star_n: float = R_STAR_N,
) -> DataConstrainedPlan:
    """The best use of ``compute_flops`` with ``unique_tokens`` unique tokens (repeating them).

    With a parametric law the plan minimises ``L(N', D')`` along ``C = 6 N D``, the
    data-constrained scaling law of Muennighoff et al. 2023 (eq. 5 substituted in Hoffmann et
    al.'s form, appendix A): ``U_D = min(unique, D)``, ``U_N = min(N_opt(U_D), N)``. With any
    other law the plan is the law's own allocation, and eq. (5) says what the repeated tokens
    are worth (and, for Kaplan et al., what loss eq. 1.5 predicts with ``N'`` and ``D'``).
    """
    law.require(Capability.DATA_CONSTRAINED)
    c = _compute(compute_flops)
    unique = _tokens(unique_tokens, "unique_tokens")
    star_d = _in_range(r_star_d, "r_star_d", 1e-6, 1e6, "R*_D")
    star_n = _in_range(r_star_n, "r_star_n", 1e-6, 1e6, "R*_N")
    base = _optimum(law, math.log(c), "compute_flops", ())
    ln_c6 = math.log(c) - _LN6

    ln_k, p = _ln_frontier(law)

    def unique_params(d: float) -> float:
        return math.exp(ln_k + p * _ln_compute_for_tokens(law, math.log(min(unique, d))))

    def effective(ln_n: float) -> tuple[float, float, float, float]:
        n, d = math.exp(ln_n), math.exp(ln_c6 - ln_n)
        u_n = unique_params(d)
        return n, d, _decayed(u_n, n, star_n), _decayed(unique, d, star_d)

    assumptions = [
        f"Repeated tokens and excess parameters decay as in Muennighoff et al. 2023 eq. (5), "
        f"R*_D = {star_d:g}, R*_N = {star_n:g} (fitted on C4 with their own Chinchilla-form "
        f"constants; applied here to law {law.id!r}).",
        "Muennighoff et al. find up to ~4 epochs almost as good as fresh data and repetition "
        "beyond ~16 epochs (R*_D) of sharply diminishing value.",
    ]
    if law.kind is LawKind.PARAMETRIC:

        def objective(ln_n: float) -> float:
            _, _, n_eff, d_eff = effective(ln_n)
            return _loss(law, n_eff, d_eff)

        # Coarse log grid then bounded Brent around the best cell (the objective need not be
        # convex once the decay terms saturate).
        cells = 240
        grid = [ln_c6 * i / cells for i in range(cells + 1)]
        best = min(range(cells + 1), key=lambda i: objective(grid[i]))
        ln_n = _argmin_ln(objective, grid[max(best - 1, 0)], grid[min(best + 1, cells)])
        method = "minimise L(N', D') along C = 6ND (Muennighoff et al. 2023 eq. 5)"
    else:
        ln_n = math.log(base.parameters)
        method = (
            f"allocation of law {law.id!r}; repeated tokens valued by Muennighoff et al. 2023 "
            "eq. (5)"
        )
        assumptions.append(
            "Only a parametric law (E + A/N^alpha + B/D^beta, the form Muennighoff et al. "
            "extend) is re-optimised for repetition; this law's own allocation is kept."
        )
    n, d, n_eff, d_eff = effective(ln_n)
    epochs = d / unique
    repetitions = max(epochs - 1.0, 0.0)
    return DataConstrainedPlan(
        law=law,
        compute_flops=c,
        unique_tokens=unique,
        parameters=n,
        tokens=d,
        tokens_per_parameter=d / n,
        epochs=epochs,
        repetitions=repetitions,
        effective_tokens=d_eff,
        unique_parameters=min(unique_params(d), n),
        effective_parameters=n_eff,
        last_epoch_value=math.exp(-repetitions / star_d),
        predicted_loss=_maybe_loss(law, n_eff, d_eff),
        unconstrained=base,
        unconstrained_epochs=base.tokens / unique,
        unconstrained_effective_tokens=_decayed(unique, base.tokens, star_d),
        method=method,
        r_star_d=star_d,
        r_star_n=star_n,
        assumptions=(*assumptions, _ASSUMPTION_C6ND, *law.notes),
    )


# --------------------------------------------------------------------------------------------
# Domain adaptation (Wu et al. 2023, BloombergGPT)
# --------------------------------------------------------------------------------------------


def budget_flops(
    *,
    compute_flops: float | None = None,
    gpu_hours: float | None = None,
    achieved_tflops: float | None = None,
) -> float:
    """A compute budget in FLOPs: ``compute_flops``, or ``gpu_hours x 3600 x achieved TFLOP/s``."""
    if compute_flops is not None:
        if gpu_hours is not None or achieved_tflops is not None:
            raise InvalidInputError(
                "compute_flops", "give either compute_flops or gpu_hours with achieved_tflops"
            )
        return _compute(compute_flops)
    if gpu_hours is None or achieved_tflops is None:
        raise InvalidInputError(
            "compute_flops", "give either compute_flops or gpu_hours with achieved_tflops"
        )
    hours = _in_range(gpu_hours, "gpu_hours", 1e-6, 1e12, "GPU-hours")
    tflops = _in_range(achieved_tflops, "achieved_tflops", 1e-6, 1e6, "achieved TFLOP/s")
    return _compute(hours * _SECONDS_PER_HOUR * tflops * _TERA)


@dataclass(frozen=True, slots=True)
class PlanAlternative:
    """Another way to spend the same budget (epochs are ``None`` where data would be new)."""

    name: str
    description: str
    parameters: float
    tokens: float
    compute_flops: float
    domain_epochs: float | None
    general_epochs: float | None
    effective_tokens: float
    predicted_loss: float | None


@dataclass(frozen=True)
class DomainAdaptationPlan:
    """What to train for a domain model with ``domain_tokens`` + ``general_tokens`` and a budget.

    ``budget_flops`` is the whole budget; ``usable_flops`` what is left for the model's own
    ``6 N D`` after activation recomputation; ``compute_flops = 6 N D`` of the plan and
    ``reserve_fraction = 1 - compute_flops / usable_flops`` (at least the safety margin).
    ``epochs`` maps ``domain`` and ``general`` to the passes over each source.
    """

    law: ScalingLaw
    loss_law: ScalingLaw | None
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
    epochs: Mapping[str, float]
    data_limited: bool
    predicted_loss: float | None
    alternatives: tuple[PlanAlternative, ...]
    assumptions: tuple[str, ...]


def plan_domain_adaptation(
    *,
    domain_tokens: float,
    general_tokens: float,
    law: ScalingLaw,
    compute_flops: float | None = None,
    gpu_hours: float | None = None,
    achieved_tflops: float | None = None,
    safety_margin: float = BLOOMBERGGPT_SAFETY_MARGIN,
    recompute_overhead: float = 0.0,
    min_domain_fraction: float = BLOOMBERGGPT_MIN_DOMAIN_FRACTION,
    loss_law: ScalingLaw | None = None,
) -> DomainAdaptationPlan:
    """Size a domain model the way Wu et al. 2023 sized BloombergGPT (sec. 3.2 "Size").

    1. Usable compute = budget / (1 + ``recompute_overhead``) (BloombergGPT: activation
       checkpointing costs 1/3 more, so they "plug in 0.75 x 1.3M" GPU-hours).
    2. General data may be capped so that domain data stay at least ``min_domain_fraction`` of the
       mix (BloombergGPT: FinPile no less than half). Sources are sampled in proportion.
    3. Plan with ``(1 - safety_margin)`` of the usable compute. If the law's optimum for it needs
       no more tokens than available, train that optimum. Otherwise the run is data-limited:
       train one pass over all available tokens on the largest model the planned compute allows,
       but no larger than the compute-optimal size for the whole usable budget (BloombergGPT:
       "the largest model that we can, while ensuring that we can train on all our tokens and
       still leave 30% of the total compute budget as a buffer ... also roughly the Chinchilla
       optimal size for our compute budget").

    Alternatives: the compute-optimal model if data were unlimited; the largest model that fits
    all tokens within the margin; keeping the compute-optimal size by repeating domain data
    (valued by Muennighoff et al. 2023 eq. 5).
    """
    law.require(Capability.DOMAIN_ADAPTATION)
    domain = _tokens(domain_tokens, "domain_tokens")
    general = _in_range(general_tokens, "general_tokens", 0.0, MAX_TOKENS, "the token count")
    margin = _in_range(safety_margin, "safety_margin", 0.0, 0.95, "the safety margin")
    overhead = _in_range(recompute_overhead, "recompute_overhead", 0.0, 10.0, "the overhead")
    fraction = _in_range(
        min_domain_fraction, "min_domain_fraction", 0.0, 1.0, "the minimum domain fraction"
    )
    losses = _loss_law(law, loss_law)
    budget = budget_flops(
        compute_flops=compute_flops, gpu_hours=gpu_hours, achieved_tflops=achieved_tflops
    )
    usable = _compute(budget / (1.0 + overhead))
    planned = usable * (1.0 - margin)
    general_cap = math.inf if fraction == 0.0 else domain * (1.0 - fraction) / fraction
    general_usable = min(general, general_cap)
    general_pass = general_usable / general if general > 0 else 0.0
    available = domain + general_usable

    full = _optimum(law, math.log(usable), "compute_flops", ())
    at_plan = _optimum(law, math.log(planned), "compute_flops", ())
    data_limited = at_plan.tokens > available
    if data_limited:
        largest = planned / (FLOPS_PER_PARAMETER_TOKEN * available)
        n = min(full.parameters, largest)
        d = available
    else:
        n, d = at_plan.parameters, at_plan.tokens
    share = d / available
    domain_used, general_used = domain * share, general_usable * share
    used = FLOPS_PER_PARAMETER_TOKEN * n * d

    alternatives = [
        PlanAlternative(
            name="compute-optimal-unlimited-data",
            description=(
                f"The optimum of law {law.id!r} for the whole usable budget, no reserve: needs "
                f"{full.tokens:.3g} tokens (available: {available:.3g})."
            ),
            parameters=full.parameters,
            tokens=full.tokens,
            compute_flops=full.compute_flops,
            domain_epochs=None,
            general_epochs=None,
            effective_tokens=full.tokens,
            predicted_loss=_maybe_loss(losses, full.parameters, full.tokens),
        )
    ]
    if data_limited:
        largest_n = planned / (FLOPS_PER_PARAMETER_TOKEN * available)
        alternatives.append(
            PlanAlternative(
                name="largest-model-within-margin",
                description=(
                    "The largest model that trains once on all available tokens and keeps the "
                    "safety margin in reserve, without the compute-optimal cap."
                ),
                parameters=largest_n,
                tokens=available,
                compute_flops=planned,
                domain_epochs=1.0,
                general_epochs=general_pass,
                effective_tokens=available,
                predicted_loss=_maybe_loss(losses, largest_n, available),
            )
        )
        domain_seen = at_plan.tokens - general_usable
        domain_effective = _decayed(domain, domain_seen, R_STAR_D)
        alternatives.append(
            PlanAlternative(
                name="repeat-domain-data",
                description=(
                    "Keep the compute-optimal size for the planned compute and reach its token "
                    "count by repeating the domain data (general data once); repeated tokens "
                    "valued by Muennighoff et al. 2023 eq. (5)."
                ),
                parameters=at_plan.parameters,
                tokens=at_plan.tokens,
                compute_flops=at_plan.compute_flops,
                domain_epochs=domain_seen / domain,
                general_epochs=general_pass,
                effective_tokens=general_usable + domain_effective,
                predicted_loss=_maybe_loss(
                    losses, at_plan.parameters, general_usable + domain_effective
                ),
            )
        )
    assumptions = [
        f"Budget {budget:.3g} FLOPs; usable for the model's 6ND: {usable:.3g} (recomputation "
        f"overhead {overhead:g}); planned with {1 - margin:.0%} of it, keeping "
        f"{margin:.0%} in reserve (Wu et al. 2023 sec. 3.2).",
        f"General tokens capped at {general_usable:.3g} so that domain tokens are at least "
        f"{fraction:.0%} of the mix; sources sampled in proportion.",
        (
            "Data-limited: the law's optimum needs more tokens than available, so the plan "
            "trains once on all tokens with the largest model the planned compute allows, "
            "capped at the compute-optimal size for the usable budget."
            if data_limited
            else "Not data-limited: the plan is the law's optimum for the planned compute."
        ),
        "Scaling laws were fitted on general web text with another tokenizer; how they "
        "transfer to a domain mix is open (Wu et al. 2023 sec. 3.2, footnote 1).",
        _ASSUMPTION_C6ND,
        *law.notes,
    ]
    reserve = 1.0 - used / usable
    if reserve > margin + 0.1:
        assumptions.append(
            f"{reserve:.0%} of the usable compute stays unused because the data run out: "
            "repeating data (alternative 'repeat-domain-data', or a data-constrained plan) "
            "spends it."
        )
    return DomainAdaptationPlan(
        law=law,
        loss_law=losses,
        budget_flops=budget,
        usable_flops=usable,
        compute_flops=used,
        reserve_fraction=reserve,
        safety_margin=margin,
        parameters=n,
        tokens=d,
        tokens_per_parameter=d / n,
        domain_tokens_used=domain_used,
        general_tokens_used=general_used,
        domain_fraction=domain_used / d,
        epochs=MappingProxyType(
            {
                "domain": domain_used / domain,
                "general": general_used / general if general > 0 else 0.0,
            }
        ),
        data_limited=data_limited,
        predicted_loss=_maybe_loss(losses, n, d),
        alternatives=tuple(alternatives),
        assumptions=tuple(assumptions),
    )
