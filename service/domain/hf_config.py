"""Map a pasted Hugging Face ``config.json`` to an :class:`Architecture`, offline.

Each supported ``model_type`` reads the key names of its ``transformers`` configuration class
(``configuration_<type>.py``) and, where a key is absent, that class's default -- the value
``transformers`` itself would use when loading the file. Keys that set the size of the model
(width, depth, heads, vocabulary, MLP width) are required. The structural facts that a config
does not state, because they are fixed in the model code (``modeling_<type>.py``), are filled in
here: which linear layers have biases, LayerNorm vs RMSNorm, gated MLPs, extra norms, learned
position offsets. With them, :func:`service.domain.architecture.count_parameters` reproduces
``sum(p.numel() for p in model.parameters())`` of the ``transformers`` class exactly
(``bench/PARAM_COUNTS.md``).

Errors name the offending key: a missing required key, or a value of the wrong type (a string,
a boolean, a fraction or a non-positive number where a positive integer belongs), raises
:class:`InvalidInputError` with ``field="hf_config.<key>"``; a missing or unknown ``model_type``,
or a variant the architecture cannot express, raises :class:`UnsupportedError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from service.domain.architecture import (
    T5_RELATIVE_ATTENTION_BUCKETS,
    Architecture,
    validate_architecture,
)
from service.domain.errors import InvalidInputError, UnsupportedError
from service.domain.types import Family, PositionEmbedding


def _json_type(value: object) -> str:
    """The JSON name of ``value``'s type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


class _Reader:
    """Typed access to one config, remembering which key fed which architecture field."""

    def __init__(self, raw: Mapping[str, object], model_type: str) -> None:
        self.raw = raw
        self.model_type = model_type
        #: Architecture field -> the ``config.json`` key it was read from.
        self.sources: dict[str, str] = {}

    def _lookup(self, keys: tuple[str, ...]) -> tuple[str, object]:
        """The first of ``keys`` (a name and its aliases) present and not null, else ``keys[0]``."""
        for key in keys:
            value = self.raw.get(key)
            if value is not None:
                return key, value
        return keys[0], None

    def _int(self, key: str, value: object, minimum: int, feeds: str | None) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidInputError(
                f"hf_config.{key}", f"must be an integer, got {_json_type(value)}"
            )
        if value < minimum:
            raise InvalidInputError(f"hf_config.{key}", f"must be at least {minimum}, got {value}")
        if feeds is not None:
            self.sources[feeds] = key
        return value

    def required_int(self, *keys: str, feeds: str | None = None) -> int:
        """A positive integer that must be present (``keys``: the name, then its aliases)."""
        key, value = self._lookup(keys)
        if value is None:
            raise InvalidInputError(
                f"hf_config.{key}",
                f"required for model_type {self.model_type!r} but missing or null",
            )
        return self._int(key, value, 1, feeds)

    def optional_int(self, *keys: str, feeds: str | None = None, minimum: int = 1) -> int | None:
        """An integer, or ``None`` when absent or null."""
        key, value = self._lookup(keys)
        return None if value is None else self._int(key, value, minimum, feeds)

    def flag(self, key: str, default: bool) -> bool:
        """A boolean, ``default`` when absent or null."""
        value = self.raw.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise InvalidInputError(
                f"hf_config.{key}", f"must be a boolean, got {_json_type(value)}"
            )
        return value

    def text(self, key: str, default: str) -> str:
        """A string, ``default`` when absent or null."""
        value = self.raw.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise InvalidInputError(
                f"hf_config.{key}", f"must be a string, got {_json_type(value)}"
            )
        return value

    def validated(self, arch: Architecture) -> Architecture:
        """``arch`` after :func:`validate_architecture`, its errors pointed at config keys."""
        try:
            validate_architecture(arch)
        except InvalidInputError as error:
            name = error.field.removeprefix("architecture.")
            key = self.sources.get(name)
            field = f"hf_config.{key}" if key is not None else "hf_config"
            raise InvalidInputError(field, f"{error.message} (architecture.{name})") from error
        return arch


