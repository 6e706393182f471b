"""The edge middleware on its own, around a tiny app: what the service-level tests cannot reach."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from fastapi import Body, FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.testclient import TestClient
from starlette.types import Scope

from service.api.metrics import Metrics
from service.api.middleware import API_CSP, DOCS_CSP, SECURITY_HEADERS, EdgeMiddleware

LIMIT = 1024
SHARED = Response(b"{}", media_type="application/json")  # one object answered twice


def _problem(status: int) -> Any:
    def render(scope: Scope, _detail: object) -> dict[str, Any]:
        return {"status": status, "request_id": scope["state"]["request_id"]}

    return render


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def client(metrics: Metrics) -> Iterator[TestClient]:
    app = FastAPI()

    @app.get("/own-headers")
    async def own_headers() -> Response:
        headers = {"X-Frame-Options": "SAMEORIGIN", "Content-Security-Policy": "mine"}
        response = JSONResponse({}, headers=headers)
        response.raw_headers += [(b"x-request-id", b"a"), (b"x-request-id", b"b")]
        return response

    @app.get("/shared")
    async def shared() -> Response:
        return SHARED

    @app.get("/docs")
    async def docs() -> dict[str, str]:
        return {}

    @app.post("/echo")
    async def echo(value: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        return value

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    app.add_middleware(
        EdgeMiddleware,
        metrics=metrics,
        max_bytes=LIMIT,
        too_large=_problem(413),
        not_json=_problem(415),
    )
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def assert_edge_headers(headers: Any, csp: str = API_CSP) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers[name] == value
    assert headers["content-security-policy"] == csp
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])


def test_handler_headers_are_kept_and_the_request_id_replaces_its_own(client: TestClient) -> None:
    response = client.get("/own-headers")
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert response.headers["content-security-policy"] == "mine"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert len(response.headers.get_list("x-request-id")) == 1
    assert response.headers["x-request-id"] not in ("a", "b")


def test_a_reused_response_is_not_changed(client: TestClient) -> None:
    first, second = client.get("/shared"), client.get("/shared")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert len(second.headers.get_list("x-content-type-options")) == 1
    assert b"x-request-id" not in dict(SHARED.raw_headers)


def test_docs_pages_get_their_own_csp(client: TestClient) -> None:
    assert_edge_headers(client.get("/docs").headers, DOCS_CSP)
    assert_edge_headers(client.get("/nowhere").headers)


@pytest.mark.parametrize(
    ("headers", "content", "status"),
    [
        ({"Content-Type": "text/plain"}, b"{}", 415),
        ({}, b"{}", 415),
        ({"Content-Type": "application/json"}, b"[" + b"1," * LIMIT + b"1]", 413),
        ({"Content-Type": "text/plain"}, b"x" * (LIMIT + 1), 413),  # the size is checked first
    ],
)
def test_refusals_carry_the_edge_headers_and_are_logged_and_counted(
    client: TestClient,
    metrics: Metrics,
    caplog: pytest.LogCaptureFixture,
    headers: dict[str, str],
    content: bytes,
    status: int,
) -> None:
    with caplog.at_level(logging.INFO, logger="service.access"):
        response = client.post("/echo", content=content, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert_edge_headers(response.headers)
    assert response.json() == {"status": status, "request_id": response.headers["x-request-id"]}
    (record,) = [r for r in caplog.records if r.name == "service.access"]
    assert (record.status, record.route, record.request_id) == (  # type: ignore[attr-defined]
        status,
        "unmatched",
        response.headers["x-request-id"],
    )
    sample = f'planner_http_requests_total{{method="POST",route="unmatched",status="{status}"}} 1.0'
    assert sample in metrics.render().decode()


def test_a_streamed_body_over_the_limit_is_413_not_400(
    client: TestClient, metrics: Metrics
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(4):
            yield b"a" * 512
        yield b'"}'

    response = client.post("/echo", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert_edge_headers(response.headers)
    assert 'route="/echo",status="413"} 1.0' in metrics.render().decode()


def test_an_unhandled_error_is_counted_as_500(client: TestClient, metrics: Metrics) -> None:
    assert client.get("/boom").status_code == 500
    assert 'route="/boom",status="500"} 1.0' in metrics.render().decode()


def test_accepted_and_generated_request_ids(client: TestClient) -> None:
    given = client.get("/docs", headers={"X-Request-ID": "trace-42"})
    assert given.headers["x-request-id"] == "trace-42"
    ids = {client.get("/docs", headers={"X-Request-ID": "<bad>"}).headers["x-request-id"]}
    ids.add(client.get("/docs").headers["x-request-id"])
    assert len(ids) == 2
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
