"""A bounded soak of the running service: mixed reads, estimates and writes over loopback HTTP.

By default it starts the service itself (``python -m service serve``) on a fresh SQLite file in a
temporary folder; ``--postgres URL`` starts it on that PostgreSQL database instead (migrated
first with ``python -m service migrate``); ``--url`` soaks a service that is already running
(give its ``--api-key``, and its ``--pid`` to sample its memory).

Several client threads, each with its own ``httpx.Client`` and seeded random generator, run a
weighted mix for ``--seconds``: catalogue reads (lists with filters and sorts, single entries),
memory and compute estimates with varied bodies, quantization, compute-optimal scaling, plan
creates and reads, ``If-Match`` PATCHes of plans and models that the threads share (so some lose
the race: 412, expected and counted apart), model creates and deliberate retries of taken slugs
(409, expected). Anything else that is not 2xx, and any transport error, is unexpected.

Recorded: per-operation counts, status histograms and p50/p99/max latency; the server's RSS
every second (start, end, max, and the slope of a least-squares line over the run after the
warm-up); and afterwards every write is read back: each created plan and model exists, and
each entry shows the last winning PATCH (its version and value).

Exit status 0 when there was no unexpected status, every write read back, and (with
``--max-rss-growth-mib``) the memory stayed flat; 1 otherwise. ``--json PATH`` writes the
figures; the markdown summary goes to stdout::

    .venv/bin/python bench/soak.py                     # 60 s on SQLite
    .venv/bin/python bench/soak.py --seconds 10 --json /tmp/soak.json
    .venv/bin/python bench/soak.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/soak
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "soak-key-0123456789abcdef"

MODELS = ["gpt2", "gpt2-xl", "bert-large", "t5-3b", "llama-7b", "llama2-13b", "llama-65b",
          "opt-175b", "bloom-176b", "gpt3-175b", "chinchilla-70b", "bart-large"]  # fmt: skip
GPUS = ["a100-40gb", "a100-80gb", "h100-80gb", "h200-141gb"]  # all with a bf16 peak
STRATEGIES = ["ddp", "zero-1", "zero-2", "zero-3"]
SORTS = ["slug", "-parameters", "year", "-training_tokens", "name"]
FAMILIES = ["encoder-only", "decoder-only", "encoder-decoder"]
TARGETS = ["int8", "int4", "fp16", "bf16", "fp8-e4m3"]


@dataclass
class Shared:
    """What the threads create, and the last winning write of every entry."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    plans: dict[str, tuple[int, str | None]] = field(default_factory=dict)  # id -> version, notes
    models: dict[str, tuple[int, str]] = field(default_factory=dict)  # slug -> version, name
    serial: int = 0

    def next_serial(self) -> int:
        with self.lock:
            self.serial += 1
            return self.serial

    def won(self, table: dict[str, Any], key: str, version: int, value: Any) -> None:
        """Record a successful write; the highest version is the one that must read back."""
        with self.lock:
            if key not in table or table[key][0] < version:
                table[key] = (version, value)

    def pick(self, table: dict[str, Any], rng: random.Random) -> str | None:
        with self.lock:
            return rng.choice(list(table)) if table else None


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    unexpected: list[str] = field(default_factory=list)

    def record(
        self, operation: str, status: int, seconds: float, expected: set[int], detail: str = ""
    ) -> None:
        with self.lock:
            self.latencies[operation].append(seconds)
            self.statuses[operation][status] += 1
            if status not in expected:
                self.unexpected.append(f"{operation}: {status} {detail}".strip())


# --- the workload ----------------------------------------------------------------------------


