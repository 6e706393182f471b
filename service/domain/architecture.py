"""The shape of a transformer, and its exact parameter count.

:func:`count_parameters` follows the reference implementations tensor by tensor, so that its
totals match ``sum(p.numel() for p in model.parameters())`` of the Hugging Face ``transformers``
classes (``bench/param_counts.py`` checks 33 published models; ``bench/PARAM_COUNTS.md`` holds the
table). "The model" whose parameters are counted is:

* decoder-only: the base model plus its language-model head, as ``GPT2LMHeadModel``,
  ``LlamaForCausalLM``, ``BloomForCausalLM``, ``OPTForCausalLM``, ``MixtralForCausalLM`` ...
  (a head tied to the token embedding is counted once, as ``model.parameters()`` does);
* encoder-decoder: the sequence-to-sequence model with its head, as
  ``T5ForConditionalGeneration`` and ``BartForConditionalGeneration``;
* encoder-only: the base model *with* its pooler and *without* a masked-LM head, as
  ``BertModel`` / ``RobertaModel`` -- the count behind "BERT-base 110M, BERT-large 340M"
  (Devlin et al. 2019, sec. 3): 109,482,240 and 335,141,888 parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.domain.errors import InvalidInputError
from service.domain.types import Family, PositionEmbedding

#: Deepest stack accepted (the deepest trained transformers have a few hundred blocks).
MAX_LAYERS = 1_000_000
#: Largest width, head count, vocabulary, context or expert count accepted (10 million).
MAX_DIMENSION = 10_000_000
#: Most normalisation layers accepted per block.
MAX_NORMS_PER_BLOCK = 16
#: Buckets of T5's relative attention bias table (Raffel et al. 2020, sec. 2.1; the
#: ``relative_attention_num_buckets`` default of ``T5Config``).
T5_RELATIVE_ATTENTION_BUCKETS = 32
#: Accepted values of :attr:`Architecture.norm`.
NORMS = ("layernorm", "rmsnorm")


@dataclass(frozen=True, slots=True)
class Architecture:
    """Hyper-parameters of a dense or mixture-of-experts transformer.

    ``n_layers`` is the number of blocks for encoder-only and decoder-only models; encoder-decoder
    models give ``n_encoder_layers`` and ``n_decoder_layers`` instead (``n_layers`` is then their
    sum). ``head_dim`` defaults to ``d_model // n_heads``; T5-3B and T5-11B are the well-known
    models where ``n_heads * head_dim != d_model``. ``n_kv_heads`` below ``n_heads`` is
    grouped-query attention (Ainslie et al. 2023); 1 is multi-query attention (Shazeer 2019).

    ``bias`` puts a bias on every linear layer of the blocks (attention projections and MLP);
    ``qkv_bias`` and ``mlp_bias``, when given, override it for the query/key/value projections
    (Qwen2 has biases there only) and for the MLP (GPT-NeoX's ``attention_bias=False`` keeps MLP
    biases). ``norm`` is ``"layernorm"`` (weight and bias, Ba et al. 2016) or ``"rmsnorm"``
    (weight only, Zhang & Sennrich 2019).

    The remaining fields default to the common pre-norm decoder and only matter for exact counts
    of particular implementations:

    * ``norms_per_block``: normalisation layers per block; ``None`` means 2 (before or after
      attention and MLP). Parallel blocks sharing one norm (GPT-J, Falcon-7B) have 1. Decoder
      blocks of encoder-decoder models add one for cross-attention.
    * ``final_norm``: a norm after the last block of each stack (pre-norm models); post-norm
      BERT, BART and OPT-350m have none.
    * ``embedding_norm``: a norm right after the embeddings of each stack (BERT, BLOOM's
      ``word_embeddings_layernorm``, BART's ``layernorm_embedding``).
    * ``qk_norm``: per-head norms of width ``head_dim`` on queries and keys (Qwen3;
      Dehghani et al. 2023).
    * ``position_offset``: learned position rows beyond ``context_length`` (OPT and BART reserve
      2; RoBERTa ``pad_token_id + 1 = 2``).
    * ``token_type_vocab``: rows of BERT's token-type (segment) embeddings (2; RoBERTa 1).
    * ``pooler``: encoder-only models count ``BertModel``'s pooler (dense ``d_model x d_model``
      with bias); ignored by the other families.
    * ``embedding_dim``: width of the token embeddings when it differs from ``d_model``, with
      bias-free projections in and out of the blocks (OPT-350m: 512 vs 1024).
    """

    family: Family
    n_layers: int
    d_model: int
    n_heads: int
    d_ff: int
    vocab_size: int
    context_length: int
    n_kv_heads: int | None = None
    head_dim: int | None = None
    n_encoder_layers: int | None = None
    n_decoder_layers: int | None = None
    tied_embeddings: bool = True
    gated_mlp: bool = False
    position_embedding: PositionEmbedding = PositionEmbedding.LEARNED
    bias: bool = True
    norm: str = "layernorm"
    n_experts: int = 1
    experts_per_token: int = 1
    qkv_bias: bool | None = None
    mlp_bias: bool | None = None
    norms_per_block: int | None = None
    final_norm: bool = True
    embedding_norm: bool = False
    qk_norm: bool = False
    position_offset: int = 0
    token_type_vocab: int = 0
    pooler: bool = True
    embedding_dim: int | None = None

    @property
    def kv_heads(self) -> int:
        """Key/value heads (``n_heads`` unless grouped- or multi-query attention)."""
        return self.n_kv_heads if self.n_kv_heads is not None else self.n_heads

    @property
    def attention_head_dim(self) -> int:
        """Per-head width of queries, keys and values."""
        return self.head_dim if self.head_dim is not None else self.d_model // self.n_heads


#: Integer fields.
_INT_FIELDS = (
    "n_layers",
    "d_model",
    "n_heads",
    "d_ff",
    "vocab_size",
    "context_length",
    "n_kv_heads",
    "head_dim",
    "n_encoder_layers",
    "n_decoder_layers",
    "n_experts",
    "experts_per_token",
    "norms_per_block",
    "position_offset",
    "token_type_vocab",
    "embedding_dim",
)
#: Boolean fields.
_BOOL_FIELDS = (
    "tied_embeddings",
    "gated_mlp",
    "bias",
    "qkv_bias",
    "mlp_bias",
    "final_norm",
    "embedding_norm",
    "qk_norm",
    "pooler",
)
#: The integer and boolean fields that may be ``None`` (meaning "the default rule").
_OPTIONAL_FIELDS = frozenset(
    {
        "n_kv_heads",
        "head_dim",
        "n_encoder_layers",
        "n_decoder_layers",
        "norms_per_block",
        "embedding_dim",
        "qkv_bias",
        "mlp_bias",
    }
)


def _check_int(name: str, value: int, low: int, high: int) -> None:
    if value < low:
        raise InvalidInputError(f"architecture.{name}", f"must be at least {low}, got {value}")
    if value > high:
        raise InvalidInputError(f"architecture.{name}", f"must be at most {high:,}, got {value:,}")


def validate_architecture(arch: Architecture) -> None:
    """Raise :class:`InvalidInputError` if ``arch`` cannot describe a transformer.

    Checks types (``family`` and ``position_embedding`` enum members, integers that are not
    booleans, booleans), ranges (positive sizes; at most
    :data:`MAX_LAYERS` blocks and :data:`MAX_DIMENSION` for every other size), that ``n_kv_heads``
    divides ``n_heads`` (grouped-query attention shares each key/value head among
    ``n_heads / n_kv_heads`` query heads, Ainslie et al. 2023), that ``d_model`` divides by
    ``n_heads`` unless ``head_dim`` is given, that ``experts_per_token <= n_experts``, that
    encoder-decoder models give both layer counts with ``n_layers`` their sum (and only they give
    them), and that ``norm`` is one of :data:`NORMS`. The error's ``field`` is
    ``"architecture.<name>"``.
    """
    # Enum members, not their string values: the estimates compare with ``is``.
    if not isinstance(arch.family, Family):
        raise InvalidInputError(
            "architecture.family", f"must be one of {', '.join(Family)}, got {arch.family!r}"
        )
    if not isinstance(arch.position_embedding, PositionEmbedding):
        raise InvalidInputError(
            "architecture.position_embedding",
            f"must be one of {', '.join(PositionEmbedding)}, got {arch.position_embedding!r}",
        )
    if arch.norm not in NORMS:
        raise InvalidInputError(
            "architecture.norm", f"must be one of {', '.join(NORMS)}, got {arch.norm!r}"
        )
    for name in _INT_FIELDS:
        value = getattr(arch, name)
        if value is None and name in _OPTIONAL_FIELDS:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidInputError(f"architecture.{name}", f"must be an integer, got {value!r}")
    for name in _BOOL_FIELDS:
        value = getattr(arch, name)
        if value is None and name in _OPTIONAL_FIELDS:
            continue
        if not isinstance(value, bool):
            raise InvalidInputError(f"architecture.{name}", f"must be a boolean, got {value!r}")

    _check_int("n_layers", arch.n_layers, 1, MAX_LAYERS)
    for name in ("d_model", "n_heads", "d_ff", "vocab_size", "context_length", "n_experts"):
        _check_int(name, getattr(arch, name), 1, MAX_DIMENSION)
    for name in ("head_dim", "embedding_dim"):
        value = getattr(arch, name)
        if value is not None:
            _check_int(name, value, 1, MAX_DIMENSION)
    _check_int("position_offset", arch.position_offset, 0, MAX_DIMENSION)
    _check_int("token_type_vocab", arch.token_type_vocab, 0, MAX_DIMENSION)
    if arch.norms_per_block is not None:
        _check_int("norms_per_block", arch.norms_per_block, 0, MAX_NORMS_PER_BLOCK)
    _check_int("experts_per_token", arch.experts_per_token, 1, MAX_DIMENSION)
    if arch.experts_per_token > arch.n_experts:
        raise InvalidInputError(
            "architecture.experts_per_token",
            f"cannot exceed n_experts ({arch.n_experts}), got {arch.experts_per_token}",
        )

    if arch.n_kv_heads is not None:
        _check_int("n_kv_heads", arch.n_kv_heads, 1, MAX_DIMENSION)
        if arch.n_heads % arch.n_kv_heads:
            raise InvalidInputError(
                "architecture.n_kv_heads",
                f"must divide n_heads ({arch.n_heads}), got {arch.n_kv_heads}",
            )
    if arch.head_dim is None and arch.d_model % arch.n_heads:
        raise InvalidInputError(
            "architecture.n_heads",
            f"d_model ({arch.d_model}) is not a multiple of n_heads ({arch.n_heads}); "
            "give head_dim explicitly",
        )

    if arch.family == Family.ENCODER_DECODER:
        for name in ("n_encoder_layers", "n_decoder_layers"):
            value = getattr(arch, name)
            if value is None:
                raise InvalidInputError(
                    f"architecture.{name}", "required for encoder-decoder models"
                )
            _check_int(name, value, 1, MAX_LAYERS)
        split = (arch.n_encoder_layers or 0) + (arch.n_decoder_layers or 0)
        if arch.n_layers != split:
            raise InvalidInputError(
                "architecture.n_layers",
                f"must equal n_encoder_layers + n_decoder_layers ({split}), got {arch.n_layers}",
            )
    else:
        for name in ("n_encoder_layers", "n_decoder_layers"):
            if getattr(arch, name) is not None:
                raise InvalidInputError(
                    f"architecture.{name}",
                    "only encoder-decoder models have encoder and decoder layer counts",
                )


@dataclass(frozen=True, slots=True)
class ParameterCount:
    """Parameters of a transformer, in total and by component (all counts, not bytes).

    ``embedding`` is the token, token-type and position tables (learned rows, or T5's relative
    attention bias tables) plus an *untied* LM head; ``non_embedding = total - embedding`` is
    Kaplan et al. 2020's N (sec. 2.1: "we do not include embedding parameters"), the quantity in
    their scaling laws and in ``C ~ 6 N D``. ``active`` is what one token goes through: for a
    mixture of experts only ``experts_per_token`` of the ``n_experts`` MLPs of each block
    (Fedus et al. 2022, sec. 2; Jiang et al. 2024, Mixtral: 46.7B total, 12.9B active); it equals
    ``total`` for dense models. Use ``total`` for memory and ``active`` (or
    :attr:`active_non_embedding`) for FLOPs.

    The components add up: ``total = token_embedding + position_embedding +
    token_type_embedding + lm_head + attention + cross_attention + mlp + router + norms +
    pooler + embedding_projection``. ``attention`` is the self-attention projections (with their
    biases) of every block; ``cross_attention`` the decoder's encoder-decoder attention; ``mlp``
    every MLP (all experts); ``norms`` every normalisation layer, QK-norms included.
    ``terms`` says in words what was counted.
    """

    total: int
    embedding: int
    non_embedding: int
    active: int
    token_embedding: int
    position_embedding: int
    token_type_embedding: int
    lm_head: int
    attention: int
    cross_attention: int
    mlp: int
    active_mlp: int
    router: int
    norms: int
    pooler: int
    embedding_projection: int
    terms: tuple[str, ...]

    @property
    def active_non_embedding(self) -> int:
        """Active parameters without the embeddings: Kaplan's N for a mixture of experts."""
        return self.active - self.embedding