@dataclass(frozen=True, slots=True)
class _DecoderSpec:
    """What a LLaMA-style ``config.json`` leaves to its class and modelling code."""

    context_length: int  # max_position_embeddings default
    tied: bool  # tie_word_embeddings default
    kv_heads: int | None  # num_key_value_heads default (None: num_attention_heads)
    head_dim: int | None  # head_dim default (None: hidden_size // num_attention_heads)
    bias_keys: bool = False  # reads attention_bias (and mlp_bias for LLaMA)
    qkv_bias: bool = False  # Q/K/V biases hard-coded (Qwen2)
    qk_norm: bool = False  # q_norm and k_norm (Qwen3)
    moe: bool = False  # num_local_experts / num_experts_per_tok (Mixtral)


#: ``configuration_<type>.py`` defaults and ``modeling_<type>.py`` facts of the LLaMA-style
#: decoders: rotary positions, RMSNorm, gated (SwiGLU/GeGLU) MLPs, no biases unless stated.
_DECODERS: dict[str, _DecoderSpec] = {
    # Touvron et al. 2023; LlamaConfig.
    "llama": _DecoderSpec(2048, tied=False, kv_heads=None, head_dim=None, bias_keys=True),
    # Jiang et al. 2023; MistralConfig (num_key_value_heads=8, max_position_embeddings=4096*32).
    "mistral": _DecoderSpec(131072, tied=False, kv_heads=8, head_dim=None),
    # Jiang et al. 2024; MixtralConfig (8 experts, top-2).
    "mixtral": _DecoderSpec(131072, tied=False, kv_heads=8, head_dim=None, moe=True),
    # Yang et al. 2024; modeling_qwen2.py: q/k/v_proj bias=True, o_proj and MLP bias=False.
    "qwen2": _DecoderSpec(32768, tied=False, kv_heads=None, head_dim=None, qkv_bias=True),
    # Qwen3 technical report 2025; modeling_qwen3.py: RMSNorm q_norm/k_norm of width head_dim.
    "qwen3": _DecoderSpec(
        32768, tied=False, kv_heads=None, head_dim=128, bias_keys=True, qk_norm=True
    ),
    # Gemma Team 2024; GemmaConfig: head_dim=256, tied embeddings.
    "gemma": _DecoderSpec(8192, tied=True, kv_heads=None, head_dim=256, bias_keys=True),
}


def _decoder(r: _Reader) -> Architecture:
    spec = _DECODERS[r.model_type]
    n_heads = r.required_int("num_attention_heads", feeds="n_heads")
    kv_heads = r.optional_int("num_key_value_heads", feeds="n_kv_heads")
    attention_bias = r.flag("attention_bias", False) if spec.bias_keys else False
    mlp_bias = r.flag("mlp_bias", False) if r.model_type == "llama" else False
    n_experts, experts_per_token = 1, 1
    if spec.moe:
        n_experts = r.optional_int("num_local_experts", "num_experts", feeds="n_experts") or 8
        experts_per_token = r.optional_int("num_experts_per_tok", feeds="experts_per_token") or 2
    return Architecture(
        family=Family.DECODER_ONLY,
        n_layers=r.required_int("num_hidden_layers", feeds="n_layers"),
        d_model=r.required_int("hidden_size", feeds="d_model"),
        n_heads=n_heads,
        d_ff=r.required_int("intermediate_size", feeds="d_ff"),
        vocab_size=r.required_int("vocab_size", feeds="vocab_size"),
        context_length=r.optional_int("max_position_embeddings", feeds="context_length")
        or spec.context_length,
        n_kv_heads=kv_heads if kv_heads is not None else spec.kv_heads,
        head_dim=r.optional_int("head_dim", feeds="head_dim") or spec.head_dim,
        tied_embeddings=r.flag("tie_word_embeddings", spec.tied),
        gated_mlp=True,
        position_embedding=PositionEmbedding.ROTARY,
        bias=attention_bias,
        qkv_bias=True if spec.qkv_bias else None,
        mlp_bias=mlp_bias,
        norm="rmsnorm",
        qk_norm=spec.qk_norm,
        n_experts=n_experts,
        experts_per_token=experts_per_token,
    )


