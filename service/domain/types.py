"""Vocabulary shared by the estimation modules (plain string enums, stable on the wire)."""

from __future__ import annotations

from enum import StrEnum


class Family(StrEnum):
    """Transformer family; the course's words are in :data:`FAMILY_ALIASES`."""

    ENCODER_ONLY = "encoder-only"
    DECODER_ONLY = "decoder-only"
    ENCODER_DECODER = "encoder-decoder"


#: The course notes call the three families autoencoding, autoregressive and sequence-to-sequence.
FAMILY_ALIASES: dict[Family, str] = {
    Family.ENCODER_ONLY: "autoencoding",
    Family.DECODER_ONLY: "autoregressive",
    Family.ENCODER_DECODER: "sequence-to-sequence",
}


class Objective(StrEnum):
    """Pre-training objective."""

    MASKED_LM = "masked-lm"
    CAUSAL_LM = "causal-lm"
    SPAN_CORRUPTION = "span-corruption"
    DENOISING = "denoising"


class PositionEmbedding(StrEnum):
    """How token positions reach the model (only ``learned`` adds parameters per position)."""

    LEARNED = "learned"
    SINUSOIDAL = "sinusoidal"
    ROTARY = "rotary"
    ALIBI = "alibi"
    RELATIVE_BIAS = "relative-bias"


class Precision(StrEnum):
    """Training or storage precision of the weights."""

    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"
    MIXED_FP16 = "mixed-fp16"
    MIXED_BF16 = "mixed-bf16"
    FP8 = "fp8"
    INT8 = "int8"
    INT4 = "int4"


class Optimizer(StrEnum):
    ADAM = "adam"
    ADAMW = "adamw"
    SGD = "sgd"
    SGD_MOMENTUM = "sgd-momentum"
    ADAFACTOR = "adafactor"
    ADAMW_8BIT = "adamw-8bit"


class Strategy(StrEnum):
    """Data-parallel strategy (ZeRO, Rajbhandari et al. 2019; PyTorch FSDP, Zhao et al. 2023)."""

    SINGLE = "single"
    DDP = "ddp"
    ZERO_1 = "zero-1"
    ZERO_2 = "zero-2"
    ZERO_3 = "zero-3"
    FSDP_FULL_SHARD = "fsdp-full-shard"
    FSDP_SHARD_GRAD_OP = "fsdp-shard-grad-op"
    FSDP_HYBRID_SHARD = "fsdp-hybrid-shard"
    FSDP_NO_SHARD = "fsdp-no-shard"


class Offload(StrEnum):
    NONE = "none"
    OPTIMIZER = "optimizer"
    OPTIMIZER_AND_PARAMETERS = "optimizer-and-parameters"


class Checkpointing(StrEnum):
    """Activation recomputation (Korthikanti et al. 2022, sec. 5)."""

    NONE = "none"
    SELECTIVE = "selective"
    FULL = "full"


class Attention(StrEnum):
    """Attention kernel: ``eager`` materialises the s x s scores, ``flash`` does not."""

    EAGER = "eager"
    FLASH = "flash"


class Convention(StrEnum):
    """Byte accounting for mixed precision: ZeRO paper (fp16 grads) or Megatron (fp32 grads)."""

    ZERO = "zero"
    MEGATRON = "megatron"