def _linear(n_in: int, n_out: int, bias: bool) -> int:
    """Weight ``n_in x n_out`` plus ``n_out`` biases (``torch.nn.Linear``)."""
    return n_in * n_out + (n_out if bias else 0)


def _stacks(arch: Architecture) -> tuple[tuple[int, bool], ...]:
    """``(blocks, has_cross_attention)`` of each stack: one, or encoder then decoder."""
    if arch.family == Family.ENCODER_DECODER:
        return ((arch.n_encoder_layers or 0, False), (arch.n_decoder_layers or 0, True))
    return ((arch.n_layers, False),)


def count_parameters(arch: Architecture) -> ParameterCount:
    """Exact parameter count of ``arch``, tensor by tensor as the reference implementations.

    Per block (Vaswani et al. 2017, sec. 3.2-3.3; the Hugging Face ``modeling_*.py`` files):

    * attention: Q is ``d_model x n_heads*head_dim``, K and V ``d_model x n_kv_heads*head_dim``
      each (multi-query, Shazeer 2019; grouped-query, Ainslie et al. 2023), O
      ``n_heads*head_dim x d_model``; biases on Q/K/V if ``qkv_bias`` (default ``bias``) and on
      O if ``bias``. Fused QKV matrices (GPT-2's ``c_attn``, BLOOM's and Falcon's
      ``query_key_value``) hold the same numbers. Decoder blocks of encoder-decoder models add a
      cross-attention of the same shape (Vaswani et al. 2017, sec. 3.2.3).
    * MLP: two matrices ``d_model x d_ff`` and ``d_ff x d_model``, or three for gated linear
      units (SwiGLU/GeGLU, Shazeer 2020: gate, up, down); biases if ``mlp_bias`` (default
      ``bias``).
    * mixture of experts (``n_experts > 1``): every block's MLP becomes ``n_experts`` such MLPs
      plus a bias-free router ``d_model x n_experts`` (Shazeer et al. 2017; Fedus et al. 2022;
      ``modeling_mixtral.py``). Interleaved MoE (Switch, GShard: every other block) and shared
      experts (Qwen2-MoE, DeepSeek-MoE) are not modelled.
    * norms: ``norms_per_block`` (default 2) of width ``d_model``, plus one for cross-attention;
      LayerNorm has weight and bias (2 per channel), RMSNorm a weight only (T5's
      ``T5LayerNorm``, LLaMA). QK-norm adds two norms of width ``head_dim`` per attention.

    Per stack (the encoder and the decoder of an encoder-decoder are two stacks): learned
    position embeddings of ``context_length + position_offset`` rows (GPT-2, BERT, BART, OPT);
    T5's relative attention bias, a ``32 x n_heads`` table in the first block of each stack
    (Raffel et al. 2020, sec. 2.1; ``modeling_t5.py``); rotary (Su et al. 2021), ALiBi
    (Press et al. 2022) and sinusoidal encodings have no parameters. An embedding norm and a
    final norm where the flags say so.

    Once per model: the token embedding ``vocab_size x d_model`` (shared by encoder and decoder,
    as T5's and BART's ``shared``), token-type embeddings, the LM head ``vocab_size x d_model``
    unless tied (Press & Wolf 2017), the encoder-only pooler, and OPT-350m-style embedding
    projections. LM heads carry no bias (BART's ``final_logits_bias`` is a buffer, not a
    parameter).

    Validates ``arch`` first (:func:`validate_architecture`).
    """
    validate_architecture(arch)
    d = arch.d_model
    n_heads, n_kv, head_dim = arch.n_heads, arch.kv_heads, arch.attention_head_dim
    q_width, kv_width = n_heads * head_dim, n_kv * head_dim
    qkv_bias = arch.bias if arch.qkv_bias is None else arch.qkv_bias
    mlp_bias = arch.bias if arch.mlp_bias is None else arch.mlp_bias
    norm_per_channel = 2 if arch.norm == "layernorm" else 1
    norm_d = norm_per_channel * d
    emb_width = arch.embedding_dim if arch.embedding_dim is not None else d
    is_encoder_only = arch.family == Family.ENCODER_ONLY

    attention_block = (
        _linear(d, q_width, qkv_bias)
        + 2 * _linear(d, kv_width, qkv_bias)
        + _linear(q_width, d, arch.bias)
    )
    qk_norm_block = 2 * norm_per_channel * head_dim if arch.qk_norm else 0
    n_matrices = 3 if arch.gated_mlp else 2
    expert = n_matrices * d * arch.d_ff
    if mlp_bias:
        expert += (n_matrices - 1) * arch.d_ff + d
    router_block = d * arch.n_experts if arch.n_experts > 1 else 0
    norms_per_block = 2 if arch.norms_per_block is None else arch.norms_per_block

    if arch.position_embedding == PositionEmbedding.LEARNED:
        position_table = (arch.context_length + arch.position_offset) * d
    elif arch.position_embedding == PositionEmbedding.RELATIVE_BIAS:
        position_table = T5_RELATIVE_ATTENTION_BUCKETS * n_heads
    else:
        position_table = 0

    attention = cross_attention = mlp = active_mlp = router = norms = position = 0
    for blocks, has_cross in _stacks(arch):
        attention += blocks * attention_block
        cross_attention += blocks * attention_block if has_cross else 0
        mlp += blocks * arch.n_experts * expert
        active_mlp += blocks * arch.experts_per_token * expert
        router += blocks * router_block
        attentions = 2 if has_cross else 1
        norms += blocks * ((norms_per_block + attentions - 1) * norm_d + attentions * qk_norm_block)
        norms += norm_d * (int(arch.final_norm) + int(arch.embedding_norm))
        position += position_table

    token_embedding = arch.vocab_size * emb_width
    token_type = arch.token_type_vocab * d
    lm_head = 0 if is_encoder_only or arch.tied_embeddings else arch.vocab_size * emb_width
    pooler = _linear(d, d, True) if is_encoder_only and arch.pooler else 0
    projection = 2 * emb_width * d if emb_width != d else 0

    embedding = token_embedding + position + token_type + lm_head
    total = embedding + attention + cross_attention + mlp + router + norms + pooler + projection
    active = total - mlp + active_mlp
    return ParameterCount(
        total=total,
        embedding=embedding,
        non_embedding=total - embedding,
        active=active,
        token_embedding=token_embedding,
        position_embedding=position,
        token_type_embedding=token_type,
        lm_head=lm_head,
        attention=attention,
        cross_attention=cross_attention,
        mlp=mlp,
        active_mlp=active_mlp,
        router=router,
        norms=norms,
        pooler=pooler,
        embedding_projection=projection,
        terms=_terms(arch, qkv_bias, mlp_bias, norms_per_block, emb_width),
    )


