"""The Python client: against the real app in-process (its ASGI interface, lifespan started), on
SQLite and PostgreSQL in a rolled-back transaction; against a running server; and its retries."""

from __future__ import annotations

import random
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy.orm import Session

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
from service.schemas.planner import PlannerSearchResponse
from service.schemas.plans import PlanComparison, PlanRead
from service.schemas.scaling import (
    ChinchillaCheckResponse,
    ComputeOptimalResponse,
    DomainPlanResponse,
    IsoFlopResponse,
    LawRead,
    LossResponse,
    OptimalParametersResponse,
)
from tests.api.test_models_api import new_model
from tests.conftest import API_KEY, in_transaction, make_settings
from tests.test_cli import running_server

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
    return app if session is None else in_transaction(app, session)


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
    def test_get_with_etag(self, planner: PlannerClient, recorder: Recorder) -> None:
        tagged = planner.get_model_with_etag("llama-7b")
        assert isinstance(tagged, Tagged)
        assert tagged.value.slug == "llama-7b"
        assert tagged.etag == f'"v{tagged.value.version}"'
        # The ETag is for If-Match: the server revalidates its snapshot before answering.
        assert recorder.responses[-1].request.headers["cache-control"] == "no-cache"
        assert planner.get_model("llama-7b") == tagged.value
        assert "cache-control" not in recorder.responses[-1].request.headers

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

    def test_scaling_plans_and_planner_validate_before_sending(
        self, planner: PlannerClient, recorder: Recorder
    ) -> None:
        with pytest.raises(ValidationError, match="give exactly one budget"):
            planner.compute_optimal(compute_flops=1e21, gpu_hours=10)
        with pytest.raises(ValidationError, match="no_such_field"):
            planner.create_plan(name="x", model="llama-7b", no_such_field=1)
        with pytest.raises(ValidationError, match="max_gpus"):
            planner.planner_search(model="llama-7b", tokens=10**12, gpu_types=["a100-80gb"])
        with pytest.raises(ValidationError, match="at least 5"):
            planner.fit_law(id="few", runs=[{"parameters": 1e8, "tokens": 1e9, "loss": 3}])
        with pytest.raises(ValidationError, match="name"):
            planner.update_plan(PLAN_ID, {"name": None}, if_match='"v1"')
        with pytest.raises(TypeError, match="list"):
            planner.compare_plans(PLAN_ID)  # one string, not a list of ids
        assert recorder.requests == []

    def test_scaling_plans_and_planner_answer_typed_errors(self, planner: PlannerClient) -> None:
        with pytest.raises(ValidationFailed) as law:
            planner.compute_optimal(compute_flops=1e21, law="moore")
        assert law.value.errors[0]["field"] == "body.law"
        with pytest.raises(ValidationFailed) as gpu:
            planner.planner_search(
                model="llama-7b", tokens=10**12, gpu_types=["a100-80gb", "a100-81gb"], max_gpus=8
            )
        assert gpu.value.errors[0]["field"] == "body.gpu_types.1"
        with pytest.raises(ValidationFailed):
            planner.get_plan("no-such-plan")  # not a UUID
        with pytest.raises(NotFoundError):
            planner.get_plan(PLAN_ID)
        with pytest.raises(NotFoundError):
            planner.memory_chart(PLAN_ID)
        with pytest.raises(NotFoundError) as compared:
            planner.compare_plans([PLAN_ID, PLAN_ID.replace("0", "1")])
        assert compared.value.problem is not None
        assert compared.value.problem["errors"][0]["field"] == "query.ids"
        with pytest.raises(NotFoundError):
            planner.chinchilla("no-such-model")
        with pytest.raises(ConflictError):
            planner.delete_law("epoch-2024")  # built-in


def sweep() -> list[dict[str, float]]:
    """Runs of a small sweep, from L = 1.8 + 400/N^0.33 + 1500/D^0.31 with 0.2% noise."""
    rng = random.Random(7)
    return [
        {"parameters": n, "tokens": d, "loss": (1.8 + 400 / n**0.33 + 1500 / d**0.31)
         * (1 + rng.gauss(0, 0.002))}
        for n in (2e7, 6e7, 2e8, 6e8, 2e9)
        for d in (4e8, 2e9, 1e10, 5e10)
    ]  # fmt: skip


#: A well-formed plan id that no plan has.
PLAN_ID = "00000000-0000-4000-8000-000000000000"
LLAMA_PLAN = {
    "name": "LLaMA-7B on 64 A100s",
    "model": "llama-7b",
    "tokens": 10**12,
    "gpus": 64,
    "strategy": "zero-3",
}


