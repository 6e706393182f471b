"""In-process cost of one estimate, beside the ``llm-analysis`` package on the same inputs.

Part 1, side by side (LLaMA-7B and LLaMA-13B, A100-80GB, ZeRO-3 over 8 GPUs, micro-batch 1,
sequence 2048, no recomputation, flash attention, 1T tokens at 40% MFU):

* the figures each tool produces (weights, gradients, optimizer states, activations per GPU,
  total; FLOPs, GPU-hours and days for the token count), the service with its defaults and with
  the settings closest to llm-analysis's (``convention=megatron``: fp32 gradients, 18 bytes per
  parameter; ``dropout=false``);
* the time of one call (process CPU time, ``timeit`` best of ``--repeat``): the service's pure core
  (``service.domain.memory.estimate_memory``, ``service.domain.compute.estimate_compute``, on the
  exact config the use-case builds), the use-case path with slug resolution (from the catalogue
  snapshot, as the API does it, and from an SQLite session, as the API did before the snapshot:
  session, one SELECT for the model, one for the GPU), request validation and response
  serialization; and llm-analysis's core (``LLMAnalysis(...).training(...)`` on prebuilt
  configs, which computes memory and time in one call) and its entry point
  ``llm_analysis.analysis.train(...)`` (which also loads the configs by name).

llm-analysis runs in its own virtual environment (never the project's), by default
``/tmp/llmenv``; ``--install`` creates it with ``python3 -m venv`` and ``pip install
llm-analysis``.

Part 2, where an HTTP request's time goes (``--breakdown``, on by default): CPU microseconds per
request of ASGI calls made in-process (no sockets, no HTTP parsing), best of 5 batches, on one
CPU: the bare app, the service's middleware floor (``/healthz``), the service's estimate and
catalogue endpoints (SQLite), the same endpoints through FastAPI's own handler (the route fast
path off), the cost of a threadpool hop in FastAPI (``async def`` vs ``def``
endpoints, a sync ``yield`` dependency), and the service without its middleware.

Run from the repository root with the project's venv::

    .venv/bin/python bench/estimate_inprocess.py                 # ~2 minutes
    .venv/bin/python bench/estimate_inprocess.py --install       # first time: make /tmp/llmenv
    .venv/bin/python bench/estimate_inprocess.py --no-breakdown --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

# At module level: FastAPI resolves the (postponed) annotations of the routes below here.
from collections.abc import AsyncIterator  # noqa: E402

from bare_app import BareRequest, BareResponse  # noqa: E402
from fastapi import Depends, FastAPI  # noqa: E402

from service.schemas.estimates import (  # noqa: E402
    ComputeRequest,
    ComputeResponse,
    MemoryRequest,
    MemoryResponse,
)

GB = 1e9
LLM_ENV = Path(tempfile.gettempdir()) / "llmenv"

# The shared inputs.
CASES = (
    ("llama-7b", "decapoda-research_llama-7b-hf"),
    ("llama-13b", "decapoda-research_llama-13b-hf"),
)
GPU = ("a100-80gb", "a100-sxm-80gb")
GPUS = 8
MICRO_BATCH = 1
SEQUENCE = 2048
TOKENS = 10**12
MFU = 0.40

# Runs inside the llm-analysis venv: reads the cases on stdin, prints results and timings.
LLM_ANALYSIS_SCRIPT = r"""
import json, logging, sys, time, timeit
from llm_analysis.analysis import (
    ActivationRecomputation, DSZeRO, LLMAnalysis, ParallelismConfig, train,
)
from llm_analysis.config import (
    get_dtype_config_by_name, get_gpu_config_by_name, get_model_config_by_name,
)
from llm_analysis.logger import logger
from importlib.metadata import version
spec = json.load(sys.stdin)
logger.setLevel(logging.ERROR)
out = {"version": version("llm-analysis"), "cases": []}
for case in spec["cases"]:
    common = dict(
        batch_size_per_gpu=case["micro_batch"], seq_len=case["sequence"],
        total_num_tokens=case["tokens"], activation_recomputation=ActivationRecomputation(0),
        ds_zero=DSZeRO(3), flash_attn=True, softmax_dropout=False, mlp_gated_linear_units=True,
    )
    model = get_model_config_by_name(case["model"])
    gpu = get_gpu_config_by_name(case["gpu"])
    dtype = get_dtype_config_by_name("w16a16e16")
    parallel = ParallelismConfig(tp_size=1, pp_size=1, dp_size=case["gpus"], sp_size=1)

    def core():
        analysis = LLMAnalysis(model, gpu, dtype, parallel, flops_efficiency=case["mfu"])
        return analysis.training(**common)

    def entry():
        return train(
            model_name=case["model"], gpu_name=case["gpu"], dtype_name="w16a16e16",
            log_level="ERROR", total_num_gpus=case["gpus"], flops_efficiency=case["mfu"],
            batch_size_per_gpu=case["micro_batch"], seq_len=case["sequence"],
            total_num_tokens=case["tokens"], activation_recomputation=0, ds_zero=3,
            flash_attn=True, softmax_dropout=False, mlp_gated_linear_units=True,
        )

    def best(fn):  # CPU time, as the service side is measured
        timer = timeit.Timer(fn, timer=time.process_time)
        number, _ = timer.autorange()
        return min(timer.repeat(number=number, repeat=spec["repeat"])) / number

    result = core()
    out["cases"].append({
        "model": case["model"], "result": result,
        "core_s": best(core), "entry_s": best(entry),
    })