def _reject_cross_attention(r: _Reader) -> None:
    if r.flag("add_cross_attention", False):
        raise UnsupportedError(
            "hf_config.add_cross_attention",
            f"{r.model_type} blocks with added cross-attention are not supported",
        )


def _gpt2(r: _Reader) -> Architecture:
    """GPT-2 (Radford et al. 2019), ``modeling_gpt2.py``: Conv1D layers with biases, LayerNorm,
    learned positions ``n_positions x n_embd``, MLP width ``n_inner`` or ``4 * n_embd``."""
    _reject_cross_attention(r)
    d_model = r.required_int("n_embd", "hidden_size", feeds="d_model")
    return Architecture(
        family=Family.DECODER_ONLY,
        n_layers=r.required_int("n_layer", "num_hidden_layers", feeds="n_layers"),
        d_model=d_model,
        n_heads=r.required_int("n_head", "num_attention_heads", feeds="n_heads"),
        d_ff=r.optional_int("n_inner", feeds="d_ff") or 4 * d_model,
        vocab_size=r.required_int("vocab_size", feeds="vocab_size"),
        context_length=r.optional_int(
            "n_positions", "max_position_embeddings", feeds="context_length"
        )
        or 1024,
        tied_embeddings=r.flag("tie_word_embeddings", True),
    )


def _bert(r: _Reader) -> Architecture:
    """BERT (Devlin et al. 2019) and RoBERTa (Liu et al. 2019) as ``BertModel``/``RobertaModel``:
    post-norm blocks (no final norm), embedding LayerNorm, token-type embeddings, pooler.
    RoBERTa's position table has ``pad_token_id + 1`` extra rows (``modeling_roberta.py``)."""
    _reject_cross_attention(r)
    kind = r.text("position_embedding_type", "absolute")
    if kind != "absolute":
        raise UnsupportedError(
            "hf_config.position_embedding_type",
            f"only 'absolute' position embeddings are supported, got {kind!r}",
        )
    rows = r.optional_int("max_position_embeddings", feeds="context_length") or 512
    offset = 0
    if r.model_type != "bert":
        pad_token_id = r.optional_int("pad_token_id", minimum=0)
        offset = (1 if pad_token_id is None else pad_token_id) + 1
        if rows <= offset:
            raise InvalidInputError(
                "hf_config.max_position_embeddings",
                f"must exceed pad_token_id + 1 ({offset}) for {r.model_type}, got {rows}",
            )
    return Architecture(
        family=Family.ENCODER_ONLY,
        n_layers=r.required_int("num_hidden_layers", feeds="n_layers"),
        d_model=r.required_int("hidden_size", feeds="d_model"),
        n_heads=r.required_int("num_attention_heads", feeds="n_heads"),
        d_ff=r.required_int("intermediate_size", feeds="d_ff"),
        vocab_size=r.required_int("vocab_size", feeds="vocab_size"),
        context_length=rows - offset,
        position_offset=offset,
        token_type_vocab=r.optional_int("type_vocab_size", feeds="token_type_vocab") or 2,
        final_norm=False,
        embedding_norm=True,
        pooler=True,
    )


