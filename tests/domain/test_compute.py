"""Compute, time, cost and energy against published training runs, plus properties and errors."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.architecture import Architecture
from service.domain.compute import (
    DEFAULT_MFU,
    DEFAULT_PUE,
    MAX_GPUS,
    PETAFLOP_S_DAY,
    ComputeConfig,
    ComputeEstimate,
    dense_peak_tflops,
    estimate_compute,
    petaflop_s_day_equivalents,
)
from service.domain.errors import InvalidInputError
from service.domain.hardware import GpuSpec
from service.domain.types import Checkpointing, Family, Precision

GIB = 2**30

# Dense peaks from the NVIDIA datasheets (V100 SXM2: 125 TFLOP/s tensor fp16; A100: 312 bf16/fp16,
# 624 with 2:4 sparsity; H100 SXM: 989.4 bf16, 1978.9 fp8) and TPU v4's 275 bf16 (PaLM sec. 4).
V100 = GpuSpec("v100-sxm2-32gb", "V100", 32 * GIB, {"fp32": 15.7, "fp16": 125.0}, power_watts=300)
A100_40 = GpuSpec(
    "a100-sxm4-40gb",
    "A100 40GB",
    40 * GIB,
    {"fp32": 19.5, "tf32": 156.0, "fp16": 312.0, "bf16": 312.0, "int8": 624.0},
    {"tf32": 312.0, "fp16": 624.0, "bf16": 624.0, "int8": 1248.0},
    power_watts=400,
)
A100_80 = dataclasses.replace(
    A100_40, slug="a100-sxm4-80gb", name="A100 80GB", memory_bytes=80 * GIB, price_per_hour_usd=2.0
)
H100 = GpuSpec(
    "h100-sxm",
    "H100 SXM",
    80 * GIB,
    {"fp32": 67.0, "tf32": 494.7, "fp16": 989.4, "bf16": 989.4, "fp8": 1978.9},
    power_watts=700,
    price_per_hour_usd=4.0,
)
TPU_V4 = GpuSpec("tpu-v4", "TPU v4", 32 * GIB, {"bf16": 275.0})
SLOW = GpuSpec("abacus", "Abacus", GIB, {"bf16": 1e-300})


def decoder(n_layers: int, d_model: int, n_heads: int, context: int, **kw: Any) -> Architecture:
    return Architecture(
        family=Family.DECODER_ONLY,
        n_layers=n_layers,
        d_model=d_model,
        n_heads=n_heads,
        d_ff=4 * d_model,
        vocab_size=50_000,
        context_length=context,
        **kw,
    )


def estimate(**kw: Any) -> ComputeEstimate:
    kw.setdefault("gpu", A100_80)
    return estimate_compute(ComputeConfig(**kw))


# ------------------------------------------------------------------------ published training runs


def test_gpt3_training_compute() -> None:
    # Brown et al. 2020, Table D.1: GPT-3 175B, 300B tokens: 3.14e23 FLOPs = 3.64e3 PF/s-days.
    result = estimate(parameters=175e9, tokens=300e9)
    assert result.training_flops == pytest.approx(3.14e23, rel=0.005)
    assert result.petaflop_s_days == pytest.approx(3.64e3, rel=0.005)
    assert result.training_flops == result.model_flops
    assert PETAFLOP_S_DAY == 8.64e19


def test_chinchilla_training_compute() -> None:
    # Hoffmann et al. 2022: Chinchilla 70B on 1.4T tokens. 6ND gives 5.88e23; the paper's budget,
    # Gopher's, is 5.76e23 counted with its own FLOP count (App. F), 2% lower.
    result = estimate(parameters=70e9, tokens=1.4e12)
    assert result.training_flops == pytest.approx(5.88e23, rel=1e-12)
    assert result.training_flops == pytest.approx(5.76e23, rel=0.021)


def test_llama_65b_takes_about_21_days() -> None:
    # Touvron et al. 2023, sec. 2.4: 380 tokens/s/GPU on 2048 A100-80GB, 1.4T tokens, ~21 days.
    result = estimate(parameters=65.2e9, tokens=1.4e12, gpus=2048, tokens_per_second_per_gpu=380.0)
    assert result.wall_clock_days == pytest.approx(21.0, abs=0.5)
    assert result.tokens_per_second == pytest.approx(380.0 * 2048)
    assert result.tokens_per_second_per_gpu == pytest.approx(380.0)
    # That throughput is about 47.6% MFU on the 312 TFLOP/s bf16 peak.
    assert result.mfu == pytest.approx(6 * 65.2e9 * 380 / 312e12, rel=1e-9)
    assert result.gpu_hours == pytest.approx(1.4e12 / 380.0 / 3600.0, rel=1e-9)
    assert result.cost_usd == pytest.approx(result.gpu_hours * 2.0)


BLOOMBERG = decoder(70, 7680, 40, 2048)


def test_bloomberggpt_compute_and_time() -> None:
    # Wu et al. 2023 (BloombergGPT), sec. 3 and Table 4: 50.6B parameters, 569B tokens, 64 x 8
    # A100 40GB, activation checkpointing, 102 TFLOP/s average, 2.36e23 FLOPs, 139,200 steps at
    # 32.5 s (52.4 days; "~53 days"). Full recomputation plus Kaplan's attention term reproduces
    # the FLOPs within 0.5%.
    result = estimate(
        gpu=A100_40,
        parameters=50.6e9,
        tokens=569e9,
        gpus=512,
        achieved_tflops_per_gpu=102.0,
        activation_checkpointing=Checkpointing.FULL,
        architecture=BLOOMBERG,
        include_attention_flops=True,
    )
    assert result.training_flops == pytest.approx(2.36e23, rel=0.005)
    assert result.wall_clock_days == pytest.approx(139_200 * 32.5 / 86_400, abs=1.0)
    assert result.achieved_tflops_per_gpu == pytest.approx(102.0)
    # ~0.64M GPU-hours were used: about half the 1.3M A100 GPU-hour budget the paper sized for.
    assert result.gpu_hours == pytest.approx(512 * 139_200 * 32.5 / 3600, rel=0.01)
    assert result.gpu_hours < 1.3e6
    assert result.hfu == pytest.approx(102.0 / 312.0)
    assert result.mfu < result.hfu
    assert result.cost_usd is None
    assert result.energy_kwh == pytest.approx(result.gpu_hours * 400 * DEFAULT_PUE / 1000)


def test_bloomberggpt_without_attention_is_8nd() -> None:
    result = estimate(
        gpu=A100_40,
        parameters=50.6e9,
        tokens=569e9,
        gpus=512,
        achieved_tflops_per_gpu=102.0,
        activation_checkpointing=Checkpointing.FULL,
    )
    assert result.training_flops == pytest.approx(8 * 50.6e9 * 569e9, rel=1e-12)
    assert result.model_flops == pytest.approx(6 * 50.6e9 * 569e9, rel=1e-12)


@pytest.mark.parametrize(
    ("parameters", "tokens", "gpus", "tflops", "days"),
    [
        (175e9, 300e9, 1024, 140.0, 34.0),  # GPT-3 175B
        (1e12, 450e9, 3072, 163.0, 84.0),  # 1T-parameter model
    ],
)
def test_megatron_end_to_end_training_time(
    parameters: float, tokens: float, gpus: int, tflops: float, days: float
) -> None:
    # Narayanan et al. 2021, sec. 5.1: time ~ 8TP/(nX), with the two worked examples of the paper.
    result = estimate(
        parameters=parameters,
        tokens=tokens,
        gpus=gpus,
        achieved_tflops_per_gpu=tflops,
        activation_checkpointing=Checkpointing.FULL,
    )
    assert result.wall_clock_days == pytest.approx(days, abs=1.0)


def test_megatron_turing_nlg_mfu() -> None:
    # Chowdhery et al. 2022 (PaLM), sec. 4.1: MT-NLG 530B on 2240 A100 at 65.43K tokens/s has
    # MFU 29.7% without self-attention FLOPs.
    result = estimate(
        gpu=A100_80, parameters=530e9, tokens=270e9, gpus=2240,
        tokens_per_second_per_gpu=65.43e3 / 2240,
    )  # fmt: skip
    assert result.mfu == pytest.approx(0.297, abs=0.001)


def test_palm_540b_mfu() -> None:
    # Chowdhery et al. 2022, Table 3: PaLM 540B, 6144 TPU v4, 238.3K tokens/s, MFU 46.2%. PaLM
    # counts attention as 12 L H Q T per token (twice Kaplan's term), which gives 46.2% exactly;
    # with Kaplan's term the same run is 46.0%.
    palm = decoder(118, 18432, 48, 2048, head_dim=256, n_kv_heads=1, gated_mlp=True)
    result = estimate(
        gpu=TPU_V4,
        parameters=540.35e9,
        tokens=780e9,
        gpus=6144,
        tokens_per_second_per_gpu=238.3e3 / 6144,
        architecture=palm,
        include_attention_flops=True,
    )
    assert result.mfu == pytest.approx(0.462, abs=0.003)
    palm_count = 6 * 540.35e9 + 12 * 118 * 48 * 256 * 2048
    assert palm_count * 238.3e3 / (6144 * 275e12) == pytest.approx(0.462, abs=0.0005)


# ---------------------------------------------------------------------- petaflop/s-day equivalents


def test_course_claim_v100() -> None:
    result = petaflop_s_day_equivalents(V100)
    assert result.gpus_per_petaflop_s == 8.0
    assert result.dense_peak_tflops == 125.0
    assert result.sparse_peak_tflops is None
    assert result.gpus_per_petaflop_s_sparse is None
    assert result.precision == "fp16"
    assert result.gpu == "v100-sxm2-32gb"
    assert "8 x V100" in result.statement


def test_course_claim_a100_only_holds_with_sparsity() -> None:
    result = petaflop_s_day_equivalents(A100_40)
    assert result.gpus_per_petaflop_s == pytest.approx(3.2, abs=0.01)
    assert result.sparse_peak_tflops == 624.0
    assert result.gpus_per_petaflop_s_sparse == pytest.approx(1.6, abs=0.01)
    assert "structured-sparsity" in result.statement


def test_petaflop_equivalents_at_partial_efficiency() -> None:
    result = petaflop_s_day_equivalents(H100, Precision.BF16, mfu=0.5)
    assert result.gpus_per_petaflop_s == pytest.approx(1000 / (989.4 * 0.5))
    assert result.mfu == 0.5
    assert "50%" in result.statement


def test_petaflop_equivalents_ignore_unusable_sparse_peaks() -> None:
    odd = dataclasses.replace(V100, sparse_peak_tflops={"fp16": math.nan})
    assert petaflop_s_day_equivalents(odd).sparse_peak_tflops is None


@pytest.mark.parametrize(
    ("gpu", "precision", "mfu", "field"),
    [
        (TPU_V4, Precision.FP16, 1.0, "precision"),
        (V100, Precision.FP16, 0.0, "mfu"),
        (V100, Precision.FP16, 1.5, "mfu"),
    ],
)
def test_petaflop_equivalents_errors(
    gpu: GpuSpec, precision: Precision, mfu: float, field: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        petaflop_s_day_equivalents(gpu, precision, mfu)
    assert info.value.field == field


# ----------------------------------------------------------------------------- FLOPs per token


def test_attention_term_follows_kaplan_table_1() -> None:
    arch = decoder(24, 1024, 16, 2048)
    plain = estimate(parameters=350e6, tokens=1e9, architecture=arch)
    with_attention = estimate(
        parameters=350e6, tokens=1e9, architecture=arch, include_attention_flops=True
    )
    assert plain.flops_per_token == 6 * 350e6
    assert with_attention.flops_per_token == pytest.approx(6 * 350e6 + 6 * 24 * 2048 * 1024)
    assert any(
        "Kaplan et al. 2020, Table 1), n_layer = 24" in a for a in with_attention.assumptions
    )


def test_attention_width_uses_heads_times_head_dim() -> None:
    # T5-11B style: 128 heads of 128 = 16384 attention width on a 1024-wide model.
    arch = decoder(2, 1024, 128, 512, head_dim=128)
    result = estimate(parameters=1e9, tokens=1e6, architecture=arch, include_attention_flops=True)
    assert result.flops_per_token == pytest.approx(6e9 + 6 * 2 * 512 * 128 * 128)


def test_attention_requested_without_architecture_is_not_counted() -> None:
    result = estimate(parameters=1e9, tokens=1e9, include_attention_flops=True)
    assert result.flops_per_token == 6e9
    assert any("no architecture was given" in a for a in result.assumptions)


def test_encoder_decoder_counts_half_the_parameters_per_token() -> None:
    t5 = Architecture(
        family=Family.ENCODER_DECODER,
        n_layers=48,
        n_encoder_layers=24,
        n_decoder_layers=24,
        d_model=1024,
        n_heads=16,
        d_ff=4096,
        vocab_size=32_128,
        context_length=512,
    )
    result = estimate(parameters=770e6, tokens=1e9, architecture=t5)
    assert result.flops_per_token == pytest.approx(3 * 770e6)
    assert any("Raffel et al. 2020" in a for a in result.assumptions)
    with_attention = estimate(
        parameters=770e6, tokens=1e9, architecture=t5, include_attention_flops=True
    )
    # Half the tokens in the encoder (24 self-attention layers), half in the decoder (24 self-
    # and 24 cross-attention layers): (24 + 48) / 2 = 36 attention layers per token on average.
    assert with_attention.flops_per_token == pytest.approx(3 * 770e6 + 6 * 36 * 512 * 1024)


def test_encoder_only_counts_all_parameters() -> None:
    bert = dataclasses.replace(decoder(24, 1024, 16, 512), family=Family.ENCODER_ONLY)
    result = estimate(parameters=340e6, tokens=1e9, architecture=bert)
    assert result.flops_per_token == 6 * 340e6
    assert any(a.startswith("encoder-only model") for a in result.assumptions)


def test_mixture_of_experts_uses_active_parameters() -> None:
    result = estimate(parameters=46.7e9, active_parameters=12.9e9, tokens=1e12)
    assert result.flops_per_token == pytest.approx(6 * 12.9e9)
    assert any("Mixture of experts" in a for a in result.assumptions)


def test_experts_without_active_parameters_are_flagged() -> None:
    moe = decoder(32, 4096, 32, 4096, n_experts=8, experts_per_token=2)
    result = estimate(parameters=46.7e9, tokens=1e12, architecture=moe)
    assert result.flops_per_token == pytest.approx(6 * 46.7e9)
    assert any("overstates" in a for a in result.assumptions)


# ------------------------------------------------------------------------------- recomputation


def test_full_recomputation_is_8n_but_mfu_counts_6n() -> None:
    none = estimate(parameters=7e9, tokens=1e12, gpus=64, mfu=0.5)
    full = estimate(
        parameters=7e9, tokens=1e12, gpus=64, mfu=0.5, activation_checkpointing=Checkpointing.FULL
    )
    assert full.flops_per_token == 8 * 7e9
    assert full.model_flops_per_token == 6 * 7e9
    assert full.training_flops == pytest.approx(none.training_flops * 4 / 3)
    # MFU (Chowdhery et al. 2022) counts model FLOPs only: the same MFU means the same time, and
    # hardware utilisation is 4/3 higher.
    assert full.wall_clock_days == pytest.approx(none.wall_clock_days)
    assert full.mfu == pytest.approx(0.5)
    assert full.hfu == pytest.approx(0.5 * 4 / 3)
    assert full.petaflop_s_days == pytest.approx(full.training_flops / 8.64e19)


def test_full_recomputation_at_fixed_achieved_tflops_takes_longer() -> None:
    kw: dict[str, Any] = {"parameters": 7e9, "tokens": 1e12, "achieved_tflops_per_gpu": 150.0}
    none = estimate(**kw)
    full = estimate(activation_checkpointing=Checkpointing.FULL, **kw)
    assert full.wall_clock_days == pytest.approx(none.wall_clock_days * 4 / 3)
    assert full.mfu == pytest.approx(none.mfu * 3 / 4)


def test_selective_recomputation_adds_one_attention_forward() -> None:
    arch = decoder(32, 4096, 32, 4096)
    kw: dict[str, Any] = {"parameters": 6.7e9, "tokens": 1e9, "architecture": arch}
    attention_forward = 2 * 32 * 4096 * 4096
    selective = estimate(
        include_attention_flops=True, activation_checkpointing=Checkpointing.SELECTIVE, **kw
    )
    assert selective.model_flops_per_token == pytest.approx(6 * 6.7e9 + 3 * attention_forward)
    assert selective.flops_per_token == pytest.approx(6 * 6.7e9 + 4 * attention_forward)
    full = estimate(include_attention_flops=True, activation_checkpointing=Checkpointing.FULL, **kw)
    assert full.flops_per_token == pytest.approx(8 * 6.7e9 + 4 * attention_forward)
    uncounted = estimate(activation_checkpointing=Checkpointing.SELECTIVE, **kw)
    assert uncounted.flops_per_token == 6 * 6.7e9
    assert any("adds none" in a for a in uncounted.assumptions)


def test_mfu_too_high_for_full_recomputation() -> None:
    with pytest.raises(InvalidInputError) as info:
        estimate(parameters=1e9, tokens=1e9, mfu=0.8, activation_checkpointing=Checkpointing.FULL)
    assert info.value.field == "mfu"
    assert "100%" in info.value.message


# --------------------------------------------------------------------------------- throughputs


def test_default_mfu_is_stated() -> None:
    result = estimate(parameters=1e9, tokens=20e9, gpus=8)
    assert result.mfu == pytest.approx(DEFAULT_MFU)
    assert any("MFU 40% assumed" in a for a in result.assumptions)
    seconds = 6 * 1e9 * 20e9 / (DEFAULT_MFU * 312e12 * 8)
    assert result.wall_clock_days == pytest.approx(seconds / 86_400)
    assert result.gpu_hours == pytest.approx(seconds * 8 / 3600)


def test_given_mfu() -> None:
    result = estimate(parameters=1e9, tokens=20e9, gpus=8, mfu=0.25)
    assert result.mfu == pytest.approx(0.25)
    assert result.achieved_tflops_per_gpu == pytest.approx(0.25 * 312)
    assert any(a.startswith("MFU 0.25") for a in result.assumptions)


def test_achieved_above_peak_is_rejected() -> None:
    with pytest.raises(InvalidInputError) as info:
        estimate(parameters=1e9, tokens=1e9, achieved_tflops_per_gpu=400.0)
    assert info.value.field == "achieved_tflops_per_gpu"


def test_impossible_token_throughput_is_rejected() -> None:
    # 70B parameters at 10,000 tokens/s/GPU would need 4.2 PFLOP/s per A100.
    with pytest.raises(InvalidInputError) as info:
        estimate(parameters=70e9, tokens=1e9, tokens_per_second_per_gpu=10_000.0)
    assert info.value.field == "tokens_per_second_per_gpu"


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"mfu": 0.4, "achieved_tflops_per_gpu": 100.0}, "achieved_tflops_per_gpu"),
        ({"mfu": 0.4, "tokens_per_second_per_gpu": 100.0}, "tokens_per_second_per_gpu"),
        (
            {"mfu": 0.4, "achieved_tflops_per_gpu": 1.0, "tokens_per_second_per_gpu": 1.0},
            "achieved_tflops_per_gpu",
        ),
    ],
)
def test_more_than_one_throughput_is_rejected(given: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        ComputeConfig(parameters=1e9, tokens=1e9, gpu=A100_80, **given)
    assert info.value.field == field
    assert "only one" in info.value.message


# ---------------------------------------------------------------------------------- precision


@pytest.mark.parametrize(
    ("precision", "key", "peak"),
    [
        (Precision.FP32, "fp32", 67.0),
        (Precision.FP16, "fp16", 989.4),
        (Precision.MIXED_FP16, "fp16", 989.4),
        (Precision.BF16, "bf16", 989.4),
        (Precision.MIXED_BF16, "bf16", 989.4),
        (Precision.FP8, "fp8", 1978.9),
    ],
)
def test_precision_selects_dense_peak(precision: Precision, key: str, peak: float) -> None:
    result = estimate(gpu=H100, parameters=1e9, tokens=1e9, precision=precision)
    assert result.peak_precision == key
    assert result.peak_tflops_per_gpu == peak
    assert dense_peak_tflops(H100, precision) == (key, peak)
    assert any("TF32" in a for a in result.assumptions) == (precision is Precision.FP32)


def test_precision_given_as_string_is_accepted() -> None:
    config = ComputeConfig(parameters=1e9, tokens=1e9, gpu=H100, precision="fp8")  # type: ignore[arg-type]
    assert config.precision is Precision.FP8


def test_default_precision_is_bf16_or_fp16() -> None:
    assert estimate(parameters=1e9, tokens=1e9).peak_precision == "bf16"
    v100 = estimate(gpu=V100, parameters=1e9, tokens=1e9)
    assert v100.peak_precision == "fp16"
    assert any("has no bf16 peak" in a for a in v100.assumptions)


@pytest.mark.parametrize(
    ("gpu", "precision", "message"),
    [
        (A100_80, Precision.FP8, "A100 80GB has no fp8 peak"),
        (V100, Precision.BF16, "V100 has no bf16 peak"),
        (A100_80, Precision.INT8, "storage format"),
        (A100_80, Precision.INT4, "storage format"),
        (A100_80, "fp64", "unknown precision"),
    ],
)
def test_unsupported_precision(gpu: GpuSpec, precision: Any, message: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        ComputeConfig(parameters=1e9, tokens=1e9, gpu=gpu, precision=precision)
    assert info.value.field == "precision"
    assert message in info.value.message


def test_a_zero_or_nan_peak_counts_as_missing() -> None:
    broken = dataclasses.replace(V100, peak_tflops={"fp16": 0.0, "bf16": math.nan})
    for precision in (Precision.FP16, Precision.BF16):
        with pytest.raises(InvalidInputError):
            dense_peak_tflops(broken, precision)


# ------------------------------------------------------------------------------ cost and energy


def test_catalogue_price_and_energy() -> None:
    result = estimate(gpu=H100, parameters=7e9, tokens=1e12, gpus=256, mfu=0.4)
    assert result.cost_usd == pytest.approx(result.gpu_hours * 4.0)
    assert result.energy_kwh == pytest.approx(result.gpu_hours * 700 * 1.1 / 1000)
    assert any("catalogue price of $4" in a for a in result.assumptions)
    assert any("Patterson et al. 2021" in a for a in result.assumptions)


def test_given_price_and_pue_override_the_defaults() -> None:
    result = estimate(
        gpu=H100, parameters=7e9, tokens=1e12, gpus=256, price_per_gpu_hour=2.5, pue=1.5
    )
    assert result.cost_usd == pytest.approx(result.gpu_hours * 2.5)
    assert result.energy_kwh == pytest.approx(result.gpu_hours * 700 * 1.5 / 1000)
    assert any("given price of $2.5" in a for a in result.assumptions)
    assert not any("Patterson" in a for a in result.assumptions)


def test_free_gpus_cost_nothing() -> None:
    assert estimate(parameters=1e9, tokens=1e9, price_per_gpu_hour=0.0).cost_usd == 0.0


def test_unknown_price_and_power_give_none() -> None:
    result = estimate(gpu=TPU_V4, parameters=1e9, tokens=1e9)
    assert result.cost_usd is None
    assert result.energy_kwh is None
    assert any("No price known" in a for a in result.assumptions)
    assert any("No power figure" in a for a in result.assumptions)


def test_energy_example() -> None:
    # 1,000 GPUs x 400 W x 24 h x PUE 1.1 = 10,560 kWh per day.
    result = estimate(
        parameters=1e9, tokens=1e9, gpus=1000, tokens_per_second_per_gpu=1e9 / 1000 / 86_400
    )
    assert result.wall_clock_days == pytest.approx(1.0)
    assert result.energy_kwh == pytest.approx(10_560.0)


# ------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"gpus": 0}, "gpus"),
        ({"gpus": -8}, "gpus"),
        ({"gpus": MAX_GPUS + 1}, "gpus"),
        ({"gpus": 8.0}, "gpus"),
        ({"gpus": True}, "gpus"),
        ({"tokens": -1e9}, "tokens"),
        ({"tokens": 0}, "tokens"),
        ({"tokens": 0.5}, "tokens"),
        ({"tokens": math.nan}, "tokens"),
        ({"tokens": 1e18}, "tokens"),
        ({"parameters": math.inf}, "parameters"),
        ({"parameters": "7B"}, "parameters"),
        ({"parameters": True}, "parameters"),
        ({"parameters": 1e16}, "parameters"),
        ({"active_parameters": 2e9}, "active_parameters"),
        ({"active_parameters": 0.0}, "active_parameters"),
        ({"mfu": 0.0}, "mfu"),
        ({"mfu": -0.1}, "mfu"),
        ({"mfu": 1.01}, "mfu"),
        ({"mfu": math.nan}, "mfu"),
        ({"mfu": 1e-7}, "mfu"),
        ({"tokens_per_second_per_gpu": 1e-9}, "tokens_per_second_per_gpu"),
        ({"achieved_tflops_per_gpu": 0.0}, "achieved_tflops_per_gpu"),
        ({"tokens_per_second_per_gpu": -5.0}, "tokens_per_second_per_gpu"),
        ({"price_per_gpu_hour": -1.0}, "price_per_gpu_hour"),
        ({"price_per_gpu_hour": math.inf}, "price_per_gpu_hour"),
        ({"pue": 0.9}, "pue"),
        ({"pue": math.nan}, "pue"),
        ({"activation_checkpointing": "sometimes"}, "activation_checkpointing"),
        ({"include_attention_flops": "yes"}, "include_attention_flops"),
    ],
)
def test_invalid_inputs(changes: dict[str, Any], field: str) -> None:
    kw: dict[str, Any] = {"parameters": 1e9, "tokens": 1e9, "gpu": A100_80} | changes
    with pytest.raises(InvalidInputError) as info:
        ComputeConfig(**kw)
    assert info.value.field == field


def test_invalid_architecture_is_rejected() -> None:
    bad = decoder(24, 1024, 0, 2048)
    with pytest.raises(InvalidInputError) as info:
        ComputeConfig(parameters=1e9, tokens=1e9, gpu=A100_80, architecture=bad)
    assert info.value.field.startswith("architecture.")


def test_numpy_integers_and_strings_are_normalised() -> None:
    config = ComputeConfig(
        parameters=np.float64(1e9),
        tokens=1e9,
        gpu=A100_80,
        gpus=np.int64(8),  # type: ignore[arg-type]
        activation_checkpointing="full",  # type: ignore[arg-type]
    )
    assert type(config.gpus) is int
    assert config.activation_checkpointing is Checkpointing.FULL


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"mfu": 1e-6, "gpu": SLOW}, "mfu"),  # the run would take longer than float64 counts
        ({"tokens": 1.0, "gpus": MAX_GPUS, "tokens_per_second_per_gpu": 1e308},
         "tokens_per_second_per_gpu"),
        ({"price_per_gpu_hour": 1e308, "mfu": 1e-6}, "price_per_gpu_hour"),
        ({"pue": 1e308, "mfu": 1e-6}, "pue"),
    ],
)  # fmt: skip
def test_results_that_overflow_are_rejected(changes: dict[str, Any], field: str) -> None:
    kw: dict[str, Any] = {"parameters": 1e15, "tokens": 1e17} | changes
    with pytest.raises(InvalidInputError) as info:
        estimate(**kw)
    assert info.value.field == field


def test_estimate_is_frozen() -> None:
    result = estimate(parameters=1e9, tokens=1e9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.mfu = 1.0  # type: ignore[misc]


def test_time_bookkeeping_is_consistent() -> None:
    result = estimate(parameters=13e9, tokens=2e12, gpus=1024, mfu=0.45)
    assert result.gpu_hours == pytest.approx(result.wall_clock_days * 24 * 1024)
    assert result.tokens_per_second * result.wall_clock_days * 86_400 == pytest.approx(2e12)
    assert result.achieved_tflops_per_gpu == pytest.approx(result.hfu * 312)


# ------------------------------------------------------------------------------ property tests

throughput: st.SearchStrategy[dict[str, float]] = st.one_of(
    st.builds(dict, mfu=st.floats(min_value=1e-3, max_value=0.75)),
    st.builds(dict, achieved_tflops_per_gpu=st.floats(min_value=1e-3, max_value=312.0)),
    st.builds(dict, tokens_per_second_per_gpu=st.floats(min_value=1e-3, max_value=100.0)),
)
checkpointing = st.sampled_from(list(Checkpointing))


@settings(max_examples=200, deadline=None)
@given(
    parameters=st.floats(min_value=1e6, max_value=1e12),
    tokens=st.floats(min_value=1.0, max_value=1e13),
    gpus=st.integers(min_value=1, max_value=100_000),
    ckpt=checkpointing,
)
def test_doubling_tokens_doubles_flops(
    parameters: float, tokens: float, gpus: int, ckpt: Checkpointing
) -> None:
    kw: dict[str, Any] = {"parameters": parameters, "gpus": gpus, "activation_checkpointing": ckpt}
    once = estimate(tokens=tokens, **kw)
    twice = estimate(tokens=2 * tokens, **kw)
    assert twice.training_flops == pytest.approx(2 * once.training_flops, rel=1e-12)
    assert twice.model_flops == pytest.approx(2 * once.model_flops, rel=1e-12)
    assert twice.wall_clock_days == pytest.approx(2 * once.wall_clock_days, rel=1e-12)


@settings(max_examples=200, deadline=None)
@given(
    parameters=st.floats(min_value=1.0, max_value=1e9),
    tokens=st.floats(min_value=1.0, max_value=1e13),
    gpus=st.integers(min_value=1, max_value=MAX_GPUS - 1),
    extra=st.integers(min_value=1, max_value=1000),
    rate=throughput,
    ckpt=checkpointing,
)
def test_more_gpus_never_take_longer(
    parameters: float, tokens: float, gpus: int, extra: int, rate: dict[str, float], ckpt: Any
) -> None:
    kw: dict[str, Any] = {
        "parameters": parameters, "tokens": tokens, "activation_checkpointing": ckpt, **rate
    }  # fmt: skip
    fewer = estimate(gpus=gpus, **kw)
    more = estimate(gpus=min(gpus + extra, MAX_GPUS), **kw)
    assert more.wall_clock_days <= fewer.wall_clock_days
    # Per-GPU throughput is fixed, so the GPU-hours do not change.
    assert more.gpu_hours == pytest.approx(fewer.gpu_hours, rel=1e-9)


@settings(max_examples=300, deadline=None)
@given(
    parameters=st.floats(min_value=1.0, max_value=1e15),
    active_fraction=st.floats(min_value=0.0, max_value=1.0),
    tokens=st.floats(min_value=1.0, max_value=1e17),
    gpus=st.integers(min_value=1, max_value=MAX_GPUS),
    mfu=st.floats(min_value=5e-324, max_value=1.0),
    achieved=st.floats(min_value=5e-324, max_value=1e6),
    tps=st.floats(min_value=5e-324, max_value=1e308),
    which=st.sampled_from(["mfu", "achieved_tflops_per_gpu", "tokens_per_second_per_gpu", None]),
    ckpt=checkpointing,
    price=st.one_of(st.none(), st.floats(min_value=0.0, max_value=1e308)),
    pue=st.floats(min_value=1.0, max_value=1e308),
    gpu=st.sampled_from([V100, A100_40, A100_80, H100, TPU_V4]),
    attention=st.booleans(),
)
def test_accepted_inputs_give_finite_results(
    parameters: float,
    active_fraction: float,
    tokens: float,
    gpus: int,
    mfu: float,
    achieved: float,
    tps: float,
    which: str | None,
    ckpt: Checkpointing,
    price: float | None,
    pue: float,
    gpu: GpuSpec,
    attention: bool,
) -> None:
    rates = {"mfu": mfu, "achieved_tflops_per_gpu": achieved, "tokens_per_second_per_gpu": tps}
    kw: dict[str, Any] = {
        "parameters": parameters,
        "active_parameters": max(1.0, parameters * active_fraction),
        "tokens": tokens,
        "gpus": gpus,
        "gpu": gpu,
        "activation_checkpointing": ckpt,
        "price_per_gpu_hour": price,
        "pue": pue,
        "include_attention_flops": attention,
        "architecture": decoder(96, 12288, 96, 2048) if attention else None,
    }
    if which is not None:
        kw[which] = rates[which]
    try:
        result = estimate_compute(ComputeConfig(**kw))
    except InvalidInputError:
        return
    numbers = [v for v in dataclasses.astuple(result) if isinstance(v, float)]
    assert all(math.isfinite(v) for v in numbers)
    assert 0 < result.mfu <= result.hfu <= 1 + 1e-9
    assert result.gpu_hours > 0
    assert result.wall_clock_days > 0
