"""Probes, offline docs and the OpenAPI contract."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from service.app import create_app
from tests.conftest import fresh_database, make_settings

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)
CSS_EXTERNAL = re.compile(r"""url\(\s*["']?(?:https?:)?//""", re.IGNORECASE)


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_readyz_when_migrated(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["revision"] == body["expected_revision"]


def test_readyz_is_503_on_an_unmigrated_database(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path) as url:
        app = create_app(make_settings(url))
        with TestClient(app) as bare:
            response = bare.get("/readyz")
            assert response.status_code == 503
            assert response.headers["content-type"] == "application/problem+json"
            assert "migrate" in response.json()["detail"]
            assert bare.get("/healthz").status_code == 200


def test_readyz_is_503_when_the_database_is_unreachable() -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:9/none"
    app = create_app(make_settings(url, db_connect_timeout_s=1))
    with TestClient(app) as bare:
        response = bare.get("/readyz")
        assert response.status_code == 503
        assert "cannot be reached" in response.json()["detail"]
        listing = bare.get("/v1/models")
        assert listing.status_code == 503
        assert listing.headers["content-type"] == "application/problem+json"
        assert "password" not in listing.text.lower()
        assert "sqlalchemy" not in listing.text.lower()


def _assets(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)


def test_docs_pages_work_offline(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        response = client.get(page)
        assert response.status_code == 200
        html = response.text
        assert not EXTERNAL.search(html), f"{page} references an external URL"
        assets = _assets(html)
        assert assets, page
        for asset in assets:
            assert asset.startswith("/"), asset
            fetched = client.get(asset)
            assert fetched.status_code == 200, asset
            if asset.endswith(".css"):
                assert not CSS_EXTERNAL.search(fetched.text), asset
    swagger = client.get("/docs").text
    assert "/openapi.json" in swagger


def test_openapi_operations_are_tagged_described_and_problem_typed(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "Problem" in schema["components"]["schemas"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    operations = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) >= 8
    for path, method, operation in operations:
        where = f"{method.upper()} {path}"
        assert operation.get("tags"), where
        assert operation.get("summary"), where
        assert operation.get("description"), where
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert list(response["content"]) == ["application/problem+json"], where
        body = operation.get("requestBody")
        if body is not None:
            content = body["content"]["application/json"]
            ref = content["schema"]["$ref"].rsplit("/", 1)[-1]
            assert schema["components"]["schemas"][ref].get("examples"), where


def test_unexpected_errors_are_a_bare_500_problem(database_url: str) -> None:
    app = create_app(make_settings(database_url))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    with TestClient(app, raise_server_exceptions=False) as bare:
        response = bare.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text


def test_readyz_during_a_rolling_upgrade(backend: str, tmp_path: Path) -> None:
    """Old replicas stay ready on a schema a newer release migrated; an old schema is not."""
    from sqlalchemy import text

    from service.config import Settings
    from service.persistence import migrations
    from service.persistence.engine import create_db_engine

    with fresh_database(backend, tmp_path) as url:
        engine = create_db_engine(Settings(database_url=url))
        try:
            migrations.upgrade(engine, "20261126_0001")
            app = create_app(make_settings(url))
            with TestClient(app) as bare:
                assert bare.get("/readyz").status_code == 503
                migrations.upgrade(engine)
                assert bare.get("/readyz").status_code == 200
                with engine.begin() as connection:
                    connection.execute(text("UPDATE alembic_version SET version_num = 'from-2027'"))
                assert bare.get("/readyz").json()["revision"] == "from-2027"
        finally:
            engine.dispose()