def _t5(r: _Reader) -> Architecture:
    """T5 (Raffel et al. 2020) as ``T5ForConditionalGeneration``: no biases, RMSNorm
    (``T5LayerNorm``), relative attention bias, ``d_kv``-wide heads; ``feed_forward_proj``
    ``"gated-gelu"`` (T5 v1.1, Flan-T5, mT5) makes the MLP gated (``T5DenseGatedActDense``).
    T5 v1.0 ties the LM head; v1.1 and mT5 configs say ``tie_word_embeddings: false``."""
    encoder_layers = r.required_int("num_layers", "num_hidden_layers", feeds="n_encoder_layers")
    decoder_layers = (
        r.optional_int("num_decoder_layers", feeds="n_decoder_layers") or encoder_layers
    )
    r.sources["n_layers"] = r.sources["n_encoder_layers"]
    projection = r.text("feed_forward_proj", "gated-gelu" if r.model_type == "mt5" else "relu")
    parts = projection.split("-")
    if len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated") or "" in parts:
        raise InvalidInputError(
            "hf_config.feed_forward_proj",
            f"must be '<activation>' or 'gated-<activation>', got {projection!r}",
        )
    buckets = r.optional_int("relative_attention_num_buckets")
    if buckets is not None and buckets != T5_RELATIVE_ATTENTION_BUCKETS:
        raise UnsupportedError(
            "hf_config.relative_attention_num_buckets",
            f"only {T5_RELATIVE_ATTENTION_BUCKETS} buckets are supported, got {buckets}",
        )
    return Architecture(
        family=Family.ENCODER_DECODER,
        n_layers=encoder_layers + decoder_layers,
        n_encoder_layers=encoder_layers,
        n_decoder_layers=decoder_layers,
        d_model=r.required_int("d_model", "hidden_size", feeds="d_model"),
        n_heads=r.required_int("num_heads", "num_attention_heads", feeds="n_heads"),
        head_dim=r.required_int("d_kv", "head_dim", feeds="head_dim"),
        d_ff=r.required_int("d_ff", feeds="d_ff"),
        vocab_size=r.required_int("vocab_size", feeds="vocab_size"),
        context_length=r.optional_int("n_positions", feeds="context_length") or 512,
        tied_embeddings=r.flag("tie_word_embeddings", r.model_type == "t5"),
        gated_mlp=len(parts) == 2,
        position_embedding=PositionEmbedding.RELATIVE_BIAS,
        bias=False,
        norm="rmsnorm",
    )


def _bart(r: _Reader) -> Architecture:
    """BART (Lewis et al. 2020) as ``BartForConditionalGeneration``: post-norm blocks with
    biases, ``layernorm_embedding`` in encoder and decoder, no final norm, learned positions
    with 2 extra rows (``BartLearnedPositionalEmbedding``), LM head tied to ``shared``."""
    encoder_layers = r.required_int("encoder_layers", "num_hidden_layers", feeds="n_encoder_layers")
    decoder_layers = r.required_int("decoder_layers", feeds="n_decoder_layers")
    r.sources["n_layers"] = r.sources["n_encoder_layers"]
    n_heads = r.required_int("encoder_attention_heads", "num_attention_heads", feeds="n_heads")
    d_ff = r.required_int("encoder_ffn_dim", feeds="d_ff")
    for key, encoder_value in (("decoder_attention_heads", n_heads), ("decoder_ffn_dim", d_ff)):
        decoder_value = r.required_int(key)
        if decoder_value != encoder_value:
            raise UnsupportedError(
                f"hf_config.{key}",
                f"must equal its encoder counterpart ({encoder_value}), got {decoder_value}",
            )
    return Architecture(
        family=Family.ENCODER_DECODER,
        n_layers=encoder_layers + decoder_layers,
        n_encoder_layers=encoder_layers,
        n_decoder_layers=decoder_layers,
        d_model=r.required_int("d_model", "hidden_size", feeds="d_model"),
        n_heads=n_heads,
        d_ff=d_ff,
        vocab_size=r.required_int("vocab_size", feeds="vocab_size"),
        context_length=r.optional_int("max_position_embeddings", feeds="context_length") or 1024,
        position_offset=2,
        tied_embeddings=r.flag("tie_word_embeddings", True),
        final_norm=False,
        embedding_norm=True,
    )


def _bloom(r: _Reader) -> Architecture:
    """BLOOM (Scao et al. 2022), ``modeling_bloom.py``: ALiBi, biases everywhere, MLP width
    ``4 * hidden_size``, ``word_embeddings_layernorm``, tied head. The context is the training
    ``seq_length`` when given (ALiBi has no table), else 2048."""
    d_model = r.required_int("hidden_size", "n_embed", feeds="d_model")
    return Architecture(
        family=Family.DECODER_ONLY,
        n_layers=r.required_int("n_layer", "num_hidden_layers", feeds="n_layers"),
        d_model=d_model,
        n_heads=r.required_int("n_head", "num_attention_heads", feeds="n_heads"),
        d_ff=4 * d_model,
        vocab_size=r.required_int("vocab_size", feeds="vocab_size"),
        context_length=r.optional_int("seq_length", feeds="context_length") or 2048,
        tied_embeddings=r.flag("tie_word_embeddings", True),
        position_embedding=PositionEmbedding.ALIBI,
        embedding_norm=True,
    )


