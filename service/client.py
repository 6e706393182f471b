"""A typed Python client of the planner's HTTP API, blocking or asyncio, over httpx.

::

    from service.client import PlannerClient

    with PlannerClient("http://127.0.0.1:8000", api_key="...") as planner:
        for model in planner.list_models(family="decoder-only"):  # every page
            print(model.slug, model.parameters)
        memory = planner.estimate_memory(model="llama-7b", strategy="zero-3", gpus=8)
        print(memory.per_gpu.total_bytes, memory.fits)
        optimal = planner.compute_optimal(gpu_hours=100_000, gpu="h100-80gb", mfu=0.4)
        plan = planner.create_plan(name="7B", model="llama-7b", gpus=64, strategy="zero-3")
        print(plan.value.results.recommendations[0], plan.etag)

:class:`AsyncPlannerClient` has the same methods as coroutines (``list_models``,
``list_hardware`` and ``list_plans`` are async iterators). Both reuse the service's pydantic
schemas: request fields are validated before anything is sent (a typo raises
:class:`pydantic.ValidationError` at once), and answers come back as the schemas the service
serves.

Retries: a ``503`` or a network failure (connection refused or reset, timeout) is retried up to
``retries`` times with exponential backoff and jitter, or after the ``Retry-After`` the server
asks for, every wait capped at ``max_backoff`` seconds; but only where repeating the request is
harmless: ``GET``, ``PUT`` and ``DELETE``, and the ``POST``s that only compute (``/v1/estimates/*``,
``/v1/quantize``, the ``/v1/scaling/*`` computations such as ``compute-optimal``,
``/v1/planner/search``). Creates (``POST /v1/models``, ``POST /v1/plans``, ``POST
/v1/plans/{id}/recompute``, a fit stored by ``POST /v1/scaling/laws``) and ``PATCH`` are sent
once. Each call states its rule (``_Call.retry``), none is guessed from a path.

The API key travels in ``X-API-Key`` on every request; it is never logged, and neither the
client's ``repr`` nor any error shows it.

Exception tree (every error of a call; the status is the last response's)::

    PlannerError                  status, problem (the problem+json body, or None), request_id
     +-- ValidationFailed         422  the service refused the input; .errors lists the fields
     +-- AuthError                401, 403  missing or wrong API key
     +-- NotFoundError            404
     +-- ConflictError            409  the slug or law id is taken
     +-- PreconditionFailedError  412, 428  stale or missing If-Match
     +-- UnavailableError         503  still unavailable after the retries
     +-- TransportError           no response: connection failure or timeout, after the retries

Design: one sans-I/O core (:class:`_Core`) builds every request, decides every retry and parses
every response; the two clients only send, sleep and iterate pages, each with its own I/O.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Generic, Self, TypedDict, TypeVar, Unpack, cast
from urllib.parse import quote

import anyio
import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from service import __version__
from service.domain.types import Family, Objective
from service.schemas.common import Page
from service.schemas.estimates import ComputeRequest, ComputeResponse, MemoryRequest, MemoryResponse
from service.schemas.hardware import HardwareKind, HardwareRead, HardwareSort
from service.schemas.models import ModelCreate, ModelPatch, ModelRead, ModelReplace, ModelSort
from service.schemas.numerics import DType, QuantizeRequest, QuantizeResponse
from service.schemas.planner import PlannerSearchRequest, PlannerSearchResponse
from service.schemas.plans import PlanComparison, PlanCreate, PlanPatch, PlanRead
from service.schemas.scaling import (
    ChinchillaCheckResponse,
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

__all__ = [
    "AsyncPlannerClient",
    "AuthError",
    "ConflictError",
    "HardwareFilters",
    "ModelFilters",
    "NotFoundError",
    "PlanFilters",
    "PlannerClient",
    "PlannerError",
    "PreconditionFailedError",
    "Tagged",
    "TransportError",
    "UnavailableError",
    "ValidationFailed",
]

T = TypeVar("T")
SchemaT = TypeVar("SchemaT", bound=BaseModel)

_MASK = "***"
#: Largest page the service serves; listings ask for it to make the fewest round trips.
PAGE_SIZE = 100
#: Failures after which a repeated request cannot have been processed twice, or does no harm.
_RETRIED_FAILURES = (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError)


# --- errors --------------------------------------------------------------------------------


class PlannerError(Exception):
    """A call failed: ``status`` (None without a response), the ``problem`` document, the id."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        problem: dict[str, Any] | None = None,
        request_id: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.problem = problem
        self.request_id = request_id
        self.attempts = attempts

    @property
    def detail(self) -> str | None:
        """The problem's human-readable explanation."""
        detail = (self.problem or {}).get("detail")
        return detail if isinstance(detail, str) else None


class ValidationFailed(PlannerError):
    """422: the service refused the input."""

    @property
    def errors(self) -> list[dict[str, Any]]:
        """Each invalid field: ``{"field": "body.gpus", "message": ..., "type": ...}``."""
        errors = (self.problem or {}).get("errors")
        return [error for error in errors if isinstance(error, dict)] if errors else []


class AuthError(PlannerError):
    """401 or 403: the API key is missing, wrong, or writes are disabled."""


class NotFoundError(PlannerError):
    """404: no such resource."""


class ConflictError(PlannerError):
    """409: the slug or law id is taken, or a plan can no longer be recomputed."""


class PreconditionFailedError(PlannerError):
    """412 (If-Match is stale) or 428 (If-Match is missing)."""


class UnavailableError(PlannerError):
    """503 after the retries: the service (usually its database) is unavailable."""


class TransportError(PlannerError):
    """No response after the retries: the connection failed or timed out."""


