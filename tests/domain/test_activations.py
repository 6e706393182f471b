"""Activation memory: Korthikanti et al. 2022's published formulas, then the generalisations."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.activations import (
    DEFAULT_SEQUENCE_LENGTH,
    MAX_ARCHITECTURE_SIZE,
    ActivationConfig,
    activation_memory,
    derive_architecture,
    layer_counts,
)
from service.domain.architecture import Architecture
from service.domain.errors import InvalidInputError
from service.domain.types import Attention, Checkpointing, Family

# Korthikanti et al. 2022, Table 3: the four GPT models of their evaluation (heads, hidden size,
# layers, tensor- and pipeline-parallel size); sequence length 2048 and vocabulary 51,200
# (sec. 6); micro-batch size 1.
PAPER_MODELS = {
    "22B": (64, 6144, 48, 8, 1),
    "175B": (96, 12288, 96, 8, 8),
    "530B": (128, 20480, 105, 8, 35),
    "1T": (160, 25600, 128, 8, 64),
}
S, V = 2048, 51200


def gpt(a: int, h: int, layers: int, *, vocab: int = V, **kw: object) -> Architecture:
    """A GPT-3-style decoder: ``d_ff = 4h``, GeLU, multi-head attention."""
    return Architecture(Family.DECODER_ONLY, layers, h, a, 4 * h, vocab, S, **kw)  # type: ignore[arg-type]


def paper_config(t: int = 1, p: int = 1, **kw: object) -> ActivationConfig:
    """The paper's setting: 16-bit activations, dropout, eager attention."""
    base = ActivationConfig(
        sequence_length=S,
        tensor_parallel=t,
        pipeline_parallel=p,
        attention=Attention.EAGER,
        dropout=True,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


# --- Table 2 of the paper: activation bytes per transformer layer ------------------------------


@pytest.mark.parametrize("name", sorted(PAPER_MODELS))
def test_table2_per_layer_formulas(name: str) -> None:
    a, h, layers, t, _ = PAPER_MODELS[name]
    arch = gpt(a, h, layers)
    s, b = S, 1
    sbh = s * b * h

    def per_layer(**kw: object) -> int:
        return activation_memory(arch, paper_config(**kw)).per_layer_bytes

    # sec. 4.1, no parallelism: sbh(34 + 5as/h)
    assert per_layer() == pytest.approx(sbh * (34 + 5 * a * s / h), rel=1e-12)
    # sec. 4.2.1, tensor parallel: sbh(10 + 24/t + 5as/(ht))
    assert per_layer(tensor_parallel=t) == pytest.approx(
        sbh * (10 + 24 / t + 5 * a * s / (h * t)), rel=1e-12
    )
    # sec. 4.2.2, tensor + sequence parallel: sbh(34/t + 5as/(ht))
    assert per_layer(tensor_parallel=t, sequence_parallel=True) == pytest.approx(
        sbh * (34 / t + 5 * a * s / (h * t)), rel=1e-12
    )
    # sec. 5, selective recomputation: sbh(10 + 24/t), and 34sbh/t with sequence parallelism
    selective = Checkpointing.SELECTIVE
    assert per_layer(tensor_parallel=t, checkpointing=selective) == pytest.approx(
        sbh * (10 + 24 / t), rel=1e-12
    )
    assert per_layer(
        tensor_parallel=t, sequence_parallel=True, checkpointing=selective
    ) == pytest.approx(34 * sbh / t, rel=1e-12)
    # Full recomputation keeps the layer input: 2sbh (2sbh/t with sequence parallelism).
    assert per_layer(checkpointing=Checkpointing.FULL) == 2 * sbh
    assert per_layer(
        tensor_parallel=t, sequence_parallel=True, checkpointing=Checkpointing.FULL
    ) == pytest.approx(2 * sbh / t, rel=1e-12)


@pytest.mark.parametrize("name", ["175B", "530B", "1T"])
def test_first_pipeline_stage_holds_l_layers_worth(name: str) -> None:
    """Sec. 4.2.3 (1F1B): the first stage's p micro-batches x L/p layers give sbhL/t(34+5as/h);
    sec. 4.3 adds the embedding dropout masks sbhp/t there; the output layer sits on the last
    stage and is not counted for p > 1."""
    a, h, layers, t, p = PAPER_MODELS[name]
    arch = gpt(a, h, layers)
    sbh = S * h
    est = activation_memory(arch, paper_config(t, p, sequence_parallel=True))
    assert est.stage == "first"
    assert est.micro_batches_in_flight == p
    assert est.layers_per_stage == math.ceil(layers / p)
    assert layers % p == 0
    assert est.layers_bytes == pytest.approx(sbh * layers / t * (34 + 5 * a * S / h), rel=1e-12)
    assert est.embedding_bytes == pytest.approx(sbh * p / t, rel=1e-12)
    assert est.output_bytes == 0
    assert est.recompute_bytes == 0
    # Selective recomputation: 34sbhL/t plus one layer's recomputed core attention.
    sel = activation_memory(
        arch, paper_config(t, p, sequence_parallel=True, checkpointing=Checkpointing.SELECTIVE)
    )
    assert sel.layers_bytes == pytest.approx(34 * sbh * layers / t, rel=1e-12)
    assert sel.recompute_bytes == pytest.approx(5 * a * S * S / t, rel=1e-12)


def test_no_pipeline_adds_the_output_layer() -> None:
    """Sec. 4.3 with p = 1: total = sbhL/t (34 + 5as/h) + sbhL/t (p/L + 4/L (1 + v/h))."""
    a, h, layers, t, p = PAPER_MODELS["22B"]
    sbh = S * h
    est = activation_memory(gpt(a, h, layers), paper_config(t, p, sequence_parallel=True))
    assert est.stage == "only"
    assert est.output_bytes == pytest.approx(4 * sbh / t * (1 + V / h), rel=1e-12)
    expected = sbh * layers / t * (34 + 5 * a * S / h) + sbh * layers / t * (
        p / layers + 4 / layers * (1 + V / h)
    )
    assert est.total_bytes == pytest.approx(expected, rel=1e-12)


def test_gpt3_175b_first_stage_in_bytes() -> None:
    """175B, t = 8, p = 8, sequence parallel + selective: 34·2048·12288·96/8 bytes on the first
    stage (10.27 GB), plus 8 embedding masks and one layer's recomputed scores."""
    a, h, layers, t, p = PAPER_MODELS["175B"]
    est = activation_memory(
        gpt(a, h, layers),
        paper_config(t, p, sequence_parallel=True, checkpointing=Checkpointing.SELECTIVE),
    )
    assert est.layers_bytes == 10_267_656_192
    assert est.embedding_bytes == 2048 * 12288 * 8 // 8
    assert est.recompute_bytes == 5 * 96 * 2048 * 2048 // 8
    assert est.total_bytes == 10_544_480_256


@pytest.mark.parametrize("name", ["530B", "1T"])
def test_five_fold_reduction(name: str) -> None:
    """Abstract: sequence parallelism with selective recomputation "reduces activation memory by
    5x" against tensor parallelism alone (t = 8): (10 + 24/8 + 5as/(8h)) / (34/8)."""
    a, h, layers, t, _ = PAPER_MODELS[name]
    arch = gpt(a, h, layers)
    baseline = activation_memory(arch, paper_config(t)).per_layer_bytes
    reduced = activation_memory(
        arch, paper_config(t, sequence_parallel=True, checkpointing=Checkpointing.SELECTIVE)
    ).per_layer_bytes
    assert baseline / reduced == pytest.approx(5.0, rel=0.02)


# --- generalisations ---------------------------------------------------------------------------


def test_flash_attention_replaces_the_score_term() -> None:
    a, h, s, b = 16, 1024, 512, 2
    est = activation_memory(
        gpt(a, h, 2), ActivationConfig(sequence_length=s, micro_batch_size=b, dropout=True)
    )
    assert est.per_layer_bytes == s * b * h * 34 + 4 * a * s * b


def test_no_dropout_drops_the_masks() -> None:
    a, h, s = 8, 512, 256
    arch = gpt(a, h, 2)
    eager = activation_memory(arch, paper_config(sequence_length=s, dropout=False))
    # 34 - 2 one-byte masks, and only the softmax output (2 bytes) per score.
    assert eager.per_layer_bytes == s * h * 32 + 2 * a * s * s
    assert eager.embedding_bytes == 0


def test_fp32_activations_double_the_values_not_the_masks() -> None:
    a, h, s = 8, 512, 256
    est = activation_memory(gpt(a, h, 2), paper_config(sequence_length=s, bytes_per_element=4))
    assert est.per_layer_bytes == s * h * (2 * 32 + 2) + a * s * s * (4 + 1 + 4)


def test_grouped_query_attention_shrinks_k_and_v() -> None:
    a, kv, h, s = 16, 4, 1024, 512
    mha = activation_memory(gpt(a, h, 2), ActivationConfig(sequence_length=s)).per_layer_bytes
    gqa = activation_memory(
        gpt(a, h, 2, n_kv_heads=kv), ActivationConfig(sequence_length=s)
    ).per_layer_bytes
    # K and V are 2sbh each with full heads, 2sbh * kv/a with kv heads.
    assert mha - gqa == 2 * 2 * s * h * (1 - kv / a)
    # Under tensor parallelism a GPU holds ceil(kv/t) K/V heads (replicated when kv < t).
    t = 8
    tp = activation_memory(
        gpt(a, h, 2, n_kv_heads=kv), ActivationConfig(sequence_length=s, tensor_parallel=t)
    ).per_layer_bytes
    head_dim = h // a
    q_and_proj = 2 * 2 * s * h / t
    k_and_v = 2 * 2 * s * 1 * head_dim
    replicated = 10 * s * h
    mlp = 2 * s * 4 * h * 2 / t
    assert tp == pytest.approx(replicated + q_and_proj + k_and_v + mlp + 4 * a / t * s)


def test_gated_mlp_uses_the_real_d_ff() -> None:
    h, d_ff, s = 1024, 2816, 512
    arch = Architecture(Family.DECODER_ONLY, 2, h, 8, d_ff, 32000, s, gated_mlp=True)
    est = activation_memory(arch, ActivationConfig(sequence_length=s, dropout=False))
    attention = s * h * (2 + 2 + 2 * 4) + 4 * 8 * s  # LN, QKV in, Q K V, proj in; lse
    mlp = s * h * (2 + 2) + 2 * s * d_ff * 3  # LN, fc1 in; gate+up, down input
    assert est.per_layer_bytes == attention + mlp


def test_encoder_only_matches_decoder_only() -> None:
    dec = gpt(8, 512, 4)
    enc = replace(dec, family=Family.ENCODER_ONLY)
    cfg = ActivationConfig(sequence_length=256)
    assert activation_memory(enc, cfg) == activation_memory(dec, cfg)


def test_encoder_decoder_adds_cross_attention_and_the_encoder_output() -> None:
    a, h, s = 8, 512, 256
    cfg = paper_config(sequence_length=s)
    decoder_only = activation_memory(gpt(a, h, 1), cfg)
    t5 = Architecture(
        Family.ENCODER_DECODER, 4, h, a, 4 * h, V, s, n_encoder_layers=2, n_decoder_layers=2
    )
    est = activation_memory(t5, cfg)
    self_layer = decoder_only.per_layer_bytes
    attention_block = s * h * 13 + 5 * a * s * s  # 11sbh + layer norm 2sbh + scores
    assert est.per_layer_bytes == self_layer + attention_block
    assert est.layers_bytes == 2 * self_layer + 2 * (self_layer + attention_block) + 2 * s * h
    # Full recomputation keeps the layer inputs and the (shared) encoder output.
    full = activation_memory(t5, replace(cfg, checkpointing=Checkpointing.FULL))
    assert full.layers_bytes == 4 * 2 * s * h + 2 * s * h
    assert full.recompute_bytes == self_layer + attention_block


def test_encoder_decoder_without_split_halves_the_layers() -> None:
    t5 = Architecture(Family.ENCODER_DECODER, 5, 64, 4, 256, 100, 32)
    assert layer_counts(t5) == (2, 3)
    assert layer_counts(gpt(4, 64, 6)) == (6, 0)


def test_mixture_of_experts_keeps_each_routed_copy() -> None:
    h, s, k = 512, 256, 2
    dense = gpt(8, h, 2)
    moe = replace(dense, n_experts=8, experts_per_token=k)
    cfg = ActivationConfig(sequence_length=s, dropout=False)
    diff = (
        activation_memory(moe, cfg).per_layer_bytes - activation_memory(dense, cfg).per_layer_bytes
    )
    # k routed input copies, and k - 1 extra copies of the 4h activation and fc2 inputs.
    assert diff == k * 2 * s * h + (k - 1) * 2 * s * 4 * h * 2


def test_recompute_transients() -> None:
    a, h, s = 8, 512, 256
    arch = gpt(a, h, 3)
    none = activation_memory(arch, paper_config(sequence_length=s))
    full = activation_memory(
        arch, paper_config(sequence_length=s, checkpointing=Checkpointing.FULL)
    )
    assert full.recompute_bytes == none.per_layer_bytes
    assert full.layers_bytes == 3 * 2 * s * h
    sel = activation_memory(
        arch, paper_config(sequence_length=s, checkpointing=Checkpointing.SELECTIVE)
    )
    assert sel.recompute_bytes == 5 * a * s * s
    assert sel.total_bytes < none.total_bytes


def test_inference_keeps_one_layer_and_the_logits() -> None:
    a, h, s = 8, 512, 256
    arch = gpt(a, h, 12)
    est = activation_memory(arch, paper_config(sequence_length=s, training=False))
    no_dropout = activation_memory(arch, paper_config(sequence_length=s, dropout=False))
    assert est.layers_bytes == no_dropout.per_layer_bytes
    assert est.output_bytes == no_dropout.output_bytes
    assert est.embedding_bytes == 0
    assert est.recompute_bytes == 0
    assert est.total_bytes == est.layers_bytes + est.output_bytes


def test_last_stage_wins_with_a_huge_vocabulary() -> None:
    arch = gpt(4, 256, 2, vocab=1_000_000)
    est = activation_memory(arch, ActivationConfig(sequence_length=128, pipeline_parallel=2))
    assert est.stage == "last"
    assert est.micro_batches_in_flight == 1
    assert est.embedding_bytes == 0
    assert est.output_bytes == 2 * 2 * 128 * 256 + 4 * 128 * 1_000_000


def test_uneven_pipeline_rounds_layers_up() -> None:
    arch = gpt(4, 256, 5, vocab=100)
    est = activation_memory(arch, ActivationConfig(sequence_length=128, pipeline_parallel=2))
    one = activation_memory(arch, ActivationConfig(sequence_length=128))
    assert est.layers_per_stage == 3
    assert est.layers_bytes == pytest.approx(2 * 3 * one.per_layer_bytes, abs=1)


def test_derived_shape_recovers_gpt3_and_llama() -> None:
    gpt3 = derive_architecture(175_000_000_000)
    assert (gpt3.n_layers, gpt3.d_model, gpt3.n_heads, gpt3.d_ff) == (96, 12288, 96, 49152)
    llama = derive_architecture(6_738_415_616, sequence_length=4096)
    assert (llama.n_layers, llama.d_model, llama.context_length) == (32, 4096, 4096)
    tiny = derive_architecture(1)
    assert (tiny.n_layers, tiny.d_model, tiny.n_heads) == (1, 128, 1)
    assert derive_architecture(10**9).context_length == DEFAULT_SEQUENCE_LENGTH
    with pytest.raises(InvalidInputError) as info:
        derive_architecture(0)
    assert info.value.field == "parameters"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sequence_length": 0}, "sequence_length"),
        ({"micro_batch_size": 0}, "micro_batch_size"),
        ({"tensor_parallel": 0}, "tensor_parallel"),
        ({"pipeline_parallel": 0}, "pipeline_parallel"),
        ({"bytes_per_element": 3}, "precision"),
    ],
)
def test_rejects_bad_configs(change: dict[str, int], field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        activation_memory(gpt(4, 64, 2), replace(ActivationConfig(sequence_length=8), **change))
    assert info.value.field == field


@pytest.mark.parametrize(
    "arch",
    [
        gpt(4, 64, 0),
        Architecture(Family.DECODER_ONLY, 2, 64, 4, 0, 100, 8),
        gpt(4, 64, 2, n_experts=0),
        Architecture(Family.ENCODER_DECODER, 2, 64, 4, 256, 100, 8, n_decoder_layers=-1),
        Architecture(Family.DECODER_ONLY, 2, 64, 4, 256, MAX_ARCHITECTURE_SIZE + 1, 8),
    ],
)
def test_rejects_bad_architectures(arch: Architecture) -> None:
    with pytest.raises(InvalidInputError) as info:
        activation_memory(arch, ActivationConfig(sequence_length=8))
    assert info.value.field == "architecture"


_configs = st.builds(
    ActivationConfig,
    sequence_length=st.integers(1, 8192),
    micro_batch_size=st.integers(1, 16),
    tensor_parallel=st.sampled_from([1, 2, 4, 8]),
    pipeline_parallel=st.integers(1, 8),
    sequence_parallel=st.booleans(),
    checkpointing=st.sampled_from(list(Checkpointing)),
    attention=st.sampled_from(list(Attention)),
    dropout=st.booleans(),
    bytes_per_element=st.sampled_from([2, 4]),
    training=st.booleans(),
)


@given(cfg=_configs, ds=st.integers(0, 4096), db=st.integers(0, 8))
def test_monotone_in_sequence_and_micro_batch(cfg: ActivationConfig, ds: int, db: int) -> None:
    arch = gpt(8, 512, 8, n_kv_heads=2)
    base = activation_memory(arch, cfg)
    longer = activation_memory(
        arch,
        replace(
            cfg,
            sequence_length=cfg.sequence_length + ds,
            micro_batch_size=cfg.micro_batch_size + db,
        ),
    )
    assert longer.total_bytes >= base.total_bytes
    assert base.total_bytes == (
        base.layers_bytes + base.embedding_bytes + base.output_bytes + base.recompute_bytes
    )
    assert min(base.layers_bytes, base.embedding_bytes, base.output_bytes) >= 0
