"""Tests of :mod:`service.domain.hf_config`: real ``config.json`` files to exact counts, errors.

The expected totals were measured by ``bench/param_counts.py``: the ``transformers`` 5.24.0 class
of each config built on PyTorch's meta device (torch 2.13.0), ``sum(p.numel() for p in
model.parameters())``; see ``bench/PARAM_COUNTS.md``.
"""

from __future__ import annotations

import math
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.architecture import Architecture, count_parameters
from service.domain.errors import DomainError, InvalidInputError, UnsupportedError
from service.domain.hf_config import SUPPORTED_MODEL_TYPES, architecture_from_hf_config
from service.domain.types import Family, PositionEmbedding

ROOT = Path(__file__).resolve().parents[2]

#: Real ``config.json`` files (the keys that shape the model, as published on the Hugging Face Hub
#: under the repository in the comment), shared with ``bench/param_counts.py``, which reads this
#: literal with ``ast.literal_eval``: keep it a plain literal.
REAL_CONFIGS: dict[str, dict[str, object]] = {
    # openai-community/gpt2
    "gpt2": {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-05,
        "n_ctx": 1024,
        "n_embd": 768,
        "n_head": 12,
        "n_layer": 12,
        "n_positions": 1024,
        "vocab_size": 50257,
    },
    # openai-community/gpt2-xl
    "gpt2-xl": {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-05,
        "n_ctx": 1024,
        "n_embd": 1600,
        "n_head": 25,
        "n_layer": 48,
        "n_positions": 1024,
        "vocab_size": 50257,
    },
    # google-bert/bert-base-uncased
    "bert-base-uncased": {
        "model_type": "bert",
        "architectures": ["BertForMaskedLM"],
        "hidden_act": "gelu",
        "hidden_size": 768,
        "intermediate_size": 3072,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": 512,
        "num_attention_heads": 12,
        "num_hidden_layers": 12,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "type_vocab_size": 2,
        "vocab_size": 30522,
    },
    # google-bert/bert-large-uncased
    "bert-large-uncased": {
        "model_type": "bert",
        "architectures": ["BertForMaskedLM"],
        "hidden_act": "gelu",
        "hidden_size": 1024,
        "intermediate_size": 4096,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": 512,
        "num_attention_heads": 16,
        "num_hidden_layers": 24,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "type_vocab_size": 2,
        "vocab_size": 30522,
    },
    # FacebookAI/roberta-base
    "roberta-base": {
        "model_type": "roberta",
        "architectures": ["RobertaForMaskedLM"],
        "bos_token_id": 0,
        "eos_token_id": 2,
        "hidden_act": "gelu",
        "hidden_size": 768,
        "intermediate_size": 3072,
        "layer_norm_eps": 1e-05,
        "max_position_embeddings": 514,
        "num_attention_heads": 12,
        "num_hidden_layers": 12,
        "pad_token_id": 1,
        "type_vocab_size": 1,
        "vocab_size": 50265,
    },
    # FacebookAI/xlm-roberta-base
    "xlm-roberta-base": {
        "model_type": "xlm-roberta",
        "architectures": ["XLMRobertaForMaskedLM"],
        "bos_token_id": 0,
        "eos_token_id": 2,
        "hidden_act": "gelu",
        "hidden_size": 768,
        "intermediate_size": 3072,
        "layer_norm_eps": 1e-05,
        "max_position_embeddings": 514,
        "num_attention_heads": 12,
        "num_hidden_layers": 12,
        "pad_token_id": 1,
        "position_embedding_type": "absolute",
        "type_vocab_size": 1,
        "vocab_size": 250002,
    },
    # google-t5/t5-small (a T5 v1.0 config: no feed_forward_proj, tied head)
    "t5-small": {
        "model_type": "t5",
        "architectures": ["T5ForConditionalGeneration"],
        "d_ff": 2048,
        "d_kv": 64,
        "d_model": 512,
        "n_positions": 512,
        "num_heads": 8,
        "num_layers": 6,
        "relative_attention_num_buckets": 32,
        "vocab_size": 32128,
    },
    # google-t5/t5-base
    "t5-base": {
        "model_type": "t5",
        "architectures": ["T5ForConditionalGeneration"],
        "d_ff": 3072,
        "d_kv": 64,
        "d_model": 768,
        "n_positions": 512,
        "num_heads": 12,
        "num_layers": 12,
        "relative_attention_num_buckets": 32,
        "vocab_size": 32128,
    },
    # google-t5/t5-3b (n_heads * d_kv = 4096 != d_model)
    "t5-3b": {
        "model_type": "t5",
        "architectures": ["T5ForConditionalGeneration"],
        "d_ff": 16384,
        "d_kv": 128,
        "d_model": 1024,
        "n_positions": 512,
        "num_heads": 32,
        "num_layers": 24,
        "relative_attention_num_buckets": 32,
        "vocab_size": 32128,
    },
    # google-t5/t5-11b
    "t5-11b": {
        "model_type": "t5",
        "architectures": ["T5ForConditionalGeneration"],
        "d_ff": 65536,
        "d_kv": 128,
        "d_model": 1024,
        "n_positions": 512,
        "num_heads": 128,
        "num_layers": 24,
        "relative_attention_num_buckets": 32,
        "vocab_size": 32128,
    },
    # google/flan-t5-xxl (T5 v1.1: gated-GELU, untied head)
    "flan-t5-xxl": {
        "model_type": "t5",
        "architectures": ["T5ForConditionalGeneration"],
        "d_ff": 10240,
        "d_kv": 64,
        "d_model": 4096,
        "feed_forward_proj": "gated-gelu",
        "num_decoder_layers": 24,
        "num_heads": 64,
        "num_layers": 24,
        "relative_attention_max_distance": 128,
        "relative_attention_num_buckets": 32,
        "tie_word_embeddings": False,
        "vocab_size": 32128,
    },
    # google/mt5-small
    "mt5-small": {
        "model_type": "mt5",
        "architectures": ["MT5ForConditionalGeneration"],
        "d_ff": 1024,
        "d_kv": 64,
        "d_model": 512,
        "feed_forward_proj": "gated-gelu",
        "num_decoder_layers": 8,
        "num_heads": 6,
        "num_layers": 8,
        "relative_attention_num_buckets": 32,
        "tie_word_embeddings": False,
        "vocab_size": 250112,
    },
    # facebook/bart-base
    "bart-base": {
        "model_type": "bart",
        "architectures": ["BartModel"],
        "activation_function": "gelu",
        "d_model": 768,
        "decoder_attention_heads": 12,
        "decoder_ffn_dim": 3072,
        "decoder_layers": 6,
        "encoder_attention_heads": 12,
        "encoder_ffn_dim": 3072,
        "encoder_layers": 6,
        "max_position_embeddings": 1024,
        "pad_token_id": 1,
        "scale_embedding": False,
        "vocab_size": 50265,
    },
    # facebook/bart-large
    "bart-large": {
        "model_type": "bart",
        "architectures": ["BartModel"],
        "activation_function": "gelu",
        "d_model": 1024,
        "decoder_attention_heads": 16,
        "decoder_ffn_dim": 4096,
        "decoder_layers": 12,
        "encoder_attention_heads": 16,
        "encoder_ffn_dim": 4096,
        "encoder_layers": 12,
        "max_position_embeddings": 1024,
        "pad_token_id": 1,
        "scale_embedding": False,
        "vocab_size": 50265,
    },
    # bigscience/bloom-560m
    "bloom-560m": {
        "model_type": "bloom",
        "architectures": ["BloomForCausalLM"],
        "hidden_size": 1024,
        "layer_norm_epsilon": 1e-05,
        "n_head": 16,
        "n_layer": 24,
        "vocab_size": 250880,
    },
    # bigscience/bloom (176B; this config names its width n_embed)
    "bloom-176b": {
        "model_type": "bloom",
        "architectures": ["BloomForCausalLM"],
        "layer_norm_epsilon": 1e-05,
        "n_embed": 14336,
        "n_layer": 70,
        "num_attention_heads": 112,
        "pretraining_tp": 4,
        "vocab_size": 250880,
    },
    # facebook/opt-125m
    "opt-125m": {
        "model_type": "opt",
        "architectures": ["OPTForCausalLM"],
        "activation_function": "relu",
        "do_layer_norm_before": True,
        "ffn_dim": 3072,
        "hidden_size": 768,
        "max_position_embeddings": 2048,
        "num_attention_heads": 12,
        "num_hidden_layers": 12,
        "pad_token_id": 1,
        "vocab_size": 50272,
        "word_embed_proj_dim": 768,
    },
    # facebook/opt-350m (post-norm, 512-wide embeddings projected to 1024)
    "opt-350m": {
        "model_type": "opt",
        "architectures": ["OPTForCausalLM"],
        "activation_function": "relu",
        "do_layer_norm_before": False,
        "ffn_dim": 4096,
        "hidden_size": 1024,
        "max_position_embeddings": 2048,
        "num_attention_heads": 16,
        "num_hidden_layers": 24,
        "pad_token_id": 1,
        "vocab_size": 50272,
        "word_embed_proj_dim": 512,
    },
    # OPT-175B (Zhang et al. 2022, Table 1; shaped like facebook/opt-66b's config)
    "opt-175b": {
        "model_type": "opt",
        "architectures": ["OPTForCausalLM"],
        "activation_function": "relu",
        "do_layer_norm_before": True,
        "ffn_dim": 49152,
        "hidden_size": 12288,
        "max_position_embeddings": 2048,
        "num_attention_heads": 96,
        "num_hidden_layers": 96,
        "pad_token_id": 1,
        "vocab_size": 50272,
        "word_embed_proj_dim": 12288,
    },
    # huggyllama/llama-7b
    "llama-7b": {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_act": "silu",
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "max_position_embeddings": 2048,
        "num_attention_heads": 32,
        "num_hidden_layers": 32,
        "rms_norm_eps": 1e-06,
        "tie_word_embeddings": False,
        "vocab_size": 32000,
    },
    # meta-llama/Llama-2-70b-hf (grouped-query attention, 8 key/value heads)
    "llama-2-70b": {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_act": "silu",
        "hidden_size": 8192,
        "intermediate_size": 28672,
        "max_position_embeddings": 4096,
        "num_attention_heads": 64,
        "num_hidden_layers": 80,
        "num_key_value_heads": 8,
        "rms_norm_eps": 1e-05,
        "tie_word_embeddings": False,
        "vocab_size": 32000,
    },
    # mistralai/Mistral-7B-v0.1
    "mistral-7b": {
        "model_type": "mistral",
        "architectures": ["MistralForCausalLM"],
        "hidden_act": "silu",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "max_position_embeddings": 32768,
        "num_attention_heads": 32,
        "num_hidden_layers": 32,
        "num_key_value_heads": 8,
        "rms_norm_eps": 1e-05,
        "rope_theta": 10000.0,
        "sliding_window": 4096,
        "tie_word_embeddings": False,
        "vocab_size": 32000,
    },
    # mistralai/Mixtral-8x7B-v0.1
    "mixtral-8x7b": {
        "model_type": "mixtral",
        "architectures": ["MixtralForCausalLM"],
        "hidden_act": "silu",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "max_position_embeddings": 32768,
        "num_attention_heads": 32,
        "num_experts_per_tok": 2,
        "num_hidden_layers": 32,
        "num_key_value_heads": 8,
        "num_local_experts": 8,
        "rms_norm_eps": 1e-05,
        "rope_theta": 1000000.0,
        "tie_word_embeddings": False,
        "vocab_size": 32000,
    },
    # tiiuae/falcon-7b (multi-query, parallel attention with one LayerNorm)
    "falcon-7b": {
        "model_type": "falcon",
        "architectures": ["FalconForCausalLM"],
        "alibi": False,
        "bias": False,
        "hidden_size": 4544,
        "multi_query": True,
        "new_decoder_architecture": False,
        "num_attention_heads": 71,
        "num_hidden_layers": 32,
        "parallel_attn": True,
        "vocab_size": 65024,
    },
    # tiiuae/falcon-40b (new decoder architecture: 8 key/value groups, two LayerNorms)
    "falcon-40b": {
        "model_type": "falcon",
        "architectures": ["FalconForCausalLM"],
        "alibi": False,
        "bias": False,
        "hidden_size": 8192,
        "new_decoder_architecture": True,
        "num_attention_heads": 128,
        "num_hidden_layers": 60,
        "num_kv_heads": 8,
        "parallel_attn": True,
        "vocab_size": 65024,
    },
    # EleutherAI/gpt-neox-20b
    "gpt-neox-20b": {
        "model_type": "gpt_neox",
        "architectures": ["GPTNeoXForCausalLM"],
        "hidden_act": "gelu_fast",
        "hidden_size": 6144,
        "intermediate_size": 24576,
        "layer_norm_eps": 1e-05,
        "max_position_embeddings": 2048,
        "num_attention_heads": 64,
        "num_hidden_layers": 44,
        "rotary_emb_base": 10000,
        "rotary_pct": 0.25,
        "tie_word_embeddings": False,
        "vocab_size": 50432,
    },
    # Qwen/Qwen2-7B (biases on Q/K/V only)
    "qwen2-7b": {
        "model_type": "qwen2",
        "architectures": ["Qwen2ForCausalLM"],
        "hidden_act": "silu",
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "max_position_embeddings": 131072,
        "max_window_layers": 28,
        "num_attention_heads": 28,
        "num_hidden_layers": 28,
        "num_key_value_heads": 4,
        "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0,
        "sliding_window": 131072,
        "tie_word_embeddings": False,
        "use_sliding_window": False,
        "vocab_size": 152064,
    },
    # Qwen/Qwen3-8B (QK-norm, head_dim 128)
    "qwen3-8b": {
        "model_type": "qwen3",
        "architectures": ["Qwen3ForCausalLM"],
        "attention_bias": False,
        "head_dim": 128,
        "hidden_act": "silu",
        "hidden_size": 4096,
        "intermediate_size": 12288,
        "max_position_embeddings": 40960,
        "num_attention_heads": 32,
        "num_hidden_layers": 36,
        "num_key_value_heads": 8,
        "rms_norm_eps": 1e-06,
        "rope_theta": 1000000,
        "tie_word_embeddings": False,
        "vocab_size": 151936,
    },
    # google/gemma-7b (head_dim 256 with 16 heads on a 3072-wide model, tied head)
    "gemma-7b": {
        "model_type": "gemma",
        "architectures": ["GemmaForCausalLM"],
        "head_dim": 256,
        "hidden_act": "gelu",
        "hidden_size": 3072,
        "intermediate_size": 24576,
        "max_position_embeddings": 8192,
        "num_attention_heads": 16,
        "num_hidden_layers": 28,
        "num_key_value_heads": 16,
        "rms_norm_eps": 1e-06,
        "vocab_size": 256000,
    },
    # EleutherAI/pythia-1b
    "pythia-1b": {
        "model_type": "gpt_neox",
        "architectures": ["GPTNeoXForCausalLM"],
        "hidden_act": "gelu",
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "layer_norm_eps": 1e-05,
        "max_position_embeddings": 2048,
        "num_attention_heads": 8,
        "num_hidden_layers": 16,
        "rotary_emb_base": 10000,
        "rotary_pct": 0.25,
        "tie_word_embeddings": False,
        "use_parallel_residual": True,
        "vocab_size": 50304,
    },
    # tiiuae/falcon-rw-1b (ALiBi, biases, sequential blocks, multi-head attention)
    "falcon-rw-1b": {
        "model_type": "falcon",
        "architectures": ["FalconForCausalLM"],
        "alibi": True,
        "bias": True,
        "hidden_size": 2048,
        "multi_query": False,
        "new_decoder_architecture": False,
        "num_attention_heads": 32,
        "num_hidden_layers": 24,
        "parallel_attn": False,
        "vocab_size": 50304,
    },
    # Qwen/Qwen2-0.5B (tied head)
    "qwen2-0.5b": {
        "model_type": "qwen2",
        "architectures": ["Qwen2ForCausalLM"],
        "hidden_act": "silu",
        "hidden_size": 896,
        "intermediate_size": 4864,
        "max_position_embeddings": 131072,
        "num_attention_heads": 14,
        "num_hidden_layers": 24,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0,
        "tie_word_embeddings": True,
        "vocab_size": 151936,
    },
    # meta-llama/Meta-Llama-3-8B
    "llama-3-8b": {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "hidden_act": "silu",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "max_position_embeddings": 8192,
        "num_attention_heads": 32,
        "num_hidden_layers": 32,
        "num_key_value_heads": 8,
        "rms_norm_eps": 1e-05,
        "rope_theta": 500000.0,
        "tie_word_embeddings": False,
        "vocab_size": 128256,
    },
}


