"""``/v1/planner``: search every configuration for the ones that fit, ranked."""

from __future__ import annotations

from fastapi import APIRouter, Request

from service.api.deps import SessionDep
from service.api.problems import problem_responses
from service.schemas.planner import PlannerSearchRequest, PlannerSearchResponse
from service.usecases.planner import search

router = APIRouter(prefix="/v1/planner", tags=["planner"])


@router.post(
    "/search",
    summary="Find the configurations that fit",
    description="Tries every combination of GPU type, GPU count, strategy (DDP, ZeRO 1-3, FSDP "
    "variants), offload, tensor and pipeline degree, micro-batch and activation checkpointing "
    "(vectorised: millions of configurations per second), keeps those that fit and meet the "
    "limits, and ranks them by `objective`. When nothing fits, `nearest_misses` say what each "
    "would need; `per_strategy` says why each strategy fits or not.",
    responses=problem_responses(422),
)
def planner_search(
    request: PlannerSearchRequest, http: Request, session: SessionDep
) -> PlannerSearchResponse:
    result = search(session, request)
    http.app.state.metrics.planner_evaluated.observe(result.evaluated)
    return result