_ERRORS: dict[int, type[PlannerError]] = {
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    409: ConflictError,
    412: PreconditionFailedError,
    422: ValidationFailed,
    428: PreconditionFailedError,
    503: UnavailableError,
}


def _error_for(response: httpx.Response, attempts: int) -> PlannerError:
    problem: dict[str, Any] | None = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        problem = body
    status = response.status_code
    title = (problem or {}).get("title") or response.reason_phrase
    detail = (problem or {}).get("detail")
    request_id = (problem or {}).get("request_id") or response.headers.get("X-Request-ID")
    message = f"{status} {title}" + (f": {detail}" if detail else "")
    if request_id:
        message += f" (request {request_id})"
    return _ERRORS.get(status, PlannerError)(
        message, status=status, problem=problem, request_id=request_id, attempts=attempts
    )


# --- what the calls are --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tagged(Generic[T]):
    """An answer with its strong ``ETag``: pass ``etag`` as ``if_match`` to change it."""

    value: T
    etag: str | None


class ModelFilters(TypedDict, total=False):
    """Filters of :meth:`PlannerClient.list_models` (``limit`` is the page size)."""

    family: Family | str
    objective: Objective | str
    domain: str
    q: str
    min_parameters: int
    max_parameters: int
    sort: ModelSort | str
    limit: int


class HardwareFilters(TypedDict, total=False):
    """Filters of :meth:`PlannerClient.list_hardware` (``limit`` is the page size)."""

    vendor: str
    kind: HardwareKind | str
    min_memory_bytes: int
    sort: HardwareSort | str
    limit: int


class PlanFilters(TypedDict, total=False):
    """Filters of :meth:`PlannerClient.list_plans` (``limit`` is the page size); ``sort`` is one
    of ``created_at``, ``name``, ``gpus``, each also descending with a leading ``-``."""

    model: str
    gpu: str
    fits: bool
    created_after: datetime | str
    created_before: datetime | str
    sort: str
    limit: int


@dataclass(frozen=True, slots=True)
class _Call(Generic[T]):
    """One API call: what to send, whether it may be repeated, how to read the answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Mapping[str, str | int] | None = None
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    retry: bool = False


@dataclass(frozen=True, slots=True)
class _Paged(Generic[T]):
    """One page of a listing, and the call that fetches the next (None on the last)."""

    items: list[T]
    next: _Call[_Paged[T]] | None


@dataclass(frozen=True, slots=True)
class _Send:
    """Core to driver: send a request built from these arguments."""

    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Sleep:
    """Core to driver: wait before the next attempt."""

    seconds: float


_Outcome = httpx.Response | httpx.TransportError | None
_Exchange = Generator[_Send | _Sleep, _Outcome, T]


def _schema(schema: type[SchemaT]) -> Callable[[httpx.Response], SchemaT]:
    return lambda response: schema.model_validate_json(response.content)


def _tagged(schema: type[SchemaT]) -> Callable[[httpx.Response], Tagged[SchemaT]]:
    def parse(response: httpx.Response) -> Tagged[SchemaT]:
        return Tagged(schema.model_validate_json(response.content), response.headers.get("ETag"))

    return parse


def _adapted(adapter: TypeAdapter[T]) -> Callable[[httpx.Response], T]:
    return lambda response: adapter.validate_json(response.content)


def _document(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    if not isinstance(body, dict):
        raise ValueError(f"expected a JSON object, got {type(body).__name__}")
    return body


def _nothing(_response: httpx.Response) -> None:
    return None


def _svg(response: httpx.Response) -> str:
    kind = response.headers.get("Content-Type", "")
    if not kind.startswith("image/svg+xml"):
        raise ValueError(f"expected image/svg+xml, got {kind or 'no Content-Type'}")
    return response.text


def _segment(value: str | int) -> str:
    """A path segment, percent-encoded so that no slug can reach another path."""
    return quote(str(value), safe="")


def _body(
    schema: type[SchemaT], request: SchemaT | Mapping[str, Any] | None, fields: dict[str, Any]
) -> dict[str, Any]:
    """The JSON body of a request given as a schema instance, a mapping or keyword fields,
    validated here so that a mistake fails before anything is sent."""
    if request is not None and fields:
        raise TypeError("give the request as one object or as keyword fields, not both")
    if isinstance(request, BaseModel):
        validated: BaseModel = request
    else:
        validated = schema.model_validate(dict(request or {}) | fields)
    return validated.model_dump(mode="json", exclude_unset=True)


def _query(allowed: type[Any], filters: Mapping[str, Any]) -> dict[str, str | int]:
    unknown = sorted(set(filters) - set(allowed.__annotations__))
    if unknown:
        raise TypeError(
            f"unknown filter {', '.join(unknown)}; "
            f"expected some of {', '.join(allowed.__annotations__)}"
        )
    params: dict[str, str | int] = {"limit": PAGE_SIZE}
    for name, value in filters.items():
        if value is not None:
            params[name] = _param(value)
    return params


def _param(value: object) -> str | int:
    """A query value as the API reads it (``true``/``false``, ISO 8601 times)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _listing(
    path: str, page_type: type[Page[SchemaT]], params: Mapping[str, str | int]
) -> _Call[_Paged[SchemaT]]:
    """A page of ``path``; its answer carries the call for the next page.

    The next page is the ``Link: rel="next"`` target's query on this same path (the client never
    follows a link to another host, so the key cannot leak); without ``Link`` headers, the
    envelope's ``offset``, ``limit`` and ``total`` say where it is.
    """

    def parse(response: httpx.Response) -> _Paged[SchemaT]:
        page = page_type.model_validate_json(response.content)
        following: dict[str, str | int] | None = None
        if "next" in response.links:
            target = httpx.URL(response.links["next"].get("url", ""))
            following = dict(target.params.items())
        elif "link" not in response.headers and page.offset + page.limit < page.total:
            following = {**params, "offset": page.offset + page.limit}
        if not page.items:
            following = None
        next_call = _listing(path, page_type, following) if following is not None else None
        return _Paged(page.items, next_call)

    return _Call("GET", path, parse, params=dict(params), retry=True)


