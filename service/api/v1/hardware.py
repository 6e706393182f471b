"""``/v1/hardware``: the accelerator catalogue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from service.api.deps import (
    ApiKeyDep,
    CatalogueChangedDep,
    PreconditionDep,
    SessionDep,
    SlugPath,
    SnapshotDep,
    entry_response,
)
from service.api.pagination import link_header
from service.api.problems import problem_responses
from service.api.routing import JsonRoute
from service.schemas.common import Page
from service.schemas.hardware import (
    HardwareCreate,
    HardwarePatch,
    HardwareQuery,
    HardwareRead,
    HardwareReplace,
)
from service.usecases import hardware as usecase
from service.usecases.hardware import HARDWARE, HardwareFilter
from service.usecases.preconditions import etag

router = APIRouter(prefix="/v1/hardware", tags=["hardware"], route_class=JsonRoute)


def _with_etag(response: Response, item: HardwareRead) -> HardwareRead:
    response.headers["ETag"] = etag(item.version)
    return item


@router.get(
    "",
    summary="List accelerators",
    description="GPUs and TPUs with memory, dense peak TFLOP/s by precision (sparse peaks kept "
    "apart), bandwidths, power and a dated default price, each with sources. Served from the "
    "catalogue snapshot; `Cache-Control: no-cache` revalidates it first.",
    response_model=Page[HardwareRead],
    responses=problem_responses(422, 503),
)
async def list_hardware(
    request: Request, snapshot: SnapshotDep, query: Annotated[HardwareQuery, Query()]
) -> Response:
    filters = HardwareFilter(
        vendor=query.vendor, kind=query.kind, min_memory_bytes=query.min_memory_bytes
    )
    body, total = usecase.list_hardware(
        snapshot, filters, sort=query.sort.value, limit=query.limit, offset=query.offset
    )
    links = link_header(request.url, total=total, limit=query.limit, offset=query.offset)
    return Response(body, media_type="application/json", headers={"Link": links})


@router.get(
    "/{slug}",
    summary="Get one accelerator",
    description="With a strong `ETag` for updates; `Cache-Control: no-cache` reads the latest "
    "version written through any replica.",
    response_model=HardwareRead,
    responses={
        304: {"description": "Not Modified: If-None-Match names the current ETag."},
        **problem_responses(404, 422, 503),
    },
)
async def get_hardware(slug: SlugPath, request: Request, snapshot: SnapshotDep) -> Response:
    return entry_response(request, snapshot.hardware_table.get(slug), "accelerator", slug)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Add an accelerator",
    description="Requires `X-API-Key`; 409 when the slug is taken.",
    dependencies=[ApiKeyDep],
    responses=problem_responses(401, 409, 422),
)
def create_hardware(
    body: HardwareCreate, response: Response, session: SessionDep, changed: CatalogueChangedDep
) -> HardwareRead:
    item = HARDWARE.create(session, body.slug, body)
    changed()
    response.headers["Location"] = f"/v1/hardware/{item.slug}"
    return _with_etag(response, item)


@router.put(
    "/{slug}",
    summary="Replace an accelerator",
    description="Requires `X-API-Key` and `If-Match`.",
    dependencies=[ApiKeyDep],
    responses=problem_responses(401, 404, 412, 422, 428),
)
def replace_hardware(
    slug: SlugPath,
    body: HardwareReplace,
    precondition: PreconditionDep,
    response: Response,
    session: SessionDep,
    changed: CatalogueChangedDep,
) -> HardwareRead:
    item = HARDWARE.replace(session, slug, body, precondition)
    changed()
    return _with_etag(response, item)


@router.patch(
    "/{slug}",
    summary="Change some fields of an accelerator",
    description="Requires `X-API-Key` and `If-Match`; e.g. refresh a price with its date.",
    dependencies=[ApiKeyDep],
    responses=problem_responses(401, 404, 412, 422, 428),
)
def patch_hardware(
    slug: SlugPath,
    body: HardwarePatch,
    precondition: PreconditionDep,
    response: Response,
    session: SessionDep,
    changed: CatalogueChangedDep,
) -> HardwareRead:
    item = HARDWARE.patch(session, slug, body, precondition)
    changed()
    return _with_etag(response, item)


@router.delete(
    "/{slug}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an accelerator",
    description="Requires `X-API-Key` and `If-Match`.",
    dependencies=[ApiKeyDep],
    responses=problem_responses(401, 404, 412, 422, 428),
)
def delete_hardware(
    slug: SlugPath, precondition: PreconditionDep, session: SessionDep, changed: CatalogueChangedDep
) -> Response:
    HARDWARE.delete(session, slug, precondition)
    changed()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
