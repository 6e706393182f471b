"""Number formats: values computed from bit layouts against NumPy and published figures."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from service.domain.dtypes import (
    BF16,
    FORMATS,
    FP8_E4M3,
    FP8_E5M2,
    FP16,
    FP32,
    INT4,
    INT8,
    FloatEncoding,
    FormatKind,
    NumberFormat,
    finite_values,
    get_format,
)
from service.domain.errors import InvalidInputError


@pytest.mark.parametrize(("fmt", "dtype"), [(FP32, np.float32), (FP16, np.float16)])
def test_ieee_formats_match_numpy_finfo(fmt: NumberFormat, dtype: type[np.floating]) -> None:
    info = np.finfo(dtype)
    assert fmt.bits == info.bits
    assert fmt.exponent_bits == info.nexp
    assert fmt.fraction_bits == info.nmant
    assert fmt.max == float(info.max)
    assert fmt.min_normal == float(info.smallest_normal)
    assert fmt.min_subnormal == float(info.smallest_subnormal)
    assert fmt.epsilon == float(info.eps)
    assert fmt.max_exponent == info.maxexp - 1
    assert fmt.min_exponent == info.minexp


def test_course_layouts() -> None:
    # Course notes: FP32 = 1 + 8 + 23, FP16 = 1 + 5 + 10, BF16 = 1 + 8 + 7.
    assert (FP32.sign_bits, FP32.exponent_bits, FP32.fraction_bits) == (1, 8, 23)
    assert (FP16.sign_bits, FP16.exponent_bits, FP16.fraction_bits) == (1, 5, 10)
    assert (BF16.sign_bits, BF16.exponent_bits, BF16.fraction_bits) == (1, 8, 7)
    assert (FP32.bytes, FP16.bytes, BF16.bytes, INT8.bytes, INT4.bytes) == (4, 2, 2, 1, 0.5)


def test_bf16_published_values() -> None:
    # bfloat16: FP32's exponent range, 7 fraction bits: max 3.3895e38, epsilon 2^-7.
    assert BF16.max == pytest.approx(3.3895e38, rel=1e-4)
    assert BF16.max == (2 - 2**-7) * 2.0**127
    assert BF16.epsilon == 2.0**-7
    assert BF16.min_normal == FP32.min_normal
    assert BF16.bias == FP32.bias == 127


def test_fp8_values_from_micikevicius_2022_table_1() -> None:
    assert FP8_E4M3.bias == 7
    assert FP8_E4M3.max == 448.0
    assert FP8_E4M3.min_normal == 2.0**-6
    assert FP8_E4M3.min_subnormal == 2.0**-9
    assert FP8_E4M3.encoding is FloatEncoding.FINITE_NAN_ONLY
    assert FP8_E5M2.bias == 15
    assert FP8_E5M2.max == 57344.0
    assert FP8_E5M2.min_normal == 2.0**-14
    assert FP8_E5M2.min_subnormal == 2.0**-16
    assert FP8_E5M2.encoding is FloatEncoding.IEEE


def test_e4m3_would_be_240_if_ieee_like() -> None:
    # The special-case rule matters: an IEEE-like E4M3 would top out at 1.875 * 2^7 = 240.
    ieee_e4m3 = NumberFormat("e4m3-ieee", FormatKind.FLOAT, 1, 4, 3, FloatEncoding.IEEE)
    assert ieee_e4m3.max == 240.0


def test_integer_ranges() -> None:
    assert (INT8.int_min, INT8.int_max) == (-128, 127)
    assert (INT4.int_min, INT4.int_max) == (-8, 7)
    assert INT8.int_min == np.iinfo(np.int8).min
    assert INT8.int_max == np.iinfo(np.int8).max
    for fmt in (INT8, INT4):
        assert not fmt.is_float
        assert fmt.kind is FormatKind.INT
        assert fmt.max is None
        assert fmt.min_normal is None
        assert fmt.min_subnormal is None
        assert fmt.epsilon is None
        assert fmt.bias is None


def test_unsigned_integer_layout() -> None:
    uint8 = NumberFormat("uint8", FormatKind.INT, 0, 0, 8)
    assert (uint8.int_min, uint8.int_max, uint8.bits) == (0, 255, 8)


def test_floats_have_no_integer_range() -> None:
    for fmt in (FP32, FP16, BF16, FP8_E4M3, FP8_E5M2):
        assert fmt.is_float
        assert fmt.int_min is None
        assert fmt.int_max is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("x", FormatKind.INT, 2, 0, 7, None), "impossible"),
        (("x", FormatKind.INT, 1, -1, 7, None), "impossible"),
        (("x", FormatKind.INT, 1, 0, -7, None), "impossible"),
        (("x", FormatKind.INT, 1, 2, 5, None), "integers"),
        (("x", FormatKind.INT, 1, 0, 7, FloatEncoding.IEEE), "integers"),
        (("x", FormatKind.FLOAT, 1, 1, 6, FloatEncoding.IEEE), "float needs"),
        (("x", FormatKind.FLOAT, 1, 4, 0, FloatEncoding.IEEE), "float needs"),
        (("x", FormatKind.FLOAT, 1, 4, 3, None), "float needs"),
    ],
)
def test_impossible_layouts_are_programming_errors(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NumberFormat(*args)  # type: ignore[arg-type]


def test_formats_are_frozen_and_serialisable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        FP16.max = 1.0  # type: ignore[misc]
    as_dict = dataclasses.asdict(FP8_E4M3)
    assert as_dict["max"] == 448.0
    assert as_dict["bytes"] == 1.0


def test_registry_and_lookup() -> None:
    assert set(FORMATS) == {"fp32", "fp16", "bf16", "fp8-e4m3", "fp8-e5m2", "int8", "int4"}
    assert get_format("bf16") is BF16
    with pytest.raises(InvalidInputError) as info:
        get_format("fp64", "target")
    assert info.value.field == "target"


def test_finite_values_of_fp8() -> None:
    e4m3 = finite_values(FP8_E4M3)
    # 128 non-negative patterns minus the one NaN (S.1111.111).
    assert len(e4m3) == 127
    assert e4m3[0] == 0.0
    assert e4m3[1] == FP8_E4M3.min_subnormal
    assert e4m3[-1] == FP8_E4M3.max
    assert FP8_E4M3.min_normal in e4m3
    e5m2 = finite_values(FP8_E5M2)
    # 128 patterns minus +inf and three NaNs (S.11111.{01,10,11}).
    assert len(e5m2) == 124
    assert e5m2[-1] == FP8_E5M2.max
    assert list(e4m3) == sorted(e4m3)
    assert list(e5m2) == sorted(e5m2)


def test_finite_values_of_fp16_match_numpy() -> None:
    patterns = np.arange(0x7C00, dtype=np.uint16)  # every non-negative finite float16 pattern
    expected = patterns.view(np.float16).astype(np.float64)
    assert np.array_equal(np.array(finite_values(FP16)), expected)


def test_finite_values_of_bf16_match_fp32_upper_halves() -> None:
    patterns = np.arange(0x7F80, dtype=np.uint32) << np.uint32(16)
    expected = patterns.view(np.float32).astype(np.float64)
    assert np.array_equal(np.array(finite_values(BF16)), expected)


@pytest.mark.parametrize("fmt", [FP32, INT8])
def test_finite_values_refuses_large_or_integer_formats(fmt: NumberFormat) -> None:
    with pytest.raises(InvalidInputError):
        finite_values(fmt)