# --- the calls, shared by both clients -----------------------------------------------------

_DTYPES = TypeAdapter(list[DType])
_LAWS = TypeAdapter(list[LawRead])


#: Asks the server to revalidate its catalogue snapshot first (RFC 9111 sec. 5.2.1.4).
_REVALIDATE = {"Cache-Control": "no-cache"}


class _Calls:
    """Every endpoint the clients offer, as a :class:`_Call`."""

    @staticmethod
    def health() -> _Call[dict[str, Any]]:
        return _Call("GET", "/healthz", _document, retry=True)

    @staticmethod
    def ready() -> _Call[dict[str, Any]]:
        return _Call("GET", "/readyz", _document, retry=True)

    @staticmethod
    def list_models(filters: Mapping[str, Any]) -> _Call[_Paged[ModelRead]]:
        return _listing("/v1/models", Page[ModelRead], _query(ModelFilters, filters))

    @staticmethod
    def get_model(slug: str, *, revalidate: bool = False) -> _Call[Tagged[ModelRead]]:
        headers = _REVALIDATE if revalidate else {}
        path = f"/v1/models/{_segment(slug)}"
        return _Call("GET", path, _tagged(ModelRead), headers=headers, retry=True)

    @staticmethod
    def create_model(
        body: ModelCreate | Mapping[str, Any] | None, fields: dict[str, Any]
    ) -> _Call[Tagged[ModelRead]]:
        json = _body(ModelCreate, body, fields)
        return _Call("POST", "/v1/models", _tagged(ModelRead), body=json)

    @staticmethod
    def replace_model(
        slug: str, body: ModelReplace | Mapping[str, Any], if_match: str
    ) -> _Call[Tagged[ModelRead]]:
        return _Call(
            "PUT",
            f"/v1/models/{_segment(slug)}",
            _tagged(ModelRead),
            body=_body(ModelReplace, body, {}),
            headers={"If-Match": if_match},
            retry=True,
        )

    @staticmethod
    def update_model(
        slug: str, patch: ModelPatch | Mapping[str, Any], if_match: str
    ) -> _Call[Tagged[ModelRead]]:
        return _Call(
            "PATCH",
            f"/v1/models/{_segment(slug)}",
            _tagged(ModelRead),
            body=_body(ModelPatch, patch, {}),
            headers={"If-Match": if_match},
        )

    @staticmethod
    def delete_model(slug: str, if_match: str) -> _Call[None]:
        return _Call(
            "DELETE",
            f"/v1/models/{_segment(slug)}",
            _nothing,
            headers={"If-Match": if_match},
            retry=True,
        )

    @staticmethod
    def list_hardware(filters: Mapping[str, Any]) -> _Call[_Paged[HardwareRead]]:
        return _listing("/v1/hardware", Page[HardwareRead], _query(HardwareFilters, filters))

    @staticmethod
    def get_hardware(slug: str) -> _Call[Tagged[HardwareRead]]:
        return _Call("GET", f"/v1/hardware/{_segment(slug)}", _tagged(HardwareRead), retry=True)

    @staticmethod
    def estimate_memory(
        request: MemoryRequest | Mapping[str, Any] | None, fields: dict[str, Any]
    ) -> _Call[MemoryResponse]:
        json = _body(MemoryRequest, request, fields)
        return _Call("POST", "/v1/estimates/memory", _schema(MemoryResponse), body=json, retry=True)

    @staticmethod
    def estimate_compute(
        request: ComputeRequest | Mapping[str, Any] | None, fields: dict[str, Any]
    ) -> _Call[ComputeResponse]:
        json = _body(ComputeRequest, request, fields)
        return _Call(
            "POST", "/v1/estimates/compute", _schema(ComputeResponse), body=json, retry=True
        )

    @staticmethod
    def dtypes() -> _Call[list[DType]]:
        return _Call("GET", "/v1/dtypes", _adapted(_DTYPES), retry=True)

    @staticmethod
    def quantize(
        request: QuantizeRequest | Mapping[str, Any] | None, fields: dict[str, Any]
    ) -> _Call[QuantizeResponse]:
        json = _body(QuantizeRequest, request, fields)
        return _Call("POST", "/v1/quantize", _schema(QuantizeResponse), body=json, retry=True)

    # Scaling laws: the computations are safe to repeat; a fit is stored, so it is sent once.

    @staticmethod
    def list_laws() -> _Call[list[LawRead]]:
        return _Call("GET", "/v1/scaling/laws", _adapted(_LAWS), retry=True)

    @staticmethod
    def get_law(law_id: str) -> _Call[LawRead]:
        return _Call("GET", f"/v1/scaling/laws/{_segment(law_id)}", _schema(LawRead), retry=True)

    @staticmethod
    def fit_law(
        request: LawFitRequest | Mapping[str, Any] | None, fields: dict[str, Any]
    ) -> _Call[LawRead]:
        json = _body(LawFitRequest, request, fields)
        return _Call("POST", "/v1/scaling/laws", _schema(LawRead), body=json)

    @staticmethod
    def delete_law(law_id: str) -> _Call[None]:
        return _Call("DELETE", f"/v1/scaling/laws/{_segment(law_id)}", _nothing, retry=True)

    @staticmethod
    def compute_optimal(
        request: ComputeOptimalRequest | Mapping[str, Any] | None, fields: dict[str, Any]
    ) -> _Call[ComputeOptimalResponse]:
        json = _body(ComputeOptimalRequest, request, fields)
        parse = _schema(ComputeOptimalResponse)
        return _Call("POST", "/v1/scaling/compute-optimal", parse, body=json, retry=True)

    @staticmethod
    def predicted_loss(
        request: LossRequest | Mapping[str, Any] | None, fields: dict[str, Any]
    ) -> _Call[LossResponse]:
        json = _body(LossRequest, request, fields)
        return _Call("POST", "/v1/scaling/loss", _schema(LossResponse), body=json, retry=True)

    @staticmethod
    def optimal_parameters(
        request: OptimalParametersRequest | Mapping[str, Any] | None, fields: dict[str, Any]
    ) -> _Call[OptimalParametersResponse]:
        json = _body(OptimalParametersRequest, request, fields)
        parse = _schema(OptimalParametersResponse)
        return _Call("POST", "/v1/scaling/optimal-parameters", parse, body=json, retry=True)

    @staticmethod
    def isoflop(
        compute_flops: float, law: str | None, points: int | None, span: float | None
    ) -> _Call[IsoFlopResponse]:
        given = {"compute_flops": compute_flops, "law": law, "points": points, "span": span}
        params = {name: _param(value) for name, value in given.items() if value is not None}
        parse = _schema(IsoFlopResponse)
        return _Call("GET", "/v1/scaling/isoflop", parse, params=params, retry=True)

    @staticmethod
    def domain_plan(
        request: DomainPlanRequest | Mapping[str, Any] | None, fields: dict[str, Any]
    ) -> _Call[DomainPlanResponse]:
        json = _body(DomainPlanRequest, request, fields)
        parse = _schema(DomainPlanResponse)
        return _Call("POST", "/v1/scaling/domain-plan", parse, body=json, retry=True)

    @staticmethod
    def chinchilla(
        slug: str, law: str | None, loss_law: str | None
    ) -> _Call[ChinchillaCheckResponse]:
        given = {"law": law, "loss_law": loss_law}
        params = {name: value for name, value in given.items() if value is not None}
        path = f"/v1/models/{_segment(slug)}/chinchilla"
        return _Call("GET", path, _schema(ChinchillaCheckResponse), params=params, retry=True)

    # Plans: created (and recomputed into a new plan) once; read, changed and deleted by id.

    @staticmethod
    def create_plan(
        body: PlanCreate | Mapping[str, Any] | None, fields: dict[str, Any]
    ) -> _Call[Tagged[PlanRead]]:
        json = _body(PlanCreate, body, fields)
        return _Call("POST", "/v1/plans", _tagged(PlanRead), body=json)

    @staticmethod
    def list_plans(filters: Mapping[str, Any]) -> _Call[_Paged[PlanRead]]:
        return _listing("/v1/plans", Page[PlanRead], _query(PlanFilters, filters))

    @staticmethod
    def get_plan(plan_id: str) -> _Call[Tagged[PlanRead]]:
        return _Call("GET", f"/v1/plans/{_segment(plan_id)}", _tagged(PlanRead), retry=True)

    @staticmethod
    def update_plan(
        plan_id: str, patch: PlanPatch | Mapping[str, Any], if_match: str
    ) -> _Call[Tagged[PlanRead]]:
        return _Call(
            "PATCH",
            f"/v1/plans/{_segment(plan_id)}",
            _tagged(PlanRead),
            body=_body(PlanPatch, patch, {}),
            headers={"If-Match": if_match},
        )

    @staticmethod
    def delete_plan(plan_id: str, if_match: str) -> _Call[None]:
        return _Call(
            "DELETE",
            f"/v1/plans/{_segment(plan_id)}",
            _nothing,
            headers={"If-Match": if_match},
            retry=True,
        )

    @staticmethod
    def recompute_plan(plan_id: str) -> _Call[Tagged[PlanRead]]:
        return _Call("POST", f"/v1/plans/{_segment(plan_id)}/recompute", _tagged(PlanRead))

    @staticmethod
    def compare_plans(plan_ids: Sequence[str]) -> _Call[PlanComparison]:
        if isinstance(plan_ids, str):
            raise TypeError("give the plan ids as a list, not one string")
        params = {"ids": ",".join(plan_ids)}
        return _Call("GET", "/v1/plans/compare", _schema(PlanComparison), params=params, retry=True)

    @staticmethod
    def memory_chart(plan_id: str) -> _Call[str]:
        return _Call(
            "GET",
            f"/v1/plans/{_segment(plan_id)}/memory.svg",
            _svg,
            headers={"Accept": "image/svg+xml, application/problem+json"},
            retry=True,
        )

    # The planner search computes only: repeated on 503 like the estimates.

    @staticmethod
    def planner_search(
        request: PlannerSearchRequest | Mapping[str, Any] | None, fields: dict[str, Any]
    ) -> _Call[PlannerSearchResponse]:
        json = _body(PlannerSearchRequest, request, fields)
        parse = _schema(PlannerSearchResponse)
        return _Call("POST", "/v1/planner/search", parse, body=json, retry=True)


