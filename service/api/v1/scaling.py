"""``/v1/scaling``: laws, compute-optimal planning, losses, iso-FLOP curves, domain plans."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from service.api.deps import ApiKeyDep, CatalogueChangedDep, CataloguesDep, SessionDep
from service.api.problems import problem_responses
from service.api.routing import JsonRoute
from service.domain.scaling_laws import DEFAULT_LOSS_LAW_ID
from service.schemas.scaling import (
    ComputeOptimalRequest,
    ComputeOptimalResponse,
    DomainPlanRequest,
    DomainPlanResponse,
    IsoFlopResponse,
    LawFitRequest,
    LawRead,
    LossRequest,
    LossResponse,
    OptimalParametersRequest,
    OptimalParametersResponse,
)
from service.usecases import scaling as usecase

router = APIRouter(prefix="/v1/scaling", tags=["scaling laws"], route_class=JsonRoute)

LawQuery = Annotated[
    str,
    Query(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9](?:[a-z0-9.\-]{0,62}[a-z0-9])?$",
        description="A law id from GET /v1/scaling/laws.",
    ),
]
LawPath = Annotated[
    str,
    Path(min_length=1, max_length=64, pattern=r"^[a-z0-9](?:[a-z0-9.\-]{0,62}[a-z0-9])?$"),
]
ComputeQuery = Annotated[
    float, Query(gt=0, le=1e36, description="Training compute C in FLOPs (C = 6ND).")
]


@router.get(
    "/laws",
    summary="Scaling laws",
    description="Every law with its citation, constants (each with its source), what it can "
    "answer and its caveats: Chinchilla approaches 1-3 (rounded and unrounded), the Epoch 2024 "
    "replication, Kaplan 2020, the 20-tokens-per-parameter rule, and laws fitted through the API.",
)
def list_laws(session: SessionDep) -> list[LawRead]:
    return usecase.list_laws(session)


@router.get(
    "/laws/{law_id}",
    summary="One scaling law",
    description="A built-in or fitted law; fitted laws include their fit quality.",
    responses=problem_responses(404, 422),
)
def get_law(law_id: LawPath, session: SessionDep) -> LawRead:
    return usecase.get_law(session, law_id)


@router.post(
    "/laws",
    status_code=status.HTTP_201_CREATED,
    summary="Fit your own law",
    description="Requires `X-API-Key`. Fits L(N, D) = E + A/N^alpha + B/D^beta to at least five "
    "runs as Hoffmann et al. 2022 did (Huber loss, delta 1e-3, on log-loss residuals; L-BFGS "
    "from a grid of starting points), stores it with its fit quality, and makes it usable by "
    "its id in every scaling endpoint.",
    dependencies=[ApiKeyDep],
    responses=problem_responses(401, 409, 422),
)
def fit_law(
    request: LawFitRequest,
    response: Response,
    session: SessionDep,
    changed: CatalogueChangedDep,
) -> LawRead:
    law = usecase.fit_law(session, request)
    changed()
    response.headers["Location"] = f"/v1/scaling/laws/{law.id}"
    return law


@router.delete(
    "/laws/{law_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a fitted law",
    description="Requires `X-API-Key`. Built-in laws cannot be deleted (409).",
    dependencies=[ApiKeyDep],
    responses=problem_responses(401, 404, 409, 422),
)
def delete_law(law_id: LawPath, session: SessionDep, changed: CatalogueChangedDep) -> Response:
    usecase.delete_law(session, law_id)
    changed()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/compute-optimal",
    summary="Compute-optimal model for a budget",
    description="The parameters and tokens that minimise loss for a compute budget given as "
    "FLOPs, petaflop/s-days, GPU-hours on a catalogue GPU at an MFU, or dollars. Default law: "
    "chinchilla-approach1 (Hoffmann et al. 2022, Table 3).",
    responses=problem_responses(422),
)
async def compute_optimal(
    request: ComputeOptimalRequest, catalogues: CataloguesDep
) -> ComputeOptimalResponse:
    return usecase.optimal_for_budget(catalogues, request)


@router.post(
    "/loss",
    summary="Predicted loss",
    description="L(N, D) and its terms under a law that predicts loss (default epoch-2024).",
    responses=problem_responses(422),
)
async def predicted_loss(request: LossRequest, catalogues: CataloguesDep) -> LossResponse:
    return usecase.loss(catalogues, request)


@router.post(
    "/optimal-parameters",
    summary="Model size for the data you have",
    description="For a fixed number of tokens (a data-limited domain), the compute-optimal "
    "model size and the compute it implies; with `compute_flops`, how many epochs over the "
    "unique data are worth it and the effective data (Muennighoff et al. 2023, eq. 5).",
    responses=problem_responses(422),
)
async def optimal_parameters(
    request: OptimalParametersRequest, catalogues: CataloguesDep
) -> OptimalParametersResponse:
    return usecase.optimal_parameters(catalogues, request)


@router.get(
    "/isoflop",
    summary="Iso-FLOP curve",
    description="Points (parameters, tokens, predicted loss) along C = 6ND and the minimum, "
    "for plotting (Hoffmann et al. 2022, Approach 2).",
    responses=problem_responses(422),
)
async def isoflop(
    catalogues: CataloguesDep,
    compute_flops: ComputeQuery,
    law: LawQuery = DEFAULT_LOSS_LAW_ID,
    points: Annotated[int, Query(ge=5, le=1001)] = 41,
    span: Annotated[float, Query(gt=1, le=1e6, description="Range factor around the optimum.")] = (
        10.0
    ),
) -> IsoFlopResponse:
    return usecase.isoflop(catalogues, compute_flops, law, points, span)


@router.get(
    "/isoflop.svg",
    summary="Iso-FLOP chart",
    description="The iso-FLOP curves of one to seven budgets (repeat `compute_flops`) as an "
    "SVG chart to open in a browser.",
    response_class=Response,
    responses={
        200: {"content": {"image/svg+xml": {}}, "description": "SVG chart"},
        **problem_responses(422),
    },
)
async def isoflop_chart(
    catalogues: CataloguesDep,
    compute_flops: Annotated[
        list[Annotated[float, Query(gt=0, le=1e36)]],
        Query(min_length=1, max_length=7, description="Budgets in FLOPs (repeatable)."),
    ],
    law: LawQuery = DEFAULT_LOSS_LAW_ID,
    points: Annotated[int, Query(ge=5, le=401)] = 61,
) -> Response:
    svg = usecase.isoflop_chart(catalogues, compute_flops, law, points)
    return Response(svg, media_type="image/svg+xml")


@router.post(
    "/domain-plan",
    summary="Domain adaptation plan",
    description="BloombergGPT's question (Wu et al. 2023, sec. 3): a domain corpus, public "
    "data and a budget; the model size, tokens and mix, following BloombergGPT's method, with "
    "the alternatives (unlimited data; repeating domain data).",
    responses=problem_responses(422),
)
async def domain_plan(request: DomainPlanRequest, catalogues: CataloguesDep) -> DomainPlanResponse:
    return usecase.domain_plan(catalogues, request)
