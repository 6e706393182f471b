"""The JSON route's fast path answers exactly what FastAPI's own handler answers.

Every request is sent twice to the same app: once as it comes (the fast path, where it applies)
and once with the route's snapshot dependency overridden by itself, which sends the request
through FastAPI's standard handler (the fast path steps aside for overridden dependencies).
Status, content type and body must be byte for byte the same; both requests carry the same
request id, so problem documents compare whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from service.api.deps import get_catalogues
from service.api.routing import FastPath, JsonRoute
from service.api.v1 import estimates, scaling
from service.schemas.estimates import ComputeRequest, MemoryRequest

FAST_PATHS = {
    "/v1/estimates/memory",
    "/v1/estimates/compute",
    "/v1/scaling/compute-optimal",
    "/v1/scaling/loss",
    "/v1/scaling/optimal-parameters",
    "/v1/scaling/domain-plan",
}
SAME_ID = {"X-Request-ID": "routing-test"}


def both_paths(
    client: TestClient, path: str, content: bytes, headers: dict[str, str] | None = None
) -> tuple[Any, Any]:
    """The answer of the fast path and of FastAPI's handler to the same request."""
    sent = {"content-type": "application/json", **SAME_ID, **(headers or {})}
    fast = client.post(path, content=content, headers=sent)
    app: FastAPI = client.app  # type: ignore[assignment]
    app.dependency_overrides[get_catalogues] = get_catalogues
    try:
        standard = client.post(path, content=content, headers=sent)
    finally:
        del app.dependency_overrides[get_catalogues]
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
        routes = (*estimates.router.routes, *scaling.router.routes)
        fast = {r.path for r in routes if isinstance(r, JsonRoute) and FastPath.of(r)}
        assert fast == FAST_PATHS
        # The fitted laws (sessions, query and path parameters) keep FastAPI's handler.
        assert "/v1/scaling/laws" not in fast

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

    def test_a_body_that_does_not_validate_gets_fastapis_answer(
        self, client: TestClient, validations: list[str]
    ) -> None:
        fast, standard = both_paths(client, "/v1/estimates/memory", b'{"gpus": 0}')
        assert validations == ["MemoryRequest"]  # tried once, then FastAPI's handler
        assert fast.status_code == 422
        assert_same(fast, standard)


def _route_app(endpoint: Callable[..., Any], **route: Any) -> FastAPI:
    app = FastAPI()
    app.router.route_class = JsonRoute
    app.post("/x", **route)(endpoint)
    return app


class Body(BaseModel):
    n: int


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
        assert path.body_name == "body"
        assert path.body_model is Body
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

    def test_status_code_and_returned_response(self) -> None:
        async def endpoint(body: Body) -> Body:
            return body

        app = _route_app(endpoint, status_code=201)
        with TestClient(app) as client:
            answer = client.post("/x", json={"n": 3})
        assert (answer.status_code, answer.json()) == (201, {"n": 3})


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
    b'{"budget_flops": 5.76e23}',
    b'{"budget_flops": 5.76e23, "law": "nope"}',
    b'{"parameters": 7e10, "tokens": 1.4e12}',
    b'{"tokens": 1.4e12}',
]


@pytest.mark.parametrize("path", sorted(FAST_PATHS))
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
        "chinchilla-approach-3",
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
_FIELDS = sorted(
    {
        *MemoryRequest.model_fields,
        *ComputeRequest.model_fields,
        "budget_flops",
        "budget_pfs_days",
        "law",
        "tokens",
        "parameters",
        "target_loss",
        "domain_tokens",
    }
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(sorted(FAST_PATHS)),
    body=st.dictionaries(
        st.sampled_from(_FIELDS) | st.text(max_size=4), _PLAUSIBLE | _JSON, max_size=6
    ),
)
@example(path="/v1/estimates/memory", body={"model": "llama-7b", "gpus": 8, "strategy": "zero-2"})
@example(path="/v1/scaling/compute-optimal", body={"budget_flops": 1e22})
def test_any_body_answers_alike(client: TestClient, path: str, body: dict[str, Any]) -> None:
    fast, standard = both_paths(client, path, json.dumps(body).encode())
    assert_same(fast, standard)