class TestScaling:
    def test_compute_optimal(self, planner: PlannerClient, recorder: Recorder) -> None:
        optimal = planner.compute_optimal(compute_flops=5.76e23)
        assert isinstance(optimal, ComputeOptimalResponse)
        assert optimal.law.id == "chinchilla-approach1"
        assert optimal.parameters == pytest.approx(68e9, rel=0.05)  # Chinchilla's size
        assert recorder.requests[-1].url.path == "/v1/scaling/compute-optimal"
        assert optimal.model_dump_json().encode() == recorder.responses[-1].content
        hours = planner.compute_optimal({"gpu_hours": 100_000, "gpu": "h100-80gb", "mfu": 0.4})
        assert hours.compute_flops == pytest.approx(100_000 * 3600 * 989.4e12 * 0.4, rel=1e-3)

    def test_laws_loss_and_optimal_parameters(self, planner: PlannerClient) -> None:
        laws = planner.list_laws()
        assert all(isinstance(law, LawRead) for law in laws)
        assert {"chinchilla-approach1", "epoch-2024"} <= {law.id for law in laws}
        assert planner.get_law("epoch-2024").builtin
        loss = planner.predicted_loss(parameters=7e10, tokens=1.4e12, law="epoch-2024")
        assert isinstance(loss, LossResponse)
        assert 1.8 < loss.loss < 2.1
        optimal = planner.optimal_parameters(unique_tokens=1e11, compute_flops=1e23)
        assert isinstance(optimal, OptimalParametersResponse)
        assert optimal.data_constrained is not None
        assert optimal.data_constrained.epochs > 1

    def test_fit_use_and_delete_a_law(self, planner: PlannerClient, recorder: Recorder) -> None:
        law = planner.fit_law(id="my-sweep", runs=sweep())
        assert isinstance(law, LawRead)
        assert not law.builtin
        assert law.fit is not None
        assert law.fit.runs == 20
        assert planner.predicted_loss(parameters=1e9, tokens=2e10, law="my-sweep").law.id == (
            "my-sweep"
        )
        sent = len(recorder.requests)
        with pytest.raises(ConflictError):
            planner.fit_law({"id": "my-sweep", "runs": sweep()})
        assert len(recorder.requests) == sent + 1
        planner.delete_law("my-sweep")
        with pytest.raises(NotFoundError):
            planner.get_law("my-sweep")

    def test_isoflop_domain_plan_and_chinchilla(
        self, planner: PlannerClient, recorder: Recorder
    ) -> None:
        curve = planner.isoflop(1e21, points=11, law="epoch-2024")
        assert isinstance(curve, IsoFlopResponse)
        assert len(curve.points) == 11
        assert recorder.requests[-1].url.params["points"] == "11"
        domain = planner.domain_plan(
            domain_tokens=363e9, general_tokens=345e9, gpu_hours=1.3e6, gpu="a100-40gb",
            achieved_tflops_per_gpu=102, recompute_overhead=0.3333,
        )  # fmt: skip
        assert isinstance(domain, DomainPlanResponse)
        assert domain.data_limited
        check = planner.chinchilla("gpt3-175b")
        assert isinstance(check, ChinchillaCheckResponse)
        assert check.verdict.value == "under-trained"
        assert "law" not in recorder.requests[-1].url.params  # the service's default
        assert planner.chinchilla("llama-7b", "tokens-per-parameter").law.id == (
            "tokens-per-parameter"
        )
        assert recorder.requests[-1].url.params["law"] == "tokens-per-parameter"


