"""``/v1/estimates``: memory per GPU, and FLOPs, time, cost and energy of a training run."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import CataloguesDep
from service.api.problems import problem_responses
from service.api.routing import JsonRoute
from service.schemas.estimates import ComputeRequest, ComputeResponse, MemoryRequest, MemoryResponse
from service.usecases.estimates import compute_estimate, memory_estimate

# Estimates are pure computation on the process's catalogue snapshot: ``async def`` runs them
# on the event loop, with no threadpool hop and no database round trip.
router = APIRouter(prefix="/v1/estimates", tags=["estimates"], route_class=JsonRoute)


@router.post(
    "/memory",
    summary="Memory per GPU",
    description="Weights, gradients, optimizer states (ZeRO accounting: 16 bytes per parameter "
    "for mixed-precision Adam, Rajbhandari et al. 2019), activations (Korthikanti et al. 2022, "
    "with tensor/sequence parallelism and recomputation), overhead, under DDP, ZeRO 1-3, FSDP "
    "and offload; whether it fits the GPU; data-parallel traffic; and every convention used, "
    "in `assumptions`. The model is a catalogue slug, a parameter count, an architecture or a "
    "pasted Hugging Face config.",
    responses=problem_responses(422),
)
async def estimate_memory(request: MemoryRequest, catalogues: CataloguesDep) -> MemoryResponse:
    return memory_estimate(catalogues, request)


@router.post(
    "/compute",
    summary="FLOPs, time, cost and energy",
    description="Training FLOPs (6ND, or 8ND with full recomputation; the attention term on "
    "request), petaflop/s-days, GPU-hours, wall-clock days, cost and energy, from MFU, achieved "
    "TFLOP/s or tokens per second on a catalogue GPU's dense peak.",
    responses=problem_responses(422),
)
async def estimate_compute(request: ComputeRequest, catalogues: CataloguesDep) -> ComputeResponse:
    return compute_estimate(catalogues, request)
