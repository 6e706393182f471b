"""The shared vocabulary of the core: errors, enums, the architecture and GPU records."""

from __future__ import annotations

import pytest

from service.domain.architecture import Architecture
from service.domain.errors import DomainError, InvalidInputError, UnsupportedError
from service.domain.hardware import GpuSpec
from service.domain.types import FAMILY_ALIASES, Family


def test_errors_carry_their_field() -> None:
    error = InvalidInputError("gpus", "must be positive")
    assert isinstance(error, DomainError)
    assert isinstance(error, ValueError)
    assert (error.field, error.message) == ("gpus", "must be positive")
    assert str(error) == "gpus: must be positive"
    with pytest.raises(DomainError, match="model_type"):
        raise UnsupportedError("hf_config.model_type", "unknown")


def test_course_words_for_every_family() -> None:
    assert set(FAMILY_ALIASES) == set(Family)
    assert FAMILY_ALIASES[Family.ENCODER_DECODER] == "sequence-to-sequence"


def test_architecture_defaults_and_overrides() -> None:
    dense = Architecture(Family.DECODER_ONLY, 2, 64, 8, 256, 100, 128)
    assert dense.kv_heads == 8
    assert dense.attention_head_dim == 8
    gqa = Architecture(Family.DECODER_ONLY, 2, 64, 8, 256, 100, 128, n_kv_heads=2, head_dim=16)
    assert gqa.kv_heads == 2
    assert gqa.attention_head_dim == 16


def test_gpu_spec_sparse_peaks_default_empty() -> None:
    gpu = GpuSpec("x", "X", 1, {"bf16": 1.0})
    assert gpu.sparse_peak_tflops == {}