class TestPlans:
    def test_create_get_update_recompute_compare_delete(
        self, planner: PlannerClient, recorder: Recorder
    ) -> None:
        created = planner.create_plan(**LLAMA_PLAN)
        assert isinstance(created, Tagged)
        assert isinstance(created.value, PlanRead)
        assert created.etag == '"v1"'
        plan = created.value
        assert plan.fits
        assert plan.results.recommendations[0].startswith("Fits with zero-3 on 64 x a100-80gb")
        assert plan.model_dump_json().encode() == recorder.responses[-1].content
        assert planner.get_plan(plan.id) == plan
        assert planner.get_plan_with_etag(plan.id) == created
        renamed = planner.update_plan(plan.id, {"name": "7B", "tags": ["x"]}, if_match='"v1"')
        assert (renamed.value.name, renamed.value.tags, renamed.etag) == ("7B", ["x"], '"v2"')
        assert renamed.value.results == plan.results  # the figures never change
        with pytest.raises(PreconditionFailedError):
            planner.update_plan(plan.id, {"notes": "late"}, if_match='"v1"')
        again = planner.recompute_plan(plan.id)
        assert again.value.id != plan.id
        assert again.value.recomputed_from == plan.id
        assert planner.get_plan(plan.id).recomputed_as == [again.value.id]
        comparison = planner.compare_plans([plan.id, again.value.id])
        assert isinstance(comparison, PlanComparison)
        assert [summary.id for summary in comparison.plans] == [plan.id, again.value.id]
        assert comparison.metrics["gpus"] == [64, 64]
        svg = planner.memory_chart(plan.id)
        assert svg.lstrip().startswith("<svg")
        assert "memory per GPU" in svg
        planner.delete_plan(plan.id, if_match=renamed.etag or "")
        with pytest.raises(NotFoundError):
            planner.get_plan(plan.id)

    def test_listing_follows_pages_and_filters(
        self, planner: PlannerClient, recorder: Recorder
    ) -> None:
        before = datetime.now(UTC) - timedelta(minutes=1)
        ids = {
            planner.create_plan(**{**LLAMA_PLAN, "name": f"plan {n}"}).value.id for n in range(3)
        }
        ddp = planner.create_plan(name="DDP", model="llama-7b", gpus=8, strategy="ddp").value
        assert not ddp.fits
        sent = len(recorder.requests)
        listed = list(planner.list_plans(model="llama-7b", fits=True, limit=2, sort="name"))
        assert all(isinstance(plan, PlanRead) for plan in listed)
        assert {plan.id for plan in listed} >= ids
        assert ddp.id not in {plan.id for plan in listed}
        names = [plan.name for plan in listed]
        assert names == sorted(names)
        pages = recorder.requests[sent:]
        assert len(pages) >= 2
        assert all(page.url.params["fits"] == "true" for page in pages)
        unfit = list(planner.list_plans(fits=False, created_after=before))
        assert ddp.id in {plan.id for plan in unfit}
        assert recorder.requests[-1].url.params["created_after"] == before.isoformat()


