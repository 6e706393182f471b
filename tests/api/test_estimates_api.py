"""Memory and compute estimates over HTTP, held against the course and the papers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.test_models_api import assert_problem

GB = 10**9


def memory(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/estimates/memory", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def compute(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/estimates/compute", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


class TestCourseRuleOfThumb:
    """Course notes: 1B parameters = 4 GB at fp32 to store; training with Adam needs far more."""

    @pytest.mark.parametrize(
        ("precision", "expected"),
        [("fp32", 4), ("fp16", 2), ("bf16", 2), ("int8", 1), ("int4", 0.5)],
    )
    def test_storing_1b_parameters(
        self, client: TestClient, precision: str, expected: float
    ) -> None:
        result = memory(client, parameters=10**9, precision=precision, mode="inference")
        assert result["per_gpu"]["weights_bytes"] == expected * GB
        assert result["per_gpu"]["gradients_bytes"] == 0
        assert result["per_gpu"]["optimizer_states_bytes"] == 0

    def test_training_1b_at_fp32_with_adam_needs_16_gb_of_model_states(
        self, client: TestClient
    ) -> None:
        result = memory(client, parameters=10**9, precision="fp32", optimizer="adam")
        per_gpu = result["per_gpu"]
        assert per_gpu["weights_bytes"] == 4 * GB
        assert per_gpu["gradients_bytes"] == 4 * GB
        assert per_gpu["optimizer_states_bytes"] == 8 * GB
        assert per_gpu["model_states_bytes"] == 16 * GB
        assert per_gpu["total_bytes"] > 16 * GB  # activations and overhead come on top
        assert any("decimal" in sentence for sentence in result["assumptions"])


class TestZeroPaper:
    """Rajbhandari et al. 2019, Figure 1: Psi = 7.5B, Nd = 64, K = 12."""

    @pytest.mark.parametrize(
        ("strategy", "gigabytes"),
        [("ddp", 120.0), ("zero-1", 31.4), ("zero-2", 16.6), ("zero-3", 1.88)],
    )
    def test_model_states_per_device(
        self, client: TestClient, strategy: str, gigabytes: float
    ) -> None:
        result = memory(
            client, parameters=7_500_000_000, precision="mixed-fp16", optimizer="adam",
            strategy=strategy, gpus=64,
        )  # fmt: skip
        model_states = result["per_gpu"]["model_states_bytes"] / GB
        assert model_states == pytest.approx(gigabytes, rel=0.01)

    def test_communication_volume(self, client: TestClient) -> None:
        psi = 7_500_000_000
        base = {"parameters": psi, "precision": "mixed-fp16", "gpus": 64}
        ddp = memory(client, **base, strategy="ddp")["communication_bytes_per_step"]
        zero2 = memory(client, **base, strategy="zero-2")["communication_bytes_per_step"]
        zero3 = memory(client, **base, strategy="zero-3")["communication_bytes_per_step"]
        assert ddp == zero2  # 2 Psi elements (sec. 7.2.1)
        assert zero3 == pytest.approx(1.5 * ddp, rel=1e-9)  # 3 Psi (sec. 7.2.2)


def test_llama_7b_on_a100s_ddp_does_not_fit_and_zero3_does(client: TestClient) -> None:
    base = {"model": "llama-7b", "gpus": 8, "gpu": "a100-80gb", "activation_checkpointing": "full"}
    ddp = memory(client, **base, strategy="ddp")
    assert ddp["fits"] is False
    assert ddp["per_gpu"]["model_states_bytes"] == 16 * ddp["parameters"]
    assert ddp["per_gpu"]["model_states_bytes"] > ddp["gpu_memory_bytes"]
    zero3 = memory(client, **base, strategy="zero-3")
    assert zero3["fits"] is True
    assert zero3["model"]["parameters"] == 6_738_415_616  # LlamaForCausalLM, exact
    assert zero3["model"]["published_parameters"] == 6_700_000_000


def test_hf_config_and_architecture_agree(client: TestClient) -> None:
    hf = {
        "model_type": "llama",
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "vocab_size": 32000,
        "max_position_embeddings": 2048,
    }
    from_config = memory(client, hf_config=hf)
    assert from_config["model"]["source"] == "hf_config"
    assert from_config["parameters"] == 6_738_415_616
    arch = {
        "family": "decoder-only",
        "n_layers": 32,
        "d_model": 4096,
        "n_heads": 32,
        "d_ff": 11008,
        "vocab_size": 32000,
        "context_length": 2048,
        "tied_embeddings": False,
        "gated_mlp": True,
        "position_embedding": "rotary",
        "norm": "rmsnorm",
        "bias": False,
    }
    from_shape = memory(client, architecture=arch)
    assert from_shape["parameters"] == from_config["parameters"]
    assert from_shape["per_gpu"] == from_config["per_gpu"]


def test_sharding_strategies_are_ordered(client: TestClient) -> None:
    totals = [
        memory(client, model="llama-13b", strategy=s, gpus=16)["per_gpu"]["model_states_bytes"]
        for s in ("ddp", "zero-1", "zero-2", "zero-3")
    ]
    assert totals == sorted(totals, reverse=True)
    hybrid = memory(
        client, model="llama-13b", strategy="fsdp-hybrid-shard", gpus=16, sharding_factor=8
    )
    assert hybrid["sharding_degree"] == 8


class TestCompute:
    def test_gpt3_training_compute(self, client: TestClient) -> None:
        # Brown et al. 2020, Table D.1: 3.14e23 FLOPs, 3.64e3 petaflop/s-days.
        result = compute(client, parameters=175 * 10**9, tokens=300 * 10**9, gpus=1024)
        assert result["training_flops"] == pytest.approx(3.14e23, rel=0.01)
        assert result["petaflop_s_days"] == pytest.approx(3640, rel=0.01)

    def test_llama_65b_took_21_days(self, client: TestClient) -> None:
        # Touvron et al. 2023, sec. 2.4: 380 tokens/s/GPU on 2048 A100-80GB, ~21 days for 1.4T.
        result = compute(
            client, model="llama-65b", gpus=2048, gpu="a100-80gb", tokens_per_second_per_gpu=380
        )
        assert result["tokens"] == 1_400_000_000_000
        assert result["wall_clock_days"] == pytest.approx(21, rel=0.02)
        assert result["gpu_hours"] == pytest.approx(1_022_362, rel=0.01)  # Table 15

    def test_full_recomputation_costs_a_forward_pass(self, client: TestClient) -> None:
        base = {"parameters": 10**10, "tokens": 10**11, "mfu": 0.5}
        plain = compute(client, **base)
        full = compute(client, **base, activation_checkpointing="full")
        assert full["flops_per_token"] == pytest.approx(plain["flops_per_token"] * 8 / 6)

    def test_tokens_are_required_without_a_published_count(self, client: TestClient) -> None:
        assert_problem(
            client.post("/v1/estimates/compute", json={"parameters": 10**9}), 422, "body.tokens"
        )


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("memory", {"parameters": 10**9, "gpus": 0}, "body.gpus"),
        ("memory", {"parameters": -1}, "body.parameters"),
        ("memory", {"parameters": 10**40}, "body.parameters"),
        ("memory", {"parameters": 1e40}, "body.parameters"),
        ("memory", {"model": "no-such-model"}, "body.model"),
        ("memory", {"parameters": 10**9, "gpu": "a100-81gb"}, "body.gpu"),
        ("memory", {"parameters": 10**9, "strategy": "zero-4"}, "body.strategy"),
        (
            "memory",
            {"parameters": 10**9, "strategy": "fsdp-hybrid-shard", "gpus": 8, "sharding_factor": 3},
            "body.sharding_factor",
        ),
        ("memory", {"parameters": 10**9, "gpus": 8, "tensor_parallel": 3}, "body.gpus"),
        ("memory", {"hf_config": {"model_type": "mamba"}}, "body.hf_config.model_type"),
        (
            "memory",
            {
                "hf_config": {
                    "model_type": "llama",
                    "num_attention_heads": 8,
                    "num_hidden_layers": 2,
                }
            },
            "body.hf_config.hidden_size",
        ),
        ("compute", {"parameters": 10**9, "tokens": -5}, "body.tokens"),
        ("compute", {"parameters": 10**9, "tokens": 10**9, "mfu": 1.5}, "body.mfu"),
        ("compute", {"parameters": 10**9, "tokens": 10**9, "gpus": 0}, "body.gpus"),
    ],
)
def test_bad_estimates_are_problems_naming_the_field(
    client: TestClient, path: str, body: dict[str, Any], field: str
) -> None:
    response = client.post(f"/v1/estimates/{path}", json=body)
    assert_problem(response, 422, field)


def test_model_must_be_named_exactly_once(client: TestClient) -> None:
    none = assert_problem(client.post("/v1/estimates/memory", json={}), 422)
    assert "exactly one of" in none["detail"] + json.dumps(none["errors"])
    both = client.post("/v1/estimates/memory", json={"model": "gpt2", "parameters": 5})
    assert "model, parameters" in json.dumps(assert_problem(both, 422)["errors"])


def test_nan_is_refused(client: TestClient) -> None:
    response = client.post(
        "/v1/estimates/compute",
        content=json.dumps({"parameters": 10**9, "tokens": 10**9, "mfu": float("nan")}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 422, "body.mfu")
