"""Activation memory of transformer training, after Korthikanti et al. 2022.

Source: V. Korthikanti, J. Casper, S. Lym, L. McAfee, M. Andersch, M. Shoeybi, B. Catanzaro,
"Reducing Activation Recomputation in Large Transformer Models", MLSys 2023, arXiv:2205.05198.
Symbols: ``s`` sequence length, ``b`` micro-batch size, ``h`` hidden size (``d_model``), ``a``
attention heads, ``L`` layers, ``v`` vocabulary, ``t`` tensor-parallel degree, ``p``
pipeline-parallel degree.

Their bookkeeping (sec. 4.1) counts, per layer and per micro-batch, the tensors autograd keeps for
the backward pass, at 2 bytes per 16-bit value and 1 byte per dropout-mask element:

* attention block, ``11sbh + 5as²b``: the shared Q/K/V input ``2sbh``, Q and K ``4sbh``, V
  ``2sbh``, the softmax output ``2as²b``, its dropout mask ``as²b`` and the dropout output
  ``2as²b`` (input of attention-over-V), the output-projection input ``2sbh`` and the dropout mask
  after it ``sbh``;
* MLP block, ``19sbh``: first-linear input ``2sbh``, GeLU input ``8sbh``, second-linear input
  ``8sbh``, dropout mask ``sbh`` (fused bias-GeLU keeps only its input);
* two layer norms, ``4sbh`` (each keeps its input).

That is ``sbh(34 + 5as/h)`` per layer (sec. 4.1). With tensor parallelism the layer-norm inputs,
the inputs of the first linear of each block and the two dropout masks (``10sbh``) stay
replicated, everything else is split: ``sbh(10 + 24/t + 5as/(ht))`` (sec. 4.2.1); sequence
parallelism splits the replicated part along the sequence too: ``sbh(34/t + 5as/(ht))``
(sec. 4.2.2). Selective recomputation re-runs the core attention (QKᵀ, softmax, dropout,
attention over V) and drops the ``5as/h`` term; full recomputation keeps only each layer's input,
``2sbh`` (sec. 5, Table 2). With the 1F1B pipeline schedule the first stage holds ``p``
micro-batches of its ``L/p`` layers, i.e. ``L`` layers' worth: ``sbhL/t (34 + 5as/h)``
(sec. 4.2.3). Outside the layers (sec. 4.3) the embedding dropout mask costs ``sbhp/t`` on the
first stage, and the final layer norm, output projection and fp32 cross-entropy
``4sbh/t (1 + v/h)`` on the last stage (counted by the paper only when ``p = 1``).

This module generalises the same bookkeeping, term by term, to

* grouped-query attention (Ainslie et al. 2023): Q is ``a·d_head`` wide, K and V
  ``kv_heads·d_head`` (``h`` each in the paper);
* the real ``d_ff`` instead of ``4h``, and gated MLPs (SwiGLU, Shazeer 2020): the fused gated
  activation keeps its input, the gate and up projections ``2·d_ff``, and the down projection
  keeps its input ``d_ff``: ``3·d_ff`` instead of GeLU's ``2·d_ff``;
* FlashAttention (Dao et al. 2022, sec. 3.1; Dao 2023, FlashAttention-2, sec. 3.1): the backward
  pass recomputes the ``s × s`` scores from Q, K, V, the output and one fp32 log-sum-exp per row
  and head, and regenerates the dropout mask from the saved RNG state, so the ``5as²b`` term
  becomes ``4abs`` bytes (the output is the projection's input, already counted);
* no dropout (most modern decoders): the masks disappear and the attention-over-V input *is*
  the softmax output, so the score term is ``2as²b``;
* 32-bit activations (``bytes_per_element = 4``): every stored value doubles, masks stay 1 byte;
* encoder-decoder models: decoder layers add a cross-attention block with the same terms (keys
  and values over the encoder sequence, taken equal to ``s``), plus the encoder output, which
  every decoder layer's K/V projection keeps and is therefore counted once;
* mixture-of-experts MLPs (Fedus et al. 2022): each token's MLP activations are kept once per
  routed expert (``experts_per_token``, capacity factor 1, no dropped tokens), plus the routed
  copies of the block input; router logits are ignored.

The peak also counts the tensors re-materialised while a recomputed layer is back-propagated:
the core attention of one layer (selective) or every activation of one layer (full). The paper's
per-layer table omits this transient term.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from service.domain.architecture import Architecture
from service.domain.errors import InvalidInputError
from service.domain.types import Attention, Checkpointing, Family

#: Bytes per dropout-mask element: PyTorch keeps masks as ``bool`` (Korthikanti et al. 2022,
#: sec. 4.1: "only a mask with size as²b is needed", one byte per element).
MASK_BYTES = 1.0
#: Bytes of the per-row, per-head softmax statistic FlashAttention keeps (fp32 log-sum-exp;
#: Dao 2023, FlashAttention-2, sec. 3.1).
FLASH_STATISTIC_BYTES = 4.0
#: Bytes per logit kept by the cross-entropy loss, computed in fp32 (Korthikanti et al. 2022,
#: sec. 4.3: "4sbv/t").
LOGIT_BYTES = 4.0

#: Shape rule used when only a parameter count is known (:func:`derive_architecture`).
DERIVED_ASPECT_RATIO = 128
#: Head width of a derived shape (GPT-3 and LLaMA use 128).
DERIVED_HEAD_DIM = 128
#: Vocabulary of a derived shape: the GPT-2 byte-level BPE that Kaplan et al. 2020 used.
DERIVED_VOCAB = 50257
#: Largest layer count, width, head count or vocabulary accepted (keeps every product finite).
MAX_ARCHITECTURE_SIZE = 10**9
#: Sequence length assumed when neither the request nor the architecture gives one.
DEFAULT_SEQUENCE_LENGTH = 2048


@dataclass(frozen=True, slots=True)
class ActivationConfig:
    """How one GPU runs the model: sequence, micro-batch, parallelism, recomputation, kernel.

    ``bytes_per_element`` is the size of one stored activation value (2 for fp16/bf16 and mixed
    precision, 4 for fp32). ``training=False`` is a forward pass without autograd (inference).
    ``attention`` defaults to ``flash`` because fused attention (FlashAttention, PyTorch SDPA,
    Transformer Engine) is the default kernel of current training stacks; ``dropout`` defaults to
    ``True`` to match the paper's accounting (GPT-2, BERT, T5 train with dropout; most recent
    decoders do not).
    """

    sequence_length: int
    micro_batch_size: int = 1
    tensor_parallel: int = 1
    pipeline_parallel: int = 1
    sequence_parallel: bool = False
    checkpointing: Checkpointing = Checkpointing.NONE
    attention: Attention = Attention.FLASH
    dropout: bool = True
    bytes_per_element: int = 2
    training: bool = True


@dataclass(frozen=True, slots=True)
class ActivationEstimate:
    """Activation bytes on the busiest GPU for one training step (or one forward pass).

    ``per_layer_bytes`` is what the largest layer keeps for one micro-batch after recomputation;
    ``layers_bytes`` is every layer's share on the busiest pipeline stage, all micro-batches in
    flight; ``embedding_bytes`` the embedding dropout masks; ``output_bytes`` the final norm,
    output projection and fp32 logits; ``recompute_bytes`` the transient re-materialised layer.
    ``stage`` names the busiest pipeline stage (``only`` without pipelining, else ``first`` or
    ``last``). ``total_bytes`` is the sum of the four components.
    """

    per_layer_bytes: int
    layers_bytes: int
    embedding_bytes: int
    output_bytes: int
    recompute_bytes: int
    total_bytes: int
    stage: str
    layers_per_stage: int
    micro_batches_in_flight: int


def layer_counts(arch: Architecture) -> tuple[int, int]:
    """(self-attention-only layers, layers with cross-attention) of a model.

    Encoder-only and decoder-only models have ``n_layers`` of the first kind. Encoder-decoder
    models have ``n_encoder_layers`` encoder layers and ``n_decoder_layers`` decoder layers (the
    latter add cross-attention); when those are missing, ``n_layers`` is split evenly with the odd
    layer going to the decoder, as in the original Transformer (Vaswani et al. 2017, sec. 3.1).
    """
    if arch.family is not Family.ENCODER_DECODER:
        return arch.n_layers, 0
    encoder = arch.n_encoder_layers if arch.n_encoder_layers is not None else arch.n_layers // 2
    decoder = (
        arch.n_decoder_layers if arch.n_decoder_layers is not None else arch.n_layers - encoder
    )
    return encoder, decoder


def derive_architecture(
    parameters: int, sequence_length: int = DEFAULT_SEQUENCE_LENGTH
) -> Architecture:
    """A plausible decoder-only GPT shape for a bare parameter count.

    Kaplan et al. 2020, "Scaling Laws for Neural Language Models", sec. 2.1, eq. 2.1: a
    transformer has ``N ≈ 12 L d²`` non-embedding parameters (``d_ff = 4d``). Fixing the aspect
    ratio ``d = 128 L`` gives ``L = round((N / (12 · 128²))^(1/3))``, ``d = 128 L``, ``L`` heads
    of width 128 and ``d_ff = 4d``. GPT-3 175B (Brown et al. 2020, Table 2.1: 96 layers,
    ``d_model`` 12288, 96 heads of 128) has exactly this shape and the rule recovers it from
    175e9; LLaMA-7B (Touvron et al. 2023, Table 2: 32 layers, 4096) too. All parameters are
    treated as non-embedding, which errs toward a wider (more activation-hungry) model; the
    vocabulary is GPT-2's 50,257 (used by Kaplan et al.).
    """
    if parameters < 1:
        raise InvalidInputError("parameters", "must be a positive integer")
    per_layer_cubed = 12 * DERIVED_ASPECT_RATIO**2
    n_layers = max(1, round((parameters / per_layer_cubed) ** (1.0 / 3.0)))
    d_model = DERIVED_ASPECT_RATIO * n_layers
    return Architecture(
        family=Family.DECODER_ONLY,
        n_layers=n_layers,
        d_model=d_model,
        n_heads=d_model // DERIVED_HEAD_DIM,
        d_ff=4 * d_model,
        vocab_size=DERIVED_VOCAB,
        context_length=sequence_length,
    )


def _check(config: ActivationConfig) -> None:
    """Reject sizes that cannot describe a training run."""
    for name, value in (
        ("sequence_length", config.sequence_length),
        ("micro_batch_size", config.micro_batch_size),
        ("tensor_parallel", config.tensor_parallel),
        ("pipeline_parallel", config.pipeline_parallel),
    ):
        if value < 1:
            raise InvalidInputError(name, "must be a positive integer")
    if config.bytes_per_element not in (2, 4):
        raise InvalidInputError("precision", "activations are stored in 2 or 4 bytes per value")


def _check_architecture(arch: Architecture) -> None:
    """Every size the formulas divide by or multiply with must be positive."""
    encoder, decoder = layer_counts(arch)
    sizes = (
        encoder + decoder,
        arch.d_model,
        arch.n_heads,
        arch.kv_heads,
        arch.attention_head_dim,
        arch.d_ff,
        arch.vocab_size,
        arch.experts_per_token,
        arch.n_experts,
    )
    if min(sizes) < 1 or min(encoder, decoder) < 0 or max(sizes) > MAX_ARCHITECTURE_SIZE:
        raise InvalidInputError(
            "architecture",
            f"layer counts and widths must be positive integers up to {MAX_ARCHITECTURE_SIZE}",
        )


def _layer(arch: Architecture, config: ActivationConfig, *, cross: bool) -> tuple[float, float]:
    """(bytes kept without recomputation, core-attention bytes) of one layer, one micro-batch.

    Term by term as in Korthikanti et al. 2022, sec. 4.1 (see the module docstring), with the
    replicated terms divided by ``t`` only under sequence parallelism (sec. 4.2.2).
    """
    s = config.sequence_length
    tokens = float(s * config.micro_batch_size)
    e = float(config.bytes_per_element)
    keep_masks = 1.0 if (config.dropout and config.training) else 0.0
    mask = MASK_BYTES * keep_masks
    t = float(config.tensor_parallel)
    replicated_divisor = t if config.sequence_parallel else 1.0
    h = float(arch.d_model)
    heads_per_gpu = arch.n_heads / t
    q_width = heads_per_gpu * arch.attention_head_dim
    kv_width = float(math.ceil(arch.kv_heads / t) * arch.attention_head_dim)

    # Layer-norm input, Q/K/V-projection input, dropout mask after the output projection.
    attn_replicated = (2.0 * e + mask) * tokens * h / replicated_divisor
    # Q, K, V and the output-projection input.
    attn_split = e * tokens * (2.0 * q_width + 2.0 * kv_width)
    if config.attention is Attention.EAGER:
        # Softmax output (e), dropout mask (1) and dropout output (e) per score.
        core = heads_per_gpu * s * tokens * (e + keep_masks * (MASK_BYTES + e))
    else:
        core = FLASH_STATISTIC_BYTES * heads_per_gpu * tokens
    attention = attn_replicated + attn_split + core

    routed = float(arch.experts_per_token) if arch.n_experts > 1 else 0.0
    copies = max(routed, 1.0)
    activation_inputs = 2.0 if arch.gated_mlp else 1.0
    # Layer-norm input, first-linear (or router) input, routed copies, dropout mask.
    mlp_replicated = ((2.0 * e + mask) * tokens * h + routed * e * tokens * h) / replicated_divisor
    # Activation input(s) and second-linear input, d_ff wide, once per routed copy.
    mlp_split = copies * e * tokens * arch.d_ff * (activation_inputs + 1.0) / t

    blocks = 2.0 if cross else 1.0
    return blocks * attention + mlp_replicated + mlp_split, blocks * core


def _stored(full: float, core: float, layer_input: float, mode: Checkpointing) -> float:
    """What a layer keeps under a recomputation mode (Korthikanti et al. 2022, Table 2)."""
    if mode is Checkpointing.FULL:
        return layer_input
    if mode is Checkpointing.SELECTIVE:
        return full - core
    return full


def _transient(full: float, core: float, mode: Checkpointing) -> float:
    """What one recomputed layer re-materialises during its backward pass."""
    if mode is Checkpointing.FULL:
        return full
    if mode is Checkpointing.SELECTIVE:
        return core
    return 0.0


def _bytes(value: float) -> int:
    """Round a byte count half up to an integer."""
    return math.floor(value + 0.5)


def activation_memory(arch: Architecture, config: ActivationConfig) -> ActivationEstimate:
    """Activation bytes on the busiest GPU (see the module docstring for every term).

    Training keeps every layer's activations until its backward pass. With ``p`` pipeline stages
    and the 1F1B schedule (Narayanan et al. 2021, sec. 2.2.1; Korthikanti et al. 2022,
    sec. 4.2.3) the first stage holds ``p`` micro-batches of its ``ceil(L/p)`` layers plus ``p``
    embedding dropout masks, the last stage one micro-batch plus the output layer; the larger of
    the two is reported (enough micro-batches per step to fill the pipeline are assumed).
    Inference (``training=False``) keeps nothing for a backward pass: the working set is taken as
    one layer's worth of the same tensors (no dropout), plus the encoder output and the logits.
    """
    _check(config)
    _check_architecture(arch)
    encoder_layers, decoder_layers = layer_counts(arch)
    n_layers = encoder_layers + decoder_layers
    tokens = float(config.sequence_length * config.micro_batch_size)
    e = float(config.bytes_per_element)
    t = float(config.tensor_parallel)
    replicated_divisor = t if config.sequence_parallel else 1.0
    h = float(arch.d_model)
    layer_input = e * tokens * h / replicated_divisor

    self_full, self_core = _layer(arch, config, cross=False)
    cross_full, cross_core = _layer(arch, config, cross=True)
    has_decoder = decoder_layers > 0
    encoder_output = layer_input if has_decoder else 0.0
    largest_full = cross_full if has_decoder else self_full
    largest_core = cross_core if has_decoder else self_core

    # Final layer norm input, output-projection input (2sbh/t each with sequence parallelism),
    # fp32 logits 4sbv/t (Korthikanti et al. 2022, sec. 4.3).
    output = 2.0 * e * tokens * h / replicated_divisor + LOGIT_BYTES * tokens * arch.vocab_size / t

    if not config.training:
        layers = largest_full + encoder_output
        return _estimate(largest_full, layers, 0.0, output, 0.0, "only", n_layers, 1)

    mode = config.checkpointing
    per_self = _stored(self_full, self_core, layer_input, mode)
    per_cross = _stored(cross_full, cross_core, layer_input, mode)
    all_layers = encoder_layers * per_self + decoder_layers * per_cross + encoder_output
    transient = _transient(largest_full, largest_core, mode)
    embedding_mask = MASK_BYTES * tokens * h / replicated_divisor if config.dropout else 0.0

    p = config.pipeline_parallel
    per_stage = math.ceil(n_layers / p)
    stage_layers = per_stage * all_layers / n_layers
    per_layer = per_cross if has_decoder else per_self
    if p == 1:
        return _estimate(
            per_layer, all_layers, embedding_mask, output, transient, "only", n_layers, 1
        )
    first = p * stage_layers + p * embedding_mask
    last = stage_layers + output
    if first >= last:
        return _estimate(
            per_layer, p * stage_layers, p * embedding_mask, 0.0, transient, "first", per_stage, p
        )
    return _estimate(per_layer, stage_layers, 0.0, output, transient, "last", per_stage, 1)


def _estimate(
    per_layer: float,
    layers: float,
    embedding: float,
    output: float,
    recompute: float,
    stage: str,
    layers_per_stage: int,
    in_flight: int,
) -> ActivationEstimate:
    """Round the components and add them up."""
    parts = (_bytes(layers), _bytes(embedding), _bytes(output), _bytes(recompute))
    return ActivationEstimate(
        per_layer_bytes=_bytes(per_layer),
        layers_bytes=parts[0],
        embedding_bytes=parts[1],
        output_bytes=parts[2],
        recompute_bytes=parts[3],
        total_bytes=sum(parts),
        stage=stage,
        layers_per_stage=layers_per_stage,
        micro_batches_in_flight=in_flight,
    )