print(json.dumps(out, default=str))
"""


# --- timing helpers ------------------------------------------------------------------------


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """CPU seconds per call, best of ``repeat`` runs of an auto-ranged number of calls.

    Process CPU time, not wall time: on a machine shared with other work the time slices
    given to other processes do not count, so the best of a few runs is stable.
    """
    timer = timeit.Timer(fn, timer=time.process_time)
    number, _ = timer.autorange()
    return min(timer.repeat(number=number, repeat=repeat)) / number


def pin_to_one_cpu() -> str:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
        return "pinned to CPU 0"
    return "not pinned"


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f}"


@contextmanager
def sqlite_catalogue() -> Iterator[Any]:
    """A migrated, seeded SQLite database in a temporary folder; yields a session factory."""
    from service.config import Settings
    from service.persistence.engine import create_db_engine, create_session_factory
    from service.usecases.migrate import migrate_and_seed

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(database_url=f"sqlite:///{folder}/planner.sqlite3")
        engine = create_db_engine(settings)
        migrate_and_seed(engine)
        try:
            yield create_session_factory(engine)
        finally:
            engine.dispose()


def memory_catalogues(sessions: Any) -> Any:
    """The service's own catalogue snapshot (``CatalogueCache``), as the API reads it."""
    from service.usecases.catalogue_cache import CatalogueCache

    cache = CatalogueCache(sessions, refresh_s=3600)
    cache.refresh()
    return cache.snapshot.catalogues


# --- part 1: our estimate vs llm-analysis ---------------------------------------------------