def _opt(r: _Reader) -> Architecture:
    """OPT (Zhang et al. 2022), ``modeling_opt.py``: learned positions with 2 extra rows
    (``OPTLearnedPositionalEmbedding``), biases per ``enable_bias``; a final LayerNorm only
    with ``do_layer_norm_before``; OPT-350m's ``word_embed_proj_dim`` (512 < 1024) adds
    bias-free ``project_in``/``project_out`` and narrows the tied embedding."""
    if not r.flag("layer_norm_elementwise_affine", True):
        raise UnsupportedError(
            "hf_config.layer_norm_elementwise_affine",
            "LayerNorms without weights and biases are not supported",
        )
    d_model = r.required_int("hidden_size", feeds="d_model")
    embedding_dim = r.optional_int("word_embed_proj_dim", feeds="embedding_dim")
    pre_norm = r.flag("do_layer_norm_before", True)
    return Architecture(
        family=Family.DECODER_ONLY,
        n_layers=r.required_int("num_hidden_layers", feeds="n_layers"),
        d_model=d_model,
        n_heads=r.required_int("num_attention_heads", feeds="n_heads"),
        d_ff=r.required_int("ffn_dim", feeds="d_ff"),
        vocab_size=r.required_int("vocab_size", feeds="vocab_size"),
        context_length=r.optional_int("max_position_embeddings", feeds="context_length") or 2048,
        position_offset=2,
        tied_embeddings=r.flag("tie_word_embeddings", True),
        bias=r.flag("enable_bias", True),
        final_norm=pre_norm and not r.flag("_remove_final_layer_norm", False),
        embedding_dim=embedding_dim if embedding_dim != d_model else None,
    )


def _falcon(r: _Reader) -> Architecture:
    """Falcon (Almazrouei et al. 2023), ``modeling_falcon.py``. Fused QKV: multi-query (one
    key/value head) in the original layout, ``num_kv_heads`` groups with
    ``new_decoder_architecture`` (Falcon-40B/180B; implied by the remote-code model_type
    ``RefinedWeb``). Parallel attention/MLP blocks share one LayerNorm, or use two
    (``ln_attn``, ``ln_mlp``) in the new layout; sequential blocks have two. Linear biases per
    ``bias``; ALiBi per ``alibi``, else rotary. Also reads the remote-code key names
    ``n_embed``, ``n_layer``, ``n_head``, ``n_head_kv``."""
    n_heads = r.required_int("num_attention_heads", "n_head", feeds="n_heads")
    d_model = r.required_int("hidden_size", "n_embed", feeds="d_model")
    new_layout = r.flag("new_decoder_architecture", r.model_type == "RefinedWeb")
    kv_groups = r.optional_int("num_kv_heads", "n_head_kv", feeds="n_kv_heads")
    if new_layout:
        kv_heads = kv_groups if kv_groups is not None else n_heads
    else:
        kv_heads = 1 if r.flag("multi_query", True) else n_heads
    norms = 2
    if r.flag("parallel_attn", True):
        parallel_norms = r.optional_int("num_ln_in_parallel_attn", feeds="norms_per_block")
        two = parallel_norms == 2 or (parallel_norms is None and new_layout)
        norms = 2 if two else 1
    alibi = r.flag("alibi", False)
    return Architecture(
        family=Family.DECODER_ONLY,
        n_layers=r.required_int("num_hidden_layers", "n_layer", feeds="n_layers"),
        d_model=d_model,
        n_heads=n_heads,
        n_kv_heads=kv_heads,
        d_ff=r.optional_int("ffn_hidden_size", feeds="d_ff") or 4 * d_model,
        vocab_size=r.required_int("vocab_size", feeds="vocab_size"),
        context_length=r.optional_int("max_position_embeddings", feeds="context_length") or 2048,
        tied_embeddings=r.flag("tie_word_embeddings", True),
        position_embedding=PositionEmbedding.ALIBI if alibi else PositionEmbedding.ROTARY,
        bias=r.flag("bias", False),
        norms_per_block=norms,
    )