# --- the sans-I/O core ---------------------------------------------------------------------


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: delay-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class _Core:
    """Settings, request building, retry decisions and response parsing of both clients."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout: float | httpx.Timeout,
        retries: int,
        backoff: float,
        max_backoff: float,
        headers: Mapping[str, str] | None,
    ) -> None:
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if retries < 0 or backoff < 0 or max_backoff < 0:
            raise ValueError("retries, backoff and max_backoff cannot be negative")
        self.base_url = str(url).rstrip("/")
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.headers = {
            "Accept": "application/json, application/problem+json",
            "User-Agent": f"pretraining-planner-client/{__version__}",
            **(headers or {}),
        }
        self._api_key = api_key
        masked = url.copy_with(username=url.username, password=_MASK) if url.password else None
        self._shown = str(masked).rstrip("/") if masked else None

    def __repr__(self) -> str:
        key = ", api_key=<set>" if self._api_key else ""
        return f"{self._shown or self.base_url!r}{key}"

    def arguments(self, call: _Call[Any]) -> dict[str, Any]:
        """Keyword arguments of ``httpx.Client.build_request`` (and of the async one)."""
        headers = {**self.headers, **call.headers}
        if self._api_key:
            headers["X-API-Key"] = self._api_key
        return {
            "method": call.method,
            "url": self.base_url + call.path,
            "params": call.params,
            "json": call.body,
            "headers": headers,
            "timeout": self.timeout,
        }

    def delay(self, attempt: int, retry_after: str | None) -> float:
        """Seconds before retry ``attempt`` (0-based): the server's ``Retry-After`` if it gave
        one, else ``backoff * 2**attempt`` with jitter (half to all of it); at most
        ``max_backoff``."""
        asked = _retry_after(retry_after)
        if asked is None:
            # Jitter spreads clients that failed together; it is not a security measure.
            asked = self.backoff * 2**attempt * random.uniform(0.5, 1.0)  # noqa: S311
        return min(self.max_backoff, asked)

    def exchange(self, call: _Call[T]) -> _Exchange[T]:
        """The attempts of one call: yields what to send and how long to sleep; is sent each
        response (or transport error); returns the parsed answer or raises a
        :class:`PlannerError`."""
        arguments = self.arguments(call)
        attempt = 0
        while True:
            outcome = yield _Send(arguments)
            retry = call.retry and attempt < self.retries
            if isinstance(outcome, httpx.TransportError):
                if retry and isinstance(outcome, _RETRIED_FAILURES):
                    yield _Sleep(self.delay(attempt, None))
                    attempt += 1
                    continue
                raise TransportError(
                    f"{call.method} {call.path} failed after {attempt + 1} attempt(s): "
                    f"{type(outcome).__name__}: {outcome}",
                    attempts=attempt + 1,
                ) from outcome
            assert outcome is not None  # the drivers send a response or an error  # noqa: S101
            if outcome.status_code == 503 and retry:
                yield _Sleep(self.delay(attempt, outcome.headers.get("Retry-After")))
                attempt += 1
                continue
            return self.parse(call, outcome, attempts=attempt + 1)

    @staticmethod
    def parse(call: _Call[T], response: httpx.Response, *, attempts: int = 1) -> T:
        """The call's answer, or the typed error its status stands for."""
        if not response.is_success:
            raise _error_for(response, attempts)
        try:
            return call.parse(response)
        except (ValidationError, ValueError) as error:
            raise PlannerError(
                f"{call.method} {call.path}: the response does not match the client's schema "
                f"(is the service another version?): {error}",
                status=response.status_code,
                request_id=response.headers.get("X-Request-ID"),
                attempts=attempts,
            ) from error


