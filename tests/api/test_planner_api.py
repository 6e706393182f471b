"""The planner search over HTTP: the configurations a careful engineer would pick."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.test_models_api import assert_problem

LLAMA = {"model": "llama-7b", "tokens": 10**12, "gpu_types": ["a100-80gb"], "max_gpus": 64}


def search(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/planner/search", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_llama_7b_on_a100s(client: TestClient) -> None:
    result = search(client, **LLAMA)
    assert result["evaluated"] > 10_000
    assert result["feasible_count"] > 0
    best = result["feasible"][0]
    # Cheapest: sharded data parallelism, no model parallelism, no offload or recomputation.
    assert best["settings"]["strategy"] in {"zero-1", "zero-2", "zero-3", "fsdp-shard-grad-op"}
    assert best["settings"]["tensor_parallel"] == 1
    assert best["settings"]["pipeline_parallel"] == 1
    assert best["settings"]["offload"] == "none"
    assert best["settings"]["activation_checkpointing"] == "none"
    assert best["fits"]
    assert best["feasible"]
    assert best["per_gpu"]["total_bytes"] <= best["usable_gpu_memory_bytes"]
    costs = [item["cost_usd"] for item in result["feasible"]]
    assert costs == sorted(costs)
    ddp = next(item for item in result["per_strategy"] if item["strategy"] == "ddp")
    assert "16 bytes/parameter" in ddp["sentence"]
    assert "107.8 GB" in ddp["sentence"]
    plain_ddp = [
        item
        for item in result["feasible"]
        if item["settings"]["strategy"] == "ddp"
        and item["settings"]["tensor_parallel"] * item["settings"]["pipeline_parallel"] == 1
    ]
    assert plain_ddp == []


def test_objectives_rank_differently(client: TestClient) -> None:
    fewest = search(client, **LLAMA, objective="gpus")["feasible"][0]
    fastest = search(client, **LLAMA, objective="time")["feasible"][0]
    assert fewest["settings"]["gpus"] < fastest["settings"]["gpus"]
    assert fastest["wall_clock_days"] < fewest["wall_clock_days"]


def test_limits_filter(client: TestClient) -> None:
    quick = search(client, **LLAMA, max_days=100)
    assert all(item["wall_clock_days"] <= 100 for item in quick["feasible"])
    assert quick["infeasible_counts"]["max_days"] > 0
    nothing = search(client, **LLAMA, max_cost_usd=1000)
    assert nothing["feasible"] == []
    assert nothing["nearest_misses"]


def test_nearest_misses_say_what_would_fit(client: TestClient) -> None:
    result = search(
        client,
        model="llama2-70b",
        tokens=2 * 10**12,
        gpu_types=["a100-80gb"],
        max_gpus=8,
        offloads=["none"],
        strategies=["ddp", "zero-2"],
    )
    assert result["feasible"] == []
    needs = [line for miss in result["nearest_misses"] for line in miss["needs"]]
    assert any("GB usable" in line for line in needs)
    assert any(remedy["fits"] for miss in result["nearest_misses"] for remedy in miss["remedies"])


def test_searches_are_counted_in_metrics(client: TestClient) -> None:
    search(client, **LLAMA)
    assert "planner_search_configurations_count 1.0" in client.get("/metrics").text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**LLAMA, "gpu_types": []}, "body.gpu_types"),
        ({**LLAMA, "gpu_types": ["a100-81gb"]}, "body.gpu_types.0"),
        ({**LLAMA, "max_gpus": 0}, "body.max_gpus"),
        ({**LLAMA, "objective": "fun"}, "body.objective"),
        ({**LLAMA, "tokens": 0}, "body.tokens"),
        ({**LLAMA, "min_mfu": 2}, "body.min_mfu"),
        ({**LLAMA, "model": "nope"}, "body.model"),
    ],
)
def test_invalid_searches(client: TestClient, body: dict[str, Any], field: str) -> None:
    assert_problem(client.post("/v1/planner/search", json=body), 422, field)
