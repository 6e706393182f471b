"""Tests of :mod:`service.domain.architecture`: validation and exact parameter counts.

The expected totals of the reference architectures below were measured by
``bench/param_counts.py``: the ``transformers`` 5.24.0 class built from the model's public
``config.json`` on PyTorch's meta device (torch 2.13.0), ``sum(p.numel() for p in
model.parameters())`` -- see ``bench/PARAM_COUNTS.md``. The architectures are written out by hand
here (not mapped from the configs, which ``test_hf_config.py`` does).
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from service.domain import architecture as architecture_module
from service.domain.architecture import (
    MAX_LAYERS,
    Architecture,
    ParameterCount,
    count_parameters,
    validate_architecture,
)
from service.domain.errors import InvalidInputError
from service.domain.types import Family, PositionEmbedding

DECODER, ENCODER, SEQ2SEQ = Family.DECODER_ONLY, Family.ENCODER_ONLY, Family.ENCODER_DECODER


def _t5(
    d: int, heads: int, head_dim: int, d_ff: int, layers: int, *, v1_1: bool = False
) -> Architecture:
    """T5 (Raffel et al. 2020): symmetric stacks, 32,128 tokens; v1.1 is gated and untied."""
    return Architecture(
        family=SEQ2SEQ,
        n_layers=2 * layers,
        n_encoder_layers=layers,
        n_decoder_layers=layers,
        d_model=d,
        n_heads=heads,
        head_dim=head_dim,
        d_ff=d_ff,
        vocab_size=32128,
        context_length=512,
        tied_embeddings=not v1_1,
        gated_mlp=v1_1,
        position_embedding=PositionEmbedding.RELATIVE_BIAS,
        bias=False,
        norm="rmsnorm",
    )


def _bart(d: int, heads: int, layers: int) -> Architecture:
    """BART (Lewis et al. 2020): post-norm, embedding LayerNorms, positions offset by 2."""
    return Architecture(
        family=SEQ2SEQ,
        n_layers=2 * layers,
        n_encoder_layers=layers,
        n_decoder_layers=layers,
        d_model=d,
        n_heads=heads,
        d_ff=4 * d,
        vocab_size=50265,
        context_length=1024,
        position_offset=2,
        final_norm=False,
        embedding_norm=True,
    )


def _bert(
    layers: int,
    d: int,
    heads: int,
    *,
    vocab: int = 30522,
    token_types: int = 2,
    position_offset: int = 0,
) -> Architecture:
    """BERT as ``BertModel`` (Devlin et al. 2019): post-norm, embedding LayerNorm, pooler."""
    return Architecture(
        family=ENCODER,
        n_layers=layers,
        d_model=d,
        n_heads=heads,
        d_ff=4 * d,
        vocab_size=vocab,
        context_length=512,
        final_norm=False,
        embedding_norm=True,
        token_type_vocab=token_types,
        position_offset=position_offset,
    )


def _llama(
    layers: int,
    d: int,
    heads: int,
    d_ff: int,
    *,
    vocab: int = 32000,
    context: int = 2048,
    kv: int | None = None,
    experts: int = 1,
    top_k: int = 1,
) -> Architecture:
    """LLaMA-style decoder (Touvron et al. 2023): RMSNorm, SwiGLU, rotary, no biases, untied."""
    return Architecture(
        family=DECODER,
        n_layers=layers,
        d_model=d,
        n_heads=heads,
        d_ff=d_ff,
        vocab_size=vocab,
        context_length=context,
        n_kv_heads=kv,
        tied_embeddings=False,
        gated_mlp=True,
        position_embedding=PositionEmbedding.ROTARY,
        bias=False,
        norm="rmsnorm",
        n_experts=experts,
        experts_per_token=top_k,
    )


GPT2 = Architecture(DECODER, 12, 768, 12, 3072, 50257, 1024)
GPT2_XL = Architecture(DECODER, 48, 1600, 25, 6400, 50257, 1024)
BERT_BASE = _bert(12, 768, 12)
BERT_LARGE = _bert(24, 1024, 16)
ROBERTA_BASE = _bert(12, 768, 12, vocab=50265, token_types=1, position_offset=2)
T5_SMALL = _t5(512, 8, 64, 2048, 6)
T5_BASE = _t5(768, 12, 64, 3072, 12)
T5_3B = _t5(1024, 32, 128, 16384, 24)
T5_11B = _t5(1024, 128, 128, 65536, 24)
FLAN_T5_XXL = _t5(4096, 64, 64, 10240, 24, v1_1=True)
BART_BASE = _bart(768, 12, 6)
BART_LARGE = _bart(1024, 16, 12)
BLOOM_560M = Architecture(
    DECODER, 24, 1024, 16, 4096, 250880, 2048,
    position_embedding=PositionEmbedding.ALIBI, embedding_norm=True,
)  # fmt: skip
BLOOM_176B = replace(BLOOM_560M, n_layers=70, d_model=14336, n_heads=112, d_ff=4 * 14336)
OPT_125M = Architecture(DECODER, 12, 768, 12, 3072, 50272, 2048, position_offset=2)
OPT_350M = replace(
    OPT_125M, n_layers=24, d_model=1024, n_heads=16, d_ff=4096, embedding_dim=512, final_norm=False
)
OPT_175B = replace(OPT_125M, n_layers=96, d_model=12288, n_heads=96, d_ff=49152)
LLAMA_7B = _llama(32, 4096, 32, 11008)
LLAMA2_70B = _llama(80, 8192, 64, 28672, context=4096, kv=8)
MISTRAL_7B = _llama(32, 4096, 32, 14336, context=32768, kv=8)
MIXTRAL_8X7B = _llama(32, 4096, 32, 14336, context=32768, kv=8, experts=8, top_k=2)
FALCON_7B = Architecture(
    DECODER, 32, 4544, 71, 18176, 65024, 2048,
    n_kv_heads=1, position_embedding=PositionEmbedding.ROTARY, bias=False, norms_per_block=1,
)  # fmt: skip
GPT_NEOX_20B = Architecture(
    DECODER, 44, 6144, 64, 24576, 50432, 2048,
    tied_embeddings=False, position_embedding=PositionEmbedding.ROTARY,
)  # fmt: skip
QWEN2_7B = replace(_llama(28, 3584, 28, 18944, vocab=152064, context=131072, kv=4), qkv_bias=True)

#: Reference architecture, its transformers total, and its active count (bench/param_counts.py).
REFERENCE: dict[str, tuple[Architecture, int, int]] = {
    "gpt2": (GPT2, 124_439_808, 124_439_808),
    "gpt2-xl": (GPT2_XL, 1_557_611_200, 1_557_611_200),
    "bert-base-uncased": (BERT_BASE, 109_482_240, 109_482_240),
    "bert-large-uncased": (BERT_LARGE, 335_141_888, 335_141_888),
    "roberta-base": (ROBERTA_BASE, 124_645_632, 124_645_632),
    "t5-small": (T5_SMALL, 60_506_624, 60_506_624),
    "t5-base": (T5_BASE, 222_903_552, 222_903_552),
    "t5-3b": (T5_3B, 2_851_598_336, 2_851_598_336),
    "t5-11b": (T5_11B, 11_307_321_344, 11_307_321_344),
    "flan-t5-xxl": (FLAN_T5_XXL, 11_135_332_352, 11_135_332_352),
    "bart-base": (BART_BASE, 139_420_416, 139_420_416),
    "bart-large": (BART_LARGE, 406_291_456, 406_291_456),
    "bloom-560m": (BLOOM_560M, 559_214_592, 559_214_592),
    "bloom-176b": (BLOOM_176B, 176_247_271_424, 176_247_271_424),
    "opt-125m": (OPT_125M, 125_239_296, 125_239_296),
    "opt-350m": (OPT_350M, 331_196_416, 331_196_416),
    "opt-175b": (OPT_175B, 174_604_468_224, 174_604_468_224),
    "llama-7b": (LLAMA_7B, 6_738_415_616, 6_738_415_616),
    "llama-2-70b": (LLAMA2_70B, 68_976_648_192, 68_976_648_192),
    "mistral-7b": (MISTRAL_7B, 7_241_732_096, 7_241_732_096),
    "mixtral-8x7b": (MIXTRAL_8X7B, 46_702_792_704, 12_879_925_248),
    "falcon-7b": (FALCON_7B, 6_921_720_704, 6_921_720_704),
    "gpt-neox-20b": (GPT_NEOX_20B, 20_554_567_680, 20_554_567_680),
    "qwen2-7b": (QWEN2_7B, 7_615_616_512, 7_615_616_512),
}


def components(counted: ParameterCount) -> int:
    return (
        counted.token_embedding
        + counted.position_embedding
        + counted.token_type_embedding
        + counted.lm_head
        + counted.attention
        + counted.cross_attention
        + counted.mlp
        + counted.router
        + counted.norms
        + counted.pooler
        + counted.embedding_projection
    )


class TestReferenceCounts:
    @pytest.mark.parametrize("name", sorted(REFERENCE))
    def test_exact_total_and_active(self, name: str) -> None:
        arch, expected_total, expected_active = REFERENCE[name]
        counted = count_parameters(arch)
        assert counted.total == expected_total
        assert counted.active == expected_active
        assert components(counted) == counted.total
        assert counted.embedding + counted.non_embedding == counted.total

    def test_gpt2_components(self) -> None:
        counted = count_parameters(GPT2)
        assert counted.token_embedding == 50257 * 768
        assert counted.position_embedding == 1024 * 768
        assert counted.lm_head == 0  # tied
        assert counted.attention == 12 * (4 * 768 * 768 + 4 * 768)
        assert counted.mlp == 12 * (2 * 768 * 3072 + 3072 + 768)
        assert counted.norms == (2 * 12 + 1) * 2 * 768
        # Kaplan et al. 2020 count GPT-2 small as 85M non-embedding parameters.
        assert counted.non_embedding == 85_056_000

    def test_llama_7b_components(self) -> None:
        counted = count_parameters(LLAMA_7B)
        assert counted.attention == 32 * 4 * 4096 * 4096
        assert counted.mlp == 32 * 3 * 4096 * 11008
        assert counted.norms == (2 * 32 + 1) * 4096
        assert counted.lm_head == counted.token_embedding == 32000 * 4096
        assert counted.embedding == 2 * 32000 * 4096
        assert counted.position_embedding == 0

    def test_grouped_query_attention_narrows_k_and_v(self) -> None:
        counted = count_parameters(LLAMA2_70B)
        assert counted.attention == 80 * (2 * 8192 * 8192 + 2 * 8192 * 8 * 128)

    def test_t5_relative_bias_and_cross_attention(self) -> None:
        counted = count_parameters(T5_SMALL)
        assert counted.position_embedding == 2 * 32 * 8  # one table per stack
        assert counted.cross_attention == 6 * 4 * 512 * 512
        assert counted.attention == 12 * 4 * 512 * 512
        # Per block 2 (encoder) or 3 (decoder) RMSNorms, plus a final one per stack.
        assert counted.norms == (6 * 2 + 6 * 3 + 2) * 512

    def test_t5_3b_heads_wider_than_the_model(self) -> None:
        counted = count_parameters(T5_3B)
        # 32 heads x 128 = 4096-wide projections on a 1024-wide model, in 24 + 24 blocks.
        assert counted.attention == 48 * 4 * 1024 * 4096
        assert counted.cross_attention == 24 * 4 * 1024 * 4096

    def test_bert_embeddings_and_pooler(self) -> None:
        counted = count_parameters(BERT_BASE)
        assert counted.token_type_embedding == 2 * 768
        assert counted.position_embedding == 512 * 768
        assert counted.pooler == 768 * 768 + 768
        assert counted.lm_head == 0
        assert counted.norms == (12 * 2 + 1) * 2 * 768
        without_pooler = count_parameters(replace(BERT_BASE, pooler=False))
        assert without_pooler.total == counted.total - counted.pooler

    def test_bart_positions_per_stack(self) -> None:
        counted = count_parameters(BART_BASE)
        assert counted.position_embedding == 2 * 1026 * 768
        assert counted.norms == (6 * 2 + 6 * 3 + 2) * 2 * 768

    def test_opt_350m_projections(self) -> None:
        counted = count_parameters(OPT_350M)
        assert counted.embedding_projection == 2 * 512 * 1024
        assert counted.token_embedding == 50272 * 512
        assert counted.position_embedding == 2050 * 1024

    def test_mixtral_active(self) -> None:
        counted = count_parameters(MIXTRAL_8X7B)
        expert = 3 * 4096 * 14336
        assert counted.mlp == 32 * 8 * expert
        assert counted.active_mlp == 32 * 2 * expert
        assert counted.router == 32 * 4096 * 8
        assert counted.active == counted.total - 32 * 6 * expert
        assert counted.active_non_embedding == counted.active - 2 * 32000 * 4096

    def test_qwen2_qkv_biases(self) -> None:
        with_bias = count_parameters(QWEN2_7B).attention
        without = count_parameters(replace(QWEN2_7B, qkv_bias=None)).attention
        assert with_bias - without == 28 * (3584 + 2 * 512)

    def test_qk_norm(self) -> None:
        plain = count_parameters(LLAMA_7B).norms
        assert count_parameters(replace(LLAMA_7B, qk_norm=True)).norms == plain + 32 * 2 * 128
        layer = replace(GPT2, qk_norm=True)
        assert count_parameters(layer).norms == count_parameters(GPT2).norms + 12 * 2 * 2 * 64
        seq2seq = replace(T5_SMALL, qk_norm=True)
        extra = count_parameters(seq2seq).norms - count_parameters(T5_SMALL).norms
        assert extra == (6 + 2 * 6) * 2 * 64

    def test_mlp_bias_override(self) -> None:
        neox = count_parameters(replace(GPT_NEOX_20B, bias=False, mlp_bias=True))
        full = count_parameters(GPT_NEOX_20B)
        assert full.attention - neox.attention == 44 * (3 * 6144 + 6144)
        assert full.mlp == neox.mlp
        gated = count_parameters(replace(LLAMA_7B, mlp_bias=True))
        assert gated.mlp - count_parameters(LLAMA_7B).mlp == 32 * (2 * 11008 + 4096)


class TestTerms:
    def test_gpt2(self) -> None:
        terms = count_parameters(GPT2).terms
        assert "token embeddings 50257 x 768" in terms
        assert "learned position embeddings 1024 x 768" in terms
        assert "LM head tied to the token embeddings (counted once)" in terms
        assert any("Q/K/V and output biases" in term for term in terms)
        assert "MLP, 2 matrices 768 <-> 3072, with biases" in terms
        assert "LayerNorm (weight and bias) of width 768: 2 per block, 1 final" in terms

    def test_llama_and_mixtral(self) -> None:
        terms = count_parameters(MIXTRAL_8X7B).terms
        assert "rotary positions: no parameters" in terms
        assert "untied LM head 4096 x 32000" in terms
        assert any(term.endswith("no biases") and "K and V 4096 x 1024" in term for term in terms)
        assert "gated MLP, 3 matrices 4096 <-> 14336, no biases" in terms
        assert any(term.startswith("mixture of experts: 8 MLPs") for term in terms)
        assert "RMSNorm (weight only) of width 4096: 2 per block, 1 final" in terms

    def test_t5(self) -> None:
        terms = count_parameters(T5_SMALL).terms
        assert "token embeddings 32128 x 512 (shared by encoder and decoder)" in terms
        assert any(term.startswith("relative attention bias 32 x 8") for term in terms)
        assert "cross-attention of the same shape in every decoder block" in terms
        assert any("+1 per decoder block" in term for term in terms)

    def test_bert(self) -> None:
        terms = count_parameters(BERT_BASE).terms
        assert "no LM head (encoder-only base model)" in terms
        assert "token-type embeddings 2 x 768" in terms
        assert "pooler 768 x 768 with bias" in terms
        assert (
            "LayerNorm (weight and bias) of width 768: 2 per block, 1 after the embeddings" in terms
        )
        assert not any(
            "pooler" in term for term in count_parameters(replace(BERT_BASE, pooler=False)).terms
        )

    def test_other_variants(self) -> None:
        assert "alibi positions: no parameters" in count_parameters(BLOOM_560M).terms
        assert (
            "embedding projections in and out 512 x 1024, no bias"
            in count_parameters(OPT_350M).terms
        )
        assert any(term.endswith(", Q/K/V biases") for term in count_parameters(QWEN2_7B).terms)
        output_only = count_parameters(replace(GPT2, qkv_bias=False)).terms
        assert any(term.endswith(", output biases") for term in output_only)
        qk = count_parameters(replace(LLAMA_7B, qk_norm=True)).terms
        assert "QK-norm: 2 norms of width 128 per attention" in qk


def _edit(arch: Architecture, **changes: object) -> Architecture:
    """``replace`` without type checks, to build deliberately broken architectures."""
    return replace(arch, **changes)  # type: ignore[arg-type]


class TestValidation:
    @pytest.mark.parametrize("name", sorted(REFERENCE))
    def test_references_are_valid(self, name: str) -> None:
        validate_architecture(REFERENCE[name][0])

    def test_every_field_is_checked(self) -> None:
        checked = (
            set(architecture_module._INT_FIELDS)
            | set(architecture_module._BOOL_FIELDS)
            | {"family", "position_embedding", "norm"}
        )
        assert checked == {f.name for f in dataclasses.fields(Architecture)}
        assert checked >= architecture_module._OPTIONAL_FIELDS

    @pytest.mark.parametrize(
        ("base", "changes", "field", "words"),
        [
            (GPT2, {"n_layers": 0}, "n_layers", "at least 1"),
            (GPT2, {"n_layers": MAX_LAYERS + 1}, "n_layers", "at most"),
            (GPT2, {"n_layers": True}, "n_layers", "integer"),
            (GPT2, {"n_layers": 12.0}, "n_layers", "integer"),
            (GPT2, {"d_model": None}, "d_model", "integer"),
            (GPT2, {"d_model": 0}, "d_model", "at least 1"),
            (GPT2, {"n_heads": 0}, "n_heads", "at least 1"),
            (GPT2, {"d_ff": -1}, "d_ff", "at least 1"),
            (GPT2, {"vocab_size": 0}, "vocab_size", "at least 1"),
            (GPT2, {"vocab_size": 10**8}, "vocab_size", "at most"),
            (GPT2, {"context_length": 0}, "context_length", "at least 1"),
            (GPT2, {"n_experts": 0}, "n_experts", "at least 1"),
            (GPT2, {"experts_per_token": 0}, "experts_per_token", "at least 1"),
            (GPT2, {"experts_per_token": 2}, "experts_per_token", "cannot exceed n_experts"),
            (GPT2, {"n_kv_heads": 0}, "n_kv_heads", "at least 1"),
            (GPT2, {"n_kv_heads": 5}, "n_kv_heads", "must divide n_heads"),
            (GPT2, {"n_kv_heads": 24}, "n_kv_heads", "must divide n_heads"),
            (GPT2, {"head_dim": 0}, "head_dim", "at least 1"),
            (GPT2, {"embedding_dim": 0}, "embedding_dim", "at least 1"),
            (GPT2, {"position_offset": -1}, "position_offset", "at least 0"),
            (GPT2, {"token_type_vocab": -1}, "token_type_vocab", "at least 0"),
            (GPT2, {"norms_per_block": -1}, "norms_per_block", "at least 0"),
            (GPT2, {"norms_per_block": 17}, "norms_per_block", "at most"),
            (GPT2, {"n_heads": 7}, "n_heads", "give head_dim"),
            (GPT2, {"norm": "batchnorm"}, "norm", "layernorm, rmsnorm"),
            (GPT2, {"family": "decoder-only"}, "family", "must be one of"),
            (GPT2, {"position_embedding": "rotary"}, "position_embedding", "must be one of"),
            (GPT2, {"tied_embeddings": 1}, "tied_embeddings", "boolean"),
            (GPT2, {"qkv_bias": "yes"}, "qkv_bias", "boolean"),
            (GPT2, {"bias": None}, "bias", "boolean"),
            (GPT2, {"n_encoder_layers": 12}, "n_encoder_layers", "only encoder-decoder"),
            (BERT_BASE, {"n_decoder_layers": 12}, "n_decoder_layers", "only encoder-decoder"),
            (T5_SMALL, {"n_encoder_layers": None}, "n_encoder_layers", "required"),
            (T5_SMALL, {"n_decoder_layers": None}, "n_decoder_layers", "required"),
            (T5_SMALL, {"n_decoder_layers": 0}, "n_decoder_layers", "at least 1"),
            (T5_SMALL, {"n_layers": 13}, "n_layers", "must equal n_encoder_layers"),
        ],
    )
    def test_invalid(
        self, base: Architecture, changes: dict[str, object], field: str, words: str
    ) -> None:
        broken = _edit(base, **changes)
        with pytest.raises(InvalidInputError) as caught:
            validate_architecture(broken)
        assert caught.value.field == f"architecture.{field}"
        assert words in caught.value.message
        with pytest.raises(InvalidInputError):
            count_parameters(broken)

    def test_head_dim_lifts_the_divisibility_rule(self) -> None:
        validate_architecture(replace(GPT2, n_heads=7, head_dim=100))

    def test_optional_fields_may_be_none(self) -> None:
        validate_architecture(replace(QWEN2_7B, qkv_bias=None, mlp_bias=None, norms_per_block=None))


@st.composite
def architectures(draw: st.DrawFn, family: Family | None = None) -> Architecture:
    """Valid architectures of every kind, small enough to count quickly."""
    family = draw(st.sampled_from(Family)) if family is None else family
    head_dim = draw(st.integers(1, 64))
    n_kv_heads = draw(st.integers(1, 4))
    n_heads = n_kv_heads * draw(st.integers(1, 4))
    layers: dict[str, int] = {}
    if family is SEQ2SEQ:
        layers["n_encoder_layers"] = draw(st.integers(1, 6))
        layers["n_decoder_layers"] = draw(st.integers(1, 6))
        n_layers = layers["n_encoder_layers"] + layers["n_decoder_layers"]
    else:
        n_layers = draw(st.integers(1, 12))
    n_experts = draw(st.integers(1, 8))
    return Architecture(
        family=family,
        n_layers=n_layers,
        d_model=n_heads * head_dim,
        n_heads=n_heads,
        d_ff=draw(st.integers(1, 512)),
        vocab_size=draw(st.integers(1, 1000)),
        context_length=draw(st.integers(1, 2048)),
        n_kv_heads=draw(st.sampled_from([None, n_kv_heads])),
        head_dim=draw(st.sampled_from([None, head_dim])),
        tied_embeddings=draw(st.booleans()),
        gated_mlp=draw(st.booleans()),
        position_embedding=draw(st.sampled_from(PositionEmbedding)),
        bias=draw(st.booleans()),
        norm=draw(st.sampled_from(["layernorm", "rmsnorm"])),
        n_experts=n_experts,
        experts_per_token=draw(st.integers(1, n_experts)),
        qkv_bias=draw(st.sampled_from([None, False, True])),
        mlp_bias=draw(st.sampled_from([None, False, True])),
        norms_per_block=draw(st.sampled_from([None, 0, 1, 2, 4])),
        final_norm=draw(st.booleans()),
        embedding_norm=draw(st.booleans()),
        qk_norm=draw(st.booleans()),
        position_offset=draw(st.integers(0, 4)),
        token_type_vocab=draw(st.integers(0, 3)),
        pooler=draw(st.booleans()),
        embedding_dim=draw(st.sampled_from([None, draw(st.integers(1, 256))])),
        **layers,
    )


class TestProperties:
    @settings(max_examples=300)
    @given(architectures())
    def test_consistent_and_positive(self, arch: Architecture) -> None:
        counted = count_parameters(arch)
        assert counted.total > 0
        assert counted.non_embedding > 0
        assert components(counted) == counted.total
        assert counted.embedding + counted.non_embedding == counted.total
        assert 0 < counted.active <= counted.total
        assert counted.active_mlp <= counted.mlp
        if arch.n_experts == 1:
            assert counted.active == counted.total
            assert counted.router == 0
        assert counted.terms
        assert all(isinstance(term, str) and term for term in counted.terms)

    @given(architectures())
    @example(
        Architecture(
            family=Family.ENCODER_ONLY,
            n_layers=1,
            d_model=56,
            n_heads=1,
            d_ff=1,
            vocab_size=1,
            context_length=1,
            embedding_dim=57,
        )
    )
    def test_monotone_in_width(self, arch: Architecture) -> None:
        # A separate embedding width moves with d_model: widening d_model alone onto
        # embedding_dim would drop the factorised-embedding projection (ALBERT) and shrink it.
        embedding_dim = None if arch.embedding_dim is None else arch.embedding_dim + arch.n_heads
        wider = replace(arch, d_model=arch.d_model + arch.n_heads, embedding_dim=embedding_dim)
        assert count_parameters(wider).total > count_parameters(arch).total

    @given(architectures())
    def test_monotone_in_depth(self, arch: Architecture) -> None:
        if arch.family is SEQ2SEQ:
            deeper = replace(
                arch, n_layers=arch.n_layers + 1, n_encoder_layers=(arch.n_encoder_layers or 0) + 1
            )
        else:
            deeper = replace(arch, n_layers=arch.n_layers + 1)
        assert count_parameters(deeper).total > count_parameters(arch).total

    @given(architectures())
    def test_grouped_query_attention_never_adds(self, arch: Architecture) -> None:
        multi_head = count_parameters(replace(arch, n_kv_heads=None)).total
        grouped = count_parameters(arch).total
        assert grouped <= multi_head
        if arch.kv_heads < arch.n_heads:
            assert grouped < multi_head
        multi_query = count_parameters(replace(arch, n_kv_heads=1)).total
        assert multi_query <= grouped

    @given(architectures())
    def test_tying_never_adds(self, arch: Architecture) -> None:
        tied = count_parameters(replace(arch, tied_embeddings=True))
        untied = count_parameters(replace(arch, tied_embeddings=False))
        assert tied.total <= untied.total
        assert tied.non_embedding == untied.non_embedding

    @given(architectures(family=DECODER))
    def test_active_grows_with_experts_per_token(self, arch: Architecture) -> None:
        if arch.experts_per_token == arch.n_experts:
            return
        more = count_parameters(replace(arch, experts_per_token=arch.experts_per_token + 1))
        counted = count_parameters(arch)
        assert more.total == counted.total
        assert more.active > counted.active