def _gpt_neox(r: _Reader) -> Architecture:
    """GPT-NeoX (Black et al. 2022), ``modeling_gpt_neox.py``: fused QKV and dense with biases
    per ``attention_bias``, MLP always with biases, two LayerNorms per block even with the
    parallel residual, rotary positions, untied ``embed_out``."""
    return Architecture(
        family=Family.DECODER_ONLY,
        n_layers=r.required_int("num_hidden_layers", feeds="n_layers"),
        d_model=r.required_int("hidden_size", feeds="d_model"),
        n_heads=r.required_int("num_attention_heads", feeds="n_heads"),
        d_ff=r.required_int("intermediate_size", feeds="d_ff"),
        vocab_size=r.required_int("vocab_size", feeds="vocab_size"),
        context_length=r.optional_int("max_position_embeddings", feeds="context_length") or 2048,
        tied_embeddings=r.flag("tie_word_embeddings", False),
        position_embedding=PositionEmbedding.ROTARY,
        bias=r.flag("attention_bias", True),
        mlp_bias=True,
    )


_MAPPERS: dict[str, Callable[[_Reader], Architecture]] = {
    **dict.fromkeys(_DECODERS, _decoder),
    "gpt2": _gpt2,
    "bert": _bert,
    "roberta": _bert,
    "xlm-roberta": _bert,
    "t5": _t5,
    "mt5": _t5,
    "bart": _bart,
    "bloom": _bloom,
    "opt": _opt,
    "falcon": _falcon,
    "RefinedWeb": _falcon,
    "RefinedWebModel": _falcon,
    "gpt_neox": _gpt_neox,
}

#: The ``model_type`` values :func:`architecture_from_hf_config` understands.
SUPPORTED_MODEL_TYPES: tuple[str, ...] = tuple(sorted(_MAPPERS, key=str.lower))


def architecture_from_hf_config(config: Mapping[str, object]) -> Architecture:
    """The :class:`Architecture` described by a Hugging Face ``config.json``, read offline.

    ``config`` is the parsed JSON object. Supported ``model_type`` values are listed in
    :data:`SUPPORTED_MODEL_TYPES` (LLaMA, Mistral, Mixtral, Qwen2, Qwen3, Gemma, GPT-2, BERT,
    RoBERTa, XLM-R, T5, mT5, BART, BLOOM, OPT, Falcon, GPT-NeoX). Raises
    :class:`UnsupportedError` (``hf_config.model_type``) for a missing or unknown type, and
    :class:`InvalidInputError` naming the key for missing or ill-typed values and for
    impossible shapes (e.g. ``hf_config.num_key_value_heads`` not dividing the heads).
    """
    if not isinstance(config, Mapping):
        raise InvalidInputError("hf_config", f"must be a JSON object, got {_json_type(config)}")
    supported = ", ".join(SUPPORTED_MODEL_TYPES)
    model_type = config.get("model_type")
    if model_type is None:
        raise UnsupportedError(
            "hf_config.model_type",
            f"missing; give one of: {supported} (or describe the model with 'architecture')",
        )
    if not isinstance(model_type, str):
        raise InvalidInputError(
            "hf_config.model_type", f"must be a string, got {_json_type(model_type)}"
        )
    mapper = _MAPPERS.get(model_type)
    if mapper is None:
        raise UnsupportedError(
            "hf_config.model_type",
            f"unsupported model_type {model_type!r}; supported: {supported} "
            "(or describe the model with 'architecture')",
        )
    reader = _Reader(config, model_type)
    return reader.validated(mapper(reader))