def _terms(
    arch: Architecture, qkv_bias: bool, mlp_bias: bool, norms_per_block: int, emb_width: int
) -> tuple[str, ...]:
    """What :func:`count_parameters` counted, in words, with the shapes."""
    d, n_heads = arch.d_model, arch.n_heads
    q_width, kv_width = n_heads * arch.attention_head_dim, arch.kv_heads * arch.attention_head_dim
    is_encoder_decoder = arch.family == Family.ENCODER_DECODER
    per_stack = " per stack (encoder and decoder)" if is_encoder_decoder else ""
    shared = " (shared by encoder and decoder)" if is_encoder_decoder else ""
    terms = [f"token embeddings {arch.vocab_size} x {emb_width}{shared}"]

    match arch.position_embedding:
        case PositionEmbedding.LEARNED:
            rows = arch.context_length + arch.position_offset
            terms.append(f"learned position embeddings {rows} x {d}{per_stack}")
        case PositionEmbedding.RELATIVE_BIAS:
            terms.append(
                f"relative attention bias {T5_RELATIVE_ATTENTION_BUCKETS} x {n_heads} "
                f"in the first block{per_stack}"
            )
        case _:
            terms.append(f"{arch.position_embedding.value} positions: no parameters")
    if arch.token_type_vocab:
        terms.append(f"token-type embeddings {arch.token_type_vocab} x {d}")

    if arch.family == Family.ENCODER_ONLY:
        terms.append("no LM head (encoder-only base model)")
    elif arch.tied_embeddings:
        terms.append("LM head tied to the token embeddings (counted once)")
    else:
        terms.append(f"untied LM head {emb_width} x {arch.vocab_size}")
    if emb_width != d:
        terms.append(f"embedding projections in and out {emb_width} x {d}, no bias")

    biases = [name for name, on in (("Q/K/V", qkv_bias), ("output", arch.bias)) if on]
    terms.append(
        f"self-attention Q {d} x {q_width}, K and V {d} x {kv_width} each, O {q_width} x {d}"
        + (f", {' and '.join(biases)} biases" if biases else ", no biases")
    )
    if is_encoder_decoder:
        terms.append("cross-attention of the same shape in every decoder block")
    kind = "gated MLP, 3 matrices" if arch.gated_mlp else "MLP, 2 matrices"
    terms.append(f"{kind} {d} <-> {arch.d_ff}" + (", with biases" if mlp_bias else ", no biases"))
    if arch.n_experts > 1:
        terms.append(
            f"mixture of experts: {arch.n_experts} MLPs per block, router {d} x "
            f"{arch.n_experts}; active counts {arch.experts_per_token} per token"
        )

    norm = "LayerNorm (weight and bias)" if arch.norm == "layernorm" else "RMSNorm (weight only)"
    where = [f"{norms_per_block} per block"]
    if is_encoder_decoder:
        where.append("+1 per decoder block for cross-attention")
    if arch.embedding_norm:
        where.append(f"1 after the embeddings{per_stack}")
    if arch.final_norm:
        where.append(f"1 final{per_stack}")
    terms.append(f"{norm} of width {d}: {', '.join(where)}")
    if arch.qk_norm:
        terms.append(f"QK-norm: 2 norms of width {arch.attention_head_dim} per attention")
    if arch.family == Family.ENCODER_ONLY and arch.pooler:
        terms.append(f"pooler {d} x {d} with bias")
    return tuple(terms)
