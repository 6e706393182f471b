"""Dependencies as annotated aliases: the session, the settings, the API key, a page."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session

from service.api.middleware import BODY_METHODS, is_json_media_type
from service.config import Settings
from service.persistence.engine import SQLITE_BEGIN
from service.schemas.fields import SLUG_PATTERN
from service.usecases.catalogue_cache import CatalogueSnapshot, Entry
from service.usecases.errors import NotFound, ServiceUnavailable, Unauthorized
from service.usecases.estimates import Catalogues
from service.usecases.preconditions import Precondition


def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """A session per request; use-cases commit explicitly, this only closes it.

    Writes are exactly the operations behind ``X-API-Key``; :func:`require_api_key` (a route
    dependency, so resolved before this one) marks them, and their SQLite transaction takes the
    write lock when it begins (see ``SQLITE_BEGIN``). Reads, estimates included, never do.
    """
    writes = getattr(request.state, "writes", False)
    options = {SQLITE_BEGIN: "IMMEDIATE"} if writes else {}
    with request.app.state.sessionmaker(execution_options=options) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]


def key_matches(presented: str, configured: tuple[str, ...]) -> bool:
    """Whether ``presented`` is one of the keys (plain, or ``sha256:<hex>`` of the key).

    Every configured key is compared, each in constant time (``hmac.compare_digest``), so the
    timing reveals neither a key nor its position.
    """
    raw = presented.encode()
    digest = hashlib.sha256(raw).hexdigest().encode()
    matched = False
    for key in configured:
        if key.startswith("sha256:"):
            matched |= hmac.compare_digest(digest, key.removeprefix("sha256:").encode())
        else:
            matched |= hmac.compare_digest(raw, key.encode())
    return matched


def require_api_key(
    request: Request,
    settings: SettingsDep,
    x_api_key: Annotated[
        str | None, Header(description="A key from PLANNER_API_KEYS; required for writes.")
    ] = None,
) -> None:
    """Writes need a configured key; with none configured, writes are refused (fail closed)."""
    if not settings.api_keys:
        raise Unauthorized(
            "Writes are disabled: the service has no API keys configured (PLANNER_API_KEYS).",
            field="header.X-API-Key",
        )
    if x_api_key is None:
        raise Unauthorized("This operation needs an X-API-Key header.", field="header.X-API-Key")
    if not key_matches(x_api_key, settings.api_keys):
        raise Unauthorized("The X-API-Key is not valid.", field="header.X-API-Key")
    request.state.writes = True


ApiKeyDep = Depends(require_api_key)


def get_precondition(
    if_match: Annotated[
        str | None,
        Header(description="The ETag of the version being changed (from GET); '*' for any."),
    ] = None,
) -> Precondition:
    """The parsed ``If-Match`` header (428 when missing)."""
    return Precondition.parse(if_match)


PreconditionDep = Annotated[Precondition, Depends(get_precondition)]


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    offset: int


async def get_page(
    limit: Annotated[int, Query(ge=1, le=100, description="Items per page.")] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip.")] = 0,
) -> PageParams:
    """``limit``/``offset`` pagination."""
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(get_page)]


SlugPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=SLUG_PATTERN,
        description="The entry's slug: lower-case letters, digits, '.' and '-'.",
        examples=["llama-7b"],
    ),
]


async def reject_nul_characters(request: Request) -> None:
    """422 for a NUL (U+0000) anywhere in the query or the JSON body, on every backend alike.

    PostgreSQL stores no NUL in text or JSONB (the driver raises, which would be a 500), and no
    field of this API has a use for one. JSON can only carry one as the escape ``\\u0000`` (a raw
    control character fails parsing), so only a body containing that escape is walked; it was
    parsed already (``request.json()`` is cached), and is walked with a stack, so deep
    documents cannot exhaust the interpreter's. Likewise the query string is only decoded when
    its raw bytes hold ``%00`` (or a raw NUL, which no HTTP parser passes): this check runs on
    every request.
    """
    errors: list[dict[str, Any]] = []
    query: bytes = request.scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:  # the only spellings that decode to a NUL
        for name, value in request.query_params.multi_items():
            if "\x00" in name or "\x00" in value:
                errors.append(_nul_error(("query", name), value))
    content_type = request.headers.get("content-type", "")
    if (
        request.method in BODY_METHODS
        and is_json_media_type(content_type)
        and b"\\u0000" in await request.body()
    ):
        stack: list[tuple[tuple[str | int, ...], Any]] = [(("body",), await request.json())]
        while stack:
            location, item = stack.pop()
            if isinstance(item, str) and "\x00" in item:
                errors.append(_nul_error(location, item))
            elif isinstance(item, dict):
                for key, child in item.items():
                    if "\x00" in key:
                        errors.append(_nul_error(location, key))
                    stack.append(((*location, key), child))
            elif isinstance(item, list):
                stack.extend(((*location, index), child) for index, child in enumerate(item))
    if errors:
        raise RequestValidationError(errors)


def _nul_error(location: tuple[str | int, ...], value: str) -> dict[str, Any]:
    return {
        "type": "string_nul_character",
        "loc": location,
        "msg": "Text must not contain NUL (U+0000) characters",
        "input": value,
    }


def wants_revalidation(request: Request) -> bool:
    """Whether the request asks for a revalidated answer: ``Cache-Control: no-cache`` or
    ``max-age=0`` (RFC 9111 sec. 5.2.1), or ``Pragma: no-cache`` (sec. 5.4) from HTTP/1.0."""
    directives = {
        directive.strip().lower().replace(" ", "")
        for directive in request.headers.get("cache-control", "").split(",")
    }
    return (
        "no-cache" in directives
        or "max-age=0" in directives
        or request.headers.get("pragma", "").strip().lower() == "no-cache"
    )


async def get_snapshot(request: Request) -> CatalogueSnapshot:
    """The process's catalogue snapshot, revalidated against the database first when the
    request asks for it (one aggregate query; a reload only when something changed); 503
    before its first load, or when a revalidation cannot reach the database (as for any
    database error, see ``service.api.problems``)."""
    cache = request.app.state.catalogue
    if wants_revalidation(request):
        await cache.revalidate()  # an unreachable database: 503, Retry-After
    snapshot: CatalogueSnapshot | None = cache.snapshot
    if snapshot is None:
        raise ServiceUnavailable(
            "The catalogues are not loaded yet: the database has not answered since start-up."
        )
    return snapshot


SnapshotDep = Annotated[CatalogueSnapshot, Depends(get_snapshot)]


async def get_catalogues(request: Request) -> Catalogues:
    """The snapshot's lookups, for estimates and scaling answers (no database round trip);
    revalidated first on ``Cache-Control: no-cache`` like every snapshot read."""
    return (await get_snapshot(request)).catalogues


CataloguesDep = Annotated[Catalogues, Depends(get_catalogues)]


def catalogue_changed(request: Request) -> Callable[[], object]:
    """What a catalogue write calls after its commit: reload this process's snapshot, so the
    writer's next estimate sees the change (other replicas revalidate within a second)."""
    refresh: Callable[[], object] = request.app.state.catalogue.refresh
    return refresh


CatalogueChangedDep = Annotated[Callable[[], object], Depends(catalogue_changed)]


def entry_response(request: Request, entry: Entry[Any] | None, noun: str, slug: str) -> Response:
    """A snapshot entry as served: its stored JSON with its ETag, a 304 when ``If-None-Match``
    names that ETag, a 404 naming ``path.slug`` when there is none."""
    if entry is None:
        raise NotFound(f"No {noun} with slug '{slug}'.", field="path.slug")
    return not_modified(request, entry.etag) or Response(
        entry.json, media_type="application/json", headers={"ETag": entry.etag}
    )


def not_modified(request: Request, tag: str) -> Response | None:
    """A 304 when ``If-None-Match`` names the current entity tag (weak comparison, RFC 9110
    sec. 13.1.2): the client's copy is current, so no body is sent."""
    header = request.headers.get("if-none-match")
    if header is None:
        return None
    candidates = {candidate.strip().removeprefix("W/") for candidate in header.split(",")}
    if "*" in candidates or tag.removeprefix("W/") in candidates:
        return Response(status_code=304, headers={"ETag": tag})
    return None
