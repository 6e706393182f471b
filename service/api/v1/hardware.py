"""``/v1/hardware``: the accelerator catalogue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from service.api.deps import (
    ApiKeyDep,
    CatalogueChangedDep,
    PageDep,
    PreconditionDep,
    SessionDep,
    SlugPath,
    not_modified,
)
from service.api.pagination import link_header
from service.api.problems import problem_responses
from service.persistence.repositories import HardwareFilter
from service.schemas.common import Page
from service.schemas.hardware import (
    HardwareCreate,
    HardwareKind,
    HardwarePatch,
    HardwareRead,
    HardwareReplace,
    HardwareSort,
)
from service.usecases import hardware as usecase
from service.usecases.hardware import HARDWARE
from service.usecases.preconditions import etag

router = APIRouter(prefix="/v1/hardware", tags=["hardware"])


def _with_etag(response: Response, item: HardwareRead) -> HardwareRead:
    response.headers["ETag"] = etag(item.version)
    return item


@router.get(
    "",
    summary="List accelerators",
    description="GPUs and TPUs with memory, dense peak TFLOP/s by precision (sparse peaks kept "
    "apart), bandwidths, power and a dated default price, each with sources.",
    responses=problem_responses(422),
)
def list_hardware(
    request: Request,
    response: Response,
    session: SessionDep,
    page: PageDep,
    vendor: Annotated[str | None, Query(max_length=64, examples=["NVIDIA"])] = None,
    kind: Annotated[HardwareKind | None, Query()] = None,
    min_memory_bytes: Annotated[int | None, Query(ge=1, le=2**50)] = None,
    sort: Annotated[HardwareSort, Query()] = HardwareSort.SLUG,
) -> Page[HardwareRead]:
    filters = HardwareFilter(vendor=vendor, kind=kind, min_memory_bytes=min_memory_bytes)
    result = usecase.list_hardware(
        session, filters, sort=sort.value, limit=page.limit, offset=page.offset
    )
    response.headers["Link"] = link_header(
        request.url, total=result.total, limit=page.limit, offset=page.offset
    )
    return result


@router.get(
    "/{slug}",
    summary="Get one accelerator",
    description="With a strong `ETag` for updates.",
    response_model=HardwareRead,
    responses={
        304: {"description": "Not Modified: If-None-Match names the current ETag."},
        **problem_responses(404, 422),
    },
)
def get_hardware(
    slug: SlugPath, request: Request, response: Response, session: SessionDep
) -> HardwareRead | Response:
    item = HARDWARE.get(session, slug)
    return not_modified(request, etag(item.version)) or _with_etag(response, item)


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
