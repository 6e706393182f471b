"""The JSON route's fast path answers exactly what FastAPI's own handler answers.

Every request is sent twice to the same app: once as it comes (the fast path, where it applies)
and once with the routes' snapshot dependencies overridden by themselves, which sends the
request through FastAPI's standard handler (the fast path steps aside for overridden dependencies).
Status, content type and body must be byte for byte the same; both requests carry the same
request id, so problem documents compare whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Annotated, Any
from urllib.parse import urlencode

import pytest
from fastapi import Depends, FastAPI, Query, Request, params
from fastapi.dependencies.models import Dependant
from fastapi.responses import PlainTextResponse
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from pydantic import BaseModel, Field

from service.api.deps import get_catalogues, get_snapshot
from service.api.routing import FastPath, JsonRoute, _input_model
from service.api.v1 import estimates, hardware, models, scaling
from service.app import TELEMETRY_OFF, create_app
from service.schemas.estimates import ComputeRequest, MemoryRequest
from service.schemas.hardware import HardwareQuery
from service.schemas.models import ModelQuery
from service.schemas.scaling import (
    ComputeOptimalRequest,
    DomainPlanRequest,
    LossRequest,
    OptimalParametersRequest,
)
from tests.conftest import in_transaction, make_settings

FAST_PATHS = {
    "/v1/models",
    "/v1/hardware",
    "/v1/estimates/memory",
    "/v1/estimates/compute",
    "/v1/scaling/compute-optimal",
    "/v1/scaling/loss",
    "/v1/scaling/optimal-parameters",
    "/v1/scaling/domain-plan",
}
LISTINGS = {"/v1/models", "/v1/hardware"}
SAME_ID = {"X-Request-ID": "routing-test"}


def both_paths(
    client: TestClient, path: str, content: bytes | None, headers: dict[str, str] | None = None
) -> tuple[Any, Any]:
    """The answer of the fast path and of FastAPI's handler to the same request: a ``POST`` of
    ``content``, or a ``GET`` of ``path`` (with its query string) when ``content`` is None."""
    sent = {**SAME_ID, **(headers or {})}
    if content is not None:
        sent = {"content-type": "application/json", **sent}

    def send() -> Any:
        if content is None:
            return client.get(path, headers=sent)
        return client.post(path, content=content, headers=sent)

    fast = send()
    app: FastAPI = client.app  # type: ignore[assignment]
    app.dependency_overrides.update({get_catalogues: get_catalogues, get_snapshot: get_snapshot})
    try:
        standard = send()
    finally:
        del app.dependency_overrides[get_catalogues], app.dependency_overrides[get_snapshot]
    return fast, standard


def assert_same(fast: Any, standard: Any) -> None:
    assert fast.status_code == standard.status_code, (fast.text, standard.text)
    assert fast.headers["content-type"] == standard.headers["content-type"]
    assert fast.content == standard.content


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the one-pass JSON validations of the estimates' request models."""
    seen: list[str] = []
    for model in (MemoryRequest, ComputeRequest):
        original = model.model_validate_json

        def spy(cls: type[BaseModel], data: Any, _original: Any = original, **kw: Any) -> Any:
            seen.append(cls.__name__)
            return _original(data, **kw)

        monkeypatch.setattr(model, "model_validate_json", classmethod(spy))
    return seen


class TestWhichRoutes:
    def test_the_pure_computation_endpoints_take_the_fast_path(self) -> None:
        routers = (estimates.router, scaling.router, models.router, hardware.router)
        routes = [route for router in routers for route in router.routes]
        fast = {r.path for r in routes if isinstance(r, JsonRoute) and FastPath.of(r)}
        assert fast == FAST_PATHS
        # Writes, the fitted laws and entries by slug (sessions, path parameters, several query
        # parameters) keep FastAPI's handler.
        assert "/v1/scaling/laws" not in fast
        assert "/v1/models/{slug}" not in fast

    def test_a_valid_request_is_validated_once_in_one_pass(
        self, client: TestClient, validations: list[str]
    ) -> None:
        response = client.post("/v1/estimates/memory", json={"model": "llama-7b"})
        assert response.status_code == 200
        assert validations == ["MemoryRequest"]

    def test_an_overridden_dependency_sends_requests_to_fastapi(
        self, client: TestClient, validations: list[str]
    ) -> None:
        fast, standard = both_paths(client, "/v1/estimates/compute", b'{"model": "llama-7b"}')
        assert validations == ["ComputeRequest"]  # the first request only
        assert_same(fast, standard)

    def test_turned_off_every_request_takes_fastapis_handler(
        self, database_url: str, db_session: Any, validations: list[str]
    ) -> None:
        settings = make_settings(database_url, route_fast_path=False)
        app = in_transaction(create_app(settings), db_session)
        with TestClient(app) as client:
            off = client.post("/v1/estimates/memory", json={"model": "llama-7b"}, headers=SAME_ID)
        assert off.status_code == 200
        assert validations == []
        app = in_transaction(create_app(make_settings(database_url)), db_session)
        with TestClient(app) as client:
            on = client.post("/v1/estimates/memory", json={"model": "llama-7b"}, headers=SAME_ID)
        assert validations == ["MemoryRequest"]
        assert on.content == off.content

    def test_a_body_that_does_not_validate_gets_fastapis_answer(
        self, client: TestClient, validations: list[str]
    ) -> None:
        fast, standard = both_paths(client, "/v1/estimates/memory", b'{"gpus": 0}')
        assert validations == ["MemoryRequest"]  # tried once, then FastAPI's handler
        assert fast.status_code == 422
        assert_same(fast, standard)