def service_side(repeat: int, sessions: Any) -> list[dict[str, Any]]:
    from service.usecases import estimates as usecase

    cached = memory_catalogues(sessions)
    captured: dict[str, Any] = {}
    real_memory, real_compute = usecase.estimate_memory, usecase.estimate_compute

    def spy_memory(config: Any) -> Any:
        captured["memory"] = config
        return real_memory(config)

    def spy_compute(config: Any) -> Any:
        captured["compute"] = config
        return real_compute(config)

    rows = []
    for slug, _ in CASES:
        memory_body = {
            "model": slug,
            "strategy": "zero-3",
            "gpus": GPUS,
            "micro_batch_size": MICRO_BATCH,
            "sequence_length": SEQUENCE,
            "gpu": GPU[0],
        }
        compute_body = {"model": slug, "tokens": TOKENS, "gpus": GPUS, "gpu": GPU[0], "mfu": MFU}
        memory_request = MemoryRequest.model_validate(memory_body)
        matched_request = MemoryRequest.model_validate(
            {**memory_body, "convention": "megatron", "dropout": False}
        )
        compute_request = ComputeRequest.model_validate(compute_body)
        # Capture the exact configs the use-case hands the core, then time the core on them.
        usecase.estimate_memory, usecase.estimate_compute = spy_memory, spy_compute
        try:
            memory = usecase.memory_estimate(cached, memory_request)
            compute = usecase.compute_estimate(cached, compute_request)
        finally:
            usecase.estimate_memory, usecase.estimate_compute = real_memory, real_compute
        matched = usecase.memory_estimate(cached, matched_request)
        memory_json = json.dumps(memory_body)
        compute_json = json.dumps(compute_body)

        def db_memory(request: Any = memory_request) -> Any:
            with sessions() as session:
                return usecase.memory_estimate(session, request)

        def db_compute(request: Any = compute_request) -> Any:
            with sessions() as session:
                return usecase.compute_estimate(session, request)

        timings = {
            "core memory (estimate_memory)": best_of(
                lambda c=captured["memory"]: real_memory(c), repeat
            ),
            "core compute (estimate_compute)": best_of(
                lambda c=captured["compute"]: real_compute(c), repeat
            ),
            "use-case memory, catalogue snapshot (as the API)": best_of(
                lambda r=memory_request: usecase.memory_estimate(cached, r), repeat
            ),
            "use-case compute, catalogue snapshot (as the API)": best_of(
                lambda r=compute_request: usecase.compute_estimate(cached, r), repeat
            ),
            "use-case memory, SQLite session": best_of(db_memory, repeat),
            "use-case compute, SQLite session": best_of(db_compute, repeat),
            "validate MemoryRequest from JSON": best_of(
                lambda j=memory_json: MemoryRequest.model_validate_json(j), repeat
            ),
            "validate ComputeRequest from JSON": best_of(
                lambda j=compute_json: ComputeRequest.model_validate_json(j), repeat
            ),
            "MemoryResponse to JSON": best_of(lambda m=memory: m.model_dump_json(), repeat),
            "MemoryResponse re-validated (python)": best_of(
                lambda m=memory: MemoryResponse.model_validate(m.model_dump()), repeat
            ),
            "ComputeResponse to JSON": best_of(lambda c=compute: c.model_dump_json(), repeat),
            "ComputeResponse re-validated (python)": best_of(
                lambda c=compute: ComputeResponse.model_validate(c.model_dump()), repeat
            ),
        }
        rows.append(
            {
                "slug": slug,
                "memory": memory,
                "matched": matched,
                "compute": compute,
                "timings": timings,
                "response_bytes": len(memory.model_dump_json()),
            }
        )
    return rows


def llm_analysis_side(python: Path, repeat: int) -> dict[str, Any]:
    spec = {
        "repeat": repeat,
        "cases": [
            {
                "model": name,
                "gpu": GPU[1],
                "gpus": GPUS,
                "micro_batch": MICRO_BATCH,
                "sequence": SEQUENCE,
                "tokens": TOKENS,
                "mfu": MFU,
            }
            for _, name in CASES
        ],
    }
    done = subprocess.run(
        [str(python), "-c", LLM_ANALYSIS_SCRIPT],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TRANSFORMERS_VERBOSITY": "error"},
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def install_llm_analysis(env: Path) -> None:
    subprocess.run(["python3", "-m", "venv", str(env)], check=True)
    subprocess.run([str(env / "bin" / "pip"), "install", "--quiet", "llm-analysis"], check=True)


def side_by_side(ours: list[dict[str, Any]], theirs: dict[str, Any]) -> str:
    lines = []
    for mine, other in zip(ours, theirs["cases"], strict=True):
        r = other["result"]
        m, x, c = mine["memory"], mine["matched"], mine["compute"]
        days_theirs = float(r["total_training_latency"]) / 86_400
        their_total = float(r["(weight+op_state+grad+act)_memory_per_gpu"])
        micro_batches = TOKENS / (SEQUENCE * MICRO_BATCH)
        their_flops = float(r["num_flops_total_per_micro_batch"]) * micro_batches
        lines += [
            f"#### {mine['slug']} ({other['model']} in llm-analysis)",
            "",
            "| per GPU (GB = 1e9 bytes) | service, defaults | service, megatron + no dropout "
            "| llm-analysis |",
            "|---|--:|--:|--:|",
            f"| parameters counted | {m.parameters / 1e9:.3f} B | {x.parameters / 1e9:.3f} B "
            f"| {float(r['num_params_total']) / 1e9:.3f} B |",
            f"| weights | {m.per_gpu.weights_bytes / GB:.2f} | {x.per_gpu.weights_bytes / GB:.2f} "
            f"| {float(r['weight_memory_per_gpu']) / GB:.2f} |",
            f"| gradients | {m.per_gpu.gradients_bytes / GB:.2f} "
            f"| {x.per_gpu.gradients_bytes / GB:.2f} "
            f"| {float(r['gradient_memory_per_gpu']) / GB:.2f} |",
            f"| optimizer states | {m.per_gpu.optimizer_states_bytes / GB:.2f} "
            f"| {x.per_gpu.optimizer_states_bytes / GB:.2f} "
            f"| {float(r['optimizer_state_memory_per_gpu']) / GB:.2f} |",
            f"| activations | {m.per_gpu.activations_bytes / GB:.2f} "
            f"| {x.per_gpu.activations_bytes / GB:.2f} "
            f"| {float(r['activation_memory_per_gpu']) / GB:.2f} |",
            f"| overhead (framework, buffers) | {m.per_gpu.overhead_bytes / GB:.2f} "
            f"| {x.per_gpu.overhead_bytes / GB:.2f} | - |",
            f"| **total** | **{m.per_gpu.total_bytes / GB:.2f}** "
            f"| **{x.per_gpu.total_bytes / GB:.2f}** | **{their_total / GB:.2f}** |",
            "",
            f"| {TOKENS:.0e} tokens, MFU {MFU:.0%}, {GPUS} x {GPU[0]} | service | llm-analysis |",
            "|---|--:|--:|",
            f"| training FLOPs | {c.training_flops:.3e} "
            f"| {their_flops:.3e} (per micro-batch x micro-batches) |",
            f"| GPU-hours | {c.gpu_hours:,.0f} | {float(r['gpu_hours']):,.0f} |",
            f"| wall-clock days | {c.wall_clock_days:,.1f} | {days_theirs:,.1f} |",
            "",
        ]
    return "\n".join(lines)


def timing_table(ours: list[dict[str, Any]], theirs: dict[str, Any]) -> str:
    lines = ["| one call (µs, best of N) | " + " | ".join(r["slug"] for r in ours) + " |"]
    lines.append("|---|" + "--:|" * len(ours))
    for name in ours[0]["timings"]:
        lines.append(f"| {name} | " + " | ".join(us(r["timings"][name]) for r in ours) + " |")
    lines.append(
        "| llm-analysis core: `LLMAnalysis(...).training(...)` (memory + time) | "
        + " | ".join(us(c["core_s"]) for c in theirs["cases"])
        + " |"
    )
    lines.append(
        "| llm-analysis entry: `train(model_name=...)` (also loads configs) | "
        + " | ".join(us(c["entry_s"]) for c in theirs["cases"])
        + " |"
    )
    return "\n".join(lines)


# --- part 2: where an HTTP request's time goes ----------------------------------------------


def _scope(
    method: str, path: str, body: bytes | None, headers: list[tuple[str, str]]
) -> dict[str, Any]:
    path, _, query = path.partition("?")
    raw = [(b"host", b"127.0.0.1")] + [(k.lower().encode(), v.encode()) for k, v in headers]
    if body is not None:
        raw += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": raw,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _call(app: Any, call: Any, state: dict[str, Any]) -> int:
    body = call.body.encode() if call.body is not None else None
    scope = _scope(call.method, call.path, body, list(call.headers))
    scope["state"] = dict(state)
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:  # a disconnect would only come after the response
            await asyncio.Event().wait()
        delivered = True
        return {"type": "http.request", "body": body or b"", "more_body": False}

    status = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def cpu_per_request(
    app: Any,
    calls: list[Any],
    state: dict[str, Any],
    n: int,
    batches: int = 5,
    statuses: tuple[int, ...] = (),
) -> float:
    """Process CPU seconds per request (all threads), best of ``batches`` sequential batches."""
    for call in calls[: min(len(calls), 64)]:
        status = await _call(app, call, state)
        if not (200 <= status < 300 or status in statuses):
            raise RuntimeError(f"{status} for {call}")
    best = float("inf")
    for _ in range(batches):
        start = time.process_time()
        for i in range(n):
            await _call(app, calls[i % len(calls)], state)
        best = min(best, (time.process_time() - start) / n)
    return best


def sync_dependency() -> Iterator[int]:
    """A sync ``yield`` dependency, like the service's ``get_session``."""
    yield 1


async def async_dependency() -> AsyncIterator[int]:
    yield 1


def hop_app(telemetry: dict[str, bool] | None) -> Any:
    """Five spellings of the same small typed POST endpoint."""
    app = FastAPI(telemetry=telemetry) if telemetry is not None else FastAPI()

    def answer(r: BareRequest) -> BareResponse:
        return BareResponse(
            parameters=r.parameters,
            gpus=r.gpus,
            model_states_bytes=16 * r.parameters,
            strategy=r.strategy.value,
        )

    @app.post("/async")
    async def a(r: BareRequest) -> BareResponse:
        return answer(r)

    @app.post("/def")
    def d(r: BareRequest) -> BareResponse:
        return answer(r)

    @app.post("/def+sync-yield-dep")
    def ds(r: BareRequest, dep: Annotated[int, Depends(sync_dependency)]) -> BareResponse:
        return answer(r)

    @app.post("/async+sync-yield-dep")
    async def as_(r: BareRequest, dep: Annotated[int, Depends(sync_dependency)]) -> BareResponse:
        return answer(r)

    @app.post("/async+async-yield-dep")
    async def aa(r: BareRequest, dep: Annotated[int, Depends(async_dependency)]) -> BareResponse:
        return answer(r)

    return app


def schema_floor_app(catalogues: Any, sample: Any) -> Any:
    """A bare FastAPI app with the memory estimate's request and response schemas: ``/fixed``
    validates the request and returns one precomputed response (what the schemas alone cost,
    the ceiling of any endpoint speaking them), ``/estimate`` runs the real use-case on the
    service's catalogue snapshot (what the service adds beyond it is its middleware, routing
    and dependencies)."""
    from service.usecases.estimates import memory_estimate

    app = FastAPI()
    fixed = memory_estimate(catalogues, MemoryRequest.model_validate_json(sample.body))

    @app.post("/fixed")
    async def fixed_answer(request: MemoryRequest) -> MemoryResponse:
        return fixed

    @app.post("/estimate")
    async def estimate(request: MemoryRequest) -> MemoryResponse:
        return memory_estimate(catalogues, request)

    return app


async def breakdown(n: int) -> list[tuple[str, float]]:
    import bare_app
    from http_bench import ENDPOINTS, Call

    from service.app import create_app
    from service.config import Settings

    rows: list[tuple[str, float]] = []
    by_name = {e.name: e for e in ENDPOINTS}

    def calls(name: str) -> list[Call]:
        return by_name[name].calls(random.Random(f"20261126{name}"))

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            database_url=f"sqlite:///{folder}/planner.sqlite3",
            log_level="WARNING",
            api_keys=("bench-key-0123456789abcdef",),
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app) as lifespan_state:
            state = dict(lifespan_state or {})
            rows.append(
                (
                    "bare app: GET /bare (async)",
                    await cpu_per_request(bare_app.app, calls("GET /bare"), state, n),
                )
            )
            rows.append(
                (
                    "bare app: POST /bare (async, typed body)",
                    await cpu_per_request(bare_app.app, calls("POST /bare"), state, n),
                )
            )
            memory_calls = calls("POST /v1/estimates/memory")
            schemas = schema_floor_app(app.state.catalogue.snapshot.catalogues, memory_calls[0])
            for path, label in (
                ("/fixed", "bare app: the memory estimate's schemas, a fixed response (no work)"),
                ("/estimate", "bare app: the memory estimate's schemas and use-case, no more"),
            ):
                variant = [Call("POST", path, c.body) for c in memory_calls]
                rows.append((label, await cpu_per_request(schemas, variant, {}, n)))
            rows.append(
                (
                    "service: GET /healthz (async; matched last, after every other router)",
                    await cpu_per_request(app, calls("GET /healthz"), state, n),
                )
            )
            for name in (
                "POST /v1/estimates/memory",
                "POST /v1/estimates/compute",
                "POST /v1/scaling/compute-optimal",
                "GET /v1/models/{slug}",
                "GET /v1/models",
                "POST /v1/plans",
            ):
                rows.append(
                    (
                        f"service: {name} (SQLite)",
                        await cpu_per_request(app, calls(name), state, n // 2),
                    )
                )
            revalidate = [
                Call(c.method, c.path, c.body, (("If-None-Match", '"v1"'),))
                for c in calls("GET /v1/models/{slug}")
            ]
            rows.append(
                (
                    "service: GET /v1/models/{slug} with a matching If-None-Match (304, SQLite)",
                    await cpu_per_request(app, revalidate, state, n // 2, statuses=(304,)),
                )
            )
    with tempfile.TemporaryDirectory() as folder:
        # The same requests through FastAPI's own request handler: the service with its route
        # fast path (service/api/routing.py) turned off, as PLANNER_ROUTE_FAST_PATH=false does.
        settings = Settings(
            database_url=f"sqlite:///{folder}/planner.sqlite3",
            log_level="WARNING",
            route_fast_path=False,
        )
        slow = create_app(settings)
        async with slow.router.lifespan_context(slow) as lifespan_state:
            state = dict(lifespan_state or {})
            for name in (
                "POST /v1/estimates/memory",
                "POST /v1/estimates/compute",
                "GET /v1/models",
            ):
                rows.append(
                    (
                        f"service: {name}, FastAPI's own handler (route fast path off)",
                        await cpu_per_request(slow, calls(name), state, n // 2),
                    )
                )
    with tempfile.TemporaryDirectory() as folder:
        # The same app with its middleware taken out before it starts: what the edge layer
        # (request id, limits, security headers, access log, metrics) costs on the cheapest
        # endpoint.
        settings = Settings(database_url=f"sqlite:///{folder}/planner.sqlite3", log_level="WARNING")
        bare_service = create_app(settings)
        names = ", ".join(m.cls.__name__ for m in bare_service.user_middleware)  # type: ignore[attr-defined]
        bare_service.user_middleware.clear()
        async with bare_service.router.lifespan_context(bare_service) as lifespan_state:
            rows.append(
                (
                    f"service without its middleware ({names}): GET /healthz",
                    await cpu_per_request(
                        bare_service, calls("GET /healthz"), dict(lifespan_state or {}), n
                    ),
                )
            )
    off = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
    for telemetry, label in ((None, "default telemetry"), (off, "FastAPI telemetry off")):
        hops = hop_app(telemetry)
        for path in ("/async", "/def", "/def+sync-yield-dep", "/async+sync-yield-dep",
                     "/async+async-yield-dep"):  # fmt: skip
            variant = [Call("POST", path, c.body) for c in calls("POST /bare")]
            rows.append(
                (
                    f"FastAPI hop study ({label}): POST {path}",
                    await cpu_per_request(hops, variant, {}, n),
                )
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timeit repeats (best of)")
    parser.add_argument("--llm-env", type=Path, default=LLM_ENV)
    parser.add_argument("--install", action="store_true", help="create --llm-env if missing")
    parser.add_argument("--breakdown", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--requests", type=int, default=2000, help="per batch, --breakdown")
    args = parser.parse_args(argv)

    pinned = pin_to_one_cpu()
    python = args.llm_env / "bin" / "python"
    if not python.exists():
        if not args.install:
            sys.exit(f"{python} is missing: rerun with --install (or --llm-env PATH)")
        install_llm_analysis(args.llm_env)

    os.environ.setdefault("PLANNER_LOG_LEVEL", "WARNING")
    with sqlite_catalogue() as sessions:
        ours = service_side(args.repeat, sessions)
        theirs = llm_analysis_side(python, args.repeat)
        print(f"# In-process cost of one estimate ({pinned}; llm-analysis {theirs['version']})")
        print()
        print(timing_table(ours, theirs))
        print()
        print(f"MemoryResponse JSON: {ours[0]['response_bytes']:,} bytes")
        print()
        print(side_by_side(ours, theirs))
    if args.breakdown:
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            runner = asyncio.run
        rows = runner(breakdown(args.requests))
        print("## Where an HTTP request's time goes (in-process ASGI, CPU µs per request)")
        print()
        print("| path | CPU µs / request |")
        print("|---|--:|")
        for label, seconds in rows:
            print(f"| {label} | {us(seconds)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
