"""Metrics, structured logs, security headers, body limits, CORS, hashed keys, hidden docs."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.logs import JsonFormatter
from tests.api.test_models_api import assert_problem
from tests.conftest import API_KEY, make_settings


def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    client.get("/v1/models/gpt2")
    client.get("/v1/models/bert-base")
    client.get("/v1/models/no-such-model")
    text = client.get("/metrics").text
    assert (
        'planner_http_requests_total{method="GET",route="/v1/models/{slug}",status="200"} 2.0'
        in text
    )
    assert 'route="/v1/models/{slug}",status="404"} 1.0' in text
    assert "planner_http_request_duration_seconds_bucket" in text
    assert "planner_search_configurations" in text


def test_metrics_count_unregistered_methods_as_other(client: TestClient) -> None:
    """Methods are the client's to choose: new ones must not become new series."""
    for method in ("BREW", "PROPFIND", "X-RANDOM-1", "X-RANDOM-2"):
        assert client.request(method, "/v1/models").status_code == 405
    text = client.get("/metrics").text
    assert 'planner_http_requests_total{method="OTHER",route="/v1/models",status="405"} 4.0' in text
    assert "BREW" not in text
    assert "X-RANDOM" not in text


def test_security_headers_everywhere(client: TestClient) -> None:
    for path in ("/v1/models", "/v1/models/nope", "/healthz", "/docs"):
        headers = client.get(path).headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert (
        client.get("/v1/models").headers["content-security-policy"].startswith("default-src 'none'")
    )


def test_oversized_bodies_are_refused_early(client: TestClient, auth: dict[str, str]) -> None:
    huge = b'{"values": [' + b"1.0," * 3_000_000 + b"1.0]}"
    response = client.post(
        "/v1/quantize", content=huge, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 413
    assert body["request_id"] == response.headers["x-request-id"]

    def chunks() -> object:
        yield b'{"slug": "x", "name": "'
        for _ in range(2000):
            yield b"a" * 1024
        yield b'"}'

    streamed = client.post(
        "/v1/models", content=chunks(), headers={**auth, "Content-Type": "application/json"}
    )
    assert streamed.status_code == 413


def test_cors_is_off_by_default_and_configurable(database_url: str) -> None:
    preflight = {"Origin": "https://tools.example", "Access-Control-Request-Method": "POST"}
    with TestClient(create_app(make_settings(database_url))) as plain:
        response = plain.options("/v1/estimates/memory", headers=preflight)
        assert "access-control-allow-origin" not in response.headers
    settings = make_settings(database_url, cors_origins="https://tools.example")
    with TestClient(create_app(settings)) as cors:
        response = cors.options("/v1/estimates/memory", headers=preflight)
        assert response.headers["access-control-allow-origin"] == "https://tools.example"


def test_docs_can_be_disabled(database_url: str) -> None:
    with TestClient(create_app(make_settings(database_url, docs_enabled=False))) as hidden:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert hidden.get(path).status_code == 404
        assert hidden.get("/healthz").status_code == 200


def test_keys_may_be_configured_as_hashes(database_url: str) -> None:
    hashed = "sha256:" + hashlib.sha256(b"s3cret-key").hexdigest()
    app = create_app(make_settings(database_url, api_keys=(hashed,)))
    with TestClient(app) as hashed_client:
        ok = hashed_client.delete("/v1/models/none-here", headers={"X-API-Key": "s3cret-key"})
        assert ok.status_code == 428  # past authentication
        wrong = hashed_client.delete("/v1/models/none-here", headers={"X-API-Key": hashed})
        assert_problem(wrong, 401)


def test_malformed_hashed_key_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="sha256"):
        make_settings("sqlite://", api_keys=("sha256:xyz",))


def test_access_log_is_structured_and_never_holds_the_key(
    client: TestClient, auth: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="service.access"):
        client.post("/v1/models", json={"slug": "x"}, headers={**auth, "X-Request-ID": "req-77"})
    records = [r for r in caplog.records if r.name == "service.access"]
    assert records
    line = json.loads(JsonFormatter().format(records[-1]))
    assert line["request_id"] == "req-77"
    assert line["method"] == "POST"
    assert line["route"] == "/v1/models"
    assert line["status"] == 422
    assert line["duration_ms"] >= 0
    assert API_KEY not in caplog.text