# --- the two clients -----------------------------------------------------------------------


class PlannerClient:
    """Blocking client. ``transport`` replaces httpx's network transport (tests); or pass a
    ready ``http_client`` (e.g. ``fastapi.testclient.TestClient(app)`` for an in-process app),
    which this client uses but does not close."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = 10.0,
        retries: int = 3,
        backoff: float = 0.2,
        max_backoff: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        event_hooks: Mapping[str, list[Callable[..., Any]]] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._core = _Core(
            base_url,
            api_key,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            max_backoff=max_backoff,
            headers=headers,
        )
        self._owned = http_client is None
        self._http = http_client or httpx.Client(
            transport=transport, event_hooks=dict(event_hooks or {})
        )

    def __repr__(self) -> str:
        return f"PlannerClient({self._core!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections (not those of an ``http_client`` passed in)."""
        if self._owned:
            self._http.close()

    def _run(self, call: _Call[T]) -> T:
        steps = self._core.exchange(call)
        outcome: _Outcome = None
        while True:
            try:
                step = steps.send(outcome)
            except StopIteration as done:
                return cast(T, done.value)
            if isinstance(step, _Sleep):
                time.sleep(step.seconds)
                outcome = None
                continue
            try:
                outcome = self._http.send(self._http.build_request(**step.arguments))
            except httpx.TransportError as error:
                outcome = error

    def _pages(self, call: _Call[_Paged[T]] | None) -> Iterator[T]:
        while call is not None:
            page = self._run(call)
            yield from page.items
            call = page.next

    def health(self) -> dict[str, Any]:
        """``GET /healthz``."""
        return self._run(_Calls.health())

    def ready(self) -> dict[str, Any]:
        """``GET /readyz``; :class:`UnavailableError` when not ready."""
        return self._run(_Calls.ready())

    def list_models(self, **filters: Unpack[ModelFilters]) -> Iterator[ModelRead]:
        """Every catalogue model matching the filters, page after page."""
        return self._pages(_Calls.list_models(filters))

    def get_model(self, slug: str) -> ModelRead:
        """One catalogue model."""
        return self._run(_Calls.get_model(slug)).value

    def get_model_with_etag(self, slug: str) -> Tagged[ModelRead]:
        """One catalogue model and its ETag (for ``if_match``), revalidated by the server so
        that it is the latest version whichever replica answers."""
        return self._run(_Calls.get_model(slug, revalidate=True))

    def create_model(
        self, body: ModelCreate | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> Tagged[ModelRead]:
        """Add a model (needs the API key); :class:`ConflictError` when the slug is taken."""
        return self._run(_Calls.create_model(body, fields))

    def replace_model(
        self, slug: str, body: ModelReplace | Mapping[str, Any], *, if_match: str
    ) -> Tagged[ModelRead]:
        """Replace every field of a model (``PUT``)."""
        return self._run(_Calls.replace_model(slug, body, if_match))

    def update_model(
        self, slug: str, patch: ModelPatch | Mapping[str, Any], *, if_match: str
    ) -> Tagged[ModelRead]:
        """Change some fields of a model (``PATCH``, sent once)."""
        return self._run(_Calls.update_model(slug, patch, if_match))

    def delete_model(self, slug: str, *, if_match: str) -> None:
        """Delete a model."""
        self._run(_Calls.delete_model(slug, if_match))

    def list_hardware(self, **filters: Unpack[HardwareFilters]) -> Iterator[HardwareRead]:
        """Every accelerator matching the filters, page after page."""
        return self._pages(_Calls.list_hardware(filters))

    def get_hardware(self, slug: str) -> HardwareRead:
        """One accelerator."""
        return self._run(_Calls.get_hardware(slug)).value

    def estimate_memory(
        self, request: MemoryRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> MemoryResponse:
        """Memory per GPU (``POST /v1/estimates/memory``); fields as :class:`MemoryRequest`."""
        return self._run(_Calls.estimate_memory(request, fields))

    def estimate_compute(
        self, request: ComputeRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> ComputeResponse:
        """FLOPs, time, cost, energy (``POST /v1/estimates/compute``)."""
        return self._run(_Calls.estimate_compute(request, fields))

    def dtypes(self) -> list[DType]:
        """The number formats."""
        return self._run(_Calls.dtypes())

    def quantize(
        self, request: QuantizeRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> QuantizeResponse:
        """Quantize fp32 values (``POST /v1/quantize``)."""
        return self._run(_Calls.quantize(request, fields))

    # --- scaling laws ---

    def list_laws(self) -> list[LawRead]:
        """Every scaling law: the built-in ones, then those fitted through the API."""
        return self._run(_Calls.list_laws())

    def get_law(self, law_id: str) -> LawRead:
        """One scaling law (a fitted one with its fit quality)."""
        return self._run(_Calls.get_law(law_id))

    def fit_law(
        self, request: LawFitRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> LawRead:
        """Fit L(N, D) to a sweep's runs and store it (needs the API key; sent once);
        :class:`ConflictError` when the id is taken."""
        return self._run(_Calls.fit_law(request, fields))

    def delete_law(self, law_id: str) -> None:
        """Delete a fitted law (needs the API key); built-in laws answer 409."""
        self._run(_Calls.delete_law(law_id))

    def compute_optimal(
        self, request: ComputeOptimalRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> ComputeOptimalResponse:
        """The compute-optimal size and tokens for a budget (``POST
        /v1/scaling/compute-optimal``): one of ``compute_flops``, ``petaflop_s_days``,
        ``gpu_hours`` or ``budget_usd`` (the last two with a ``gpu``), and a ``law``."""
        return self._run(_Calls.compute_optimal(request, fields))

    def predicted_loss(
        self, request: LossRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> LossResponse:
        """L(N, D) under a loss law (``POST /v1/scaling/loss``)."""
        return self._run(_Calls.predicted_loss(request, fields))

    def optimal_parameters(
        self,
        request: OptimalParametersRequest | Mapping[str, Any] | None = None,
        /,
        **fields: Any,
    ) -> OptimalParametersResponse:
        """The size compute-optimal for the tokens at hand (``POST
        /v1/scaling/optimal-parameters``)."""
        return self._run(_Calls.optimal_parameters(request, fields))

    def isoflop(
        self,
        compute_flops: float,
        *,
        law: str | None = None,
        points: int | None = None,
        span: float | None = None,
    ) -> IsoFlopResponse:
        """The iso-FLOP curve of a budget and its minimum (``GET /v1/scaling/isoflop``)."""
        return self._run(_Calls.isoflop(compute_flops, law, points, span))

    def domain_plan(
        self, request: DomainPlanRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> DomainPlanResponse:
        """A domain-adapted model sized as BloombergGPT was (``POST /v1/scaling/domain-plan``)."""
        return self._run(_Calls.domain_plan(request, fields))

    def chinchilla(
        self, slug: str, law: str | None = None, *, loss_law: str | None = None
    ) -> ChinchillaCheckResponse:
        """Was a catalogue model trained compute-optimally under ``law`` (default: the
        service's)? ``GET /v1/models/{slug}/chinchilla``."""
        return self._run(_Calls.chinchilla(slug, law, loss_law))

    # --- plans ---

    def create_plan(
        self, request: PlanCreate | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> Tagged[PlanRead]:
        """Compute and store a plan (``POST /v1/plans``; needs the API key; sent once)."""
        return self._run(_Calls.create_plan(request, fields))

    def list_plans(self, **filters: Unpack[PlanFilters]) -> Iterator[PlanRead]:
        """Every stored plan matching the filters, page after page (newest first)."""
        return self._pages(_Calls.list_plans(filters))

    def get_plan(self, plan_id: str) -> PlanRead:
        """One stored plan, its figures exactly as computed."""
        return self._run(_Calls.get_plan(plan_id)).value

    def get_plan_with_etag(self, plan_id: str) -> Tagged[PlanRead]:
        """One stored plan and its ETag (for ``if_match``)."""
        return self._run(_Calls.get_plan(plan_id))

    def update_plan(
        self, plan_id: str, patch: PlanPatch | Mapping[str, Any], *, if_match: str
    ) -> Tagged[PlanRead]:
        """Rename, annotate or tag a plan (``PATCH``, sent once); its figures never change."""
        return self._run(_Calls.update_plan(plan_id, patch, if_match))

    def delete_plan(self, plan_id: str, *, if_match: str) -> None:
        """Delete a plan."""
        self._run(_Calls.delete_plan(plan_id, if_match))

    def recompute_plan(self, plan_id: str) -> Tagged[PlanRead]:
        """A new plan from the same inputs with today's formulas (sent once)."""
        return self._run(_Calls.recompute_plan(plan_id))

    def compare_plans(self, plan_ids: Sequence[str]) -> PlanComparison:
        """2 to 10 plans side by side."""
        return self._run(_Calls.compare_plans(plan_ids))

    def memory_chart(self, plan_id: str) -> str:
        """The plan's memory per GPU as an SVG document."""
        return self._run(_Calls.memory_chart(plan_id))

    # --- the planner ---

    def planner_search(
        self, request: PlannerSearchRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> PlannerSearchResponse:
        """Every configuration of the allowed GPUs, strategies and degrees, ranked (``POST
        /v1/planner/search``; computes only, so retried on 503)."""
        return self._run(_Calls.planner_search(request, fields))


class AsyncPlannerClient:
    """The asyncio client: :class:`PlannerClient`'s methods as coroutines. ``transport`` may be
    ``httpx.ASGITransport(app)`` for an in-process app (whose lifespan the caller runs)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = 10.0,
        retries: int = 3,
        backoff: float = 0.2,
        max_backoff: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        event_hooks: Mapping[str, list[Callable[..., Any]]] | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._core = _Core(
            base_url,
            api_key,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            max_backoff=max_backoff,
            headers=headers,
        )
        self._owned = http_client is None
        self._http = http_client or httpx.AsyncClient(
            transport=transport, event_hooks=dict(event_hooks or {})
        )

    def __repr__(self) -> str:
        return f"AsyncPlannerClient({self._core!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections (not those of an ``http_client`` passed in)."""
        if self._owned:
            await self._http.aclose()

    async def _run(self, call: _Call[T]) -> T:
        steps = self._core.exchange(call)
        outcome: _Outcome = None
        while True:
            try:
                step = steps.send(outcome)
            except StopIteration as done:
                return cast(T, done.value)
            if isinstance(step, _Sleep):
                await anyio.sleep(step.seconds)
                outcome = None
                continue
            try:
                outcome = await self._http.send(self._http.build_request(**step.arguments))
            except httpx.TransportError as error:
                outcome = error

    async def _pages(self, call: _Call[_Paged[T]] | None) -> AsyncIterator[T]:
        while call is not None:
            page = await self._run(call)
            for item in page.items:
                yield item
            call = page.next

    async def health(self) -> dict[str, Any]:
        """``GET /healthz``."""
        return await self._run(_Calls.health())

    async def ready(self) -> dict[str, Any]:
        """``GET /readyz``; :class:`UnavailableError` when not ready."""
        return await self._run(_Calls.ready())

    def list_models(self, **filters: Unpack[ModelFilters]) -> AsyncIterator[ModelRead]:
        """Every catalogue model matching the filters, page after page (``async for``)."""
        return self._pages(_Calls.list_models(filters))

    async def get_model(self, slug: str) -> ModelRead:
        """One catalogue model."""
        return (await self._run(_Calls.get_model(slug))).value

    async def get_model_with_etag(self, slug: str) -> Tagged[ModelRead]:
        """One catalogue model and its ETag (for ``if_match``), revalidated by the server so
        that it is the latest version whichever replica answers."""
        return await self._run(_Calls.get_model(slug, revalidate=True))

    async def create_model(
        self, body: ModelCreate | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> Tagged[ModelRead]:
        """Add a model (needs the API key); :class:`ConflictError` when the slug is taken."""
        return await self._run(_Calls.create_model(body, fields))

    async def replace_model(
        self, slug: str, body: ModelReplace | Mapping[str, Any], *, if_match: str
    ) -> Tagged[ModelRead]:
        """Replace every field of a model (``PUT``)."""
        return await self._run(_Calls.replace_model(slug, body, if_match))

    async def update_model(
        self, slug: str, patch: ModelPatch | Mapping[str, Any], *, if_match: str
    ) -> Tagged[ModelRead]:
        """Change some fields of a model (``PATCH``, sent once)."""
        return await self._run(_Calls.update_model(slug, patch, if_match))

    async def delete_model(self, slug: str, *, if_match: str) -> None:
        """Delete a model."""
        await self._run(_Calls.delete_model(slug, if_match))

    def list_hardware(self, **filters: Unpack[HardwareFilters]) -> AsyncIterator[HardwareRead]:
        """Every accelerator matching the filters, page after page (``async for``)."""
        return self._pages(_Calls.list_hardware(filters))

    async def get_hardware(self, slug: str) -> HardwareRead:
        """One accelerator."""
        return (await self._run(_Calls.get_hardware(slug))).value

    async def estimate_memory(
        self, request: MemoryRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> MemoryResponse:
        """Memory per GPU (``POST /v1/estimates/memory``); fields as :class:`MemoryRequest`."""
        return await self._run(_Calls.estimate_memory(request, fields))

    async def estimate_compute(
        self, request: ComputeRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> ComputeResponse:
        """FLOPs, time, cost, energy (``POST /v1/estimates/compute``)."""
        return await self._run(_Calls.estimate_compute(request, fields))

    async def dtypes(self) -> list[DType]:
        """The number formats."""
        return await self._run(_Calls.dtypes())

    async def quantize(
        self, request: QuantizeRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> QuantizeResponse:
        """Quantize fp32 values (``POST /v1/quantize``)."""
        return await self._run(_Calls.quantize(request, fields))

    # --- scaling laws ---

    async def list_laws(self) -> list[LawRead]:
        """Every scaling law: the built-in ones, then those fitted through the API."""
        return await self._run(_Calls.list_laws())

    async def get_law(self, law_id: str) -> LawRead:
        """One scaling law (a fitted one with its fit quality)."""
        return await self._run(_Calls.get_law(law_id))

    async def fit_law(
        self, request: LawFitRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> LawRead:
        """Fit L(N, D) to a sweep's runs and store it (needs the API key; sent once);
        :class:`ConflictError` when the id is taken."""
        return await self._run(_Calls.fit_law(request, fields))

    async def delete_law(self, law_id: str) -> None:
        """Delete a fitted law (needs the API key); built-in laws answer 409."""
        await self._run(_Calls.delete_law(law_id))

    async def compute_optimal(
        self, request: ComputeOptimalRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> ComputeOptimalResponse:
        """The compute-optimal size and tokens for a budget (``POST
        /v1/scaling/compute-optimal``): one of ``compute_flops``, ``petaflop_s_days``,
        ``gpu_hours`` or ``budget_usd`` (the last two with a ``gpu``), and a ``law``."""
        return await self._run(_Calls.compute_optimal(request, fields))

    async def predicted_loss(
        self, request: LossRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> LossResponse:
        """L(N, D) under a loss law (``POST /v1/scaling/loss``)."""
        return await self._run(_Calls.predicted_loss(request, fields))

    async def optimal_parameters(
        self,
        request: OptimalParametersRequest | Mapping[str, Any] | None = None,
        /,
        **fields: Any,
    ) -> OptimalParametersResponse:
        """The size compute-optimal for the tokens at hand (``POST
        /v1/scaling/optimal-parameters``)."""
        return await self._run(_Calls.optimal_parameters(request, fields))

    async def isoflop(
        self,
        compute_flops: float,
        *,
        law: str | None = None,
        points: int | None = None,
        span: float | None = None,
    ) -> IsoFlopResponse:
        """The iso-FLOP curve of a budget and its minimum (``GET /v1/scaling/isoflop``)."""
        return await self._run(_Calls.isoflop(compute_flops, law, points, span))

    async def domain_plan(
        self, request: DomainPlanRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> DomainPlanResponse:
        """A domain-adapted model sized as BloombergGPT was (``POST /v1/scaling/domain-plan``)."""
        return await self._run(_Calls.domain_plan(request, fields))

    async def chinchilla(
        self, slug: str, law: str | None = None, *, loss_law: str | None = None
    ) -> ChinchillaCheckResponse:
        """Was a catalogue model trained compute-optimally under ``law`` (default: the
        service's)? ``GET /v1/models/{slug}/chinchilla``."""
        return await self._run(_Calls.chinchilla(slug, law, loss_law))

    # --- plans ---

    async def create_plan(
        self, request: PlanCreate | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> Tagged[PlanRead]:
        """Compute and store a plan (``POST /v1/plans``; needs the API key; sent once)."""
        return await self._run(_Calls.create_plan(request, fields))

    def list_plans(self, **filters: Unpack[PlanFilters]) -> AsyncIterator[PlanRead]:
        """Every stored plan matching the filters, page after page, newest first
        (``async for``)."""
        return self._pages(_Calls.list_plans(filters))

    async def get_plan(self, plan_id: str) -> PlanRead:
        """One stored plan, its figures exactly as computed."""
        return (await self._run(_Calls.get_plan(plan_id))).value

    async def get_plan_with_etag(self, plan_id: str) -> Tagged[PlanRead]:
        """One stored plan and its ETag (for ``if_match``)."""
        return await self._run(_Calls.get_plan(plan_id))

    async def update_plan(
        self, plan_id: str, patch: PlanPatch | Mapping[str, Any], *, if_match: str
    ) -> Tagged[PlanRead]:
        """Rename, annotate or tag a plan (``PATCH``, sent once); its figures never change."""
        return await self._run(_Calls.update_plan(plan_id, patch, if_match))

    async def delete_plan(self, plan_id: str, *, if_match: str) -> None:
        """Delete a plan."""
        await self._run(_Calls.delete_plan(plan_id, if_match))

    async def recompute_plan(self, plan_id: str) -> Tagged[PlanRead]:
        """A new plan from the same inputs with today's formulas (sent once)."""
        return await self._run(_Calls.recompute_plan(plan_id))

    async def compare_plans(self, plan_ids: Sequence[str]) -> PlanComparison:
        """2 to 10 plans side by side."""
        return await self._run(_Calls.compare_plans(plan_ids))

    async def memory_chart(self, plan_id: str) -> str:
        """The plan's memory per GPU as an SVG document."""
        return await self._run(_Calls.memory_chart(plan_id))

    # --- the planner ---

    async def planner_search(
        self, request: PlannerSearchRequest | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> PlannerSearchResponse:
        """Every configuration of the allowed GPUs, strategies and degrees, ranked (``POST
        /v1/planner/search``; computes only, so retried on 503)."""
        return await self._run(_Calls.planner_search(request, fields))
