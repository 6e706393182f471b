"""Number formats and quantization: the core's answers mapped to the wire."""

from __future__ import annotations

from functools import cache

from service.domain.dtypes import FORMATS
from service.domain.quantize import quantize
from service.schemas.numerics import DType, QuantizeRequest, QuantizeResponse


@cache
def list_dtypes() -> tuple[DType, ...]:
    """Every format the core knows, in a fixed order (computed once)."""
    return tuple(
        DType(
            name=fmt.name,
            kind=fmt.kind.value,
            bits=fmt.bits,
            sign_bits=fmt.sign_bits,
            exponent_bits=fmt.exponent_bits,
            fraction_bits=fmt.fraction_bits,
            bytes=fmt.bytes,
            encoding=fmt.encoding.value if fmt.encoding is not None else None,
            bias=fmt.bias,
            max=fmt.max,
            min_normal=fmt.min_normal,
            min_subnormal=fmt.min_subnormal,
            epsilon=fmt.epsilon,
            int_min=fmt.int_min,
            int_max=fmt.int_max,
        )
        for fmt in FORMATS.values()
    )


def run_quantize(request: QuantizeRequest) -> QuantizeResponse:
    """Quantize, dequantize and measure the error."""
    scheme = request.scheme.value if request.scheme is not None else None
    result = quantize(request.values, request.target.value, scheme)
    return QuantizeResponse(
        target=result.target,
        scheme=result.scheme,
        bits=result.bits,
        quantized=list(result.quantized),
        scale=result.scale,
        zero_point=result.zero_point,
        dequantized=list(result.dequantized),
        max_abs_error=result.max_abs_error,
        rms_error=result.rms_error,
        saturated=result.saturated,
        assumptions=list(result.assumptions),
    )