#: name -> (transformers class, total parameters, active parameters), measured by
#: bench/param_counts.py (transformers 5.24.0, torch 2.13.0, meta device). T5 v1.1/mT5 heads are
#: untied there as in their checkpoints (transformers 5 ties them at construction).
EXPECTED: dict[str, tuple[str, int, int]] = {
    "gpt2": ("GPT2LMHeadModel", 124_439_808, 124_439_808),
    "gpt2-xl": ("GPT2LMHeadModel", 1_557_611_200, 1_557_611_200),
    "bert-base-uncased": ("BertModel", 109_482_240, 109_482_240),
    "bert-large-uncased": ("BertModel", 335_141_888, 335_141_888),
    "roberta-base": ("RobertaModel", 124_645_632, 124_645_632),
    "xlm-roberta-base": ("XLMRobertaModel", 278_043_648, 278_043_648),
    "t5-small": ("T5ForConditionalGeneration", 60_506_624, 60_506_624),
    "t5-base": ("T5ForConditionalGeneration", 222_903_552, 222_903_552),
    "t5-3b": ("T5ForConditionalGeneration", 2_851_598_336, 2_851_598_336),
    "t5-11b": ("T5ForConditionalGeneration", 11_307_321_344, 11_307_321_344),
    "flan-t5-xxl": ("T5ForConditionalGeneration", 11_135_332_352, 11_135_332_352),
    "mt5-small": ("MT5ForConditionalGeneration", 300_176_768, 300_176_768),
    "bart-base": ("BartForConditionalGeneration", 139_420_416, 139_420_416),
    "bart-large": ("BartForConditionalGeneration", 406_291_456, 406_291_456),
    "bloom-560m": ("BloomForCausalLM", 559_214_592, 559_214_592),
    "bloom-176b": ("BloomForCausalLM", 176_247_271_424, 176_247_271_424),
    "opt-125m": ("OPTForCausalLM", 125_239_296, 125_239_296),
    "opt-350m": ("OPTForCausalLM", 331_196_416, 331_196_416),
    "opt-175b": ("OPTForCausalLM", 174_604_468_224, 174_604_468_224),
    "llama-7b": ("LlamaForCausalLM", 6_738_415_616, 6_738_415_616),
    "llama-2-70b": ("LlamaForCausalLM", 68_976_648_192, 68_976_648_192),
    "mistral-7b": ("MistralForCausalLM", 7_241_732_096, 7_241_732_096),
    "mixtral-8x7b": ("MixtralForCausalLM", 46_702_792_704, 12_879_925_248),
    "falcon-7b": ("FalconForCausalLM", 6_921_720_704, 6_921_720_704),
    "falcon-40b": ("FalconForCausalLM", 41_303_293_952, 41_303_293_952),
    "gpt-neox-20b": ("GPTNeoXForCausalLM", 20_554_567_680, 20_554_567_680),
    "qwen2-7b": ("Qwen2ForCausalLM", 7_615_616_512, 7_615_616_512),
    "qwen3-8b": ("Qwen3ForCausalLM", 8_190_735_360, 8_190_735_360),
    "gemma-7b": ("GemmaForCausalLM", 8_537_680_896, 8_537_680_896),
    "pythia-1b": ("GPTNeoXForCausalLM", 1_011_781_632, 1_011_781_632),
    "falcon-rw-1b": ("FalconForCausalLM", 1_311_625_216, 1_311_625_216),
    "qwen2-0.5b": ("Qwen2ForCausalLM", 494_032_768, 494_032_768),
    "llama-3-8b": ("LlamaForCausalLM", 8_030_261_248, 8_030_261_248),
}


