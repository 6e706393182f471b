"""The Python client: against the real app in-process (its ASGI interface, lifespan started), on
SQLite and PostgreSQL in a rolled-back transaction; against a running server; and its retries."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy.orm import Session

from service.api.deps import get_session
from service.app import create_app
from service.client import (
    AsyncPlannerClient,
    AuthError,
    ConflictError,
    NotFoundError,
    PlannerClient,
    PlannerError,
    PreconditionFailedError,
    Tagged,
    TransportError,
    UnavailableError,
    ValidationFailed,
)
from service.schemas.estimates import ComputeResponse, MemoryResponse
from service.schemas.models import ModelRead
from tests.api.test_models_api import new_model
from tests.conftest import API_KEY, make_settings

BASE = "http://planner.test"
UNREACHABLE_DB = "postgresql+psycopg://nobody@127.0.0.1:9/none"


class BlockingASGITransport(httpx.BaseTransport):
    """``httpx.ASGITransport`` for the blocking client: the app runs on an event loop in a
    thread, its lifespan started first and ended on close (as a server would)."""

    def __init__(self, app: FastAPI) -> None:
        self._stack = ExitStack()
        self._portal = self._stack.enter_context(anyio.from_thread.start_blocking_portal())
        self._stack.enter_context(
            self._portal.wrap_async_context_manager(app.router.lifespan_context(app))
        )
        self._asgi = httpx.ASGITransport(app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def exchange() -> tuple[int, httpx.Headers, bytes]:
            forwarded = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
            response = await self._asgi.handle_async_request(forwarded)
            return response.status_code, response.headers, await response.aread()

        status, headers, content = self._portal.call(exchange)
        return httpx.Response(status, headers=headers, content=content, request=request)

    def close(self) -> None:
        self._stack.close()


class Recorder:
    """httpx event hooks that keep every request sent and every response received."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.responses: list[httpx.Response] = []

    def request(self, request: httpx.Request) -> None:
        self.requests.append(request)

    def response(self, response: httpx.Response) -> None:
        response.read()
        self.responses.append(response)

    async def arequest(self, request: httpx.Request) -> None:
        self.requests.append(request)

    async def aresponse(self, response: httpx.Response) -> None:
        await response.aread()
        self.responses.append(response)

    def hooks(self) -> dict[str, list[Callable[..., Any]]]:
        return {"request": [self.request], "response": [self.response]}

    def async_hooks(self) -> dict[str, list[Callable[..., Any]]]:
        return {"request": [self.arequest], "response": [self.aresponse]}


def app_on(database_url: str, session: Session | None = None, **settings: object) -> FastAPI:
    """The real app; with ``session``, every request runs in the test's transaction."""
    app = create_app(make_settings(database_url, **settings))
    if session is not None:

        def session_override() -> Iterator[Session]:
            yield session

        app.dependency_overrides[get_session] = session_override
    return app


@pytest.fixture
def app(database_url: str, db_session: Session) -> FastAPI:
    return app_on(database_url, db_session)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def planner(app: FastAPI, recorder: Recorder) -> Iterator[PlannerClient]:
    transport = BlockingASGITransport(app)
    with PlannerClient(
        BASE, api_key=API_KEY, transport=transport, event_hooks=recorder.hooks()
    ) as client:
        yield client


@asynccontextmanager
async def async_planner(app: FastAPI, **options: Any) -> AsyncIterator[AsyncPlannerClient]:
    """The async client on the app's ASGI interface (``ASGITransport`` runs no lifespan: we do)."""
    options.setdefault("api_key", API_KEY)
    async with (
        app.router.lifespan_context(app),
        AsyncPlannerClient(BASE, transport=httpx.ASGITransport(app), **options) as client,
    ):
        yield client


