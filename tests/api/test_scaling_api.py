"""Scaling laws over HTTP, held against Hoffmann et al. 2022, Kaplan et al. 2020 and the course."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.test_models_api import assert_problem


def post(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/v1/scaling/{path}", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_laws_are_listed_with_citations_and_constants(client: TestClient) -> None:
    laws = {law["id"]: law for law in client.get("/v1/scaling/laws").json()}
    expected = {
        "chinchilla-approach1", "chinchilla-approach2", "chinchilla-approach3",
        "chinchilla-approach3-unrounded", "epoch-2024", "kaplan-2020", "tokens-per-parameter",
    }  # fmt: skip
    assert expected <= set(laws)
    approach3 = laws["chinchilla-approach3"]
    assert approach3["constants"] == {
        "E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28
    }  # fmt: skip
    assert "Hoffmann" in approach3["citation"]
    assert laws["tokens-per-parameter"]["constants"]["ratio"] == 20
    assert "compute-optimal" in laws["chinchilla-approach1"]["default_for"]
    for law in laws.values():
        assert law["citation"]
        assert law["constants"]
        assert law["builtin"] is True
    assert client.get("/v1/scaling/laws/epoch-2024").json()["id"] == "epoch-2024"
    assert_problem(client.get("/v1/scaling/laws/nope"), 404)


@pytest.mark.parametrize(
    ("compute_flops", "parameters", "tokens"),
    [  # Hoffmann et al. 2022, Table 3 (Approach 1), rows as printed.
        (1.92e19, 400e6, 8.0e9),
        (1.21e20, 1e9, 20.2e9),
        (1.23e22, 10e9, 205.1e9),
        (3.85e24, 175e9, 3.7e12),
        (1.27e26, 1e12, 21.2e12),
    ],
)
def test_table3_projections(
    client: TestClient, compute_flops: float, parameters: float, tokens: float
) -> None:
    result = post(client, "compute-optimal", {"compute_flops": compute_flops})
    assert result["law"]["id"] == "chinchilla-approach1"
    assert result["parameters"] == pytest.approx(parameters, rel=0.01)
    assert result["tokens"] == pytest.approx(tokens, rel=0.015)
    assert result["predicted_loss"] is None  # Approach 1 predicts no loss
    assert result["assumptions"]


def test_budget_forms_agree(client: TestClient) -> None:
    flops = post(client, "compute-optimal", {"compute_flops": 8.64e22})
    pf_days = post(client, "compute-optimal", {"petaflop_s_days": 1000})
    assert pf_days["compute_flops"] == pytest.approx(flops["compute_flops"])
    # 100,000 A100 GPU-hours at 50% of 312 TFLOP/s = 5.616e22 FLOPs.
    hours = post(client, "compute-optimal", {"gpu_hours": 100_000, "gpu": "a100-80gb", "mfu": 0.5})
    assert hours["compute_flops"] == pytest.approx(1e5 * 3600 * 312e12 * 0.5)
    dollars = post(
        client,
        "compute-optimal",
        {"budget_usd": 512_000, "gpu": "a100-80gb", "mfu": 0.5, "price_per_gpu_hour": 5.12},
    )
    assert dollars["compute_flops"] == pytest.approx(hours["compute_flops"])


def test_predicted_losses_of_chinchilla_and_gopher(client: TestClient) -> None:
    # Approach 3 as printed (Hoffmann et al. 2022, eq. 4 with appendix D.2 constants).
    chinchilla = post(
        client, "loss", {"parameters": 70e9, "tokens": 1.4e12, "law": "chinchilla-approach3"}
    )
    gopher = post(
        client, "loss", {"parameters": 280e9, "tokens": 300e9, "law": "chinchilla-approach3"}
    )
    assert chinchilla["loss"] == pytest.approx(1.937, abs=0.002)
    assert gopher["loss"] == pytest.approx(1.993, abs=0.002)
    assert chinchilla["loss"] < gopher["loss"]
    assert sum(chinchilla["terms"].values()) == pytest.approx(chinchilla["loss"])


def test_course_claims_about_catalogue_models(client: TestClient) -> None:
    verdicts = {
        slug: client.get(f"/v1/models/{slug}/chinchilla").json()
        for slug in ("gpt3-175b", "opt-175b", "bloom-176b", "llama-65b", "chinchilla-70b")
    }
    for slug in ("gpt3-175b", "opt-175b", "bloom-176b"):
        assert verdicts[slug]["verdict"] == "under-trained", slug
    for slug in ("llama-65b", "chinchilla-70b"):
        assert verdicts[slug]["verdict"] == "near-optimal", slug
    gpt3 = verdicts["gpt3-175b"]
    assert gpt3["tokens_per_parameter"] == pytest.approx(300 / 175, rel=1e-6)
    assert gpt3["training_flops"] == pytest.approx(6 * 175e9 * 300e9)
    assert gpt3["compute_optimal"]["parameters"] < 175e9
    assert gpt3["band"]["low"] == 0.5
    assert "near-optimal" in gpt3["band"]["rule"]
    assert gpt3["optimal_predicted_loss"] < gpt3["predicted_loss"]


def test_verdict_filter_on_the_catalogue(client: TestClient) -> None:
    page = client.get("/v1/models", params={"verdict": "under-trained", "limit": 100}).json()
    slugs = {item["slug"] for item in page["items"]}
    assert {"gpt3-175b", "opt-175b", "bloom-176b"} <= slugs
    assert "llama-65b" not in slugs
    assert page["total"] == len(slugs)
    near = client.get("/v1/models", params={"verdict": "near-optimal", "limit": 2}).json()
    assert len(near["items"]) == 2
    assert near["total"] >= 2


def test_optimal_parameters_and_repeated_data(client: TestClient) -> None:
    one_pass = post(client, "optimal-parameters", {"tokens": 1.4e12})
    assert one_pass["parameters"] == pytest.approx(70e9, rel=0.05)
    assert one_pass["compute_flops"] == pytest.approx(6 * one_pass["parameters"] * 1.4e12)
    repeated = post(
        client,
        "optimal-parameters",
        {"unique_tokens": 1e11, "compute_flops": 1e23, "law": "epoch-2024"},
    )
    plan = repeated["data_constrained"]
    assert plan["epochs"] > 1
    assert plan["effective_tokens"] < plan["tokens"]  # repeated tokens are worth less
    assert plan["r_star_d"] == pytest.approx(15.4, rel=0.01)  # Muennighoff et al. 2023


def test_isoflop_curve_and_chart(client: TestClient) -> None:
    curve = client.get("/v1/scaling/isoflop", params={"compute_flops": 1e21}).json()
    losses = [point["loss"] for point in curve["points"]]
    assert curve["minimum"]["loss"] == min(losses)
    assert curve["law_optimum"]["loss"] <= curve["minimum"]["loss"] + 1e-9
    for point in curve["points"]:
        assert 6 * point["parameters"] * point["tokens"] == pytest.approx(1e21)
    chart = client.get(
        "/v1/scaling/isoflop.svg", params=[("compute_flops", 1e19), ("compute_flops", 1e21)]
    )
    assert chart.status_code == 200
    assert chart.headers["content-type"] == "image/svg+xml"
    assert chart.text.lstrip().startswith("<svg")
    assert "1e+21" in chart.text


def test_bloomberggpt_domain_plan(client: TestClient) -> None:
    """Wu et al. 2023, sec. 3: 1.3M A100-40GB hours, 363B FinPile + 345B public tokens -> 50.6B."""
    plan = post(
        client,
        "domain-plan",
        {
            "domain_tokens": 363e9,
            "general_tokens": 345e9,
            "gpu_hours": 1.3e6,
            "gpu": "a100-40gb",
            "achieved_tflops_per_gpu": 102,
            "recompute_overhead": 1 / 3,
            "law": "chinchilla-approach2",
        },
    )
    assert plan["parameters"] == pytest.approx(50.6e9, rel=0.02)
    assert plan["tokens"] == pytest.approx(708e9, rel=0.01)
    assert plan["domain_fraction"] == pytest.approx(0.5127, abs=0.001)
    assert plan["data_limited"] is True
    assert {alt["name"] for alt in plan["alternatives"]}
    assert any("1.3e+06" in s or "1,300,000" in s for s in plan["assumptions"])


def _runs(rng: random.Random) -> list[dict[str, float]]:
    e, a, b, alpha, beta = 1.8, 400.0, 1500.0, 0.33, 0.31
    runs = []
    for n in (2e7, 6e7, 2e8, 6e8, 2e9):
        for d in (4e8, 2e9, 1e10, 5e10):
            loss = e + a / n**alpha + b / d**beta
            runs.append({"parameters": n, "tokens": d, "loss": loss * (1 + rng.gauss(0, 0.002))})
    return runs


def test_fit_store_and_use_your_own_law(client: TestClient, auth: dict[str, str]) -> None:
    body = {"id": "my-sweep", "runs": _runs(random.Random(7))}
    assert_problem(client.post("/v1/scaling/laws", json=body), 401)
    created = client.post("/v1/scaling/laws", json=body, headers=auth)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/v1/scaling/laws/my-sweep"
    law = created.json()
    assert law["builtin"] is False
    assert law["fit"]["runs"] == 20
    assert law["constants"]["alpha"] == pytest.approx(0.33, abs=0.03)
    assert law["constants"]["beta"] == pytest.approx(0.31, abs=0.03)
    assert law["constants"]["E"] == pytest.approx(1.8, abs=0.1)
    loss = post(client, "loss", {"parameters": 1e9, "tokens": 2e10, "law": "my-sweep"})
    assert loss["law"]["id"] == "my-sweep"
    assert loss["loss"] == pytest.approx(1.8 + 400 / 1e9**0.33 + 1500 / 2e10**0.31, rel=0.01)
    optimum = post(client, "compute-optimal", {"compute_flops": 1e21, "law": "my-sweep"})
    assert optimum["predicted_loss"] is not None
    assert "my-sweep" in {item["id"] for item in client.get("/v1/scaling/laws").json()}
    assert_problem(client.post("/v1/scaling/laws", json=body, headers=auth), 409, "body.id")
    builtin = {**body, "id": "epoch-2024"}
    assert_problem(client.post("/v1/scaling/laws", json=builtin, headers=auth), 409)
    assert client.get("/v1/models/chinchilla-70b/chinchilla", params={"law": "my-sweep"}).is_success
    assert client.delete("/v1/scaling/laws/my-sweep", headers=auth).status_code == 204
    assert_problem(client.delete("/v1/scaling/laws/epoch-2024", headers=auth), 409)
    # Gone from every answer at once (the catalogue snapshot follows the write).
    gone = {"parameters": 1e9, "tokens": 2e10, "law": "my-sweep"}
    assert_problem(client.post("/v1/scaling/loss", json=gone), 422, "body.law")
    listing = client.get("/v1/models", params={"verdict": "under-trained", "law": "my-sweep"})
    assert_problem(listing, 422, "query.law")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("compute-optimal", {"compute_flops": 0}, "body.compute_flops"),
        ("compute-optimal", {"compute_flops": -1e20}, "body.compute_flops"),
        ("compute-optimal", {"compute_flops": 1e21, "law": "moore"}, "body.law"),
        ("compute-optimal", {"gpu_hours": 10, "gpu": "a100-81gb"}, "body.gpu"),
        ("compute-optimal", {"budget_usd": 100, "gpu": "mi250x-128gb"}, "body.price_per_gpu_hour"),
        ("loss", {"parameters": 1e9, "tokens": 0.5}, "body.tokens"),
        ("loss", {"parameters": 1e9, "tokens": 1e9, "law": "chinchilla-approach1"}, "body.law"),
        ("optimal-parameters", {"tokens": 1e9, "unique_tokens": 1e9}, "body"),
        ("domain-plan", {"domain_tokens": 1e9, "general_tokens": -1, "compute_flops": 1e20}, None),
        ("laws", {"id": "few", "runs": [{"parameters": 1e8, "tokens": 1e9, "loss": 3}]}, None),
    ],
)
def test_nonsense_is_a_clear_problem(
    client: TestClient,
    auth: dict[str, str],
    path: str,
    body: dict[str, Any],
    field: str | None,
) -> None:
    response = client.post(f"/v1/scaling/{path}", json=body, headers=auth)
    problem = assert_problem(response, 422)
    if field is not None:
        fields = [error["field"] for error in problem["errors"]]
        assert any(f == field or f.startswith(f"{field}.") for f in fields), fields


def test_two_budgets_are_refused(client: TestClient) -> None:
    response = client.post(
        "/v1/scaling/compute-optimal", json={"compute_flops": 1e21, "petaflop_s_days": 3}
    )
    assert "exactly one budget" in json.dumps(assert_problem(response, 422))


def test_isoflop_query_errors(client: TestClient) -> None:
    assert_problem(
        client.get("/v1/scaling/isoflop", params={"compute_flops": 0}), 422, "query.compute_flops"
    )
    assert_problem(
        client.get("/v1/scaling/isoflop", params={"compute_flops": 1e21, "law": "x"}),
        422,
        "query.law",
    )
    assert_problem(client.get("/v1/models/gpt2/chinchilla"), 422, "path.slug")
