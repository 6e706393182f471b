"""Wire contracts of number formats and quantization."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from service.schemas.fields import FiniteFloat


class DType(BaseModel):
    """A number format, every figure computed from its bit layout."""

    name: str
    kind: str = Field(description="'float' or 'int'.")
    bits: int
    sign_bits: int
    exponent_bits: int
    fraction_bits: int
    bytes: float
    encoding: str | None = Field(
        description="'ieee', or 'finite-nan-only' for FP8 E4M3 (no infinities)."
    )
    bias: int | None
    max: float | None = Field(description="Largest finite value (floats).")
    min_normal: float | None
    min_subnormal: float | None
    epsilon: float | None = Field(description="Gap between 1 and the next value (floats).")
    int_min: int | None
    int_max: int | None


class QuantizeTarget(StrEnum):
    INT8 = "int8"
    INT4 = "int4"
    FP16 = "fp16"
    BF16 = "bf16"
    FP8_E4M3 = "fp8-e4m3"
    FP8_E5M2 = "fp8-e5m2"


class QuantizeScheme(StrEnum):
    ABSMAX = "absmax"
    ZERO_POINT = "zero-point"


class QuantizeRequest(BaseModel):
    """fp32 values to project into a lower-precision format."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"values": [0.12, -0.5, 1.7, 3.2, -2.9], "target": "int8", "scheme": "absmax"},
                {"values": [0.1, 1000.0, 1e-5], "target": "fp8-e4m3"},
            ]
        },
    )

    values: list[Annotated[FiniteFloat, Field(ge=-3.4e38, le=3.4e38)]] = Field(
        min_length=1, max_length=100_000, description="fp32-representable finite numbers."
    )
    target: QuantizeTarget
    scheme: QuantizeScheme | None = Field(
        default=None,
        description="Integer targets only: 'absmax' (symmetric, default) or 'zero-point'.",
    )


class QuantizeResponse(BaseModel):
    target: str
    scheme: str | None
    bits: int
    quantized: list[int] | list[float] = Field(
        description="Integer codes for int targets; the rounded values for float targets."
    )
    scale: float | None
    zero_point: int | None
    dequantized: list[float]
    max_abs_error: float
    rms_error: float
    saturated: int = Field(description="Values clipped to the format's range.")
    assumptions: list[str]