class TestListing:
    def test_every_model_across_pages(self, planner: PlannerClient, recorder: Recorder) -> None:
        models = list(planner.list_models(limit=7))
        first = recorder.responses[0].json()
        assert len(models) == first["total"] >= 30
        assert len({model.slug for model in models}) == len(models)
        assert all(isinstance(model, ModelRead) for model in models)
        pages = [httpx.URL(str(request.url)).params for request in recorder.requests]
        assert [int(page.get("offset", 0)) for page in pages] == list(range(0, len(models), 7))
        sizes = [model.parameters for model in models]
        assert sizes == sorted(sizes)  # one deterministic order across the pages

    def test_filters_reach_every_page(self, planner: PlannerClient, recorder: Recorder) -> None:
        models = list(planner.list_models(q="llama", sort="-parameters", limit=2))
        assert len(models) >= 4
        assert all("llama" in model.slug for model in models)
        sizes = [model.parameters for model in models]
        assert sizes == sorted(sizes, reverse=True)
        assert all(request.url.params["q"] == "llama" for request in recorder.requests)

    def test_an_empty_listing(self, planner: PlannerClient) -> None:
        assert list(planner.list_models(q="no-such-model-anywhere")) == []

    def test_unknown_filters_fail_before_sending(
        self, planner: PlannerClient, recorder: Recorder
    ) -> None:
        with pytest.raises(TypeError, match="unknown filter familly"):
            list(planner.list_models(familly="decoder-only"))  # type: ignore[call-arg]
        assert recorder.requests == []

    def test_hardware(self, planner: PlannerClient) -> None:
        slugs = [gpu.slug for gpu in planner.list_hardware(limit=5)]
        assert "a100-80gb" in slugs
        assert len(slugs) == len(set(slugs)) >= 14
        assert planner.get_hardware("h100-80gb").memory_bytes == 80 * 2**30


class TestWrites:
    def test_get_with_etag(self, planner: PlannerClient) -> None:
        tagged = planner.get_model_with_etag("llama-7b")
        assert isinstance(tagged, Tagged)
        assert tagged.value.slug == "llama-7b"
        assert tagged.etag == f'"v{tagged.value.version}"'
        assert planner.get_model("llama-7b") == tagged.value

    def test_create_update_delete(self, planner: PlannerClient) -> None:
        created = planner.create_model(**new_model())
        assert created.value.origin == "api"
        assert created.etag is not None
        updated = planner.update_model("pythia-1b", {"year": 2023}, if_match=created.etag)
        assert updated.value.year == 2023
        assert updated.etag not in (None, created.etag)
        assert updated.etag is not None
        body = {k: v for k, v in new_model(name="Pythia 1B").items() if k != "slug"}
        replaced = planner.replace_model("pythia-1b", body, if_match=updated.etag)
        assert replaced.value.name == "Pythia 1B"
        assert replaced.value.year is None  # PUT replaces every field
        assert replaced.etag is not None
        planner.delete_model("pythia-1b", if_match=replaced.etag)
        with pytest.raises(NotFoundError):
            planner.get_model("pythia-1b")


class TestErrors:
    def test_404_carries_the_problem(self, planner: PlannerClient) -> None:
        with pytest.raises(NotFoundError) as caught:
            planner.get_model("no-such-model")
        error = caught.value
        assert error.status == 404
        assert error.problem is not None
        assert error.problem["status"] == 404
        assert error.problem["instance"] == "/v1/models/no-such-model"
        assert error.request_id == error.problem["request_id"]
        assert error.detail == "No model with slug 'no-such-model'."
        assert "no-such-model" in str(error)
        assert error.attempts == 1

    def test_409(self, planner: PlannerClient) -> None:
        with pytest.raises(ConflictError) as caught:
            planner.create_model(**new_model("llama-7b"))
        assert caught.value.status == 409
        assert caught.value.problem is not None
        assert caught.value.problem["errors"][0]["field"] == "body.slug"

    def test_412_and_428(self, planner: PlannerClient) -> None:
        with pytest.raises(PreconditionFailedError) as stale:
            planner.update_model("llama-7b", {"year": 2024}, if_match='"v999"')
        assert stale.value.status == 412
        with pytest.raises(PreconditionFailedError) as missing:
            planner.delete_model("llama-7b", if_match="")
        assert missing.value.status == 428

    def test_422_from_the_service(self, planner: PlannerClient) -> None:
        with pytest.raises(ValidationFailed) as caught:
            planner.estimate_memory(model="no-such-model")
        assert caught.value.status == 422
        assert caught.value.errors[0]["field"] == "body.model"
        with pytest.raises(ValidationFailed) as paging:
            list(planner.list_models(limit=1000))
        assert "query.limit" in [error["field"] for error in paging.value.errors]

    def test_invalid_requests_fail_before_sending(
        self, planner: PlannerClient, recorder: Recorder
    ) -> None:
        with pytest.raises(ValidationError, match="gpu_count"):
            planner.estimate_memory(model="llama-7b", gpu_count=8)
        with pytest.raises(ValidationError, match="greater than or equal to 1"):
            planner.estimate_compute(parameters=10**9, tokens=10**10, gpus=0)
        with pytest.raises(ValidationError):
            planner.create_model(slug="Not A Slug")
        assert recorder.requests == []

    def test_401_without_or_with_a_wrong_key(self, app: FastAPI) -> None:
        for key in (None, "wrong-key-0123456789"):
            with (
                PlannerClient(BASE, api_key=key, transport=BlockingASGITransport(app)) as anon,
                pytest.raises(AuthError) as caught,
            ):
                anon.create_model(**new_model())
            assert caught.value.status == 401
            assert caught.value.problem is not None
            assert caught.value.problem["errors"][0]["field"] == "header.X-API-Key"

    def test_the_key_is_never_shown(self, planner: PlannerClient) -> None:
        assert API_KEY not in repr(planner)
        assert "api_key=<set>" in repr(planner)
        with pytest.raises(PlannerError) as caught:
            planner.get_model("no-such-model")
        assert API_KEY not in str(caught.value)
        assert API_KEY not in repr(caught.value)

    def test_scaling_and_plans_answer_typed_errors(self, planner: PlannerClient) -> None:
        with pytest.raises(ValidationFailed):
            planner.compute_optimal(no_such_field=1)
        with pytest.raises(ValidationFailed):
            planner.create_plan(no_such_field=1)
        with pytest.raises((NotFoundError, ValidationFailed)):
            planner.get_plan("no-such-plan")


