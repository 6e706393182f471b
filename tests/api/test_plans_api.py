"""Training plans over HTTP: computed once, stored intact, readable, comparable and chartable."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.test_models_api import assert_problem

LLAMA_DDP = {
    "name": "LLaMA-7B, DDP on 8 A100s",
    "model": "llama-7b",
    "gpu": "a100-80gb",
    "gpus": 8,
    "strategy": "ddp",
    "tags": ["llama"],
}


def create(client: TestClient, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/v1/plans", json=body, headers=auth)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/v1/plans/{response.json()['id']}"
    plan: dict[str, Any] = response.json()
    return plan


def test_plan_explains_why_ddp_does_not_fit(client: TestClient, auth: dict[str, str]) -> None:
    plan = create(client, auth, **LLAMA_DDP)
    assert plan["fits"] is False
    results = plan["results"]
    assert results["tokens"] == 1_000_000_000_000
    assert results["tokens_source"].startswith("the catalogue's published count")
    first = results["recommendations"][0]
    assert first.startswith("Does not fit with ddp on 8 x a100-80gb")
    assert "16 bytes per parameter" in first
    assert any(
        "ZeRO-3 over 16 GPUs" in line or "ZeRO-" in line for line in results["recommendations"]
    )
    assert any("Over-trained by" in line for line in results["recommendations"])
    assert results["compute"]["training_flops"] == pytest.approx(6 * 6_738_415_616 * 1e12)
    assert results["chinchilla"]["verdict"] == "over-trained"
    assert plan["estimator_version"].startswith("0.1.0+")


def test_plan_round_trips_every_figure(client: TestClient, auth: dict[str, str]) -> None:
    created = create(
        client,
        auth,
        name="1B compute-optimal",
        parameters=1_000_000_000,
        tokens="compute-optimal",
        gpu="h100-80gb",
        gpus=8,
        strategy="zero-2",
        mfu=0.45,
        notes="first try",
    )
    fetched = client.get(f"/v1/plans/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.headers["etag"] == '"v1"'
    assert fetched.json() == created
    results = created["results"]
    assert results["tokens"] == pytest.approx(20.2e9, rel=0.01)  # Hoffmann et al. Table 3, 1B
    assert results["chinchilla"]["verdict"] == "near-optimal"
    assert results["compute"]["mfu"] == pytest.approx(0.45)
    assert created["inputs"]["tokens"] == "compute-optimal"


def test_deleting_the_model_leaves_plans_intact(client: TestClient, auth: dict[str, str]) -> None:
    plan = create(client, auth, **{**LLAMA_DDP, "model": "llama-13b"})
    tag = client.get("/v1/models/llama-13b").headers["etag"]
    client.delete("/v1/models/llama-13b", headers={**auth, "If-Match": tag})
    assert client.get(f"/v1/plans/{plan['id']}").json() == plan
    recompute = client.post(f"/v1/plans/{plan['id']}/recompute", headers=auth)
    body = assert_problem(recompute, 409, "body.model")
    assert "no longer" in body["detail"]


def test_recompute_links_old_and_new(client: TestClient, auth: dict[str, str]) -> None:
    old = create(client, auth, **LLAMA_DDP)
    response = client.post(f"/v1/plans/{old['id']}/recompute", headers=auth)
    assert response.status_code == 201
    new = response.json()
    assert new["id"] != old["id"]
    assert new["recomputed_from"] == old["id"]
    assert new["results"] == old["results"]  # same formulas today
    assert client.get(f"/v1/plans/{old['id']}").json()["recomputed_as"] == [new["id"]]


def test_list_filters_and_pages(client: TestClient, auth: dict[str, str]) -> None:
    create(client, auth, **LLAMA_DDP)
    create(client, auth, **{**LLAMA_DDP, "name": "zero3", "strategy": "zero-3"})
    create(client, auth, **{**LLAMA_DDP, "name": "h100", "gpu": "h100-80gb", "strategy": "zero-3"})
    fitting = client.get("/v1/plans", params={"fits": True}).json()
    assert {item["name"] for item in fitting["items"]} == {"zero3", "h100"}
    h100 = client.get("/v1/plans", params={"gpu": "h100-80gb"}).json()
    assert [item["name"] for item in h100["items"]] == ["h100"]
    by_model = client.get("/v1/plans", params={"model": "llama-7b", "limit": 2, "sort": "name"})
    assert by_model.json()["total"] == 3
    assert [item["name"] for item in by_model.json()["items"]] == [
        "LLaMA-7B, DDP on 8 A100s",
        "h100",
    ]
    assert 'rel="next"' in by_model.headers["link"]
    future = client.get("/v1/plans", params={"created_after": "2999-01-01T00:00:00Z"}).json()
    assert future["total"] == 0


def test_patch_only_touches_name_notes_tags(client: TestClient, auth: dict[str, str]) -> None:
    plan = create(client, auth, **LLAMA_DDP)
    url = f"/v1/plans/{plan['id']}"
    assert_problem(client.patch(url, json={"notes": "x"}, headers=auth), 428)
    patched = client.patch(
        url, json={"notes": "x", "tags": ["a"]}, headers={**auth, "If-Match": '"v1"'}
    )
    assert patched.status_code == 200
    assert patched.json()["results"] == plan["results"]
    assert patched.json()["notes"] == "x"
    assert_problem(
        client.patch(url, json={"gpus": 16}, headers={**auth, "If-Match": '"v2"'}), 422, "body.gpus"
    )
    assert_problem(client.patch(url, json={"name": "y"}, headers={**auth, "If-Match": '"v1"'}), 412)
    assert client.delete(url, headers={**auth, "If-Match": '"v2"'}).status_code == 204
    assert_problem(client.get(url), 404, "path.plan_id")


def test_compare_side_by_side(client: TestClient, auth: dict[str, str]) -> None:
    a = create(client, auth, **LLAMA_DDP)
    b = create(client, auth, **{**LLAMA_DDP, "name": "zero3", "strategy": "zero-3"})
    comparison = client.get("/v1/plans/compare", params={"ids": f"{a['id']},{b['id']}"}).json()
    assert [plan["id"] for plan in comparison["plans"]] == [a["id"], b["id"]]
    assert comparison["metrics"]["fits"] == [False, True]
    assert comparison["metrics"]["strategy"] == ["ddp", "zero-3"]
    missing = "00000000-0000-4000-8000-000000000000"
    assert_problem(
        client.get("/v1/plans/compare", params={"ids": f"{a['id']},{missing}"}), 404, "query.ids"
    )
    assert_problem(client.get("/v1/plans/compare", params={"ids": a["id"]}), 422, "query.ids")


def test_memory_chart(client: TestClient, auth: dict[str, str]) -> None:
    plan = create(client, auth, **LLAMA_DDP)
    chart = client.get(f"/v1/plans/{plan['id']}/memory.svg")
    assert chart.status_code == 200
    assert chart.headers["content-type"] == "image/svg+xml"
    assert "does not fit" in chart.text
    assert "optimizer states" in chart.text


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({**LLAMA_DDP, "gpus": 0}, 422, "body.gpus"),
        ({**LLAMA_DDP, "model": "nope"}, 422, "body.model"),
        ({**LLAMA_DDP, "tokens": -1}, 422, "body.tokens"),
        ({**LLAMA_DDP, "tokens": "lots"}, 422, "body.tokens"),
        ({**LLAMA_DDP, "law": "unknown"}, 422, "body.law"),
        ({**LLAMA_DDP, "name": ""}, 422, "body.name"),
        (
            {k: v for k, v in LLAMA_DDP.items() if k != "model"} | {"parameters": 10**9},
            422,
            "body.tokens",
        ),
    ],
)
def test_invalid_plans(
    client: TestClient, auth: dict[str, str], body: dict[str, Any], status: int, field: str
) -> None:
    problem = assert_problem(client.post("/v1/plans", json=body, headers=auth), status)
    fields = [error["field"] for error in problem["errors"]]
    assert any(f == field or f.startswith(f"{field}.") for f in fields), fields
    assert client.get("/v1/plans").json()["total"] == 0


def test_plans_need_a_key_and_valid_ids(client: TestClient) -> None:
    assert_problem(client.post("/v1/plans", json=LLAMA_DDP), 401)
    assert_problem(client.get("/v1/plans/not-a-uuid"), 422, "path.plan_id")
