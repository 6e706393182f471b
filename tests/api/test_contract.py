"""Contract fuzzing: schemathesis drives every operation of the OpenAPI document.

Every answer must keep the contract: no 5xx (``not_a_server_error``), a status the operation
declares (``status_code_conformance``), the declared media type, problem+json for errors
(``content_type_conformance``), and a body valid against the declared schema
(``response_schema_conformance``). Three runs:

- every operation, on both backends: the schema's own examples, then 25 random requests,
  positive (valid by the schema) and negative (invalid); the SVG charts are included (their
  status and ``image/svg+xml`` are checked; they declare no body schema to check);
- every operation, on PostgreSQL only: the coverage phase's deterministic negative boundary
  cases (one past each limit, wrong types, missing required values; ~3,000 requests), which are
  refused by validation before any database, so one backend suffices, and PostgreSQL is the
  stricter one should one slip through. Its positive boundary cases are left out for time: valid
  extremes are what the random positive requests and tests/api/test_hostile_inputs.py send;
- a stateful run on both backends that follows links from a created or fetched resource to the
  operations on it (its id, and its ETag as If-Match), so updates, deletes, recomputes and
  charts succeed as well as fail.

The app is the real one (middleware, problem handlers, validation, database) on the test's
rolled-back transaction (conftest's ``client``). Generation is seeded and derandomized, with no
example database, so CI sends the same requests on every run. Writes carry the test API key, so
they get past the 401 to validation, the database and If-Match (428 and 412 are declared).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.python.asgi import ASGIClient
from sqlalchemy.orm import Session

from service.app import create_app
from tests.conftest import API_KEY, make_settings

#: The document /openapi.json serves (the same ``app.openapi()``), built without a database.
OPENAPI: dict[str, Any] = create_app(make_settings("sqlite://")).openapi()

CHECK_NAMES = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
load_all_checks()  # only not_a_server_error is registered before this
CHECKS_RUN = [check for check in CHECKS.get_all() if check.__name__ in CHECK_NAMES]

#: Fitting a law runs L-BFGS from 12 starting points (seconds of CPU per valid request), so its
#: fuzzing is capped; tests/api/test_scaling_api.py covers fits in detail.
FIT_LAW = {"include-path": "/v1/scaling/laws", "include-method": "POST"}
SLOW_FIT_EXAMPLES = 2


def _config(*phases: str, max_examples: int, mode: str = "all") -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": 20_240_601,
            "generation": {
                "mode": mode,
                "max-examples": max_examples,
                "deterministic": True,
                "database": "none",
            },
            "phases": {
                name: {"enabled": name in phases}
                for name in ("examples", "coverage", "fuzzing", "stateful")
            },
            # A valid key on every write; a missing or wrong key is covered in the API tests.
            "parameters": {"header.x-api-key": API_KEY},
            # Generous: a fit may take seconds on a busy CI machine; a hang still fails.
            "request-timeout": 60,
            "operations": [
                {**FIT_LAW, "generation": {"max-examples": SLOW_FIT_EXAMPLES}},
            ],
        }
    )


FUZZING = schemathesis.openapi.from_dict(
    OPENAPI, config=_config("examples", "fuzzing", max_examples=25)
)
BOUNDARIES = schemathesis.openapi.from_dict(
    OPENAPI, config=_config("coverage", max_examples=1, mode="negative")
)

HYPOTHESIS = settings(
    deadline=None,
    # The app and its rolled-back transaction are a function-scoped fixture on purpose: every
    # example of an operation shares them, and all is rolled back after the operation.
    suppress_health_check=list(HealthCheck),
)


def _call(case: schemathesis.Case, client: TestClient) -> None:
    # An ASGIClient that is never entered sends requests to the app without starting its
    # lifespan again: the TestClient behind ``client`` already runs it, with the overrides.
    session = ASGIClient(client.app)
    try:
        response = case.call(session=session, app=client.app)
    finally:
        session.close()
    case.validate_response(response, checks=CHECKS_RUN)


@FUZZING.parametrize()
@HYPOTHESIS
def test_operation_keeps_its_contract(case: schemathesis.Case, client: TestClient) -> None:
    _call(case, client)


@BOUNDARIES.parametrize()
@HYPOTHESIS
def test_boundary_cases_keep_the_contract(
    case: schemathesis.Case, client: TestClient, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("boundary cases run once, on PostgreSQL (the stricter backend)")
    _call(case, client)


def test_every_check_is_loaded() -> None:
    assert sorted(check.__name__ for check in CHECKS_RUN) == sorted(CHECK_NAMES)


def test_every_operation_is_fuzzed() -> None:
    labels = {
        f"{method.upper()} {path}" for path, item in OPENAPI["paths"].items() for method in item
    }
    fuzzed = {result.ok().label for result in FUZZING.get_all_operations()}
    assert fuzzed == labels


#: Links the stateful run follows: from a created (or fetched) resource to the operations on it,
#: with its id and its ETag as If-Match. FastAPI emits no OpenAPI links, so they are added here,
#: to a copy of the document. Only the catalogue and plans have resources to follow; estimates,
#: scaling and quantize are stateless, and a fitted law costs seconds per fit (fuzzed above).
LINKS = {
    ("POST /v1/models", "201"): ("/v1/models/{slug}", "slug", "slug"),
    ("GET /v1/models/{slug}", "200"): ("/v1/models/{slug}", "slug", "slug"),
    ("POST /v1/hardware", "201"): ("/v1/hardware/{slug}", "slug", "slug"),
    ("GET /v1/hardware/{slug}", "200"): ("/v1/hardware/{slug}", "slug", "slug"),
    ("POST /v1/plans", "201"): ("/v1/plans/{plan_id}", "plan_id", "id"),
    ("POST /v1/plans/{plan_id}/recompute", "201"): ("/v1/plans/{plan_id}", "plan_id", "id"),
}
STATEFUL_PATHS = ("/v1/models", "/v1/hardware", "/v1/plans")


def _with_links(document: dict[str, Any]) -> dict[str, Any]:
    linked = copy.deepcopy(document)
    linked["paths"] = paths = {
        path: item for path, item in linked["paths"].items() if path.startswith(STATEFUL_PATHS)
    }
    for (source, status), (prefix, parameter, field) in LINKS.items():
        method, path = source.split(" ")
        links: dict[str, Any] = {}
        for target_path, item in paths.items():
            if not target_path.startswith(prefix):
                continue
            for target_method, operation in item.items():
                parameters = {f"path.{parameter}": f"$response.body#/{field}"}
                if target_method in ("put", "patch", "delete"):
                    parameters["header.if-match"] = "$response.header.etag"
                links[operation["operationId"]] = {
                    "operationId": operation["operationId"],
                    "parameters": parameters,
                }
        paths[path][method.lower()]["responses"][status]["links"] = links
    return linked


STATEFUL = schemathesis.openapi.from_dict(
    _with_links(OPENAPI), config=_config("stateful", max_examples=1, mode="positive")
)


def test_linked_operations_keep_the_contract(client: TestClient, db_session: Session) -> None:
    session = ASGIClient(client.app)
    connection = db_session.connection()

    class Scenarios(STATEFUL.as_state_machine()):  # type: ignore[misc]
        # Each scenario runs in a savepoint rolled back after it, so every scenario starts from
        # the seeded catalogue (Hypothesis replays scenarios and needs them to be repeatable).
        def setup(self) -> None:
            db_session.rollback()
            self.savepoint = connection.begin_nested()

        def teardown(self) -> None:
            db_session.rollback()
            self.savepoint.rollback()
            db_session.expunge_all()

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            # The stateful phase ignores parameter overrides; the key goes in as a header.
            return {"session": session, "app": client.app, "headers": {"X-API-Key": API_KEY}}

        def validate_response(
            self, response: Any, case: schemathesis.Case, *args: Any, **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=CHECKS_RUN)

    Scenarios.run(
        settings=settings(
            HYPOTHESIS,
            max_examples=25,
            stateful_step_count=8,
            derandomize=True,
            database=None,
        )
    )