class TestScalingAndPlans:
    """Typed as dicts for now (their schemas are being settled)."""

    def test_compute_optimal(self, planner: PlannerClient) -> None:
        optimal = planner.compute_optimal(compute_flops=5.76e23)
        assert isinstance(optimal, dict)
        assert "chinchilla" in json.dumps(optimal)

    def test_create_and_get_a_plan(self, planner: PlannerClient) -> None:
        plan = planner.create_plan(
            name="LLaMA-7B on 64 A100s", model="llama-7b", tokens=10**12, gpus=64,
            strategy="zero-3",
        )  # fmt: skip
        assert planner.get_plan(plan["id"]) == plan


class TestEstimates:
    def test_memory_round_trips_into_the_schema(
        self, planner: PlannerClient, recorder: Recorder
    ) -> None:
        result = planner.estimate_memory(model="llama-7b", strategy="zero-3", gpus=8)
        assert isinstance(result, MemoryResponse)
        assert result.zero_stage == 3
        assert result.fits
        assert result.model.slug == "llama-7b"
        assert recorder.requests[-1].url.path == "/v1/estimates/memory"
        assert result == MemoryResponse.model_validate_json(recorder.responses[-1].content)
        assert result.model_dump_json().encode() == recorder.responses[-1].content

    def test_compute(self, planner: PlannerClient) -> None:
        result = planner.estimate_compute(
            model="llama-65b", gpus=2048, tokens_per_second_per_gpu=380
        )
        assert isinstance(result, ComputeResponse)
        assert result.tokens == 1_400_000_000_000
        assert result.wall_clock_days == pytest.approx(20.8, rel=0.01)

    def test_numerics_and_health(self, planner: PlannerClient) -> None:
        assert "bf16" in [dtype.name for dtype in planner.dtypes()]
        quantized = planner.quantize(values=[0.5, -1.0, 2.0], target="int8")
        assert quantized.bits == 8
        assert planner.health()["status"] == "ok"
        assert planner.ready()["status"] == "ready"


