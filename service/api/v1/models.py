"""``/v1/models``: the model catalogue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from service.api.deps import (
    ApiKeyDep,
    CatalogueChangedDep,
    CataloguesDep,
    PreconditionDep,
    SessionDep,
    SlugPath,
    SnapshotDep,
    entry_response,
)
from service.api.pagination import link_header
from service.api.problems import problem_responses
from service.api.routing import JsonRoute
from service.domain.scaling_laws import DEFAULT_LAW_ID, DEFAULT_LOSS_LAW_ID
from service.schemas.common import Page
from service.schemas.models import ModelCreate, ModelPatch, ModelQuery, ModelRead, ModelReplace
from service.schemas.scaling import ChinchillaCheckResponse
from service.usecases import models as usecase
from service.usecases.models import MODELS, ModelFilter
from service.usecases.preconditions import etag
from service.usecases.scaling import check_model

router = APIRouter(prefix="/v1/models", tags=["models"], route_class=JsonRoute)


def _with_etag(response: Response, model: ModelRead) -> ModelRead:
    response.headers["ETag"] = etag(model.version)
    return model


@router.get(
    "",
    summary="List catalogue models",
    description="Filter, sort and page through the catalogue. Deterministic order: the sort key "
    "(missing values last), then the slug. `Link` headers give first/prev/next/last pages. "
    "Served from the process's catalogue snapshot; `Cache-Control: no-cache` revalidates it "
    "against the database first (see the README, Scaling out).",
    response_model=Page[ModelRead],
    responses=problem_responses(422, 503),
)
async def list_models(
    request: Request, snapshot: SnapshotDep, query: Annotated[ModelQuery, Query()]
) -> Response:
    filters = ModelFilter(
        family=query.family,
        objective=query.objective,
        domain=query.domain,
        q=query.q,
        min_parameters=query.min_parameters,
        max_parameters=query.max_parameters,
    )
    body, total = usecase.list_models(
        snapshot,
        filters,
        sort=query.sort.value,
        limit=query.limit,
        offset=query.offset,
        verdict=query.verdict,
        law_id=query.law,
    )
    links = link_header(request.url, total=total, limit=query.limit, offset=query.offset)
    return Response(body, media_type="application/json", headers={"Link": links})


@router.get(
    "/{slug}",
    summary="Get one model",
    description="The model with its published figures and sources. The `ETag` header is needed "
    "for updates and deletes (`If-Match`); send `Cache-Control: no-cache` to read the latest "
    "version written through any replica.",
    response_model=ModelRead,
    responses={
        304: {"description": "Not Modified: If-None-Match names the current ETag."},
        **problem_responses(404, 422, 503),
    },
)
async def get_model(slug: SlugPath, request: Request, snapshot: SnapshotDep) -> Response:
    return entry_response(request, snapshot.model_table.get(slug), "model", slug)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Add a model",
    description="Requires `X-API-Key`. Only slug, name, family, objective and parameters are "
    "required; 409 when the slug is taken.",
    dependencies=[ApiKeyDep],
    responses=problem_responses(401, 409, 422),
)
def create_model(
    body: ModelCreate, response: Response, session: SessionDep, changed: CatalogueChangedDep
) -> ModelRead:
    model = MODELS.create(session, body.slug, body)
    changed()
    response.headers["Location"] = f"/v1/models/{model.slug}"
    return _with_etag(response, model)


@router.put(
    "/{slug}",
    summary="Replace a model",
    description="Requires `X-API-Key` and `If-Match` with the current ETag (412 when stale, "
    "428 when missing). Every field is replaced; the slug stays.",
    dependencies=[ApiKeyDep],
    responses=problem_responses(401, 404, 412, 422, 428),
)
def replace_model(
    slug: SlugPath,
    body: ModelReplace,
    precondition: PreconditionDep,
    response: Response,
    session: SessionDep,
    changed: CatalogueChangedDep,
) -> ModelRead:
    item = MODELS.replace(session, slug, body, precondition)
    changed()
    return _with_etag(response, item)


@router.patch(
    "/{slug}",
    summary="Change some fields of a model",
    description="Requires `X-API-Key` and `If-Match`. Only the given fields change; the result "
    "must still be a valid model.",
    dependencies=[ApiKeyDep],
    responses=problem_responses(401, 404, 412, 422, 428),
)
def patch_model(
    slug: SlugPath,
    body: ModelPatch,
    precondition: PreconditionDep,
    response: Response,
    session: SessionDep,
    changed: CatalogueChangedDep,
) -> ModelRead:
    item = MODELS.patch(session, slug, body, precondition)
    changed()
    return _with_etag(response, item)


@router.delete(
    "/{slug}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a model",
    description="Requires `X-API-Key` and `If-Match`.",
    dependencies=[ApiKeyDep],
    responses=problem_responses(401, 404, 412, 422, 428),
)
def delete_model(
    slug: SlugPath, precondition: PreconditionDep, session: SessionDep, changed: CatalogueChangedDep
) -> Response:
    MODELS.delete(session, slug, precondition)
    changed()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{slug}/chinchilla",
    summary="Was it trained compute-optimally?",
    description="Tokens per parameter, training FLOPs, the law's optimal tokens for the model's "
    "size, the compute-optimal size and tokens for its training compute, predicted losses, and "
    "a verdict (under-trained, near-optimal, over-trained) with the band that decides it.",
    responses=problem_responses(404, 422),
)
async def chinchilla(
    slug: SlugPath,
    catalogues: CataloguesDep,
    law: Annotated[
        str, Query(min_length=1, max_length=64, description="Law id (GET /v1/scaling/laws).")
    ] = DEFAULT_LAW_ID,
    loss_law: Annotated[
        str | None, Query(min_length=1, max_length=64, description="Law for predicted losses.")
    ] = DEFAULT_LOSS_LAW_ID,
) -> ChinchillaCheckResponse:
    return check_model(catalogues, slug, law, loss_law)