def config(name: str, **changes: object) -> dict[str, object]:
    """A copy of ``REAL_CONFIGS[name]`` with ``changes`` (``None`` deletes the key)."""
    result = dict(REAL_CONFIGS[name])
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def total(raw: Mapping[str, object]) -> int:
    return count_parameters(architecture_from_hf_config(raw)).total


class TestRealModels:
    def test_every_config_has_an_expectation(self) -> None:
        assert set(EXPECTED) == set(REAL_CONFIGS)

    @pytest.mark.parametrize("name", sorted(REAL_CONFIGS))
    def test_count_matches_transformers_exactly(self, name: str) -> None:
        _, expected_total, expected_active = EXPECTED[name]
        counted = count_parameters(architecture_from_hf_config(REAL_CONFIGS[name]))
        assert counted.total == expected_total
        assert counted.active == expected_active
        assert math.isclose(counted.total, expected_total, rel_tol=0.005)  # the bar

    def test_mixtral_total_and_active(self) -> None:
        counted = count_parameters(architecture_from_hf_config(REAL_CONFIGS["mixtral-8x7b"]))
        # Jiang et al. 2024: "47B parameters, 13B active".
        assert round(counted.total / 1e9, 1) == 46.7
        assert round(counted.active / 1e9, 1) == 12.9
        assert counted.router == 32 * 4096 * 8

    def test_gpt2_kaplan_non_embedding(self) -> None:
        counted = count_parameters(architecture_from_hf_config(REAL_CONFIGS["gpt2"]))
        assert counted.embedding == 50257 * 768 + 1024 * 768
        assert counted.non_embedding == 85_056_000


