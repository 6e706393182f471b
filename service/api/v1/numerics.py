"""``/v1/dtypes`` and ``/v1/quantize``: number formats and how quantization projects fp32."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.problems import problem_responses
from service.schemas.numerics import DType, QuantizeRequest, QuantizeResponse
from service.usecases.numerics import list_dtypes, run_quantize

router = APIRouter(prefix="/v1", tags=["number formats"])


@router.get(
    "/dtypes",
    summary="Number formats",
    description="fp32, fp16, bf16, fp8-e4m3, fp8-e5m2, int8, int4: bit layout, bytes, largest "
    "finite value, smallest normal and subnormal, epsilon, all computed from the layout "
    "(IEEE 754-2019; FP8 per Micikevicius et al. 2022).",
)
async def dtypes() -> list[DType]:
    return list(list_dtypes())


@router.post(
    "/quantize",
    summary="Quantize fp32 values",
    description="Project fp32 values into int8/int4 (absmax or zero-point scale factors) or "
    "round them to fp16, bf16 or FP8; answers the codes, the scale, the dequantized values and "
    "the error.",
    responses=problem_responses(422),
)
def quantize_values(request: QuantizeRequest) -> QuantizeResponse:
    return run_quantize(request)