def _route_app(
    endpoint: Callable[..., Any], telemetry: Any = TELEMETRY_OFF, **route: Any
) -> FastAPI:
    app = FastAPI(telemetry=telemetry)
    app.router.route_class = JsonRoute
    app.post("/x", **route)(endpoint)
    return app


class Body(BaseModel):
    n: int


class DiscardingTracerProvider(trace.TracerProvider):
    """A configured provider, as an OpenTelemetry set-up installs, whose spans go nowhere
    (FastAPI treats the API's own no-op provider as "not configured")."""

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return trace.NoOpTracer()


class Listed(BaseModel):
    tags: list[str] | None = None


class Aliased(BaseModel):
    n: int = Field(default=1, alias="N")


async def request_dependency(request: Request) -> str:
    return request.method


class TestEligibility:
    """What the fast path leaves to FastAPI: anything it would have to extract or inject."""

    @staticmethod
    def fast_path(app: FastAPI) -> FastPath | None:
        route = next(r for r in app.routes if isinstance(r, APIRoute))
        return FastPath.of(route)

    def test_async_body_and_request_dependency(self) -> None:
        async def endpoint(body: Body, method: Annotated[str, Depends(request_dependency)]) -> Body:
            return body

        path = self.fast_path(_route_app(endpoint))
        assert path is not None
        assert (path.input_name, path.input_model, path.source) == ("body", Body, "body")
        assert path.request_name is None
        assert path.dependencies == (("method", request_dependency),)

    def test_sync_endpoint(self) -> None:
        def endpoint(body: Body) -> Body:
            return body

        assert self.fast_path(_route_app(endpoint)) is None

    def test_query_parameter(self) -> None:
        async def endpoint(body: Body, page: int = 1) -> Body:
            return body

        assert self.fast_path(_route_app(endpoint)) is None

    def test_request_parameter_on_the_endpoint(self) -> None:
        async def endpoint(body: Body, request: Request) -> Body:
            return body

        path = self.fast_path(_route_app(endpoint))
        assert path is not None
        assert path.request_name == "request"

    def test_query_model(self) -> None:
        async def endpoint(query: Annotated[Body, Query()]) -> Body:
            return query

        path = self.fast_path(_route_app(endpoint))
        assert path is not None
        assert (path.input_name, path.input_model, path.source) == ("query", Body, "query")

    def test_query_model_with_a_list_or_an_alias(self) -> None:
        async def listed(query: Annotated[Listed, Query()]) -> Body:
            return Body(n=1)

        async def aliased(query: Annotated[Aliased, Query()]) -> Body:
            return Body(n=1)

        assert self.fast_path(_route_app(listed)) is None
        assert self.fast_path(_route_app(aliased)) is None

    def test_form_model(self) -> None:
        """A model read from form fields (declaring one needs python-multipart, which the
        service does not install: the dependant is built by hand)."""
        form = SimpleNamespace(name="form", field_info=params.Form(annotation=Body))
        body = SimpleNamespace(name="body", field_info=params.Body(annotation=Body))
        assert _input_model(Dependant(body_params=[form])) is None  # type: ignore[list-item]
        assert _input_model(Dependant(body_params=[body])) == ("body", Body, "body")  # type: ignore[list-item]

    def test_query_model_and_a_body(self) -> None:
        async def endpoint(body: Body, query: Annotated[Body, Query()]) -> Body:
            return body

        assert self.fast_path(_route_app(endpoint)) is None

    def test_path_parameter(self) -> None:
        async def endpoint(body: Body, n: int) -> Body:
            return body

        app = FastAPI()
        app.router.route_class = JsonRoute
        app.post("/x/{n}")(endpoint)
        assert self.fast_path(app) is None

    def test_scalar_query_parameter_alone(self) -> None:
        async def endpoint(n: int = 1) -> Body:
            return Body(n=n)

        assert self.fast_path(_route_app(endpoint)) is None

    def test_yield_dependency(self) -> None:
        async def opened(request: Request) -> Any:
            yield 1

        async def endpoint(body: Body, value: Annotated[int, Depends(opened)]) -> Body:
            return body

        assert self.fast_path(_route_app(endpoint)) is None

    def test_custom_response_class(self) -> None:
        async def endpoint(body: Body) -> Body:
            return body

        assert self.fast_path(_route_app(endpoint, response_class=PlainTextResponse)) is None

    def test_two_bodies(self) -> None:
        async def endpoint(a: Body, b: Body) -> Body:
            return a

        assert self.fast_path(_route_app(endpoint)) is None

    def test_no_response_model(self) -> None:
        async def endpoint(body: Body) -> PlainTextResponse:
            return PlainTextResponse("x")

        assert self.fast_path(_route_app(endpoint)) is None

    @pytest.mark.parametrize(
        ("telemetry", "fast"),
        [
            (TELEMETRY_OFF, True),
            (None, True),  # FastAPI's defaults, no OpenTelemetry provider: nothing recorded
            ({"tracer_provider": DiscardingTracerProvider()}, False),
        ],
    )
    def test_recorded_telemetry_keeps_fastapis_handler(
        self, monkeypatch: pytest.MonkeyPatch, telemetry: Any, fast: bool
    ) -> None:
        """Where FastAPI's telemetry records a request, the request keeps FastAPI's spans."""
        seen: list[bytes] = []
        original = Body.model_validate_json

        def spy(cls: type[BaseModel], data: Any, **kw: Any) -> Any:
            seen.append(data)
            return original(data, **kw)

        monkeypatch.setattr(Body, "model_validate_json", classmethod(spy))

        async def endpoint(body: Body) -> Body:
            return body

        with TestClient(_route_app(endpoint, telemetry=telemetry)) as client:
            answer = client.post("/x", json={"n": 3})
        assert (answer.status_code, answer.json()) == (200, {"n": 3})
        assert len(seen) == (1 if fast else 0)

    def test_status_code_and_returned_response(self) -> None:
        async def endpoint(body: Body) -> Body:
            return body

        app = _route_app(endpoint, status_code=201)
        with TestClient(app) as client:
            answer = client.post("/x", json={"n": 3})
        assert (answer.status_code, answer.json()) == (201, {"n": 3})


REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    MemoryRequest,
    ComputeRequest,
    ComputeOptimalRequest,
    LossRequest,
    OptimalParametersRequest,
    DomainPlanRequest,
)
LLAMA_7B = json.dumps({"model": "llama-7b", "gpu": "a100-80gb", "gpus": 8, "strategy": "zero-3"})
HF_CONFIG = {
    "model_type": "llama",
    "hidden_size": 4096,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "intermediate_size": 11008,
    "vocab_size": 32000,
}

HOSTILE_BODIES = [
    b"",
    b"{}",
    b"[]",
    b"null",
    b"1",
    b'"llama-7b"',
    b"{",
    b"{}}",
    b'{"model": "llama-7b",}',
    LLAMA_7B.encode(),
    b"\xef\xbb\xbf" + LLAMA_7B.encode(),  # a UTF-8 byte order mark
    LLAMA_7B.encode("utf-16"),  # json.loads detects UTF-16; pydantic's parser does not
    b'{"model": "llama-7b", "headroom": NaN}',
    b'{"model": "llama-7b", "headroom": Infinity}',
    b'{"model": "llama-7b", "headroom": 1e400}',
    b'{"parameters": 1' + b"0" * 400 + b"}",
    b'{"model": "nope", "model": "llama-7b"}',  # the last duplicate key wins in both
    b'{"model": "llama-7b", "gpus": true}',
    b'{"model": "llama-7b", "gpus": "8"}',
    b'{"model": "llama-7b", "gpus": 8.0}',
    b'{"model": "llama-7b", "gpus": 8.5}',
    b'{"model": "llama-7b", "unknown": 1}',
    b'{"model": "llama\\u0000-7b"}',
    b'{"model": "llama-7b", "gpu": "a100-80gb\\ud800"}',
    json.dumps({"hf_config": {**HF_CONFIG, "note": "\ud800"}}).encode(),
    json.dumps({"hf_config": HF_CONFIG, "gpus": 4, "strategy": "fsdp-full-shard"}).encode(),
    b"[" * 5000 + b"]" * 5000,  # FastAPI's decoder gives up: 400, on both paths
    b'{"parameters": 7e9, "tokens": 1.4e12, "gpus": 1024, "mfu": 0.5}',
    b'{"compute_flops": 5.76e23, "law": "nope"}',
    b'{"gpu_hours": 100000, "gpu": "h100-80gb", "mfu": 0.4, "budget_usd": 1e6}',
    b'{"parameters": 7e10, "tokens": -1}',
    # Every documented example of every request model: valid bodies, compared whole.
    *(
        json.dumps(example).encode()
        for model in REQUEST_MODELS
        for example in (model.model_config.get("json_schema_extra") or {}).get("examples", [])
    ),
]


