"""Quantization: integer schemes, float rounding, edge cases and error bounds."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from service.domain.dtypes import (
    BF16,
    FP8_E4M3,
    FP8_E5M2,
    FP16,
    INT8,
    NumberFormat,
    finite_values,
    get_format,
)
from service.domain.errors import InvalidInputError
from service.domain.quantize import (
    TARGETS,
    quantize,
    round_to_bf16,
    round_to_format,
)

VALUES = [-1.0, 0.5, 2.0, 0.0, -3.7]

# ---------------------------------------------------------------- integer targets, worked examples


def test_absmax_int8_worked_example() -> None:
    result = quantize(VALUES, "int8", "absmax")
    scale = 3.7 / 127  # Dettmers et al. 2022 sec. 2.1: scale = max|x| / 127
    assert result.scale == pytest.approx(scale)
    assert result.zero_point is None
    assert result.quantized == (-34, 17, 69, 0, -127)  # round(x / scale)
    assert result.dequantized == pytest.approx([scale * q for q in result.quantized])
    assert result.bits == 8
    assert result.saturated == 0
    errors = [abs(x - d) for x, d in zip(VALUES, result.dequantized, strict=True)]
    assert result.max_abs_error == pytest.approx(max(errors))
    assert result.rms_error == pytest.approx(math.sqrt(sum(e * e for e in errors) / len(errors)))


def test_absmax_is_the_default_scheme() -> None:
    result = quantize(VALUES, "int4")
    assert result.scheme == "absmax"
    assert result.assumptions[0].startswith("No scheme given")
    assert result.quantized == quantize(VALUES, "int4", "absmax").quantized
    assert not quantize(VALUES, "int4", "absmax").assumptions[0].startswith("No scheme")


def test_absmax_int4_uses_symmetric_range() -> None:
    result = quantize(VALUES, "int4", "absmax")
    assert result.scale == pytest.approx(3.7 / 7)
    assert result.quantized == (-2, 1, 4, 0, -7)
    assert min(result.quantized) >= -7  # -8 is never used by the symmetric scheme


def test_zero_point_int8_worked_example() -> None:
    # Jacob et al. 2018 sec. 2.1: r = S (q - Z), S = (max - min) / 255, Z = -128 - round(min / S).
    result = quantize(VALUES, "int8", "zero-point")
    scale = (2.0 - -3.7) / 255
    assert result.scale == pytest.approx(scale)
    assert result.zero_point == -128 - round(-3.7 / scale) == 38
    assert result.quantized == (-7, 60, 127, 38, -128)
    assert result.dequantized[3] == 0.0  # real zero is exact
    assert result.dequantized == pytest.approx([scale * (q - 38) for q in result.quantized])


def test_zero_point_widens_the_range_to_contain_zero() -> None:
    positive = quantize([2.0, 3.0, 5.0], "int8", "zero-point")
    assert positive.zero_point == -128
    assert positive.scale == pytest.approx(5.0 / 255)
    assert positive.quantized[-1] == 127
    negative = quantize([-2.0, -1.0], "int4", "zero-point")
    assert negative.zero_point == 7
    assert negative.quantized[0] == -8
    assert negative.scale is not None
    assert negative.dequantized == pytest.approx([-2.0, -1.0], abs=negative.scale / 2)


def test_zero_point_int4_fits_signed_range() -> None:
    result = quantize(VALUES, "int4", "zero-point")
    assert result.zero_point is not None
    assert -8 <= result.zero_point <= 7
    assert all(-8 <= q <= 7 for q in result.quantized)
    assert result.scale is not None
    assert result.max_abs_error <= result.scale / 2 + 1e-12


@pytest.mark.parametrize("scheme", ["absmax", "zero-point"])
@pytest.mark.parametrize("target", ["int8", "int4"])
def test_all_zeros_define_scale_zero(target: str, scheme: str) -> None:
    result = quantize([0.0, 0.0, -0.0], target, scheme)
    assert result.scale == 0.0
    assert result.quantized == (0, 0, 0)
    assert result.dequantized == (0.0, 0.0, 0.0)
    assert result.max_abs_error == 0.0
    assert result.rms_error == 0.0
    assert any("All values are zero" in a for a in result.assumptions)
    if scheme == "zero-point":
        assert result.zero_point == 0


@pytest.mark.parametrize("scheme", ["absmax", "zero-point"])
def test_single_value_round_trips_exactly(scheme: str) -> None:
    result = quantize([3.0], "int8", scheme)
    assert result.quantized == (127,)
    assert result.dequantized == pytest.approx((3.0,))
    assert result.max_abs_error == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("scheme", ["absmax", "zero-point"])
def test_extreme_magnitudes_stay_finite(scheme: str) -> None:
    values = [1.7e308, -1.7e308, 1.0, 0.0]
    result = quantize(values, "int8", scheme)
    assert result.scale is not None
    assert math.isfinite(result.scale)
    assert all(math.isfinite(v) for v in result.dequantized)
    assert math.isfinite(result.max_abs_error)
    assert math.isfinite(result.rms_error)
    assert result.max_abs_error <= result.scale / 2 * (1 + 1e-9)


@pytest.mark.parametrize("scheme", ["absmax", "zero-point"])
def test_values_too_small_for_a_normal_scale_are_rejected(scheme: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        quantize([1e-310, 0.0], "int8", scheme)
    assert info.value.field == "values"


def test_huge_list() -> None:
    rng = np.random.default_rng(0)
    values = rng.standard_normal(1_000_000)
    result = quantize(values.tolist(), "int8", "absmax")
    assert len(result.quantized) == 1_000_000
    assert result.scale is not None
    assert result.max_abs_error <= result.scale / 2 * (1 + 1e-9)
    # Normal data: the RMS error of uniform rounding noise is about scale / sqrt(12).
    assert result.rms_error == pytest.approx(result.scale / math.sqrt(12), rel=0.02)


# ---------------------------------------------------------------------------------- input errors


@pytest.mark.parametrize(
    "values",
    [
        [],
        [1.0, math.nan],
        [math.inf],
        [-math.inf, 1.0],
        [[1.0, 2.0], [3.0, 4.0]],
        ["a", "b"],
        [1 + 2j],
        5.0,
    ],
)
def test_bad_values_are_rejected(values: Any) -> None:
    with pytest.raises(InvalidInputError) as info:
        quantize(values, "int8")
    assert info.value.field == "values"


@pytest.mark.parametrize("target", ["int16", "fp64", "uint8", ""])
def test_unknown_target(target: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        quantize([1.0], target)
    assert info.value.field == "target"


@pytest.mark.parametrize("scheme", ["minmax", "ABSMAX", "", "zero_point"])
def test_unknown_scheme(scheme: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        quantize([1.0], "int8", scheme)
    assert info.value.field == "scheme"


@pytest.mark.parametrize("target", ["fp16", "bf16", "fp8-e4m3", "fp8-e5m2", "fp32"])
def test_scheme_for_a_float_target_is_rejected(target: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        quantize([1.0], target, "absmax")
    assert info.value.field == "scheme"


def test_every_target_is_a_known_format() -> None:
    for target in TARGETS:
        assert get_format(target).name == target


# ---------------------------------------------------------------------------------- float targets


def test_fp16_matches_numpy_cast() -> None:
    rng = np.random.default_rng(1)
    values = np.concatenate(
        [rng.standard_normal(1000) * 10.0 ** rng.integers(-9, 5, 1000), [65504.0, 6e-8, 3e-8]]
    )
    result = quantize(values.tolist(), "fp16")
    assert result.scale is None
    assert result.zero_point is None
    assert result.scheme is None
    assert result.quantized == result.dequantized
    assert np.array_equal(np.array(result.quantized), values.astype(np.float16).astype(float))
    assert result.saturated == 0


def test_fp32_matches_numpy_cast() -> None:
    values = [0.1, 1 / 3, -2.5e-40, 1e38]
    result = quantize(values, "fp32")
    assert result.quantized == tuple(np.array(values).astype(np.float32).astype(float).tolist())


@pytest.mark.parametrize(
    ("target", "limit"),
    [("fp32", 3.4028234663852886e38), ("fp16", 65504.0), ("bf16", BF16.max),
     ("fp8-e4m3", 448.0), ("fp8-e5m2", 57344.0)],
)  # fmt: skip
def test_float_overflow_saturates(target: str, limit: float) -> None:
    result = quantize([1e300, -1e300, 1.0], target)
    assert result.quantized[:2] == (limit, -limit)
    assert result.quantized[2] == 1.0
    assert result.saturated == 2
    assert all(math.isfinite(v) for v in result.quantized)
    assert math.isfinite(result.max_abs_error)
    assert math.isfinite(result.rms_error)


def test_fp16_values_just_above_max_saturate_rather_than_overflow() -> None:
    # A plain IEEE cast sends 65520 to inf; saturation keeps 65504.
    assert quantize([65519.0, 65520.0, 70000.0], "fp16").quantized == (65504.0,) * 3


def test_bf16_known_roundings() -> None:
    one_third = 1 / 3
    tie_down = 1 + 2**-8  # halfway between 1 and 1 + 2^-7: ties to even (1.0)
    tie_up = 1 + 3 * 2**-8  # halfway between 1 + 2^-7 and 1 + 2^-6: ties to even (1 + 2^-6)
    above = 1 + 2**-8 + 2**-20  # just above halfway: rounds up
    result = quantize([one_third, tie_down, tie_up, above, -tie_up], "bf16")
    assert result.quantized == (0.333984375, 1.0, 1 + 2**-6, 1 + 2**-7, -(1 + 2**-6))
    assert any("fp32 first" in a for a in result.assumptions)


def test_bf16_bit_rounding_agrees_with_the_generic_grid_rounding() -> None:
    rng = np.random.default_rng(2)
    # FP32-representable inputs (so the FP32 step is exact), spanning normal and subnormal bf16.
    as_fp32 = (rng.standard_normal(20_000) * 10.0 ** rng.integers(-40, 38, 20_000)).astype(
        np.float32
    )
    values = as_fp32.astype(np.float64)
    assert np.array_equal(round_to_bf16(values), round_to_format(values, BF16))


def test_bf16_max_does_not_round_to_infinity() -> None:
    top = BF16.max
    assert top is not None
    near_top = np.array([top, np.nextafter(top, 0.0), -top])
    assert np.array_equal(round_to_bf16(near_top), [top, top, -top])


def test_generic_rounding_agrees_with_numpy_float16() -> None:
    rng = np.random.default_rng(3)
    values = rng.standard_normal(50_000) * 10.0 ** rng.integers(-9, 5, 50_000)
    values = np.clip(values, -65504.0, 65504.0)
    assert np.array_equal(round_to_format(values, FP16), values.astype(np.float16).astype(float))


@pytest.mark.parametrize("fmt", [FP8_E4M3, FP8_E5M2])
def test_fp8_grid_points_are_fixed_points(fmt: NumberFormat) -> None:
    grid = np.array(finite_values(fmt))
    both = np.concatenate([grid, -grid])
    assert np.array_equal(round_to_format(both, fmt), both)


@pytest.mark.parametrize("fmt", [FP8_E4M3, FP8_E5M2])
def test_fp8_rounds_to_nearest_grid_value_ties_to_even(fmt: NumberFormat) -> None:
    grid = np.array(finite_values(fmt))
    mid = (grid[:-1] + grid[1:]) / 2
    down = round_to_format(mid, fmt)
    # Ties go to the neighbour with an even last fraction bit: the even index on the grid
    # (consecutive grid values alternate between even and odd significands).
    expected = np.where(np.arange(len(mid)) % 2 == 0, grid[:-1], grid[1:])
    assert np.array_equal(down, expected)
    nudged_up = np.nextafter(mid, np.inf)
    assert np.array_equal(round_to_format(nudged_up, fmt), grid[1:])
    nudged_down = np.nextafter(mid, -np.inf)
    assert np.array_equal(round_to_format(nudged_down, fmt), grid[:-1])


def test_fp8_e4m3_known_values() -> None:
    result = quantize([0.1, 3.14159, 470.0, 449.0, 2.0**-10, 2.0**-9, 0.0], "fp8-e4m3")
    # 0.1 lies in [2^-4, 2^-3) with spacing 2^-7: 0.1 / 2^-7 = 12.8 -> 13 * 2^-7 = 0.1015625.
    assert result.quantized == (0.1015625, 3.25, 448.0, 448.0, 0.0, 2.0**-9, 0.0)
    assert result.saturated == 2


def test_fp8_e5m2_known_values() -> None:
    result = quantize([0.1, 3.14159, 470.0, 2.0**-16, 2.0**-17 * 1.01], "fp8-e5m2")
    assert result.quantized == (0.09375, 3.0, 448.0, 2.0**-16, 2.0**-16)
    assert result.saturated == 0


def test_round_to_format_refuses_integer_formats() -> None:
    with pytest.raises(InvalidInputError):
        round_to_format(np.array([1.0]), INT8)


# ------------------------------------------------------------------------------ property tests

finite = st.floats(
    min_value=-1e300, max_value=1e300, allow_nan=False, allow_infinity=False, allow_subnormal=False
)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(finite, min_size=1, max_size=50),
    target=st.sampled_from(["int8", "int4"]),
    scheme=st.sampled_from(["absmax", "zero-point"]),
)
def test_integer_error_is_at_most_half_a_step(
    values: list[float], target: str, scheme: str
) -> None:
    amax = max(abs(v) for v in values)
    assume(amax == 0.0 or amax > 1e-300)  # smaller scales are rejected (tested above)
    result = quantize(values, target, scheme)
    fmt = get_format(target)
    assert fmt.int_min is not None
    assert fmt.int_max is not None
    assert all(fmt.int_min <= q <= fmt.int_max for q in result.quantized)
    assert all(isinstance(q, int) for q in result.quantized)
    assert result.scale is not None
    assert result.max_abs_error <= result.scale / 2 * (1 + 1e-9) + 4 * np.finfo(float).eps * amax
    assert result.rms_error <= result.max_abs_error * (1 + 1e-12)
    if result.zero_point is not None:
        assert fmt.int_min <= result.zero_point <= fmt.int_max


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=50,
    ),
    fmt=st.sampled_from([FP8_E4M3, FP8_E5M2, FP16, BF16]),
)
def test_float_rounding_is_within_half_a_spacing(values: list[float], fmt: NumberFormat) -> None:
    result = quantize(values, fmt.name)
    x = np.array(values)
    q = np.array(result.quantized)
    limit, min_exponent = fmt.max, fmt.min_exponent
    assert limit is not None
    assert min_exponent is not None
    inside = np.abs(x) <= limit
    _, exp = np.frexp(np.abs(x))
    binade = np.maximum(exp - 1.0, min_exponent)
    spacing = np.exp2(binade - fmt.fraction_bits)
    # Within range the error is at most half the grid spacing of x's binade (bf16 goes through
    # fp32 first, which can add at most 2^-24 relative before the final rounding).
    bound = spacing / 2 * (1 + 2.0**-15)
    assert np.all(np.abs(x - q)[inside] <= bound[inside])
    assert np.all(np.abs(q) <= limit)
    assert np.all(q[~inside] == np.sign(x[~inside]) * limit)
    assert result.saturated == int(np.count_nonzero(~inside))
