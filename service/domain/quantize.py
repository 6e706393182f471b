"""Quantize a list of numbers to an integer or low-precision float format and measure the error.

Integer targets (``int8``, ``int4``; ``b`` bits, signed range ``[-2^(b-1), 2^(b-1) - 1]``):

``absmax`` (symmetric; the default when ``scheme`` is omitted)
    Dettmers et al. 2022, "LLM.int8()", sec. 2.1 (absmax quantization, there for 8 bits with
    127): ``scale = max|x| / (2^(b-1) - 1)``, ``q = round(x / scale)`` clipped to
    ``[-(2^(b-1) - 1), 2^(b-1) - 1]`` (the code ``-2^(b-1)`` is never used, so the grid is
    symmetric), ``x' = scale * q``.

``zero-point`` (asymmetric, affine)
    Jacob et al. 2018, "Quantization and Training of Neural Networks for Efficient
    Integer-Arithmetic-Only Inference", sec. 2.1, eq. (1) ``r = S (q - Z)``: the real range is
    first widened to contain 0 (``lo = min(min x, 0)``, ``hi = max(max x, 0)``) so that real zero
    is exactly representable (their requirement in sec. 2.1); then
    ``scale = (hi - lo) / (2^b - 1)``, ``zero_point = qmin - round(lo / scale)`` with
    ``qmin = -2^(b-1)``, ``q = clip(round(x / scale) + zero_point, qmin, qmax)`` and
    ``x' = scale * (q - zero_point)``. ``zero_point`` always lies in ``[qmin, qmax]``, so codes
    and zero point fit the signed ``b``-bit range. (Dettmers et al. 2022 sec. 2.1 describe the
    same affine scheme with ``2 * 127 / (max - min)`` for 8 bits.)

``round`` is round-half-to-even (``numpy.rint``). In both schemes every value is inside the
quantization range, so ``|x - x'| <= scale / 2`` up to float64 rounding.

If every value is zero the range is empty and ``x / scale`` undefined: ``scale`` is reported as
``0.0``, every code (and, for zero-point, ``zero_point``) as 0, and dequantization is exact. A
non-zero input whose scale would be subnormal in float64 (``max|x|`` below about ``1e-305``) is
rejected.

Float targets (``fp32``, ``fp16``, ``bf16``, ``fp8-e4m3``, ``fp8-e5m2``) are plain casts without
a scale, so ``scheme`` must be omitted (a scheme is rejected with ``InvalidInputError("scheme")``).
Rounding is round-to-nearest-even (IEEE 754-2019 sec. 4.3.1, roundTiesToEven) with subnormals.
Out-of-range values **saturate** to ``+-max`` of the format instead of becoming infinities, so
every result stays finite (and JSON-serialisable); the count is reported as ``saturated``. This is
the saturating conversion FP8 hardware offers (the ``.satfinite`` modifier of NVIDIA PTX ``cvt``
to ``e4m3``/``e5m2``) and FP8 training recipes use; for FP16/BF16/FP32 it differs from a plain
cast (which would give ``inf``) only for values beyond the format's range.

* ``fp32`` and ``fp16``: NumPy casts (``float32``, ``float16``; round-to-nearest-even from float64)
  after clipping to ``+-max``.
* ``bf16``: the value is held as FP32 (as a framework would), then rounded to nearest even on
  the upper 16 bits with ``uint32`` bit operations (add ``0x7FFF`` plus the lowest kept bit,
  truncate the low 16 bits), the conversion used by TensorFlow and PyTorch for bfloat16.
* ``fp8-e4m3``, ``fp8-e5m2``: rounded onto the format's grid computed from its layout in
  :mod:`service.domain.dtypes` (quantum ``2^(exponent - f)`` with the exponent clamped at the
  subnormal exponent ``1 - bias``), not from a typed-in table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt

from service.domain.dtypes import BF16, FP16, FP32, NumberFormat, get_format
from service.domain.errors import InvalidInputError

FloatArray = npt.NDArray[np.float64]

#: Integer quantization schemes accepted by :func:`quantize`.
SCHEMES: tuple[str, ...] = ("absmax", "zero-point")
#: Targets accepted by :func:`quantize`.
TARGETS: tuple[str, ...] = ("int8", "int4", "fp32", "fp16", "bf16", "fp8-e4m3", "fp8-e5m2")


@dataclass(frozen=True, slots=True)
class QuantizationResult:
    """Codes (integer targets) or rounded values (float targets), the round trip, and its error.

    ``scale`` is ``None`` for float targets; ``zero_point`` is set only for the ``zero-point``
    scheme. ``max_abs_error`` and ``rms_error`` compare ``dequantized`` with the input.
    ``saturated`` counts values clipped to the format's range (only float targets can saturate).
    """

    target: str
    scheme: str | None
    bits: int
    quantized: tuple[int, ...] | tuple[float, ...]
    scale: float | None
    zero_point: int | None
    dequantized: tuple[float, ...]
    max_abs_error: float
    rms_error: float
    saturated: int
    assumptions: tuple[str, ...]


def quantize(values: Sequence[float], target: str, scheme: str | None = None) -> QuantizationResult:
    """Quantize ``values`` to ``target`` (see the module docstring for every rule).

    Raises ``InvalidInputError`` with field ``values`` (empty, not a flat list of numbers, NaN or
    infinite), ``target`` (unknown) or ``scheme`` (unknown, or given for a float target).
    """
    x = _as_array(values)
    if target not in TARGETS:
        raise InvalidInputError("target", f"unknown target {target!r}; use one of {TARGETS}")
    fmt = get_format(target, "target")
    if fmt.is_float:
        if scheme is not None:
            raise InvalidInputError(
                "scheme", f"{target} is a plain cast without a scale; omit the scheme"
            )
        return _quantize_float(x, fmt)
    resolved = "absmax" if scheme is None else scheme
    if resolved not in SCHEMES:
        raise InvalidInputError("scheme", f"unknown scheme {scheme!r}; use one of {SCHEMES}")
    if resolved == "absmax":
        return _quantize_absmax(x, fmt, defaulted=scheme is None)
    return _quantize_zero_point(x, fmt)


def _as_array(values: Sequence[float]) -> FloatArray:
    """Validate ``values`` into a 1-D finite float64 array."""
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError("values", "must be a flat list of numbers") from None
    if x.ndim != 1:
        raise InvalidInputError("values", "must be a flat list of numbers")
    if x.size == 0:
        raise InvalidInputError("values", "must not be empty")
    if not np.all(np.isfinite(x)):
        raise InvalidInputError("values", "must be finite (no NaN or infinity)")
    return x


def _errors(x: FloatArray, dequantized: FloatArray) -> tuple[float, float]:
    """Maximum absolute and root-mean-square error, scaled to avoid overflow when squaring."""
    err = np.abs(x - dequantized)
    worst = float(err.max())
    if worst == 0.0:
        return 0.0, 0.0
    rms = worst * math.sqrt(float(np.mean(np.square(err / worst))))
    return worst, rms


def _quantize_absmax(x: FloatArray, fmt: NumberFormat, *, defaulted: bool) -> QuantizationResult:
    """Symmetric absmax quantization (Dettmers et al. 2022, sec. 2.1)."""
    qmax = cast(int, fmt.int_max)  # 2^(b-1) - 1; integer formats always have a range
    amax = float(np.max(np.abs(x)))
    assumptions = [
        f"absmax: scale = max|x| / {qmax}, codes = round(x / scale) in [-{qmax}, {qmax}] "
        "(Dettmers et al. 2022, LLM.int8(), sec. 2.1)."
    ]
    if defaulted:
        assumptions.insert(0, "No scheme given: symmetric absmax quantization is used.")
    if amax == 0.0:
        scale = 0.0
        codes = np.zeros(x.shape, dtype=np.int64)
        assumptions.append("All values are zero: scale is reported as 0 and every code is 0.")
    else:
        scale = amax / qmax
        _check_scale(scale)
        codes = np.clip(np.rint(x / scale), -qmax, qmax).astype(np.int64)
    dequantized = scale * codes.astype(np.float64)
    return _int_result(x, fmt, "absmax", codes, scale, None, dequantized, assumptions)


def _quantize_zero_point(x: FloatArray, fmt: NumberFormat) -> QuantizationResult:
    """Asymmetric affine quantization ``r = S (q - Z)`` (Jacob et al. 2018, sec. 2.1)."""
    qmin, qmax = cast(int, fmt.int_min), cast(int, fmt.int_max)  # -2^(b-1), 2^(b-1) - 1
    levels = qmax - qmin  # 2^b - 1
    lo = min(float(np.min(x)), 0.0)
    hi = max(float(np.max(x)), 0.0)
    assumptions = [
        f"zero-point: range widened to contain 0, scale = (max - min) / {levels}, "
        f"zero_point = {qmin} - round(min / scale), codes in [{qmin}, {qmax}] "
        "(Jacob et al. 2018, sec. 2.1, r = S (q - Z))."
    ]
    if hi == lo:  # both zero: every value is 0
        scale = 0.0
        zero_point = 0
        codes = np.zeros(x.shape, dtype=np.int64)
        assumptions.append(
            "All values are zero: scale is reported as 0, zero_point as 0 and every code is 0."
        )
    else:
        # hi/levels - lo/levels rather than (hi - lo)/levels: no overflow near the float64 limit.
        scale = hi / levels - lo / levels
        _check_scale(scale)
        zero_point = int(np.clip(qmin - np.rint(lo / scale), qmin, qmax))
        codes = np.clip(np.rint(x / scale) + zero_point, qmin, qmax).astype(np.int64)
    dequantized = scale * (codes - zero_point).astype(np.float64)
    return _int_result(x, fmt, "zero-point", codes, scale, zero_point, dequantized, assumptions)


def _check_scale(scale: float) -> None:
    """Reject inputs so small that the scale underflows to a subnormal or zero."""
    if scale < np.finfo(np.float64).tiny:
        raise InvalidInputError("values", "too close to zero to quantize (the scale underflows)")


def _int_result(
    x: FloatArray,
    fmt: NumberFormat,
    scheme: str,
    codes: npt.NDArray[np.int64],
    scale: float,
    zero_point: int | None,
    dequantized: FloatArray,
    assumptions: list[str],
) -> QuantizationResult:
    worst, rms = _errors(x, dequantized)
    return QuantizationResult(
        target=fmt.name,
        scheme=scheme,
        bits=fmt.bits,
        quantized=tuple(int(c) for c in codes.tolist()),
        scale=scale,
        zero_point=zero_point,
        dequantized=tuple(float(v) for v in dequantized.tolist()),
        max_abs_error=worst,
        rms_error=rms,
        saturated=0,
        assumptions=tuple(assumptions),
    )


def _quantize_float(x: FloatArray, fmt: NumberFormat) -> QuantizationResult:
    """Round to a float format with saturation (module docstring)."""
    limit = cast(float, fmt.max)  # float formats always have a largest finite value
    saturated = int(np.count_nonzero(np.abs(x) > limit))
    clipped = np.clip(x, -limit, limit)
    assumptions = [
        "Round to nearest, ties to even (IEEE 754-2019 sec. 4.3.1), subnormals kept.",
        f"Values beyond +-{limit:.6g} saturate to +-max (saturating conversion); "
        "no infinities are produced.",
    ]
    if fmt is FP32:
        rounded = clipped.astype(np.float32).astype(np.float64)
    elif fmt is FP16:
        rounded = clipped.astype(np.float16).astype(np.float64)
    elif fmt is BF16:
        rounded = round_to_bf16(clipped)
        assumptions.append(
            "bf16: values are held as fp32 first, then rounded to nearest even on the upper "
            "16 bits."
        )
    else:
        rounded = round_to_format(clipped, fmt)
    worst, rms = _errors(x, rounded)
    as_tuple = tuple(float(v) for v in rounded.tolist())
    return QuantizationResult(
        target=fmt.name,
        scheme=None,
        bits=fmt.bits,
        quantized=as_tuple,
        scale=None,
        zero_point=None,
        dequantized=as_tuple,
        max_abs_error=worst,
        rms_error=rms,
        saturated=saturated,
        assumptions=tuple(assumptions),
    )


def round_to_bf16(x: FloatArray) -> FloatArray:
    """Round float64 values (already within BF16's range) to BF16 via FP32 bit operations.

    Each value is first cast to FP32; then, on the ``uint32`` bit pattern, add ``0x7FFF`` plus
    the lowest bit that will be kept (round to nearest, ties to even) and clear the low 16 bits.
    Inputs must be finite and ``|x| <= BF16.max`` (the carry can then never reach the exponent of
    infinity).
    """
    bits = x.astype(np.float32).view(np.uint32)
    lsb = (bits >> np.uint32(16)) & np.uint32(1)
    rounded = (bits + np.uint32(0x7FFF) + lsb) & np.uint32(0xFFFF0000)
    return rounded.view(np.float32).astype(np.float64)


def round_to_format(x: FloatArray, fmt: NumberFormat) -> FloatArray:
    """Round float64 values (already within ``+-fmt.max``) to the nearest value of ``fmt``.

    For ``|x|`` in the binade ``[2^k, 2^(k+1))`` the representable values are spaced
    ``2^(k - f)`` apart; below the smallest normal the spacing stays ``2^(1 - bias - f)``
    (subnormals). Dividing by that power-of-two quantum is exact, so ``numpy.rint`` (ties to
    even) on the quotient rounds the significand to nearest even. A value that rounds up to the
    next power of two is still representable. ``fmt`` must be a float format.
    """
    if not fmt.is_float or fmt.min_exponent is None or fmt.max is None:
        raise InvalidInputError("target", f"{fmt.name} is not a floating-point format")
    magnitude = np.abs(x)
    _, exp = np.frexp(magnitude)  # magnitude = m * 2^exp with m in [0.5, 1): floor(log2) = exp-1
    binade = np.maximum(exp.astype(np.float64) - 1.0, float(fmt.min_exponent))
    quantum = np.exp2(binade - fmt.fraction_bits)
    rounded = np.minimum(np.rint(magnitude / quantum) * quantum, fmt.max)
    result: FloatArray = np.copysign(rounded, x)
    return result