@pytest.mark.parametrize("path", sorted(FAST_PATHS - LISTINGS))
def test_hostile_and_valid_bodies_answer_alike(client: TestClient, path: str) -> None:
    for content in HOSTILE_BODIES:
        fast, standard = both_paths(client, path, content)
        assert_same(fast, standard)


def test_cache_control_and_labelled_media_types_answer_alike(client: TestClient) -> None:
    for headers in (
        {"Cache-Control": "no-cache"},
        {"content-type": "application/json; charset=utf-8"},
        {"content-type": "application/merge-patch+json"},
    ):
        fast, standard = both_paths(client, "/v1/estimates/memory", LLAMA_7B.encode(), headers)
        assert fast.status_code == 200
        assert_same(fast, standard)


_PLAUSIBLE = st.sampled_from(
    [
        "llama-7b",
        "gpt3-175b",
        "t5-11b",
        "a100-80gb",
        "h100-sxm-80gb",
        "zero-3",
        "fsdp-hybrid-shard",
        "ddp",
        "bf16",
        "fp32",
        "selective",
        "full",
        "optimizer",
        "chinchilla-approach1",
        "epoch-2024",
        "a100-40gb",
        0,
        1,
        2,
        8,
        64,
        2048,
        0.4,
        7e9,
        1.4e12,
        5.76e23,
        True,
        None,
        HF_CONFIG,
    ]
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
_FIELDS = sorted({name for model in REQUEST_MODELS for name in model.model_fields})


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(sorted(FAST_PATHS - LISTINGS)),
    body=st.dictionaries(
        st.sampled_from(_FIELDS) | st.text(max_size=4), _PLAUSIBLE | _JSON, max_size=6
    ),
)
@example(path="/v1/estimates/memory", body={"model": "llama-7b", "gpus": 8, "strategy": "zero-2"})
@example(path="/v1/scaling/compute-optimal", body={"compute_flops": 1e22})
def test_any_body_answers_alike(client: TestClient, path: str, body: dict[str, Any]) -> None:
    fast, standard = both_paths(client, path, json.dumps(body).encode())
    assert_same(fast, standard)


HOSTILE_QUERIES = [
    "",
    "?limit=5",
    "?limit=",
    "?limit=0",
    "?limit=abc",
    "?limit=5&limit=7",  # the last value wins in both
    "?limit=7&limit=5&limit=x",
    "?offset=-1",
    "?offset=3&limit=2&sort=-parameters",
    "?sort=nope",
    "?family=decoder-only&family=encoder-only",
    "?family=",
    "?q=LLaMA&min_parameters=1e9",
    "?q=%00",
    "?q=%C3%A9t%C3%A9",
    "?q=" + "x" * 201,
    "?min_parameters=1&max_parameters=10000000000000000",
    "?verdict=under-trained&law=chinchilla-approach-3",
    "?verdict=under-trained&law=",
    "?unknown=1",
    "?unknown=1&unknown=2",
    "?limit=5&&&=&x",
    "?vendor=NVIDIA&kind=gpu&min_memory_bytes=80000000000&sort=-memory_bytes",
    "?kind=tpu&vendor=" + "v" * 65,
    "?LIMIT=5",
]


@pytest.mark.parametrize("path", sorted(LISTINGS))
def test_hostile_and_valid_queries_answer_alike(client: TestClient, path: str) -> None:
    for query in HOSTILE_QUERIES:
        fast, standard = both_paths(client, path + query, None)
        assert_same(fast, standard)
        assert fast.headers.get("link") == standard.headers.get("link")


_QUERY_VALUES = st.sampled_from(
    ["", "0", "1", "5", "-1", "100", "101", "1e9", "x", "decoder-only", "gpu", "NVIDIA",
     "-parameters", "slug", "-memory_bytes", "under-trained", "chinchilla-approach-3", "llama"]
) | st.text(max_size=6)  # fmt: skip
_QUERY_KEYS = st.sampled_from(
    sorted({*ModelQuery.model_fields, *HardwareQuery.model_fields})
) | st.text(min_size=1, max_size=4)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(sorted(LISTINGS)),
    pairs=st.lists(st.tuples(_QUERY_KEYS, _QUERY_VALUES), max_size=6),
)
def test_any_query_answers_alike(
    client: TestClient, path: str, pairs: list[tuple[str, str]]
) -> None:
    fast, standard = both_paths(client, f"{path}?{urlencode(pairs)}", None)
    assert_same(fast, standard)
    assert fast.headers.get("link") == standard.headers.get("link")