@pytest.mark.anyio
class TestAsync:
    async def test_pages_etag_and_writes(self, app: FastAPI) -> None:
        async with async_planner(app) as planner:
            models = [model async for model in planner.list_models(limit=8)]
            assert len(models) >= 30
            assert len({model.slug for model in models}) == len(models)
            tagged = await planner.get_model_with_etag("gpt2")
            assert tagged.etag == f'"v{tagged.value.version}"'
            created = await planner.create_model(new_model())
            assert created.etag is not None
            updated = await planner.update_model("pythia-1b", {"year": 2023}, if_match=created.etag)
            assert updated.value.year == 2023
            assert updated.etag is not None
            await planner.delete_model("pythia-1b", if_match=updated.etag)
            with pytest.raises(NotFoundError):
                await planner.get_model("pythia-1b")

    async def test_typed_errors(self, app: FastAPI) -> None:
        async with async_planner(app) as planner:
            with pytest.raises(ConflictError):
                await planner.create_model(new_model("llama-7b"))
            with pytest.raises(PreconditionFailedError) as stale:
                await planner.delete_model("llama-7b", if_match='"v999"')
            assert stale.value.status == 412
            with pytest.raises(ValidationFailed) as invalid:
                await planner.estimate_compute(parameters=10**9)  # no token count
            assert invalid.value.errors[0]["field"] == "body.tokens"
        async with async_planner(app, api_key=None) as anonymous:
            with pytest.raises(AuthError):
                await anonymous.create_model(new_model())

    async def test_estimates_and_hardware(self, app: FastAPI) -> None:
        async with async_planner(app) as planner:
            memory = await planner.estimate_memory(
                parameters=7_500_000_000, precision="mixed-fp16", strategy="zero-3", gpus=64
            )
            assert memory.per_gpu.model_states_bytes / 1e9 == pytest.approx(1.88, rel=0.01)
            compute = await planner.estimate_compute(model="llama-65b", gpus=2048, mfu=0.5)
            assert compute.mfu == 0.5
            assert [gpu.slug async for gpu in planner.list_hardware(vendor="NVIDIA")]
            assert (await planner.get_hardware("a100-80gb")).slug == "a100-80gb"
            assert (await planner.dtypes())[0].name
            assert (await planner.quantize(values=[1.0], target="fp16")).bits == 16
            assert (await planner.health())["status"] == "ok"


class TestRetries:
    """The real app with its database unreachable answers 503 (with ``Retry-After: 5``)."""

    @pytest.fixture
    def unreachable(self) -> FastAPI:
        return app_on(UNREACHABLE_DB, db_connect_timeout_s=1)

    def test_reads_are_retried_then_raise_unavailable(
        self, unreachable: FastAPI, recorder: Recorder
    ) -> None:
        started = time.monotonic()
        with (
            PlannerClient(
                BASE,
                retries=2,
                max_backoff=0.01,  # caps the server's Retry-After: 5
                transport=BlockingASGITransport(unreachable),
                event_hooks=recorder.hooks(),
            ) as planner,
            pytest.raises(UnavailableError) as caught,
        ):
            list(planner.list_models())
        assert len(recorder.requests) == 3
        assert time.monotonic() - started < 5
        error = caught.value
        assert error.status == 503
        assert error.attempts == 3
        assert error.problem is not None
        assert error.problem["detail"] == "The database cannot be reached; retry shortly."
        assert error.request_id == error.problem["request_id"]
        assert recorder.responses[-1].headers["Retry-After"] == "5"

    def test_estimates_are_retried_creates_are_not(
        self, unreachable: FastAPI, recorder: Recorder
    ) -> None:
        with PlannerClient(
            BASE,
            api_key=API_KEY,
            retries=1,
            max_backoff=0,
            transport=BlockingASGITransport(unreachable),
            event_hooks=recorder.hooks(),
        ) as planner:
            with pytest.raises(UnavailableError):
                planner.estimate_memory(parameters=10**9)  # the GPU is looked up
            assert len(recorder.requests) == 2
            with pytest.raises(UnavailableError) as caught:
                planner.create_model(**new_model())
            assert len(recorder.requests) == 3
            assert caught.value.attempts == 1
            with pytest.raises(UnavailableError):
                planner.update_model("llama-7b", {"year": 2023}, if_match='"v1"')
            assert len(recorder.requests) == 4  # PATCH is sent once too

    @pytest.mark.anyio
    async def test_async(self, unreachable: FastAPI, recorder: Recorder) -> None:
        async with async_planner(
            unreachable, retries=3, max_backoff=0, event_hooks=recorder.async_hooks()
        ) as planner:
            with pytest.raises(UnavailableError) as caught:
                await planner.get_model("llama-7b")
        assert len(recorder.requests) == 4
        assert caught.value.attempts == 4
        assert caught.value.problem is not None

    def test_connection_errors(self, recorder: Recorder) -> None:
        closed = f"http://127.0.0.1:{free_port()}"
        with PlannerClient(closed, retries=2, backoff=0, event_hooks=recorder.hooks()) as planner:
            with pytest.raises(TransportError) as caught:
                planner.health()
            assert caught.value.status is None
            assert caught.value.attempts == 3
            assert "ConnectError" in str(caught.value)
            with pytest.raises(TransportError):
                planner.create_plan(budget=1)
        assert len(recorder.requests) == 4  # the create was tried once

    def test_backoff_and_retry_after(self, monkeypatch: pytest.MonkeyPatch) -> None:
        waits: list[float] = []
        monkeypatch.setattr("service.client.time.sleep", waits.append)
        answers = iter(
            [
                httpx.Response(503, headers={"Retry-After": "3"}),
                httpx.Response(503, headers={"Retry-After": "120"}),
                httpx.Response(503),
                httpx.Response(503),
                httpx.Response(200, json={"status": "ok", "version": "x"}),
            ]
        )
        transport = httpx.MockTransport(lambda request: next(answers))
        with PlannerClient(
            BASE, retries=4, backoff=0.5, max_backoff=30, transport=transport
        ) as planner:
            assert planner.health() == {"status": "ok", "version": "x"}
        assert waits[:2] == [3.0, 30.0]  # the server's wish, capped
        assert 0.5 * 0.5 * 4 <= waits[2] <= 0.5 * 4  # backoff * 2**attempt, jittered
        assert 0.5 * 0.5 * 8 <= waits[3] <= 0.5 * 8

    def test_a_non_problem_error_body(self) -> None:
        transport = httpx.MockTransport(lambda request: httpx.Response(502, text="bad gateway"))
        with (
            PlannerClient(BASE, transport=transport) as planner,
            pytest.raises(PlannerError) as caught,
        ):
            planner.health()
        assert type(caught.value) is PlannerError
        assert caught.value.status == 502
        assert caught.value.problem is None

    def test_slugs_cannot_leave_their_path(self, recorder: Recorder) -> None:
        transport = httpx.MockTransport(lambda request: httpx.Response(404))
        with (
            PlannerClient(BASE, transport=transport, event_hooks=recorder.hooks()) as planner,
            pytest.raises(NotFoundError),
        ):
            planner.get_model("../hardware/a100-80gb")
        assert recorder.requests[0].url.raw_path == b"/v1/models/..%2Fhardware%2Fa100-80gb"

    def test_base_url_is_checked(self) -> None:
        with pytest.raises(ValueError, match="http"):
            PlannerClient("ftp://example.org")