class TestMappings:
    def test_llama(self) -> None:
        arch = architecture_from_hf_config(REAL_CONFIGS["llama-2-70b"])
        assert arch == Architecture(
            family=Family.DECODER_ONLY,
            n_layers=80,
            d_model=8192,
            n_heads=64,
            d_ff=28672,
            vocab_size=32000,
            context_length=4096,
            n_kv_heads=8,
            tied_embeddings=False,
            gated_mlp=True,
            position_embedding=PositionEmbedding.ROTARY,
            bias=False,
            mlp_bias=False,
            norm="rmsnorm",
        )

    def test_llama_defaults_from_the_class(self) -> None:
        arch = architecture_from_hf_config(
            config(
                "llama-7b",
                max_position_embeddings=None,
                tie_word_embeddings=None,
                num_key_value_heads=None,
            )
        )
        assert (arch.context_length, arch.tied_embeddings, arch.kv_heads) == (2048, False, 32)
        assert arch.head_dim is None

    def test_llama_biases(self) -> None:
        arch = architecture_from_hf_config(config("llama-7b", attention_bias=True, mlp_bias=False))
        assert (arch.bias, arch.qkv_bias, arch.mlp_bias) == (True, None, False)
        plain = total(REAL_CONFIGS["llama-7b"])
        # q, k, v and o biases of width 4096 in 32 blocks.
        assert total(config("llama-7b", attention_bias=True)) == plain + 32 * 4 * 4096
        assert total(config("llama-7b", mlp_bias=True)) == plain + 32 * (2 * 11008 + 4096)

    def test_llama_head_dim_key(self) -> None:
        arch = architecture_from_hf_config(config("llama-3-8b", head_dim=64))
        assert arch.attention_head_dim == 64

    def test_mistral_default_kv_heads_is_8(self) -> None:
        arch = architecture_from_hf_config(config("mistral-7b", num_key_value_heads=None))
        assert arch.kv_heads == 8
        assert arch.context_length == 32768

    def test_mistral_default_context(self) -> None:
        arch = architecture_from_hf_config(config("mistral-7b", max_position_embeddings=None))
        assert arch.context_length == 131072

    def test_mixtral(self) -> None:
        arch = architecture_from_hf_config(REAL_CONFIGS["mixtral-8x7b"])
        assert (arch.n_experts, arch.experts_per_token, arch.kv_heads) == (8, 2, 8)

    def test_mixtral_defaults_and_alias(self) -> None:
        arch = architecture_from_hf_config(
            config("mixtral-8x7b", num_local_experts=None, num_experts_per_tok=None)
        )
        assert (arch.n_experts, arch.experts_per_token) == (8, 2)
        arch = architecture_from_hf_config(
            config("mixtral-8x7b", num_local_experts=None, num_experts=16)
        )
        assert arch.n_experts == 16

    def test_qwen2_qkv_bias_only(self) -> None:
        arch = architecture_from_hf_config(REAL_CONFIGS["qwen2-7b"])
        assert (arch.bias, arch.qkv_bias, arch.mlp_bias) == (False, True, False)
        assert architecture_from_hf_config(REAL_CONFIGS["qwen2-0.5b"]).tied_embeddings

    def test_qwen3_qk_norm_and_default_head_dim(self) -> None:
        arch = architecture_from_hf_config(config("qwen3-8b", head_dim=None))
        assert arch.qk_norm
        assert arch.head_dim == 128

    def test_gemma_defaults(self) -> None:
        arch = architecture_from_hf_config(config("gemma-7b", head_dim=None))
        assert arch.head_dim == 256
        assert arch.tied_embeddings

    def test_gpt2(self) -> None:
        arch = architecture_from_hf_config(REAL_CONFIGS["gpt2-xl"])
        assert (arch.n_layers, arch.d_model, arch.n_heads, arch.d_ff) == (48, 1600, 25, 6400)
        assert (arch.context_length, arch.tied_embeddings) == (1024, True)
        assert arch.position_embedding is PositionEmbedding.LEARNED

    def test_gpt2_attribute_map_aliases_and_n_inner(self) -> None:
        aliased = {
            "model_type": "gpt2",
            "vocab_size": 50257,
            "hidden_size": 768,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "max_position_embeddings": 1024,
            "n_inner": None,
        }
        assert total(aliased) == EXPECTED["gpt2"][1]
        arch = architecture_from_hf_config(config("gpt2", n_positions=None, n_inner=1000))
        assert (arch.context_length, arch.d_ff) == (1024, 1000)

    def test_bert(self) -> None:
        arch = architecture_from_hf_config(REAL_CONFIGS["bert-base-uncased"])
        assert arch.family is Family.ENCODER_ONLY
        assert (arch.context_length, arch.position_offset, arch.token_type_vocab) == (512, 0, 2)
        assert (arch.final_norm, arch.embedding_norm, arch.pooler) == (False, True, True)
        defaults = config("bert-base-uncased", max_position_embeddings=None, type_vocab_size=None)
        assert total(defaults) == EXPECTED["bert-base-uncased"][1]

    def test_roberta_position_offset(self) -> None:
        arch = architecture_from_hf_config(REAL_CONFIGS["roberta-base"])
        assert (arch.context_length, arch.position_offset, arch.token_type_vocab) == (512, 2, 1)
        no_pad = architecture_from_hf_config(config("roberta-base", pad_token_id=None))
        assert (no_pad.context_length, no_pad.position_offset) == (512, 2)
        pad_zero = architecture_from_hf_config(config("roberta-base", pad_token_id=0))
        assert (pad_zero.context_length, pad_zero.position_offset) == (513, 1)

    def test_t5_v1_0(self) -> None:
        arch = architecture_from_hf_config(REAL_CONFIGS["t5-3b"])
        assert arch.family is Family.ENCODER_DECODER
        assert (arch.n_encoder_layers, arch.n_decoder_layers, arch.n_layers) == (24, 24, 48)
        assert (arch.head_dim, arch.n_heads, arch.d_model) == (128, 32, 1024)
        assert (arch.gated_mlp, arch.tied_embeddings, arch.bias) == (False, True, False)
        assert arch.position_embedding is PositionEmbedding.RELATIVE_BIAS
        assert arch.norm == "rmsnorm"

    def test_t5_v1_1(self) -> None:
        arch = architecture_from_hf_config(REAL_CONFIGS["flan-t5-xxl"])
        assert (arch.gated_mlp, arch.tied_embeddings) == (True, False)

    def test_t5_defaults(self) -> None:
        arch = architecture_from_hf_config(
            config("flan-t5-xxl", num_decoder_layers=None, relative_attention_num_buckets=None)
        )
        assert arch.n_decoder_layers == 24
        assert arch.context_length == 512
        asymmetric = architecture_from_hf_config(config("t5-small", num_decoder_layers=2))
        assert (asymmetric.n_layers, asymmetric.n_decoder_layers) == (8, 2)

    def test_mt5_defaults_are_gated_and_untied(self) -> None:
        arch = architecture_from_hf_config(
            config("mt5-small", feed_forward_proj=None, tie_word_embeddings=None)
        )
        assert (arch.gated_mlp, arch.tied_embeddings) == (True, False)

    def test_bart(self) -> None:
        arch = architecture_from_hf_config(REAL_CONFIGS["bart-large"])
        assert (arch.n_encoder_layers, arch.n_decoder_layers, arch.d_ff) == (12, 12, 4096)
        assert (arch.position_offset, arch.final_norm, arch.embedding_norm) == (2, False, True)
        defaults = config("bart-base", max_position_embeddings=None)
        assert total(defaults) == EXPECTED["bart-base"][1]

    def test_bloom_width_alias(self) -> None:
        arch = architecture_from_hf_config(REAL_CONFIGS["bloom-176b"])
        assert (arch.d_model, arch.n_heads, arch.d_ff) == (14336, 112, 4 * 14336)
        assert arch.position_embedding is PositionEmbedding.ALIBI
        assert arch.embedding_norm
        assert (
            architecture_from_hf_config(config("bloom-560m", seq_length=4096)).context_length
            == 4096
        )

    def test_opt(self) -> None:
        arch = architecture_from_hf_config(REAL_CONFIGS["opt-125m"])
        assert (arch.position_offset, arch.embedding_dim, arch.final_norm) == (2, None, True)

    def test_opt_350m_projection_and_post_norm(self) -> None:
        arch = architecture_from_hf_config(REAL_CONFIGS["opt-350m"])
        assert (arch.embedding_dim, arch.final_norm) == (512, False)
        counted = count_parameters(arch)
        assert counted.embedding_projection == 2 * 512 * 1024
        assert counted.token_embedding == 50272 * 512

    def test_opt_flags(self) -> None:
        removed = architecture_from_hf_config(config("opt-125m", _remove_final_layer_norm=True))
        assert not removed.final_norm
        no_bias = architecture_from_hf_config(config("opt-125m", enable_bias=False))
        assert not no_bias.bias
        assert architecture_from_hf_config(config("opt-125m", word_embed_proj_dim=None)) == (
            architecture_from_hf_config(REAL_CONFIGS["opt-125m"])
        )

    def test_falcon_7b_multi_query_one_norm(self) -> None:
        arch = architecture_from_hf_config(REAL_CONFIGS["falcon-7b"])
        assert (arch.kv_heads, arch.norms_per_block, arch.bias) == (1, 1, False)
        assert arch.position_embedding is PositionEmbedding.ROTARY

    def test_falcon_40b_new_architecture(self) -> None:
        arch = architecture_from_hf_config(REAL_CONFIGS["falcon-40b"])
        assert (arch.kv_heads, arch.norms_per_block) == (8, 2)
        no_groups = architecture_from_hf_config(config("falcon-40b", num_kv_heads=None))
        assert no_groups.kv_heads == 128
        one_norm = architecture_from_hf_config(config("falcon-40b", num_ln_in_parallel_attn=1))
        assert one_norm.norms_per_block == 1

    def test_falcon_rw_sequential_alibi(self) -> None:
        arch = architecture_from_hf_config(REAL_CONFIGS["falcon-rw-1b"])
        assert (arch.kv_heads, arch.norms_per_block, arch.bias) == (32, 2, True)
        assert arch.position_embedding is PositionEmbedding.ALIBI
        two_norms = architecture_from_hf_config(config("falcon-7b", num_ln_in_parallel_attn=2))
        assert two_norms.norms_per_block == 2

    def test_falcon_remote_code_configs(self) -> None:
        # The configuration_RW.py names of the first Falcon uploads.
        refined_web_model = {
            "model_type": "RefinedWebModel",
            "alibi": False,
            "bias": False,
            "hidden_size": 4544,
            "multi_query": True,
            "n_head": 71,
            "n_layer": 32,
            "parallel_attn": True,
            "vocab_size": 65024,
        }
        assert total(refined_web_model) == EXPECTED["falcon-7b"][1]
        refined_web = {
            "model_type": "RefinedWeb",
            "alibi": False,
            "bias": False,
            "hidden_size": 8192,
            "n_head": 128,
            "n_head_kv": 8,
            "n_layer": 60,
            "parallel_attn": True,
            "vocab_size": 65024,
        }
        assert total(refined_web) == EXPECTED["falcon-40b"][1]

    def test_gpt_neox(self) -> None:
        arch = architecture_from_hf_config(REAL_CONFIGS["gpt-neox-20b"])
        assert (arch.bias, arch.mlp_bias, arch.tied_embeddings) == (True, True, False)
        no_attention_bias = config("pythia-1b", attention_bias=False)
        assert total(no_attention_bias) == EXPECTED["pythia-1b"][1] - 16 * (3 * 2048 + 2048)

    def test_supported_types(self) -> None:
        assert {
            "llama",
            "mistral",
            "mixtral",
            "qwen2",
            "qwen3",
            "gemma",
            "gpt2",
            "bert",
            "roberta",
            "xlm-roberta",
            "t5",
            "mt5",
            "bart",
            "bloom",
            "opt",
            "falcon",
            "gpt_neox",
        } <= set(SUPPORTED_MODEL_TYPES)
        for model_type in SUPPORTED_MODEL_TYPES:
            assert model_type in {str(c["model_type"]) for c in REAL_CONFIGS.values()} | {
                "RefinedWeb",
                "RefinedWebModel",
            }


class TestErrors:
    @pytest.mark.parametrize(("value", "words"), [([1, 2], "an array"), (None, "null")])
    def test_not_an_object(self, value: object, words: str) -> None:
        with pytest.raises(InvalidInputError) as caught:
            architecture_from_hf_config(value)  # type: ignore[arg-type]
        assert caught.value.field == "hf_config"
        assert words in caught.value.message

    @pytest.mark.parametrize("raw", [{}, {"model_type": None, "hidden_size": 8}])
    def test_missing_model_type(self, raw: dict[str, object]) -> None:
        with pytest.raises(UnsupportedError) as caught:
            architecture_from_hf_config(raw)
        assert caught.value.field == "hf_config.model_type"
        assert "missing" in caught.value.message
        assert "llama" in caught.value.message
        assert "architecture" in caught.value.message

    def test_unknown_model_type_lists_the_supported(self) -> None:
        with pytest.raises(UnsupportedError) as caught:
            architecture_from_hf_config({"model_type": "mamba", "hidden_size": 768})
        assert caught.value.field == "hf_config.model_type"
        assert "'mamba'" in caught.value.message
        for model_type in SUPPORTED_MODEL_TYPES:
            assert model_type in caught.value.message

    def test_model_type_must_be_a_string(self) -> None:
        with pytest.raises(InvalidInputError) as caught:
            architecture_from_hf_config({"model_type": 7})
        assert caught.value.field == "hf_config.model_type"
        assert "an integer" in caught.value.message

    @pytest.mark.parametrize(
        ("name", "key"),
        [
            ("llama-7b", "hidden_size"),
            ("llama-7b", "num_hidden_layers"),
            ("llama-7b", "num_attention_heads"),
            ("llama-7b", "intermediate_size"),
            ("llama-7b", "vocab_size"),
            ("mixtral-8x7b", "intermediate_size"),
            ("gpt2", "n_embd"),
            ("gpt2", "n_layer"),
            ("gpt2", "n_head"),
            ("bert-base-uncased", "intermediate_size"),
            ("t5-small", "d_kv"),
            ("t5-small", "d_ff"),
            ("t5-small", "num_layers"),
            ("bart-base", "decoder_ffn_dim"),
            ("bart-base", "decoder_layers"),
            ("bloom-560m", "hidden_size"),
            ("bloom-560m", "n_layer"),
            ("opt-125m", "ffn_dim"),
            ("falcon-7b", "num_attention_heads"),
            ("gpt-neox-20b", "intermediate_size"),
        ],
    )
    def test_missing_required_key(self, name: str, key: str) -> None:
        raw = dict(REAL_CONFIGS[name])
        del raw[key]
        with pytest.raises(InvalidInputError) as caught:
            architecture_from_hf_config(raw)
        assert caught.value.field == f"hf_config.{key}"
        assert "required" in caught.value.message
        raw[key] = None
        with pytest.raises(InvalidInputError) as caught:
            architecture_from_hf_config(raw)
        assert caught.value.field == f"hf_config.{key}"

    @pytest.mark.parametrize(
        ("value", "words"),
        [
            ("4096", "a string"),
            (True, "a boolean"),
            (4096.0, "a number"),
            ({"value": 4096}, "an object"),
            ([4096], "an array"),
            (0, "at least 1"),
            (-4096, "at least 1"),
        ],
    )
    def test_ill_typed_integer(self, value: object, words: str) -> None:
        with pytest.raises(InvalidInputError) as caught:
            architecture_from_hf_config(config("llama-7b", hidden_size=value))
        assert caught.value.field == "hf_config.hidden_size"
        assert words in caught.value.message

    def test_ill_typed_optional_integer(self) -> None:
        with pytest.raises(InvalidInputError) as caught:
            architecture_from_hf_config(config("llama-2-70b", num_key_value_heads="8"))
        assert caught.value.field == "hf_config.num_key_value_heads"
        with pytest.raises(InvalidInputError) as caught:
            architecture_from_hf_config(config("roberta-base", pad_token_id=-1))
        assert caught.value.field == "hf_config.pad_token_id"

    @pytest.mark.parametrize("value", ["false", 0, 1.0])
    def test_ill_typed_flag(self, value: object) -> None:
        with pytest.raises(InvalidInputError) as caught:
            architecture_from_hf_config(config("llama-7b", tie_word_embeddings=value))
        assert caught.value.field == "hf_config.tie_word_embeddings"
        assert "must be a boolean" in caught.value.message

    def test_ill_typed_text(self) -> None:
        with pytest.raises(InvalidInputError) as caught:
            architecture_from_hf_config(config("flan-t5-xxl", feed_forward_proj=3))
        assert caught.value.field == "hf_config.feed_forward_proj"
        assert "an integer" in caught.value.message

    def test_unusual_value_type_is_named(self) -> None:
        with pytest.raises(InvalidInputError) as caught:
            architecture_from_hf_config(config("llama-7b", hidden_size=object()))
        assert "object" in caught.value.message

    @pytest.mark.parametrize("value", ["gated-", "gelu-new", "gated-gelu-new", ""])
    def test_bad_feed_forward_proj(self, value: str) -> None:
        with pytest.raises(InvalidInputError) as caught:
            architecture_from_hf_config(config("flan-t5-xxl", feed_forward_proj=value))
        assert caught.value.field == "hf_config.feed_forward_proj"

    def test_relative_attention_buckets_other_than_32(self) -> None:
        with pytest.raises(UnsupportedError) as caught:
            architecture_from_hf_config(config("t5-small", relative_attention_num_buckets=64))
        assert caught.value.field == "hf_config.relative_attention_num_buckets"

    @pytest.mark.parametrize(
        ("key", "value"), [("decoder_attention_heads", 16), ("decoder_ffn_dim", 4096)]
    )
    def test_bart_asymmetric_stacks(self, key: str, value: int) -> None:
        with pytest.raises(UnsupportedError) as caught:
            architecture_from_hf_config(config("bart-base", **{key: value}))
        assert caught.value.field == f"hf_config.{key}"

    def test_bert_relative_positions(self) -> None:
        with pytest.raises(UnsupportedError) as caught:
            architecture_from_hf_config(
                config("bert-base-uncased", position_embedding_type="relative_key")
            )
        assert caught.value.field == "hf_config.position_embedding_type"

    @pytest.mark.parametrize("name", ["bert-base-uncased", "gpt2"])
    def test_added_cross_attention(self, name: str) -> None:
        with pytest.raises(UnsupportedError) as caught:
            architecture_from_hf_config(config(name, add_cross_attention=True))
        assert caught.value.field == "hf_config.add_cross_attention"

    def test_roberta_positions_must_exceed_the_offset(self) -> None:
        with pytest.raises(InvalidInputError) as caught:
            architecture_from_hf_config(config("roberta-base", max_position_embeddings=2))
        assert caught.value.field == "hf_config.max_position_embeddings"

    def test_opt_without_affine_norms(self) -> None:
        with pytest.raises(UnsupportedError) as caught:
            architecture_from_hf_config(config("opt-125m", layer_norm_elementwise_affine=False))
        assert caught.value.field == "hf_config.layer_norm_elementwise_affine"

    @pytest.mark.parametrize(
        ("name", "changes", "field"),
        [
            ("llama-2-70b", {"num_key_value_heads": 6}, "hf_config.num_key_value_heads"),
            ("llama-7b", {"num_attention_heads": 30}, "hf_config.num_attention_heads"),
            ("mixtral-8x7b", {"num_experts_per_tok": 9}, "hf_config.num_experts_per_tok"),
            ("gpt2", {"n_layer": 2_000_000}, "hf_config.n_layer"),
            ("t5-small", {"num_layers": 999_999}, "hf_config.num_layers"),
            ("falcon-7b", {"num_attention_heads": 70}, "hf_config.num_attention_heads"),
            # BLOOM's MLP width is 4 x hidden_size, which no key states.
            ("bloom-560m", {"hidden_size": 3_000_000, "n_head": 1}, "hf_config"),
        ],
    )
    def test_impossible_shapes_point_at_the_key(
        self, name: str, changes: dict[str, object], field: str
    ) -> None:
        with pytest.raises(InvalidInputError) as caught:
            architecture_from_hf_config(config(name, **changes))
        assert caught.value.field == field
        assert "(architecture." in caught.value.message