class Worker:
    """One client thread's operations; each returns after one request (or GET + PATCH)."""

    def __init__(self, client: httpx.Client, rng: random.Random, shared: Shared, stats: Stats):
        self.client = client
        self.rng = rng
        self.shared = shared
        self.stats = stats
        self.auth = {"X-API-Key": API_KEY}

    def call(
        self, operation: str, method: str, path: str, expected: set[int], **kwargs: Any
    ) -> httpx.Response | None:
        start = time.perf_counter()
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            self.stats.record(operation, 0, time.perf_counter() - start, set())
            with self.stats.lock:
                self.stats.unexpected.append(f"{operation}: {type(error).__name__} {error}")
            return None
        seconds = time.perf_counter() - start
        detail = "" if response.status_code in expected else response.text[:300]
        self.stats.record(operation, response.status_code, seconds, expected, detail)
        return response

    def list_models(self) -> None:
        params: dict[str, Any] = {"sort": self.rng.choice(SORTS), "limit": self.rng.randint(1, 50)}
        if self.rng.random() < 0.5:
            params["family"] = self.rng.choice(FAMILIES)
        if self.rng.random() < 0.3:
            params["q"] = self.rng.choice(["llama", "gpt", "t5", "soak"])
        self.call("GET /v1/models", "GET", "/v1/models", {200}, params=params)

    def get_model(self) -> None:
        slug = self.rng.choice(MODELS)
        self.call("GET /v1/models/{slug}", "GET", f"/v1/models/{slug}", {200})

    def list_hardware(self) -> None:
        self.call("GET /v1/hardware", "GET", "/v1/hardware", {200})

    def memory(self) -> None:
        strategy = self.rng.choice(STRATEGIES)
        body = {
            "model": self.rng.choice(MODELS),
            "gpu": self.rng.choice(GPUS),
            "gpus": self.rng.choice([2, 8, 64, 512]),
            "strategy": strategy,
            "micro_batch_size": self.rng.choice([1, 2, 4, 8]),
            "activation_checkpointing": self.rng.choice(["none", "selective", "full"]),
            "precision": self.rng.choice(["mixed-bf16", "mixed-fp16", "fp32"]),
        }
        self.call("POST /v1/estimates/memory", "POST", "/v1/estimates/memory", {200}, json=body)

    def compute(self) -> None:
        body: dict[str, Any] = {
            "gpu": self.rng.choice(GPUS),
            "gpus": self.rng.choice([8, 64, 1024]),
            "mfu": round(self.rng.uniform(0.2, 0.6), 3),
        }
        if self.rng.random() < 0.5:
            body["model"] = self.rng.choice(MODELS)
        else:
            body["parameters"] = self.rng.randint(10**8, 10**11)
        body["tokens"] = self.rng.randint(10**9, 10**12)  # not every model publishes its own
        self.call("POST /v1/estimates/compute", "POST", "/v1/estimates/compute", {200}, json=body)

    def quantize(self) -> None:
        values = [round(self.rng.gauss(0, 1), 4) for _ in range(self.rng.randint(1, 64))]
        body = {"values": values, "target": self.rng.choice(TARGETS)}
        self.call("POST /v1/quantize", "POST", "/v1/quantize", {200}, json=body)

    def compute_optimal(self) -> None:
        body = {"compute_flops": 10 ** self.rng.uniform(19, 25)}
        path = "/v1/scaling/compute-optimal"
        self.call(f"POST {path}", "POST", path, {200}, json=body)

    def create_plan(self) -> None:
        strategy = self.rng.choice(STRATEGIES)
        body = {
            "name": f"soak plan {self.shared.next_serial()}",
            "model": self.rng.choice(MODELS),
            "gpu": self.rng.choice(GPUS),
            "gpus": self.rng.choice([8, 64, 256]),
            "strategy": strategy,
            "tokens": self.rng.choice([10**10, 10**11, "compute-optimal"]),
            "tags": ["soak"],
        }
        response = self.call(
            "POST /v1/plans", "POST", "/v1/plans", {201}, json=body, headers=self.auth
        )
        if response is not None and response.status_code == 201:
            plan = response.json()
            self.shared.won(self.shared.plans, plan["id"], plan["version"], plan["notes"])

    def get_plan(self) -> None:
        plan_id = self.shared.pick(self.shared.plans, self.rng)
        if plan_id is not None:
            self.call("GET /v1/plans/{id}", "GET", f"/v1/plans/{plan_id}", {200})

    def patch_plan(self) -> None:
        plan_id = self.shared.pick(self.shared.plans, self.rng)
        if plan_id is None:
            return
        current = self.call("GET /v1/plans/{id}", "GET", f"/v1/plans/{plan_id}", {200})
        if current is None or current.status_code != 200:
            return
        notes = f"note {self.shared.next_serial()}"
        headers = {**self.auth, "If-Match": current.headers["etag"]}
        response = self.call(
            "PATCH /v1/plans/{id}", "PATCH", f"/v1/plans/{plan_id}", {200, 412},
            json={"notes": notes}, headers=headers,
        )  # fmt: skip
        if response is not None and response.status_code == 200:
            self.shared.won(self.shared.plans, plan_id, response.json()["version"], notes)

    def create_model(self) -> None:
        retry = self.shared.models and self.rng.random() < 0.3
        slug = self.shared.pick(self.shared.models, self.rng) if retry else None
        operation = "POST /v1/models (retry: 409)" if slug else "POST /v1/models"
        slug = slug or f"soak-{os.getpid()}-{self.shared.next_serial()}"
        body = {
            "slug": slug,
            "name": f"Soak {slug}",
            "family": self.rng.choice(FAMILIES),
            "objective": "causal-lm",
            "parameters": self.rng.randint(10**6, 10**11),
        }
        if body["family"] == "encoder-only":
            body["objective"] = "masked-lm"
        elif body["family"] == "encoder-decoder":
            body["objective"] = "span-corruption"
        expected = {409} if retry else {201}
        response = self.call(
            operation, "POST", "/v1/models", expected, json=body, headers=self.auth
        )
        if response is not None and response.status_code == 201:
            self.shared.won(self.shared.models, slug, response.json()["version"], body["name"])

    def patch_model(self) -> None:
        slug = self.shared.pick(self.shared.models, self.rng)
        if slug is None:
            return
        current = self.call("GET /v1/models/{slug}", "GET", f"/v1/models/{slug}", {200})
        if current is None or current.status_code != 200:
            return
        name = f"Soak {slug} edit {self.shared.next_serial()}"
        headers = {**self.auth, "If-Match": current.headers["etag"]}
        response = self.call(
            "PATCH /v1/models/{slug}", "PATCH", f"/v1/models/{slug}", {200, 412},
            json={"name": name}, headers=headers,
        )  # fmt: skip
        if response is not None and response.status_code == 200:
            self.shared.won(self.shared.models, slug, response.json()["version"], name)

    def mix(self) -> list[tuple[Callable[[], None], int]]:
        """Operations and their weights: mostly reads and estimates, a steady share of writes."""
        return [
            (self.list_models, 14),
            (self.get_model, 14),
            (self.list_hardware, 4),
            (self.memory, 14),
            (self.compute, 12),
            (self.quantize, 8),
            (self.compute_optimal, 8),
            (self.create_plan, 5),
            (self.get_plan, 6),
            (self.patch_plan, 6),
            (self.create_model, 4),
            (self.patch_model, 5),
        ]


