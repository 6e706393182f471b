"""``/v1/plans``: persisted training plans."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from service.api.deps import ApiKeyDep, PageDep, PreconditionDep, SessionDep, not_modified
from service.api.pagination import link_header
from service.api.problems import problem_responses
from service.persistence.repositories import PlanFilter
from service.schemas.common import Page
from service.schemas.fields import SLUG_PATTERN
from service.schemas.plans import PlanComparison, PlanCreate, PlanPatch, PlanRead
from service.usecases import plans as usecase
from service.usecases.errors import InvalidRequest
from service.usecases.preconditions import etag

router = APIRouter(prefix="/v1/plans", tags=["plans"])

PlanId = Annotated[
    str,
    Path(
        min_length=36,
        max_length=36,
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        description="The plan's UUID.",
    ),
]


class PlanSort(StrEnum):
    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"
    NAME = "name"
    NAME_DESC = "-name"
    GPUS = "gpus"
    GPUS_DESC = "-gpus"


def _with_etag(response: Response, plan: PlanRead) -> PlanRead:
    response.headers["ETag"] = etag(plan.version)
    return plan


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a plan",
    description="Requires `X-API-Key`. Computes the whole run (memory per GPU and fit, FLOPs, "
    "petaflop/s-days, GPU-hours, days, cost, energy, the Chinchilla check) with "
    "recommendations, and stores inputs, results and the estimator version.",
    dependencies=[ApiKeyDep],
    responses=problem_responses(401, 422),
)
def create_plan(
    inputs: PlanCreate, request: Request, response: Response, session: SessionDep
) -> PlanRead:
    plan = usecase.create_plan(session, inputs, request.app.state.catalogue.snapshot)
    response.headers["Location"] = f"/v1/plans/{plan.id}"
    return _with_etag(response, plan)


@router.get(
    "",
    summary="List plans",
    description="Filter by model slug, GPU, fit and creation time; paginated with `Link`.",
    responses=problem_responses(422),
)
def list_plans(
    request: Request,
    response: Response,
    session: SessionDep,
    page: PageDep,
    model: Annotated[str | None, Query(max_length=64, pattern=SLUG_PATTERN)] = None,
    gpu: Annotated[str | None, Query(max_length=64, pattern=SLUG_PATTERN)] = None,
    fits: bool | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    sort: PlanSort = PlanSort.CREATED_AT_DESC,
) -> Page[PlanRead]:
    filters = PlanFilter(
        model=model,
        gpu=gpu,
        fits=fits,
        created_after=created_after,
        created_before=created_before,
    )
    result = usecase.list_plans(
        session, filters, sort=sort.value, limit=page.limit, offset=page.offset
    )
    response.headers["Link"] = link_header(
        request.url, total=result.total, limit=page.limit, offset=page.offset
    )
    return result


@router.get(
    "/compare",
    summary="Compare plans",
    description="Plans side by side: one summary each and one row per metric "
    "(`ids`: 2 to 10 comma-separated plan ids).",
    responses=problem_responses(404, 422),
)
def compare_plans(
    session: SessionDep,
    ids: Annotated[str, Query(min_length=1, max_length=400, description="Comma-separated ids.")],
) -> PlanComparison:
    plan_ids = [part.strip() for part in ids.split(",") if part.strip()]
    if not 2 <= len(plan_ids) <= 10 or len(set(plan_ids)) != len(plan_ids):
        raise InvalidRequest("give 2 to 10 distinct plan ids", field="query.ids")
    return usecase.compare_plans(session, plan_ids)


@router.get(
    "/{plan_id}",
    summary="Get a plan",
    description="The stored plan, figures exactly as computed, with a strong `ETag`.",
    response_model=PlanRead,
    responses={
        304: {"description": "Not Modified: If-None-Match names the current ETag."},
        **problem_responses(404, 422),
    },
)
def get_plan(
    plan_id: PlanId, request: Request, response: Response, session: SessionDep
) -> PlanRead | Response:
    item = usecase.get_plan(session, plan_id)
    return not_modified(request, etag(item.version)) or _with_etag(response, item)


@router.patch(
    "/{plan_id}",
    summary="Rename, annotate or tag a plan",
    description="Requires `X-API-Key` and `If-Match`. Only name, notes and tags change.",
    dependencies=[ApiKeyDep],
    responses=problem_responses(401, 404, 412, 422, 428),
)
def patch_plan(
    plan_id: PlanId,
    patch: PlanPatch,
    precondition: PreconditionDep,
    response: Response,
    session: SessionDep,
) -> PlanRead:
    return _with_etag(response, usecase.patch_plan(session, plan_id, patch, precondition))


@router.delete(
    "/{plan_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a plan",
    description="Requires `X-API-Key` and `If-Match`.",
    dependencies=[ApiKeyDep],
    responses=problem_responses(401, 404, 412, 422, 428),
)
def delete_plan(plan_id: PlanId, precondition: PreconditionDep, session: SessionDep) -> Response:
    usecase.delete_plan(session, plan_id, precondition)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{plan_id}/recompute",
    status_code=status.HTTP_201_CREATED,
    summary="Recompute a plan",
    description="Requires `X-API-Key`. A new plan from the same inputs with today's formulas, "
    "linked to the old one (`recomputed_from`); the old plan is unchanged.",
    dependencies=[ApiKeyDep],
    responses=problem_responses(401, 404, 409, 422),
)
def recompute_plan(plan_id: PlanId, response: Response, session: SessionDep) -> PlanRead:
    plan = usecase.recompute_plan(session, plan_id)
    response.headers["Location"] = f"/v1/plans/{plan.id}"
    return _with_etag(response, plan)


@router.get(
    "/{plan_id}/memory.svg",
    summary="Memory chart",
    description="A stacked bar of the per-GPU memory (weights, gradients, optimizer states, "
    "activations, overhead) against the GPU's capacity, as SVG.",
    response_class=Response,
    responses={
        200: {"content": {"image/svg+xml": {}}, "description": "SVG chart"},
        **problem_responses(404, 422),
    },
)
def memory_chart(plan_id: PlanId, session: SessionDep) -> Response:
    return Response(usecase.memory_chart(session, plan_id), media_type="image/svg+xml")
