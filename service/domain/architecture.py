"""The shape of a transformer, as the estimates need it."""

from __future__ import annotations

from dataclasses import dataclass

from service.domain.types import Family, PositionEmbedding


@dataclass(frozen=True, slots=True)
class Architecture:
    """Hyper-parameters of a dense or mixture-of-experts transformer.

    ``n_layers`` is the number of blocks for encoder-only and decoder-only models; encoder-decoder
    models give ``n_encoder_layers`` and ``n_decoder_layers`` instead (``n_layers`` is then their
    sum). ``head_dim`` defaults to ``d_model // n_heads``; T5-3B and T5-11B are the well-known
    models where ``n_heads * head_dim != d_model``. ``n_kv_heads`` below ``n_heads`` is
    grouped-query attention (Ainslie et al. 2023); 1 is multi-query attention (Shazeer 2019).
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

    @property
    def kv_heads(self) -> int:
        """Key/value heads (``n_heads`` unless grouped- or multi-query attention)."""
        return self.n_kv_heads if self.n_kv_heads is not None else self.n_heads

    @property
    def attention_head_dim(self) -> int:
        """Per-head width of queries, keys and values."""
        return self.head_dim if self.head_dim is not None else self.d_model // self.n_heads