# --- the server and its memory ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _service_env(database_url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PLANNER_")}
    env.update(
        PLANNER_DATABASE_URL=database_url,
        PLANNER_API_KEYS=API_KEY,
        PLANNER_LOG_LEVEL="WARNING",
        PLANNER_AUTO_MIGRATE="false",
    )
    return env


def wait_ready(url: str, process: subprocess.Popen[bytes] | None, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"the service exited with status {process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not become ready")
        time.sleep(0.2)


@contextlib.contextmanager
def started_service(database_url: str, log_dir: Path) -> Iterator[tuple[str, int]]:
    """Migrate, then serve on a free port; yields (base URL, server pid)."""
    env = _service_env(database_url)
    subprocess.run(
        [sys.executable, "-m", "service", "migrate"],
        env=env, cwd=ROOT, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    port = _free_port()
    with (log_dir / "service.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--port", str(port)],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def rss_kib(pid: int) -> int | None:
    """Resident set size of ``pid`` from /proc (Linux), KiB."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class MemorySampler(threading.Thread):
    """The server's RSS once a second."""

    def __init__(self, pid: int | None, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self.stopped = threading.Event()
        self.start_time = time.monotonic()

    def run(self) -> None:
        while self.pid is not None and not self.stopped.is_set():
            value = rss_kib(self.pid)
            if value is not None:
                self.samples.append((time.monotonic() - self.start_time, value))
            self.stopped.wait(self.interval)


def slope_mib_per_min(samples: list[tuple[float, int]]) -> float | None:
    """Least-squares slope of RSS over time."""
    if len(samples) < 3:
        return None
    times = [t for t, _ in samples]
    values = [v / 1024 for _, v in samples]
    slope = statistics.linear_regression(times, values).slope
    return slope * 60


def memory_summary(samples: list[tuple[float, int]], warmup: float) -> dict[str, Any]:
    if not samples:
        return {"samples": 0}
    steady = [sample for sample in samples if sample[0] >= warmup] or samples
    mib = [value / 1024 for _, value in samples]
    steady_mib = [value / 1024 for _, value in steady]
    return {
        "samples": len(samples),
        "start_mib": round(mib[0], 1),
        "after_warmup_mib": round(steady_mib[0], 1),
        "end_mib": round(mib[-1], 1),
        "max_mib": round(max(mib), 1),
        "growth_after_warmup_mib": round(steady_mib[-1] - steady_mib[0], 1),
        "growth_second_half_mib": round(mib[-1] - mib[len(mib) // 2], 1),
        "slope_after_warmup_mib_per_min": _round(slope_mib_per_min(steady)),
        "warmup_s": warmup,
    }


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


# --- verification ----------------------------------------------------------------------------


def verify_writes(url: str, shared: Shared) -> list[str]:
    """Every created plan and model reads back, at the last winning version and value."""
    problems: list[str] = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for plan_id, (version, notes) in shared.plans.items():
            response = client.get(f"/v1/plans/{plan_id}")
            if response.status_code != 200:
                problems.append(f"plan {plan_id}: {response.status_code}")
            elif (response.json()["version"], response.json()["notes"]) != (version, notes):
                got = (response.json()["version"], response.json()["notes"])
                problems.append(f"plan {plan_id}: {got} != {(version, notes)}")
        for slug, (version, name) in shared.models.items():
            response = client.get(f"/v1/models/{slug}")
            if response.status_code != 200:
                problems.append(f"model {slug}: {response.status_code}")
            elif (response.json()["version"], response.json()["name"]) != (version, name):
                got = (response.json()["version"], response.json()["name"])
                problems.append(f"model {slug}: {got} != {(version, name)}")
    return problems


# --- the run ---------------------------------------------------------------------------------


def soak(url: str, pid: int | None, seconds: float, threads: int, seed: int) -> dict[str, Any]:
    shared, stats = Shared(), Stats()
    sampler = MemorySampler(pid)
    sampler.start()
    deadline = time.monotonic() + seconds

    def run(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        with httpx.Client(base_url=url, timeout=30) as client:
            worker = Worker(client, rng, shared, stats)
            operations, weights = zip(*worker.mix(), strict=True)
            while time.monotonic() < deadline:
                rng.choices(operations, weights)[0]()

    started = time.monotonic()
    pool = [threading.Thread(target=run, args=(index,)) for index in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - started
    sampler.stopped.set()
    sampler.join()
    # One last memory sample, once the load has stopped.
    if pid is not None and (value := rss_kib(pid)) is not None:
        sampler.samples.append((time.monotonic() - sampler.start_time, value))
    problems = verify_writes(url, shared)

    operations: dict[str, dict[str, Any]] = {}
    for name in sorted(stats.latencies):
        latencies = sorted(stats.latencies[name])
        operations[name] = {
            "count": len(latencies),
            "statuses": dict(sorted(stats.statuses[name].items())),
            "p50_ms": round(_quantile(latencies, 0.50) * 1000, 1),
            "p99_ms": round(_quantile(latencies, 0.99) * 1000, 1),
            "max_ms": round(latencies[-1] * 1000, 1),
        }
    total = sum(item["count"] for item in operations.values())
    expected_refusals = sum(
        count
        for item in operations.values()
        for status, count in item["statuses"].items()
        if status in (409, 412)
    )
    return {
        "seconds": round(elapsed, 1),
        "threads": threads,
        "seed": seed,
        "requests": total,
        "requests_per_second": round(total / elapsed, 1),
        "expected_409_412": expected_refusals,
        "unexpected": len(stats.unexpected),
        "unexpected_samples": stats.unexpected[:20],
        "operations": operations,
        "writes": {
            "plans_created": len(shared.plans),
            "models_created": len(shared.models),
            "verified": len(shared.plans) + len(shared.models) - len(problems),
            "problems": problems[:20],
        },
        "memory": memory_summary(sampler.samples, warmup=min(10.0, seconds / 4)),
        "rss_samples": sampler.samples,
    }


def _quantile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    index = q * (len(values) - 1)
    low = int(index)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (index - low)


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"- {result['seconds']} s, {result['threads']} client threads, seed {result['seed']}, "
        f"backend {result.get('backend', '?')}",
        f"- {result['requests']} requests ({result['requests_per_second']}/s); "
        f"{result['expected_409_412']} expected 409/412; **{result['unexpected']} unexpected**",
        f"- writes read back: {result['writes']['verified']} of "
        f"{result['writes']['plans_created'] + result['writes']['models_created']} "
        f"({result['writes']['plans_created']} plans, {result['writes']['models_created']} "
        "models, each at its last winning version)",
    ]
    memory = result["memory"]
    if memory.get("samples"):
        lines.append(
            f"- server RSS: start {memory['start_mib']} MiB, after {memory['warmup_s']:g} s "
            f"warm-up {memory['after_warmup_mib']} MiB, end {memory['end_mib']} MiB, max "
            f"{memory['max_mib']} MiB; after warm-up {memory['growth_after_warmup_mib']:+} MiB "
            f"(slope {memory['slope_after_warmup_mib_per_min']} MiB/min), second half "
            f"{memory['growth_second_half_mib']:+} MiB ({memory['samples']} samples)"
        )
    lines += [
        "",
        "| operation | count | statuses | p50 ms | p99 ms | max ms |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for name, item in result["operations"].items():
        statuses = ", ".join(f"{status}: {count}" for status, count in item["statuses"].items())
        lines.append(
            f"| `{name}` | {item['count']} | {statuses} | {item['p50_ms']} | {item['p99_ms']} "
            f"| {item['max_ms']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--url", help="soak a running service (needs --api-key)")
    target.add_argument("--postgres", help="start the service on this PostgreSQL database")
    parser.add_argument("--api-key", default=None, help="a write key of the --url service")
    parser.add_argument("--pid", type=int, default=None, help="the --url server's pid (RSS)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument(
        "--max-rss-growth-mib",
        type=float,
        default=None,
        help="fail when RSS grows more than this after the warm-up",
    )
    args = parser.parse_args(argv)

    global API_KEY
    with (
        tempfile.TemporaryDirectory(prefix="planner-soak-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        if args.url:
            if args.api_key:
                API_KEY = args.api_key
            wait_ready(args.url, None)
            url, pid, backend = args.url, args.pid, "running service"
        else:
            database = args.postgres or f"sqlite:///{Path(tmp, 'soak.sqlite3').as_posix()}"
            url, pid = stack.enter_context(started_service(database, Path(tmp)))
            backend = "postgresql" if args.postgres else "sqlite"
        result = soak(url, pid, args.seconds, args.threads, args.seed)
    result["backend"] = backend
    result["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}"
    result["python"] = platform.python_version()
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(markdown(result))

    failed = result["unexpected"] > 0 or result["writes"]["problems"]
    growth = result["memory"].get("growth_after_warmup_mib")
    if args.max_rss_growth_mib is not None and growth is not None:
        failed = failed or growth > args.max_rss_growth_mib
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