class TestPlanner:
    def test_search(self, planner: PlannerClient, recorder: Recorder) -> None:
        result = planner.planner_search(
            model="llama-7b", tokens=10**12, gpu_types=["a100-80gb"], max_gpus=64, top_k=3
        )
        assert isinstance(result, PlannerSearchResponse)
        assert 1 <= len(result.feasible) <= 3
        assert result.evaluated > result.feasible_count > 0
        costs = [candidate.cost_usd or 0 for candidate in result.feasible]
        assert costs == sorted(costs)
        assert recorder.requests[-1].url.path == "/v1/planner/search"
        assert result.model_dump_json().encode() == recorder.responses[-1].content


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
    async def test_scaling_plans_and_planner(self, app: FastAPI) -> None:
        async with async_planner(app) as planner:
            optimal = await planner.compute_optimal(compute_flops=5.76e23)
            assert isinstance(optimal, ComputeOptimalResponse)
            assert "epoch-2024" in {law.id for law in await planner.list_laws()}
            assert (await planner.get_law("kaplan-2020")).builtin
            with pytest.raises(ConflictError):  # refused before any fitting
                await planner.fit_law(id="epoch-2024", runs=sweep())
            with pytest.raises(ConflictError):
                await planner.delete_law("epoch-2024")
            loss = await planner.predicted_loss(parameters=1e9, tokens=2e10, law="epoch-2024")
            assert loss.law.id == "epoch-2024"
            assert (await planner.optimal_parameters(tokens=3.63e11)).parameters > 0
            assert len((await planner.isoflop(1e21, points=5)).points) == 5
            domain = await planner.domain_plan(
                domain_tokens=1e11, general_tokens=1e11, compute_flops=1e22
            )
            assert domain.parameters > 0
            assert (await planner.chinchilla("llama-7b")).slug == "llama-7b"
            created = await planner.create_plan(LLAMA_PLAN)
            assert created.etag == '"v1"'
            plan = created.value
            assert await planner.get_plan(plan.id) == plan
            assert plan.id in {item.id async for item in planner.list_plans(model="llama-7b")}
            tagged = await planner.get_plan_with_etag(plan.id)
            changed = await planner.update_plan(plan.id, {"notes": "n"}, if_match=tagged.etag or "")
            assert changed.value.notes == "n"
            again = await planner.recompute_plan(plan.id)
            compared = await planner.compare_plans([plan.id, again.value.id])
            assert len(compared.plans) == 2
            assert "<svg" in await planner.memory_chart(plan.id)
            with pytest.raises(PreconditionFailedError):
                await planner.delete_plan(plan.id, if_match='"v1"')
            await planner.delete_plan(plan.id, if_match=changed.etag or "")
            with pytest.raises(NotFoundError):
                await planner.get_plan(plan.id)
            search = await planner.planner_search(
                model="llama-7b", tokens=10**12, gpu_types=["a100-80gb"], max_gpus=16, top_k=2
            )
            assert isinstance(search, PlannerSearchResponse)
            assert len(search.feasible) == 2

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
            list(planner.list_plans())
        assert len(recorder.requests) == 3
        assert time.monotonic() - started < 5
        error = caught.value
        assert error.status == 503
        assert error.attempts == 3
        assert error.problem is not None
        assert error.problem["detail"] == "The database cannot be reached; retry shortly."
        assert error.request_id == error.problem["request_id"]
        assert recorder.responses[-1].headers["Retry-After"] == "5"

    def test_catalogue_reads_before_the_first_snapshot_are_retried(
        self, unreachable: FastAPI, recorder: Recorder
    ) -> None:
        with (
            PlannerClient(
                BASE,
                retries=1,
                max_backoff=0.01,
                transport=BlockingASGITransport(unreachable),
                event_hooks=recorder.hooks(),
            ) as planner,
            pytest.raises(UnavailableError) as caught,
        ):
            list(planner.list_models())
        assert caught.value.attempts == 2
        assert caught.value.problem is not None
        assert "catalogues are not loaded yet" in caught.value.problem["detail"]
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

    def test_computations_are_retried_plans_and_fits_are_not(
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
            computations: list[Callable[[], object]] = [
                lambda: planner.compute_optimal(gpu_hours=10, gpu="a100-80gb"),  # GPU looked up
                lambda: planner.planner_search(
                    model="llama-7b", tokens=10**12, gpu_types=["a100-80gb"], max_gpus=8
                ),
                lambda: planner.get_plan(PLAN_ID),
                lambda: planner.memory_chart(PLAN_ID),
                planner.list_laws,
            ]
            for computation in computations:
                sent = len(recorder.requests)
                with pytest.raises(UnavailableError) as retried:
                    computation()
                assert (len(recorder.requests) - sent, retried.value.attempts) == (2, 2)
            creates: list[Callable[[], object]] = [
                lambda: planner.create_plan(**LLAMA_PLAN),
                lambda: planner.recompute_plan(PLAN_ID),
                lambda: planner.fit_law(id="my-sweep", runs=sweep()),
                lambda: planner.update_plan(PLAN_ID, {"notes": "x"}, if_match='"v1"'),
            ]
            for create in creates:
                sent = len(recorder.requests)
                with pytest.raises(UnavailableError) as once:
                    create()
                assert (len(recorder.requests) - sent, once.value.attempts) == (1, 1)

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
                planner.create_plan(**LLAMA_PLAN)
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

    def test_a_chart_that_is_not_svg(self) -> None:
        transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"a": 1}))
        with (
            PlannerClient(BASE, transport=transport) as planner,
            pytest.raises(PlannerError, match="expected image/svg\\+xml"),
        ):
            planner.memory_chart(PLAN_ID)

    def test_plan_filters_are_query_values(self, recorder: Recorder) -> None:
        page = {"items": [], "total": 0, "limit": 100, "offset": 0}
        transport = httpx.MockTransport(lambda request: httpx.Response(200, json=page))
        after = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
        with PlannerClient(BASE, transport=transport, event_hooks=recorder.hooks()) as planner:
            assert list(planner.list_plans(fits=False, created_after=after, gpu="h100-80gb")) == []
            with pytest.raises(TypeError, match="unknown filter strategy"):
                list(planner.list_plans(strategy="ddp"))  # type: ignore[call-arg]
        params = recorder.requests[0].url.params
        assert params["fits"] == "false"
        assert params["created_after"] == "2025-01-02T03:04:05+00:00"
        assert params["gpu"] == "h100-80gb"
        assert recorder.requests[0].url.path == "/v1/plans"

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


def test_against_a_running_server(tmp_path: Path) -> None:
    from service.cli import seed_catalogues
    from service.schemas.estimates import MemoryRequest
    from service.usecases.estimates import memory_estimate

    key = "server-key-0123456789"
    with (
        running_server(tmp_path, api_keys=key) as base,
        PlannerClient(base, api_key=key) as planner,
    ):
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
