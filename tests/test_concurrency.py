"""Concurrency: many clients racing for the same entry, over real HTTP.

Every test runs on three deployments: the app in this process on SQLite and on PostgreSQL
(served by uvicorn on a loopback socket, its own engine and a session per request, as in
production), and two ``python -m service serve`` processes sharing one PostgreSQL database, the
way the service scales out, with the clients alternating between them.

The guarantees: with ``If-Match``, exactly one of the clients updating the same catalogue entry
or plan wins each round and the others get 412, and nothing is lost (each round starts from the
last winner's value); concurrent creates of one slug give one 201 and 409s; concurrent creates of
distinct slugs all land. The clients send ``Cache-Control: no-cache``, as a client about to write
with ``If-Match`` should: a replica then revalidates its catalogue snapshot before answering.
Without it, a replica answers from its snapshot, at most ``PLANNER_CATALOGUE_REFRESH_S`` old
(the last test).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from service.app import create_app
from service.config import Settings
from service.persistence.engine import create_db_engine
from service.usecases.migrate import migrate_and_seed
from tests.conftest import API_KEY, fresh_database, make_settings
from tests.test_faults import migrate, running_service, service_env

CLIENTS = 8
ROUNDS = 4
AUTH = {"X-API-Key": API_KEY}
FRESH = {"Cache-Control": "no-cache"}
PROBLEM = "application/problem+json"
DEPLOYMENTS = ["sqlite", "postgresql", "postgresql-2-processes"]


@contextlib.contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a loopback socket from a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive(), "uvicorn stopped while starting"
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@contextlib.contextmanager
def in_process(backend: str, tmp_path: Path) -> Iterator[list[str]]:
    with fresh_database(backend, tmp_path) as url:
        engine = create_db_engine(Settings(database_url=url))
        try:
            migrate_and_seed(engine)
        finally:
            engine.dispose()
        with serve_in_thread(create_app(make_settings(url))) as base:
            yield [base]


@contextlib.contextmanager
def two_processes(tmp_path: Path) -> Iterator[list[str]]:
    with fresh_database("postgresql", tmp_path) as url, contextlib.ExitStack() as stack:
        env = service_env(url)
        migrate(env)  # once, before the replicas, as docker-compose does
        services = [
            stack.enter_context(running_service(env, tmp_path / f"service-{name}.log"))
            for name in ("a", "b")
        ]
        yield [service.url for service in services]


@pytest.fixture(scope="module", params=DEPLOYMENTS)
def bases(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[str]]:
    """The base URLs of one deployment; client ``i`` talks to ``bases[i % len(bases)]``."""
    deployment = str(request.param)
    tmp_path = tmp_path_factory.mktemp(deployment)
    if deployment == "postgresql-2-processes":
        with two_processes(tmp_path) as urls:
            yield urls
    else:
        with in_process(deployment, tmp_path) as urls:
            yield urls


# --- running clients in lock-step -----------------------------------------------------------


def run_clients(
    bases: list[str], work: Callable[[int, httpx.Client, threading.Barrier], None]
) -> None:
    """Run ``work(i, client, barrier)`` in ``CLIENTS`` threads; re-raise the first failure."""
    barrier = threading.Barrier(CLIENTS, timeout=60)
    failures: list[BaseException] = []

    def target(index: int) -> None:
        base = bases[index % len(bases)]
        try:
            with httpx.Client(base_url=base, timeout=30, headers=FRESH) as client:
                work(index, client, barrier)
        except BaseException as error:  # reported by the main thread
            failures.append(error)
            barrier.abort()

    threads = [threading.Thread(target=target, args=(index,)) for index in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a client hung"
    real = [error for error in failures if not isinstance(error, threading.BrokenBarrierError)]
    if real or failures:
        raise (real or failures)[0]


@dataclass(frozen=True)
class Outcome:
    status: int
    value: str
    etag: str | None
    content_type: str


def assert_refused(outcome: Outcome, status: int) -> None:
    assert outcome.status == status, outcome
    assert outcome.content_type == PROBLEM, outcome


def race_updates(bases: list[str], path: str, field: str) -> None:
    """``ROUNDS`` rounds: every client reads the ETag, then all PATCH with ``If-Match`` at once."""
    with httpx.Client(base_url=bases[0], timeout=30, headers=FRESH) as client:
        start = client.get(path)
    assert start.status_code == 200, start.text
    initial = int(start.headers["etag"].strip('"v'))
    seen: dict[tuple[int, int], tuple[str, Any]] = {}
    outcomes: dict[tuple[int, int], Outcome] = {}

    def work(index: int, client: httpx.Client, barrier: threading.Barrier) -> None:
        for round_ in range(ROUNDS):
            current = client.get(path)
            assert current.status_code == 200, current.text
            seen[round_, index] = (current.headers["etag"], current.json()[field])
            barrier.wait()
            value = f"round {round_} client {index}"
            response = client.patch(
                path, json={field: value}, headers={**AUTH, "If-Match": current.headers["etag"]}
            )
            outcomes[round_, index] = Outcome(
                response.status_code,
                value,
                response.headers.get("etag"),
                response.headers["content-type"],
            )
            barrier.wait()

    run_clients(bases, work)

    previous: Any = start.json()[field]
    for round_ in range(ROUNDS):
        version = initial + round_
        views = {seen[round_, index] for index in range(CLIENTS)}
        assert views == {(f'"v{version}"', previous)}, f"round {round_}: {views}"
        results = [outcomes[round_, index] for index in range(CLIENTS)]
        winners = [result for result in results if result.status == 200]
        assert len(winners) == 1, f"round {round_}: {sorted(r.status for r in results)}"
        for result in results:
            if result.status != 200:
                assert_refused(result, 412)
        assert winners[0].etag == f'"v{version + 1}"'
        previous = winners[0].value
    with httpx.Client(base_url=bases[-1], timeout=30, headers=FRESH) as client:
        final = client.get(path)
    assert final.headers["etag"] == f'"v{initial + ROUNDS}"'
    assert final.json()[field] == previous, "the last winner's update was lost"


def new_model(slug: str) -> dict[str, Any]:
    return {
        "slug": slug,
        "name": slug,
        "family": "decoder-only",
        "objective": "causal-lm",
        "parameters": 1_000_000_000,
    }


# --- the tests -------------------------------------------------------------------------------


def test_one_update_of_a_model_wins_each_round(bases: list[str]) -> None:
    with httpx.Client(base_url=bases[0], timeout=30, headers=FRESH) as client:
        created = client.post("/v1/models", json=new_model("race-model"), headers=AUTH)
    assert created.status_code == 201, created.text
    race_updates(bases, "/v1/models/race-model", "name")


def test_one_update_of_a_seeded_hardware_entry_wins_each_round(bases: list[str]) -> None:
    race_updates(bases, "/v1/hardware/a100-80gb", "notes")


def test_one_update_of_a_plan_wins_each_round(bases: list[str]) -> None:
    body = {
        "name": "race",
        "parameters": 1_000_000_000,
        "tokens": 20_000_000_000,
        "gpus": 8,
        "strategy": "zero-3",
    }
    with httpx.Client(base_url=bases[0], timeout=30, headers=FRESH) as client:
        created = client.post("/v1/plans", json=body, headers=AUTH)
    assert created.status_code == 201, created.text
    race_updates(bases, f"/v1/plans/{created.json()['id']}", "notes")


def test_concurrent_creates_of_one_slug_give_one_201(bases: list[str]) -> None:
    slugs = [f"contested-{round_}" for round_ in range(ROUNDS)]
    outcomes: dict[tuple[int, int], Outcome] = {}

    def work(index: int, client: httpx.Client, barrier: threading.Barrier) -> None:
        for round_, slug in enumerate(slugs):
            barrier.wait()
            body = {**new_model(slug), "name": f"client {index}"}
            response = client.post("/v1/models", json=body, headers=AUTH)
            outcomes[round_, index] = Outcome(
                response.status_code,
                body["name"],
                response.headers.get("etag"),
                response.headers["content-type"],
            )

    run_clients(bases, work)

    with httpx.Client(base_url=bases[-1], timeout=30, headers=FRESH) as client:
        for round_, slug in enumerate(slugs):
            results = [outcomes[round_, index] for index in range(CLIENTS)]
            winners = [result for result in results if result.status == 201]
            assert len(winners) == 1, f"{slug}: {sorted(r.status for r in results)}"
            for result in results:
                if result.status != 201:
                    assert_refused(result, 409)
            stored = client.get(f"/v1/models/{slug}")
            assert stored.status_code == 200
            assert stored.json()["name"] == winners[0].value
            assert stored.headers["etag"] == '"v1"'


def test_concurrent_creates_of_distinct_entries_all_land(bases: list[str]) -> None:
    per_client = 3
    created: list[str] = []
    plans: list[str] = []

    def work(index: int, client: httpx.Client, barrier: threading.Barrier) -> None:
        barrier.wait()
        for item in range(per_client):
            slug = f"distinct-{index}-{item}"
            response = client.post("/v1/models", json=new_model(slug), headers=AUTH)
            assert response.status_code == 201, response.text
            created.append(slug)
            plan = client.post(
                "/v1/plans",
                json={"name": slug, "model": slug, "tokens": 10**10, "gpus": 1},
                headers=AUTH,
            )
            assert plan.status_code == 201, plan.text
            plans.append(plan.json()["id"])

    run_clients(bases, work)
    assert len(created) == len(plans) == CLIENTS * per_client
    with httpx.Client(base_url=bases[-1], timeout=30, headers=FRESH) as client:
        for slug in created:
            assert client.get(f"/v1/models/{slug}").status_code == 200
        for plan_id in plans:
            assert client.get(f"/v1/plans/{plan_id}").status_code == 200
        listed = client.get("/v1/models", params={"q": "distinct-", "limit": 100}).json()
        assert listed["total"] == CLIENTS * per_client


def test_other_replicas_see_a_write_at_once_when_revalidating_and_soon_otherwise(
    bases: list[str],
) -> None:
    writer, reader = bases[0], bases[-1]
    with httpx.Client(base_url=writer, timeout=30) as client:
        for slug in ("seen-revalidating", "seen-eventually"):
            assert client.post("/v1/models", json=new_model(slug), headers=AUTH).status_code == 201
    with httpx.Client(base_url=reader, timeout=30) as client:
        fresh = client.get("/v1/models/seen-revalidating", headers=FRESH)
        assert fresh.status_code == 200, fresh.text
        # Without revalidation the reader's snapshot catches up within its refresh interval
        # (1 s by default); allow for a loaded machine.
        deadline = time.monotonic() + 10
        while (current := client.get("/v1/models/seen-eventually")).status_code == 404:
            assert time.monotonic() < deadline, "the other replica never saw the write"
            time.sleep(0.05)
        assert current.status_code == 200, current.text