# --- a running server ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_server(tmp_path: Path, api_key: str) -> Iterator[str]:
    """``python -m service serve`` on a free port with a fresh SQLite file; yields its URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANNER_")}
    env["PLANNER_DATABASE_URL"] = f"sqlite:///{(tmp_path / 'server.sqlite3').as_posix()}"
    env["PLANNER_API_KEYS"] = api_key
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "server exited early"
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
        assert api_key not in output


def test_against_a_running_server(tmp_path: Path) -> None:
    from service.cli import seed_catalogues
    from service.schemas.estimates import MemoryRequest
    from service.usecases.estimates import memory_estimate

    key = "server-key-0123456789"
    with running_server(tmp_path, key) as base, PlannerClient(base, api_key=key) as planner:
        assert planner.ready()["status"] == "ready"
        models = list(planner.list_models(limit=9))
        assert len(models) >= 30
        tagged = planner.get_model_with_etag("llama-7b")
        assert tagged.etag == '"v1"'
        created = planner.create_model(**new_model())
        assert created.etag is not None
        changed = planner.update_model("pythia-1b", {"year": 2023}, if_match=created.etag)
        assert changed.etag is not None
        with pytest.raises(PreconditionFailedError):
            planner.delete_model("pythia-1b", if_match=created.etag)
        planner.delete_model("pythia-1b", if_match=changed.etag)
        with pytest.raises(NotFoundError):
            planner.get_model("pythia-1b")
        request = {"model": "llama-7b", "strategy": "zero-3", "gpus": 8}
        # The server and the local core (the command line's) give the same answer.
        local = memory_estimate(seed_catalogues(), MemoryRequest.model_validate(request))
        assert planner.estimate_memory(**request) == local
        with PlannerClient(base, api_key="wrong-key-0123456789") as stranger:
            with pytest.raises(AuthError) as caught:
                stranger.create_model(**new_model())
            assert "wrong-key" not in str(caught.value)


def test_the_client_needs_no_server_code() -> None:
    """``service.client`` imports the schemas and httpx only: no web framework, no database."""
    probe = (
        "import sys, service.client\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('fastapi', 'starlette',"
        " 'sqlalchemy', 'uvicorn') or n.startswith(('service.api', 'service.persistence',"
        " 'service.usecases'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout
