"""HTTP throughput and latency of the service against a bare FastAPI app, on loopback, with wrk.

For each round (``--repeats``, default 3) this script

1. starts ``bench/bare_app.py`` (the ceiling: a bare ``async def`` GET and a bare typed-pydantic
   POST, same uvicorn settings as the service) and measures ``GET /bare`` and ``POST /bare``;
2. starts the service (``python -m service serve``, one worker) on a fresh SQLite file in a
   temporary folder, and measures its endpoints;
3. creates a fresh PostgreSQL database on the local server
   (``postgresql+psycopg://postgres@127.0.0.1:5432/planner_bench_<pid>_<n>``), runs
   ``python -m service migrate`` on it, starts the service on it, measures the same endpoints,
   then stops the service and drops the database.

Every endpoint gets a warm-up (``--warmup`` seconds, discarded) and then one measured wrk run
(``--duration`` seconds, ``--connections`` connections, ``--threads`` threads). The wrk Lua
scripts rotate through a few hundred distinct request bodies or URLs per endpoint (model slugs,
parameter counts, GPU counts and types, strategies, batch and sequence sizes, filters), each
thread starting at a different place, so that no response cache could stand in for the work.
Before measuring, every distinct request is sent once and must answer 2xx, so that a fast
422 cannot pass for a fast estimate; wrk's own count of responses >= 400 is reported too.

Conditions (held identical for the bare app and the service):

* ``PLANNER_LOG_LEVEL=WARNING``: the service writes one structured access line per request at
  INFO; at WARNING the logger drops it (the access middleware still runs and still feeds the
  Prometheus metrics). uvicorn's own log level follows the same setting; its access log is off.
* With ``--pin`` (default on a machine with 2+ CPUs) every server is pinned to CPU 0 with
  ``taskset -c 0`` and wrk to CPU 1 with ``taskset -c 1``, so that client and server do not
  steal each other's core (one uvicorn worker uses one core for Python anyway; the threadpool
  of ``def`` endpoints is bound by the GIL).
* The server's CPU time (user + system, from ``/proc/<pid>/stat``) over each measured run is
  divided by the requests served: CPU microseconds per request, a figure much less sensitive to
  other load on the machine than requests per second.

Ratios are taken within a round (an endpoint's requests/s over the bare endpoint's in the same
round), then the median over rounds is reported with the spread (min-max). Requires ``wrk``
(installed with apt-get when missing and running as root) and, for the PostgreSQL pass, a
server on 127.0.0.1:5432 that accepts ``postgres`` without a password (``--backends sqlite`` to
skip it).

Run from the repository root with the project's venv::

    .venv/bin/python bench/http_bench.py                      # full run, ~11 minutes
    .venv/bin/python bench/http_bench.py --repeats 1 --duration 3 --warmup 1   # smoke test
    .venv/bin/python bench/http_bench.py --json /tmp/http_bench.json --endpoints estimate
    .venv/bin/python bench/http_bench.py --profile /tmp/profiles   # then py-spy each endpoint
    .venv/bin/python bench/http_bench.py --report /tmp/http_bench.json   # reprint saved tables

The results table is printed as markdown; ``bench/README.md`` holds the recorded one.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
API_KEY = "bench-key-0123456789abcdef"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_SERVICE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{db}"
VARIANTS = 256  # distinct requests per endpoint
JSON_MARK = "BENCH_JSON "

# --- request variety -----------------------------------------------------------------------

MODEL_SLUGS = (
    "bert-base", "bert-large", "roberta-base", "roberta-large", "gpt2", "gpt2-medium",
    "gpt2-large", "gpt2-xl", "gpt3-175b", "t5-small", "t5-base", "t5-large", "t5-3b", "t5-11b",
    "flan-t5-xxl", "bart-base", "bart-large", "bloom-176b", "opt-175b", "llama-7b", "llama-13b",
    "llama-33b", "llama-65b", "llama2-7b", "llama2-13b", "llama2-70b", "chinchilla-70b",
    "gopher-280b", "palm-540b", "bloomberggpt-50b",
)  # fmt: skip
GPUS = ("a100-40gb", "a100-80gb", "h100-80gb", "h100-pcie-80gb", "h200-141gb", "mi300x-192gb")
STRATEGIES = ("ddp", "zero-1", "zero-2", "zero-3", "fsdp-full-shard", "fsdp-shard-grad-op")
CHECKPOINTING = ("none", "selective", "full")
LAWS = ("chinchilla-approach1", "chinchilla-approach2", "kaplan-2020", "epoch-2024")


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    path: str
    body: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


def _model_choice(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.75:
        return {"model": rng.choice(MODEL_SLUGS)}
    return {"parameters": rng.randrange(100_000_000, 200_000_000_000, 1_000_000)}


def memory_calls(rng: random.Random) -> list[Call]:
    calls = []
    for _ in range(VARIANTS):
        body = {
            **_model_choice(rng),
            "strategy": rng.choice(STRATEGIES),
            "gpus": rng.choice((2, 4, 8, 16, 32, 64, 128, 256, 512)),
            "micro_batch_size": rng.choice((1, 2, 4, 8)),
            "sequence_length": rng.choice((512, 1024, 2048, 4096)),
            "activation_checkpointing": rng.choice(CHECKPOINTING),
            "gpu": rng.choice(GPUS),
        }
        calls.append(Call("POST", "/v1/estimates/memory", _json(body)))
    return calls


def compute_calls(rng: random.Random) -> list[Call]:
    calls = []
    for _ in range(VARIANTS):
        body: dict[str, Any] = {
            **_model_choice(rng),
            "tokens": rng.randrange(10**10, 2 * 10**12, 10**8),
            "gpus": rng.choice((8, 64, 256, 1024, 2048)),
            "gpu": rng.choice(GPUS),
        }
        if rng.random() < 0.5:
            body["mfu"] = round(rng.uniform(0.2, 0.6), 3)
        calls.append(Call("POST", "/v1/estimates/compute", _json(body)))
    return calls


def plan_calls(rng: random.Random) -> list[Call]:
    calls = []
    for i in range(VARIANTS):
        body = {
            "name": f"bench plan {i}",
            **_model_choice(rng),
            "tokens": rng.randrange(10**10, 2 * 10**12, 10**8),
            "strategy": rng.choice(STRATEGIES),
            "gpus": rng.choice((8, 16, 64, 256)),
            "micro_batch_size": rng.choice((1, 2, 4)),
            "sequence_length": rng.choice((1024, 2048)),
            "activation_checkpointing": rng.choice(CHECKPOINTING),
            "gpu": rng.choice(GPUS),
            "tags": ["bench"],
        }
        calls.append(Call("POST", "/v1/plans", _json(body), (("X-API-Key", API_KEY),)))
    return calls


def compute_optimal_calls(rng: random.Random) -> list[Call]:
    calls = []
    for _ in range(VARIANTS):
        form = rng.random()
        body: dict[str, Any]
        if form < 0.5:
            body = {"compute_flops": float(f"{10 ** rng.uniform(19, 26):.4e}")}
        elif form < 0.8:
            body = {"gpu_hours": rng.randrange(1_000, 5_000_000), "gpu": rng.choice(GPUS)}
        else:
            priced = ("a100-40gb", "a100-80gb", "h100-80gb", "h100-pcie-80gb", "mi300x-192gb")
            body = {"budget_usd": rng.randrange(10_000, 50_000_000), "gpu": rng.choice(priced)}
        body["law"] = rng.choice(LAWS)
        calls.append(Call("POST", "/v1/scaling/compute-optimal", _json(body)))
    return calls


def list_models_calls(rng: random.Random) -> list[Call]:
    families = (None, "decoder-only", "encoder-only", "encoder-decoder")
    sorts = ("parameters", "-parameters", "slug", "name", "-year", "training_tokens")
    terms = (None, "llama", "t5", "gpt", "bert", "b")
    calls = []
    for _ in range(VARIANTS):
        query = {"limit": rng.choice((5, 10, 20, 30)), "sort": rng.choice(sorts)}
        if (family := rng.choice(families)) is not None:
            query["family"] = family
        if (term := rng.choice(terms)) is not None:
            query["q"] = term
        if rng.random() < 0.3:
            query["min_parameters"] = rng.choice((10**8, 10**9, 10**10))
        if rng.random() < 0.2:
            query["offset"] = rng.choice((5, 10))
        text = "&".join(f"{k}={v}" for k, v in query.items())
        calls.append(Call("GET", f"/v1/models?{text}"))
    return calls


def get_model_calls(rng: random.Random) -> list[Call]:
    return [Call("GET", f"/v1/models/{rng.choice(MODEL_SLUGS)}") for _ in range(VARIANTS)]


def revalidated_model_calls(rng: random.Random) -> list[Call]:
    """As :func:`get_model_calls`, each asking the server to revalidate its snapshot first."""
    fresh = (("Cache-Control", "no-cache"),)
    return [Call(call.method, call.path, None, fresh) for call in get_model_calls(rng)]


def bare_post_calls(rng: random.Random) -> list[Call]:
    calls = []
    for _ in range(VARIANTS):
        body = {
            "parameters": rng.randrange(100_000_000, 200_000_000_000, 1_000_000),
            "gpus": rng.choice((2, 4, 8, 16, 32, 64)),
            "micro_batch_size": rng.choice((1, 2, 4, 8)),
            "sequence_length": rng.choice((512, 1024, 2048, 4096)),
            "strategy": rng.choice(("ddp", "zero-3")),
        }
        calls.append(Call("POST", "/bare", _json(body)))
    return calls


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str  # as shown in the tables
    target: str  # "bare" or "service"
    group: str  # estimate, catalogue, plan, scaling, diagnostic, bare
    calls: Callable[[random.Random], list[Call]]
    baseline: str  # the bare endpoint of the same method: "GET /bare" or "POST /bare"


ENDPOINTS = (
    Endpoint("GET /bare", "bare", "bare", lambda _: [Call("GET", "/bare")], "GET /bare"),
    Endpoint("POST /bare", "bare", "bare", bare_post_calls, "POST /bare"),
    Endpoint(
        "GET /healthz", "service", "diagnostic", lambda _: [Call("GET", "/healthz")], "GET /bare"
    ),
    Endpoint("POST /v1/estimates/memory", "service", "estimate", memory_calls, "POST /bare"),
    Endpoint("POST /v1/estimates/compute", "service", "estimate", compute_calls, "POST /bare"),
    Endpoint(
        "POST /v1/scaling/compute-optimal",
        "service",
        "scaling",
        compute_optimal_calls,
        "POST /bare",
    ),
    Endpoint("GET /v1/models/{slug}", "service", "catalogue", get_model_calls, "GET /bare"),
    Endpoint(
        "GET /v1/models/{slug}, no-cache",
        "service",
        "catalogue",
        revalidated_model_calls,
        "GET /bare",
    ),
    Endpoint("GET /v1/models", "service", "catalogue", list_models_calls, "GET /bare"),
    Endpoint("POST /v1/plans", "service", "plan", plan_calls, "POST /bare"),
)

# --- wrk -----------------------------------------------------------------------------------

LUA_TEMPLATE = """
-- generated by bench/http_bench.py: rotate through {count} distinct requests
local calls = {{
{calls}
}}
local requests = {{}}
local counter = 0

function setup(thread)
  thread:set("start", #__threads * {stride})
  table.insert(__threads, thread)
end
__threads = {{}}

function init(args)
  for i, c in ipairs(calls) do
    requests[i] = wrk.format(c[1], c[2], c[3], c[4])
  end
  counter = start or 0
end

function request()
  counter = counter + 1
  return requests[(counter % #requests) + 1]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{mark}{{"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,'
    .. '"mean_us":%.1f,"max_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,'
    .. '"timeout":%d}}\\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.mean, latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def _lua_string(text: str) -> str:
    level = 1
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def lua_script(calls: Sequence[Call]) -> str:
    rows = []
    for call in calls:
        headers = dict(call.headers)
        if call.body is not None:
            headers["Content-Type"] = "application/json"
        header_table = ", ".join(
            f"[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items()
        )
        body = _lua_string(call.body) if call.body is not None else "nil"
        # wrk.format(method, path, headers, body)
        method, path = _lua_string(call.method), _lua_string(call.path)
        rows.append(f"  {{ {method}, {path}, {{ {header_table} }}, {body} }},")
    stride = max(1, len(calls) // 7) if len(calls) > 1 else 0
    return LUA_TEMPLATE.format(
        count=len(calls), calls="\n".join(rows), stride=stride, mark=JSON_MARK
    )


def ensure_wrk() -> str:
    """The wrk binary; installed with apt-get when missing (root only)."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("wrk is not installed; run: sudo apt-get update && sudo apt-get install -y wrk")
    print("installing wrk with apt-get ...", file=sys.stderr)
    lock = ["-o", "DPkg::Lock::Timeout=600"]  # other sessions may hold the dpkg lock
    subprocess.run(["apt-get", *lock, "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", *lock, "install", "-y", "-qq", "wrk"],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    found = shutil.which("wrk")
    if not found:
        sys.exit("apt-get did not install wrk")
    return found


def tree_state() -> str:
    """The commit and a digest of the service's source as it is now (other people edit the
    tree while benchmarks run; a change between rounds shows up here)."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((ROOT / "service").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        # --no-optional-locks: read only, not even the index's stat cache is refreshed
        ["git", "--no-optional-locks", "status", "--porcelain", "--", "service"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    changes = " + uncommitted changes" if dirty else ""
    return f"{commit or 'unknown'}{changes}, service/ sha256 {digest.hexdigest()[:12]}"


# --- servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its reaped children so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def postmaster_pid() -> int | None:
    """The pid of the local PostgreSQL server's postmaster (the parent of our backend)."""
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=5) as connection:
            row = connection.execute("SELECT pg_backend_pid()").fetchone()
            return _parent(int(row[0])) if row else None  # while the backend lives
    except (OSError, psycopg.Error):
        return None


def family_cpu_seconds(root: int) -> float:
    """CPU time of a process and of its live children (a postmaster and its backends)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                pid = int(entry.name)
                if pid == root or _parent(pid) == root:
                    total += cpu_seconds(pid)
            except (OSError, ValueError, IndexError):
                continue
    return total


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # user nice system idle iowait irq softirq steal
    ticks = os.sysconf("SC_CLK_TCK")
    return (total - idle) / ticks, total / ticks


def foreign_load(seconds: float = 1.0) -> float:
    """CPUs' worth of work done by anything on the machine over ``seconds`` (servers idle)."""
    busy, _ = machine_busy()
    time.sleep(seconds)
    return (machine_busy()[0] - busy) / seconds


def wait_for_quiet(limit_s: float, threshold: float = 0.25) -> float:
    """Wait (up to ``limit_s``) until other processes use under ``threshold`` of a CPU."""
    deadline = time.monotonic() + limit_s
    while True:
        load = foreign_load()
        if load < threshold or time.monotonic() > deadline:
            return load
        time.sleep(4)


def request(port: int, call: Call, timeout: float = 10.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = dict(call.headers)
        if call.body is not None:
            headers["Content-Type"] = "application/json"
        connection.request(call.method, call.path, body=call.body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    postmaster: int | None = None  # the PostgreSQL server's postmaster, whose backends work too

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def taskset(cpu: str | None) -> list[str]:
    return ["taskset", "-c", cpu] if cpu is not None else []


@contextmanager
def serve(
    name: str, argv: list[str], env: dict[str, str], cpu: str | None, workdir: Path
) -> Iterator[Server]:
    port = free_port()
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*taskset(cpu), *argv, "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(name, process, port, log)
    try:
        deadline = time.monotonic() + 120
        probe = Call("GET", "/healthz" if name != "bare" else "/bare")
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited: {log.read_text()[-2000:]}")
            with suppress(OSError):
                if request(port, probe, timeout=2)[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield server
    finally:
        server.stop()


def service_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANNER_")}
    env.update(
        PLANNER_DATABASE_URL=database_url,
        PLANNER_LOG_LEVEL="WARNING",
        PLANNER_API_KEYS=API_KEY,
        PLANNER_ENVIRONMENT="development",
    )
    return env


@contextmanager
def postgres_database(tag: str) -> Iterator[str]:
    """A fresh database on the local server, dropped afterwards."""
    import psycopg

    name = f"planner_bench_{os.getpid()}_{tag}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_SERVICE_URL.format(db=name)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- measuring -----------------------------------------------------------------------------


@dataclass
class Measurement:
    round: int
    backend: str  # bare, sqlite, postgres
    endpoint: str
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    requests: int
    errors: int  # socket errors and timeouts
    status_errors: int  # responses >= 400
    cpu_us_per_request: float
    db_cpu_us_per_request: float  # PostgreSQL server processes (0 for SQLite: in-process)
    loadavg: float
    distinct_requests: int
    foreign_cpus: float  # CPUs used by other processes (not server, database, wrk) in the run
    quiet_before: float  # CPUs busy on the machine just before the run (servers idle)


@dataclass
class Options:
    wrk: str
    duration: int
    warmup: int
    connections: int
    threads: int
    server_cpu: str | None
    client_cpu: str | None
    workdir: Path
    quiet_wait_s: float
    calls: dict[str, list[Call]] = field(default_factory=dict)


def preflight(port: int, endpoint: Endpoint, calls: Sequence[Call]) -> None:
    """Every distinct request must succeed before it is timed."""
    failures = []
    for call in calls:
        status, body = request(port, call)
        if not 200 <= status < 300:
            failures.append(f"{status} {call.method} {call.path} {call.body}: {body[:300]!r}")
    if failures:
        raise RuntimeError(
            f"{endpoint.name}: {len(failures)} of {len(calls)} requests failed, e.g.\n"
            + "\n".join(failures[:5])
        )


def run_wrk(options: Options, port: int, script: Path, seconds: int) -> dict[str, Any]:
    """One wrk run; its result, with the CPU seconds wrk itself used (``wrk_cpu_s``)."""
    argv = [
        *taskset(options.client_cpu),
        options.wrk,
        f"-t{options.threads}",
        f"-c{options.connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    for line in done.stdout.splitlines():
        if line.startswith(JSON_MARK):
            result: dict[str, Any] = json.loads(line[len(JSON_MARK) :])
            result["wrk_cpu_s"] = (after.ru_utime - before.ru_utime) + (
                after.ru_stime - before.ru_stime
            )
            return result
    raise RuntimeError(f"no result from wrk:\n{done.stdout}\n{done.stderr}")


def measure(
    options: Options, server: Server, endpoint: Endpoint, backend: str, round_: int
) -> Measurement:
    calls = options.calls[endpoint.name]
    preflight(server.port, endpoint, calls)
    script = options.workdir / f"{endpoint.name.replace('/', '_').replace(' ', '_')}.lua"
    script.write_text(lua_script(calls))
    if options.warmup:
        run_wrk(options, server.port, script, options.warmup)
    quiet = wait_for_quiet(options.quiet_wait_s)
    load = os.getloadavg()[0]
    before = cpu_seconds(server.process.pid)
    db_before = family_cpu_seconds(server.postmaster) if server.postmaster else 0.0
    busy_before, _ = machine_busy()
    started = time.monotonic()
    raw = run_wrk(options, server.port, script, options.duration)
    wall = time.monotonic() - started
    busy = machine_busy()[0] - busy_before
    cpu = cpu_seconds(server.process.pid) - before
    db_cpu = family_cpu_seconds(server.postmaster) - db_before if server.postmaster else 0.0
    foreign = max(0.0, (busy - cpu - db_cpu - raw["wrk_cpu_s"]) / wall)
    requests = raw["requests"]
    measurement = Measurement(
        round=round_,
        backend=backend,
        endpoint=endpoint.name,
        rps=requests / (raw["duration_us"] / 1e6),
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        mean_ms=raw["mean_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        requests=requests,
        errors=raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
        status_errors=raw["status"],
        cpu_us_per_request=cpu / max(requests, 1) * 1e6,
        db_cpu_us_per_request=db_cpu / max(requests, 1) * 1e6,
        loadavg=load,
        distinct_requests=len(calls),
        foreign_cpus=foreign,
        quiet_before=quiet,
    )
    print(
        f"  round {round_} {backend:8} {endpoint.name:34} {measurement.rps:8.0f} req/s  "
        f"p50 {measurement.p50_ms:6.2f} ms  p99 {measurement.p99_ms:7.2f} ms  "
        f"cpu {measurement.cpu_us_per_request:6.0f} us/req "
        f"(db {measurement.db_cpu_us_per_request:.0f})"
        f"  errors {measurement.errors}"
        f"+{measurement.status_errors}  others {foreign:.2f} CPU",
        file=sys.stderr,
        flush=True,
    )
    return measurement


@contextmanager
def service_server(options: Options, backend: str, tag: str) -> Iterator[Server]:
    """The service, one worker, on a fresh SQLite file or a fresh PostgreSQL database."""
    serve_argv = [PYTHON, "-m", "service", "serve", "--workers", "1"]
    if backend == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="sqlite-", dir=options.workdir))
        url = f"sqlite:///{folder / 'planner.sqlite3'}"
        # `serve` migrates and seeds an SQLite database itself before starting uvicorn.
        with serve(
            "sqlite", serve_argv, service_env(url), options.server_cpu, options.workdir
        ) as s:
            yield s
        return
    with postgres_database(tag) as url:
        env = service_env(url)
        subprocess.run(
            [PYTHON, "-m", "service", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        with serve("postgres", serve_argv, env, options.server_cpu, options.workdir) as s:
            s.postmaster = postmaster_pid()
            yield s


def bare_server(options: Options) -> Any:
    bare_env = {k: v for k, v in os.environ.items() if not k.startswith("PLANNER_")}
    argv = [PYTHON, str(ROOT / "bench" / "bare_app.py")]
    return serve("bare", argv, bare_env, options.server_cpu, options.workdir)


def run_round(
    options: Options, round_: int, backends: Sequence[str], endpoints: Sequence[Endpoint]
) -> list[Measurement]:
    results: list[Measurement] = []
    with bare_server(options) as server:
        for endpoint in (e for e in endpoints if e.target == "bare"):
            results.append(measure(options, server, endpoint, "bare", round_))
    for backend in backends:
        with service_server(options, backend, str(round_)) as server:
            for endpoint in (e for e in endpoints if e.target == "service"):
                results.append(measure(options, server, endpoint, backend, round_))
    return results


# --- profiling -----------------------------------------------------------------------------

#: Where a sample's innermost frame lies, by file path (py-spy prints paths relative to
#: site-packages or the project).
CATEGORIES = (
    ("threadpool hop (anyio, threading, queue)", ("anyio/", "threading.py", "queue.py",
                                                   "concurrent/", "fastapi/concurrency.py",
                                                   "starlette/concurrency.py")),
    ("SQLAlchemy", ("sqlalchemy/",)),
    ("DB driver (sqlite3, psycopg)", ("sqlite3/", "psycopg/", "psycopg_binary/", "psycopg_pool/")),
    ("pydantic", ("pydantic/", "pydantic_core/")),
    ("service: domain math", ("service/domain/",)),
    ("service: middleware (request id, metrics, headers)", ("service/api/middleware.py",
        "service/api/metrics.py", "prometheus_client/", "uuid.py")),
    ("service: other", ("service/",)),
    ("FastAPI telemetry (OpenTelemetry checks)", ("fastapi/telemetry/", "opentelemetry/",
                                                  "<frozen os>", "trace/")),
    ("FastAPI / Starlette (routing, dependencies, exit stacks)", ("fastapi/", "starlette/",
        "contextlib.py", "inspect.py", "typing.py", "urllib/")),
    ("uvicorn / event loop", ("uvicorn/", "asyncio/", "uvloop/", "httptools/")),
    ("logging", ("logging/",)),
    ("dataclasses / copy", ("dataclasses.py", "copy.py")),
    ("json", ("json/",)),
)  # fmt: skip


def _frame_file(frame: str) -> str:
    inner = frame.rsplit(" (", 1)[-1].rstrip(")")
    return inner.rsplit(":", 1)[0]


def summarize_profile(path: Path, top: int = 12) -> str:
    """Self time by category and inclusive time of the service's functions, from the
    collapsed stacks py-spy wrote (``--format raw``; samples of the thread holding the GIL)."""
    stacks: list[tuple[list[str], int]] = []
    for line in path.read_text().splitlines():
        text, _, count = line.rstrip().rpartition(" ")
        if text and count.isdigit():
            stacks.append((text.split(";"), int(count)))
    total = sum(count for _, count in stacks) or 1
    by_category: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    for frames, count in stacks:
        leaf = _frame_file(frames[-1])
        category = next(
            (name for name, marks in CATEGORIES if any(m in leaf for m in marks)), "other"
        )
        by_category[category] = by_category.get(category, 0) + count
        seen = set()
        for frame in frames:
            name = frame.rsplit(":", 1)[0] + ")" if ":" in frame else frame
            wrapper = "__main__" in name or "middleware.py" in name
            if "service/" in name and not wrapper and name not in seen:
                seen.add(name)
                inclusive[name] = inclusive.get(name, 0) + count
    lines = [f"{total} samples (GIL held); self time by where the innermost frame is:"]
    for name, count in sorted(by_category.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {count / total:6.1%}  {name}")
    lines.append("inclusive time of the service's own functions (middleware left out):")
    for name, count in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {count / total:6.1%}  {name}")
    return "\n".join(lines)


def profile(
    options: Options,
    backends: Sequence[str],
    endpoints: Sequence[Endpoint],
    py_spy: str,
    outdir: Path,
) -> None:
    """Sample each service endpoint under the same wrk load with py-spy (not timed)."""
    outdir.mkdir(parents=True, exist_ok=True)
    for backend in backends:
        with service_server(options, backend, "profile") as server:
            for endpoint in (e for e in endpoints if e.target == "service"):
                calls = options.calls[endpoint.name]
                preflight(server.port, endpoint, calls)
                script = options.workdir / "profile.lua"
                script.write_text(lua_script(calls))
                slug = endpoint.name.replace("/", "_").replace(" ", "").strip("_")
                slug = slug.replace("{", "").replace("}", "")
                raw = outdir / f"{backend}-{slug}.collapsed.txt"
                argv = [*taskset(options.client_cpu), options.wrk, f"-t{options.threads}",
                        f"-c{options.connections}", f"-d{options.duration + 3}s", "-s",
                        str(script), f"http://127.0.0.1:{server.port}"]  # fmt: skip
                load = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
                time.sleep(1.5)
                subprocess.run(
                    [py_spy, "record", "--pid", str(server.process.pid), "--duration",
                     str(options.duration), "--rate", "200", "--gil", "--nonblocking",
                     "--format", "raw", "--output", str(raw)],
                    check=True, capture_output=True,
                )  # fmt: skip
                load.wait()
                try:
                    summary = summarize_profile(raw)
                except (OSError, ValueError) as error:
                    summary = f"no summary: {error!r}"
                (outdir / f"{backend}-{slug}.summary.txt").write_text(summary + "\n")
                print(f"### {backend} {endpoint.name}\n\n```\n{summary}\n```\n", flush=True)


# --- reporting -----------------------------------------------------------------------------


def _spread(values: Sequence[float], digits: int = 0) -> str:
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:,.{digits}f}"
    return f"{median:,.{digits}f} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


def _pct(values: Sequence[float]) -> str:
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:.0%}"
    return f"{median:.0%} ({min(values):.0%}-{max(values):.0%})"


def ratios(
    results: Sequence[Measurement], endpoint: str, backend: str, baseline: str
) -> list[float]:
    found = []
    for m in results:
        if m.endpoint == endpoint and m.backend == backend:
            base = [b for b in results if b.round == m.round and b.endpoint == baseline]
            if base:
                found.append(m.rps / base[0].rps)
    return found


def report(results: Sequence[Measurement], endpoints: Sequence[Endpoint]) -> str:
    by_name = {e.name: e for e in endpoints}
    rows = [
        "| Backend | Endpoint | req/s | p50 ms | p99 ms | server CPU µs/req | DB CPU µs/req "
        "| vs same-method bare | vs bare GET | others' CPUs |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    keys = []
    for m in results:
        if (m.backend, m.endpoint) not in keys:
            keys.append((m.backend, m.endpoint))
    for backend, name in keys:
        group = [m for m in results if m.backend == backend and m.endpoint == name]
        endpoint = by_name[name]
        same = ratios(results, name, backend, endpoint.baseline)
        get = ratios(results, name, backend, "GET /bare")
        errors = sum(m.errors + m.status_errors for m in group)
        db = _spread([m.db_cpu_us_per_request for m in group]) if backend == "postgres" else "-"
        rows.append(
            f"| {backend} | `{name}` | {_spread([m.rps for m in group])} "
            f"| {_spread([m.p50_ms for m in group], 2)} | {_spread([m.p99_ms for m in group], 1)} "
            f"| {_spread([m.cpu_us_per_request for m in group])} | {db} "
            f"| {_pct(same) if same else '-'} | {_pct(get) if get else '-'} "
            f"| {statistics.median(m.foreign_cpus for m in group):.2f} |"
            + (
                f" **{sum(m.status_errors for m in group)} responses >= 400, "
                f"{sum(m.errors for m in group)} socket errors/timeouts**"
                if errors
                else ""
            )
        )
    return "\n".join(rows)


def targets(results: Sequence[Measurement], endpoints: Sequence[Endpoint]) -> str:
    """The issue's three targets, each row met or not (medians over rounds)."""
    by_name = {e.name: e for e in endpoints}
    rows = ["| Target | Backend | Endpoint | Measured | Met? |", "|---|---|---|--:|---|"]
    keys = []
    for m in results:
        if m.backend != "bare" and (m.backend, m.endpoint) not in keys:
            keys.append((m.backend, m.endpoint))
    for backend, name in keys:
        endpoint = by_name[name]
        if endpoint.group == "estimate":
            same = statistics.median(ratios(results, name, backend, endpoint.baseline))
            get = statistics.median(ratios(results, name, backend, "GET /bare"))
            cpu = statistics.median(cpu_ratios(results, name, backend, endpoint.baseline))
            rows.append(
                f"| estimate >= 70% of bare throughput | {backend} | `{name}` "
                f"| {same:.0%} of bare POST ({get:.0%} of bare GET; by CPU per request "
                f"{cpu:.0%} of bare POST) | {'met' if same >= 0.7 else 'not met'} |"
            )
        if endpoint.group == "catalogue" and backend == "postgres":
            get = statistics.median(ratios(results, name, backend, "GET /bare"))
            cpu = statistics.median(cpu_ratios(results, name, backend, "GET /bare"))
            rows.append(
                f"| PostgreSQL catalogue read >= 50% of bare GET | {backend} | `{name}` "
                f"| {get:.0%} (by CPU per request, server + database: {cpu:.0%}) "
                f"| {'met' if get >= 0.5 else 'not met'} |"
            )
    for backend, name in keys:
        p99 = statistics.median(
            m.p99_ms for m in results if m.backend == backend and m.endpoint == name
        )
        rows.append(
            f"| p99 < 25 ms at 32 connections | {backend} | `{name}` | {p99:.1f} ms "
            f"| {'met' if p99 < 25 else 'not met'} |"
        )
    return "\n".join(rows)


def cpu_ratios(
    results: Sequence[Measurement], endpoint: str, backend: str, baseline: str
) -> list[float]:
    """Per round: the bare endpoint's server CPU per request over this one's (server + database):
    the throughput ratio one dedicated core would give, little moved by other load."""
    found = []
    for m in results:
        if m.endpoint == endpoint and m.backend == backend:
            base = [b for b in results if b.round == m.round and b.endpoint == baseline]
            if base:
                found.append(
                    base[0].cpu_us_per_request / (m.cpu_us_per_request + m.db_cpu_us_per_request)
                )
    return found


def load_results(path: Path) -> tuple[str, list[str], list[Measurement]]:
    data = json.loads(path.read_text())
    fields = set(Measurement.__dataclass_fields__)
    measurements = []
    for item in data["measurements"]:
        item.setdefault("db_cpu_us_per_request", 0.0)
        measurements.append(Measurement(**{k: v for k, v in item.items() if k in fields}))
    return data["header"], data.get("code", []), measurements


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up (discarded)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument(
        "--endpoints", default="", help="only endpoints whose name contains one of these words"
    )
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    parser.add_argument(
        "--report", type=Path, help="only print the tables of a run saved with --json"
    )
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument(
        "--profile",
        type=Path,
        help="after the rounds, sample every service endpoint with py-spy into this folder",
    )
    parser.add_argument(
        "--py-spy",
        default=shutil.which("py-spy") or str(Path(tempfile.gettempdir(), "toolenv/bin/py-spy")),
        help="py-spy binary (pip install py-spy, e.g. into /tmp/toolenv)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0,
        help="seconds to wait, before each run, for other processes to use < 0.25 CPU "
        "(default 0: runs back to back)",
    )
    args = parser.parse_args(argv)

    if args.report:
        header, states, saved = load_results(args.report)
        print(header, "\n")
        if states:
            print(f"Code: {' -> '.join(dict.fromkeys(states))}\n")
        print(report(saved, ENDPOINTS), "\n")
        print(targets(saved, ENDPOINTS))
        return 0
    pin = (os.cpu_count() or 1) >= 2 if args.pin is None else args.pin
    backends = [b for b in args.backends.split(",") if b]
    words = [w for w in args.endpoints.split(",") if w]
    endpoints = [
        e for e in ENDPOINTS if e.target == "bare" or not words or any(w in e.name for w in words)
    ]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="http-bench-") as tmp:
        options = Options(
            wrk=ensure_wrk(),
            duration=args.duration,
            warmup=args.warmup,
            connections=args.connections,
            threads=args.threads,
            server_cpu="0" if pin else None,
            client_cpu="1" if pin else None,
            workdir=Path(tmp),
            quiet_wait_s=args.quiet_wait,
        )
        for endpoint in endpoints:
            options.calls[endpoint.name] = endpoint.calls(
                random.Random(f"{args.seed}{endpoint.name}")
            )
        results: list[Measurement] = []
        states = []
        for round_ in range(1, args.repeats + 1):
            states.append(tree_state())
            print(f"round {round_} of {args.repeats}: {states[-1]}", file=sys.stderr, flush=True)
            results += run_round(options, round_, backends, endpoints)
        states.append(tree_state())
        measured = time.monotonic() - started
        publish(args, results, endpoints, states, pin, f"measuring took {measured / 60:.1f} min")
        if args.profile:
            profile(options, backends, endpoints, args.py_spy, args.profile)
            elapsed = time.monotonic() - started
            print(f"\nMeasuring and profiling took {elapsed / 60:.1f} min.")
    return 0


def publish(
    args: argparse.Namespace,
    results: list[Measurement],
    endpoints: Sequence[Endpoint],
    states: list[str],
    pin: bool,
    took: str,
) -> None:
    """Print the tables (and write --json) as soon as the rounds are done."""
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    header = (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs ({cpu_model}); "
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s after {args.warmup}s "
        f"warm-up; {args.repeats} rounds, median (min-max); "
        + ("server on CPU 0, wrk on CPU 1 (taskset)" if pin else "no CPU pinning")
        + f"; PLANNER_LOG_LEVEL=WARNING; {took}"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {"header": header, "code": states, "measurements": [asdict(m) for m in results]},
                indent=1,
            )
        )
    print(header)
    print()
    print(
        f"Code: {states[0]}"
        if len(set(states)) == 1
        else "Code CHANGED during the run: " + " -> ".join(states)
    )
    print()
    print(report(results, endpoints))
    print()
    print(targets(results, endpoints), flush=True)


if __name__ == "__main__":
    sys.exit(main())