_KEYS = sorted({key for raw in REAL_CONFIGS.values() for key in raw} - {"model_type"})
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-2, max_value=70_000),
    st.sampled_from([0.5, 1e-5, "gated-gelu", "relu", "absolute", "x"]),
    st.lists(st.integers(), max_size=2),
)


class TestProperties:
    @settings(max_examples=300, deadline=None)
    @given(
        name=st.sampled_from(sorted(REAL_CONFIGS)),
        changes=st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=4),
    )
    def test_any_edit_maps_or_raises_a_domain_error(
        self, name: str, changes: dict[str, Any]
    ) -> None:
        raw = {**REAL_CONFIGS[name], **changes}
        arch: Architecture | None = None
        try:
            arch = architecture_from_hf_config(raw)
        except DomainError as error:
            field = error.field
        if arch is None:
            assert field.startswith("hf_config")
        else:
            counted = count_parameters(arch)
            assert 0 < counted.active <= counted.total

    @given(name=st.sampled_from(sorted(REAL_CONFIGS)))
    def test_untying_adds_exactly_one_head(self, name: str) -> None:
        raw = REAL_CONFIGS[name]
        arch = architecture_from_hf_config(raw)
        if arch.family is Family.ENCODER_ONLY:
            return
        tied = total(config(name, tie_word_embeddings=True))
        untied = total(config(name, tie_word_embeddings=False))
        width = arch.embedding_dim or arch.d_model
        assert untied - tied == arch.vocab_size * width


#: The interpreter of the validation environment (torch + transformers), e.g.
#: ``TORCH_PYTHON=.venv-torch/bin/python``; the slow test is skipped without it.
TORCH_PYTHON = os.environ.get("TORCH_PYTHON")


@pytest.mark.slow
@pytest.mark.skipif(not TORCH_PYTHON, reason="set TORCH_PYTHON to a Python with torch")
def test_bench_agrees_with_transformers() -> None:
    result = subprocess.run(
        [str(TORCH_PYTHON), str(ROOT / "bench" / "param_counts.py")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "component mismatches: none" in result.stdout
    for name, (cls, expected_total, _) in EXPECTED.items():
        assert f"| {name} | {cls}" in result.stdout
        assert f"| {expected_total:,} | {expected_total:,} | exact |" in result.stdout
