"""``python -m service estimate ...`` (the local core, no server) and ``... client ...``."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.__main__ import main
from service.cli import Progress
from service.schemas.models import ModelRead
from service.schemas.plans import PlanRead
from tests.conftest import API_KEY
from tests.test_cli import running_server

LLAMA_7B_CONFIG = {
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "vocab_size": 32000,
    "max_position_embeddings": 2048,
}


def flags(body: dict[str, Any]) -> list[str]:
    """The command-line form of an API request body."""
    args: list[str] = []
    for name, value in body.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, dict):
            args += [flag, json.dumps(value)]
        elif isinstance(value, list):
            args += [flag, *map(str, value)]
        else:
            args += [flag, str(value)]
    return args


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """``main`` configures logging as the real command does; undo it after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


class Run:
    """The command line run in-process: exit status, standard output and error."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        try:
            status = main(list(argv))
        except SystemExit as exit_:  # argparse refusing the flags
            status = int(exit_.code or 0)
        out, err = self.capsys.readouterr()
        return status, out, err


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    return Run(capsys)


# --- answers ------------------------------------------------------------------------------

SAME_AS_THE_API = [
    ("memory", {"model": "llama-7b", "strategy": "zero-3", "gpus": 8}),
    (
        "memory",
        {
            "model": "llama2-70b",
            "strategy": "fsdp-hybrid-shard",
            "gpus": 64,
            "sharding_factor": 8,
            "offload": "optimizer",
            "activation_checkpointing": "full",
            "dropout": False,
            "sequence_parallel": True,
            "gpu": "h100-80gb",
            "headroom": 0.05,
        },
    ),
    ("memory", {"hf_config": LLAMA_7B_CONFIG, "mode": "inference", "precision": "int4"}),
    (
        "memory",
        {
            "architecture": {
                "family": "encoder-decoder",
                "n_encoder_layers": 12,
                "n_decoder_layers": 12,
                "d_model": 768,
                "n_heads": 12,
                "d_ff": 3072,
                "vocab_size": 32128,
                "context_length": 512,
            },
            "micro_batch_size": 8,
        },
    ),
    ("memory", {"model": "t5-11b", "gpus": 16, "strategy": "zero-2", "tensor_parallel": 2}),
    ("compute", {"model": "llama-65b", "gpus": 2048, "tokens_per_second_per_gpu": 380}),
    ("compute", {"parameters": 175_000_000_000, "tokens": 300_000_000_000, "gpus": 1024}),
    (
        "compute",
        {
            "model": "gpt3-175b",
            "gpu": "v100-32gb",
            "gpus": 10000,
            "mfu": 0.2,
            "include_attention_flops": True,
            "activation_checkpointing": "full",
            "price_per_gpu_hour": 1.5,
            "pue": 1.2,
        },
    ),
]


@pytest.mark.parametrize(("kind", "body"), SAME_AS_THE_API)
def test_json_is_the_api_response_body(
    client: TestClient, run: Run, kind: str, body: dict[str, Any]
) -> None:
    api = client.post(f"/v1/estimates/{kind}", json=body)
    assert api.status_code == 200, api.text
    status, out, err = run("estimate", kind, *flags(body), "--json")
    assert (status, err) == (0, "")
    assert out.encode() == api.content + b"\n"  # byte for byte


def test_memory_table(run: Run) -> None:
    status, out, _ = run("estimate", "memory", "--model", "llama-7b", "--strategy", "zero-3",
                         "--gpus", "8")  # fmt: skip
    assert status == 0
    assert out.startswith("Memory per GPU: llama-7b (catalogue), 6,738,415,616 parameters")
    for figure in (
        "total per GPU        25.29  23.55  25,286,861,568",
        "optimizer states     10.11   9.41  10,107,623,424",
        "usable on a100-80gb  77.31  72.00  77,309,411,328",
        "fits: yes",
        "ZeRO stage 3",
        "Assumptions:\n  - All figures are bytes",
    ):
        assert figure in out
    assert "fits: no" in run("estimate", "memory", "--model", "llama-65b", "--strategy", "ddp")[1]


def test_compute_table(run: Run) -> None:
    status, out, _ = run("estimate", "compute", "--model", "llama-65b", "--gpus", "2048",
                         "--tokens-per-second-per-gpu", "380")  # fmt: skip
    assert status == 0
    for figure in (
        "Compute: llama-65b (catalogue)",
        "training FLOPs     5.484e+23",
        "GPU-hours          1,023,392",
        "wall-clock days    20.82",
        "cost (USD)         5,239,766",
        "MFU / HFU          47.7% / 47.7%",
        "  - tokens: the catalogue's published count for llama-65b.",
    ):
        assert figure in out


def test_json_values_from_files_and_counts_in_exponent_form(run: Run, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(LLAMA_7B_CONFIG))
    _, from_file, _ = run("estimate", "memory", "--hf-config", f"@{config}", "--json")
    _, from_text, _ = run("estimate", "memory", "--hf-config", json.dumps(LLAMA_7B_CONFIG),
                          "--json")  # fmt: skip
    assert from_file == from_text
    assert json.loads(from_file)["parameters"] == 6_738_415_616
    _, short, _ = run("estimate", "compute", "--parameters", "7e9", "--tokens", "1.4e12", "--json")
    _, long, _ = run("estimate", "compute", "--parameters", "7000000000", "--tokens",
                     "1400000000000", "--json")  # fmt: skip
    assert short == long


def test_needs_no_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANNER_")}
    env["PLANNER_DATABASE_URL"] = "postgresql+psycopg://nobody@127.0.0.1:9/none"
    args = ["estimate", "memory", "--model", "llama-7b", "--strategy", "zero-3", "--gpus", "8"]
    result = subprocess.run(
        [sys.executable, "-m", "service", *args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert json.loads(result.stdout)["per_gpu"]["total_bytes"] == 25_286_861_568
    assert result.stderr == ""


# --- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--strategy", "zero-4"], "argument --strategy: invalid choice: 'zero-4'"),
        (
            ["--model", "llama-7b", "--tensor-paralel", "2"],
            "unrecognized arguments: --tensor-paralel 2 (did you mean --tensor-parallel?)",
        ),
        (["--architecture", "{"], "argument --architecture: not valid JSON"),
        (["--hf-config", "@/no/such/file.json"], "argument --hf-config: cannot read"),
        (["--dropout", "no"], "unrecognized arguments: no"),
    ],
)
def test_bad_flags_exit_2(run: Run, argv: list[str], message: str) -> None:
    status, out, err = run("estimate", "memory", *argv)
    assert (status, out) == (2, "")
    assert message in err
    assert err.startswith("usage: planner estimate memory")


@pytest.mark.parametrize(
    ("kind", "body", "line"),
    [
        ("memory", {"model": "llama-7b", "gpus": 0}, "--gpus (body.gpus): Input should be greater"),
        ("memory", {}, "body: Value error, give exactly one of model, parameters"),
        ("memory", {"model": "no-such-model"}, "--model (body.model): No model with slug"),
        ("memory", {"parameters": 10**9, "gpu": "a100-81gb"}, "--gpu (body.gpu): No accelerator"),
        ("memory", {"parameters": 10**9, "gpus": 8, "tensor_parallel": 3}, "--gpus (body.gpus)"),
        ("memory", {"hf_config": {"model_type": "mamba"}}, "--hf-config (body.hf_config.model"),
        ("compute", {"parameters": 10**9}, "--tokens (body.tokens): tokens is required"),
        ("compute", {"parameters": 10**9, "tokens": 10**9, "mfu": 1.5}, "--mfu (body.mfu)"),
    ],
)
def test_invalid_requests_are_the_api_problem_and_exit_2(
    client: TestClient, run: Run, kind: str, body: dict[str, Any], line: str
) -> None:
    status, out, err = run("estimate", kind, *flags(body))
    assert (status, out) == (2, "")
    assert err.startswith("error (422): ")
    assert line in err
    # With --json the problem is a document with the API's fields and messages.
    status, _, err = run("estimate", kind, *flags(body), "--json")
    problem = json.loads(err)
    api = client.post(f"/v1/estimates/{kind}", json=body).json()
    assert status == 2
    for key in ("type", "title", "status", "detail", "errors"):
        assert problem[key] == api[key]


# --- optimal, plan and planner search -------------------------------------------------------

OPTIMAL = "/v1/scaling/compute-optimal"
SEARCH = "/v1/planner/search"
SAME_AS_THE_API_TOO: list[tuple[list[str], str, dict[str, Any]]] = [
    (["optimal"], OPTIMAL, {"compute_flops": 5.76e23}),
    (["optimal"], OPTIMAL, {"gpu_hours": 100_000, "gpu": "h100-80gb", "mfu": 0.4,
                            "law": "epoch-2024"}),
    (["optimal"], OPTIMAL, {"budget_usd": 1_000_000, "gpu": "a100-80gb",
                            "law": "chinchilla-approach3", "price_per_gpu_hour": 2.5}),
    (["optimal"], OPTIMAL, {"petaflop_s_days": 3640, "law": "kaplan-2020"}),
    (["optimal"], OPTIMAL, {"gpu_hours": 1e5, "achieved_tflops_per_gpu": 150}),
    (["planner", "search"], SEARCH, {"model": "llama-7b", "tokens": 10**12,
                                     "gpu_types": ["a100-80gb"], "max_gpus": 64, "top_k": 5}),
    (["planner", "search"], SEARCH, {"parameters": 13_000_000_000, "tokens": 260_000_000_000,
                                     "gpu_types": ["a100-40gb", "h100-80gb"], "max_gpus": 256,
                                     "objective": "time", "strategies": ["zero-3", "ddp"],
                                     "micro_batch_sizes": [1, 2], "max_days": 30}),
    # Nothing fits: the nearest misses and their remedies (larger accelerators among them).
    (["planner", "search"], SEARCH, {"model": "llama2-70b", "tokens": 2 * 10**12,
                                     "gpu_types": ["v100-16gb"], "max_gpus": 2,
                                     "offloads": ["none"], "strategies": ["ddp", "zero-3"]}),
]  # fmt: skip


@pytest.mark.parametrize(("command", "path", "body"), SAME_AS_THE_API_TOO)
def test_optimal_and_search_json_is_the_api_response_body(
    client: TestClient, run: Run, command: list[str], path: str, body: dict[str, Any]
) -> None:
    api = client.post(path, json=body)
    assert api.status_code == 200, api.text
    status, out, err = run(*command, *flags(body), "--json")
    assert (status, err) == (0, "")
    assert out.encode() == api.content + b"\n"  # byte for byte


def _between(text: str, start: str, end: str) -> str:
    """The bytes of one member of a JSON body (the text from ``start`` to ``end``)."""
    begin = text.index(start) + len(start)
    return text[begin : text.index(end, begin)]


PLANS: list[dict[str, Any]] = [
    {"name": "LLaMA-7B on 64 A100s", "model": "llama-7b", "tokens": 10**12, "gpus": 64,
     "strategy": "zero-3", "micro_batch_size": 4, "activation_checkpointing": "selective",
     "mfu": 0.45, "tags": ["llama", "baseline"]},
    # Does not fit: the alternatives tried include larger accelerators from the catalogue.
    {"name": "70B, DDP on 8 V100s", "model": "llama2-70b", "gpu": "v100-32gb", "gpus": 8,
     "strategy": "ddp", "precision": "mixed-fp16", "notes": "too small"},
    {"name": "Compute-optimal 1B", "parameters": 1_000_000_000, "tokens": "compute-optimal",
     "law": "chinchilla-approach3", "gpu": "h100-80gb", "gpus": 8, "strategy": "ddp"},
    {"name": "LLaMA-7B in 2 days", "model": "llama-7b", "gpus": 1024, "strategy": "fsdp-full-shard",
     "tokens_per_second_per_gpu": 3100, "price_per_gpu_hour": 2.0, "law": "epoch-2024"},
]  # fmt: skip


@pytest.mark.parametrize("body", PLANS, ids=[plan["name"] for plan in PLANS])
def test_a_local_plan_is_the_plan_the_api_stores(
    client: TestClient, auth: dict[str, str], run: Run, body: dict[str, Any]
) -> None:
    created = client.post("/v1/plans", json=body, headers=auth)
    assert created.status_code == 201, created.text
    status, out, err = run("plan", *flags(body), "--json")
    assert (status, err) == (0, "")
    api_body = created.text
    # The results (and the inputs) are the bytes the API serves; only storing adds the rest.
    for start, end in (('"results":', ',"estimator_version":'), ('"inputs":', ',"results":')):
        assert _between(out, start, end) == _between(api_body, start, end)
    local, stored = json.loads(out), created.json()
    assert local == {key: stored[key] for key in local}
    assert set(stored) - set(local) == {
        "id", "version", "created_at", "updated_at", "recomputed_from", "recomputed_as",
    }  # fmt: skip
    assert client.get(f"/v1/plans/{stored['id']}").json()["results"] == local["results"]


def test_plan_table_leads_with_the_recommendations(run: Run) -> None:
    status, out, _ = run("plan", "--model", "llama-7b", "--gpus", "64", "--strategy", "zero-3",
                         "--tokens", "1e12")  # fmt: skip
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "Plan: llama-7b on 64 x a100-80gb"  # the name --name would give
    assert lines[1] == (
        "llama-7b (catalogue), 6,738,415,616 parameters; 1,000,000,000,000 tokens (given)"
    )
    assert lines[3] == "Recommendations:"
    assert lines[4].startswith("  - Fits with zero-3 on 64 x a100-80gb: 13.5 GB per GPU")
    assert lines[5].startswith("  - Over-trained by 7.3x for its size under chinchilla-approach1")
    for figure in (
        "Memory per GPU: zero-3 on 64 x a100-80gb, fits (ZeRO stage 3, sequence length 2048)",
        "  total per GPU        13.49  12.57  13,494,634,240",
        "  wall-clock days    58.59",
        "  verdict                over-trained (band 0.5-2x)",
        "Law chinchilla-approach1: Hoffmann et al. 2022",
    ):
        assert figure in out
    _, unfit, _ = run("plan", *flags(PLANS[1]))
    assert unfit.splitlines()[4].startswith("  - Does not fit with ddp on 8 x v100-32gb")
    assert "does NOT fit" in unfit


def test_optimal_table(run: Run) -> None:
    status, out, _ = run("optimal", "--gpu-hours", "100000", "--gpu", "h100-80gb", "--mfu", "0.4",
                         "--law", "epoch-2024")  # fmt: skip
    assert status == 0
    for figure in (
        "Compute-optimal under epoch-2024\n",
        "budget                1.425e+23 FLOPs (1,649.0 petaflop/s-days)",
        "parameters            3.53e+10 (35.3B)",
        "tokens                6.726e+11 (673B)",
        "predicted loss        2.019 (nats per token on MassiveText",
        "Constants: E 1.8172, A 482.01, B 2085.43, alpha 0.3478, beta 0.3658",
        "  - Budget: 100,000 GPU-hours x 3600 s x 3.96e+14 FLOP/s = 1.42e+23 FLOPs.",
    ):
        assert figure in out


def test_search_table_then_the_strategies(run: Run) -> None:
    argv = ["--model", "llama-7b", "--tokens", "1e12", "--gpu-types", "a100-80gb",
            "--max-gpus", "64", "--top-k", "3"]  # fmt: skip
    status, out, _ = run("planner", "search", *argv)
    assert status == 0
    lines = out.splitlines()
    assert re.fullmatch(r"Planner: [\d,]+ configurations evaluated for 6,738,415,616 "
                        r"parameters; [\d,]+ feasible\.", lines[0])  # fmt: skip
    assert lines[2] == "The best 3 by cost:"
    assert lines[3].split() == [
        "#", "gpu", "gpus", "strategy", "offload", "t", "p", "micro-batch", "checkpointing",
        "GB", "per", "GPU", "days", "cost", "(USD)", "effective", "MFU",
    ]  # fmt: skip
    assert lines[4].split()[:3] == ["1", "a100-80gb", "64"]
    assert lines[4].endswith("40.0%")
    assert "\nPer strategy:\n  - single: Single GPU fits" in out
    assert "  - zero-3: ZeRO-3 fits: the best by cost is 64 x" in out
    _, misses, _ = run("planner", "search", *flags(SAME_AS_THE_API_TOO[-1][2]))
    assert "Nothing fits within the limits. The nearest misses:" in misses
    assert "  1: needs 559.4 GB per GPU but the NVIDIA V100 SXM2 16GB offers" in misses


def test_list_flags_take_several_values_commas_or_repeats(run: Run) -> None:
    base = ["planner", "search", "--model", "llama-7b", "--tokens", "1e12", "--max-gpus", "16",
            "--top-k", "2", "--json"]  # fmt: skip
    spaced = run(*base, "--gpu-types", "a100-80gb", "h100-80gb", "--strategies", "zero-2", "zero-3")
    commas = run(*base, "--gpu-types", "a100-80gb,h100-80gb", "--strategies", "zero-2,zero-3")
    repeated = run(*base, "--gpu-types", "a100-80gb", "--gpu-types", "h100-80gb",
                   "--strategies", "zero-2", "--strategies=zero-3")  # fmt: skip
    assert spaced == commas == repeated
    assert spaced[0] == 0
    assert {s["strategy"] for s in json.loads(spaced[1])["per_strategy"]} == {"zero-2", "zero-3"}
    _, tagged, _ = run("plan", "--model", "llama-7b", "--tags", "a, b", "c", "--json")
    assert json.loads(tagged)["tags"] == ["a, b", "c"]  # free text is never split


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["planner", "search", "--strategies", "zero-2,zero-4"], "argument --strategies: invalid "
         "choice: 'zero-4' (choose from 'single', 'ddp'"),
        (["planner", "search", "--max-gpu", "8"], "(did you mean --max-gpus?)"),
        (["optimal", "--compute-flop", "1e20"], "(did you mean --compute-flops?)"),
        (["plan", "--objective", "cost"], "unrecognized arguments: --objective cost"),
        (["planner", "search", "--micro-batch-sizes"], "expected at least one argument"),
    ],
)  # fmt: skip
def test_bad_flags_of_the_new_commands_exit_2(run: Run, argv: list[str], message: str) -> None:
    status, out, err = run(*argv)
    assert (status, out) == (2, "")
    assert message in err
    assert err.startswith(f"usage: planner {' '.join(argv[: 2 if argv[0] == 'planner' else 1])}")


@pytest.mark.parametrize(
    ("command", "path", "body", "line"),
    [
        (["optimal"], OPTIMAL, {"compute_flops": 1e21, "law": "moore"},
         "--law (body.law): Unknown law 'moore'."),
        (["optimal"], OPTIMAL, {"gpu_hours": 10, "gpu": "a100-81gb"},
         "--gpu (body.gpu): No accelerator with slug 'a100-81gb'"),
        (["optimal"], OPTIMAL, {"budget_usd": 100, "gpu": "mi250x-128gb"},
         "--price-per-gpu-hour (body.price_per_gpu_hour): "),
        (["optimal"], OPTIMAL, {"compute_flops": 1e21, "gpu_hours": 10},
         "body: Value error, give exactly one budget"),
        (["plan"], "/v1/plans", {"name": "x", "model": "llama-7b", "law": "moore"},
         "--law (body.law): Unknown law 'moore'."),
        (["plan"], "/v1/plans", {"name": "x", "parameters": 10**9},
         "--tokens (body.tokens): tokens is required"),
        (["plan"], "/v1/plans", {"name": "x", "model": "llama-7b", "tokens": "many"},
         "--tokens (body.tokens"),
        (["plan"], "/v1/plans", {"name": "x", "model": "llama-7b", "mfu": 0.4,
                                 "tokens_per_second_per_gpu": 3000}, "body: Value error"),
        (["planner", "search"], SEARCH, {"model": "llama-7b", "tokens": 10**12,
                                         "gpu_types": ["a100-80gb", "a100-81gb"], "max_gpus": 8},
         "--gpu-types (body.gpu_types.1): No accelerator with slug 'a100-81gb'"),
        (["planner", "search"], SEARCH, {"model": "llama-7b", "tokens": 10**12,
                                         "gpu_types": ["a100-80gb"], "max_gpus": 100_000},
         "--max-gpus (body.max_gpus): Input should be less than or equal to 65536"),
    ],
)  # fmt: skip
def test_invalid_requests_of_the_new_commands_are_the_api_problem(
    client: TestClient,
    auth: dict[str, str],
    run: Run,
    command: list[str],
    path: str,
    body: dict[str, Any],
    line: str,
) -> None:
    status, out, err = run(*command, *flags(body))
    assert (status, out) == (2, "")
    assert err.startswith("error (422): ")
    assert line in err
    status, _, err = run(*command, *flags(body), "--json")
    problem = json.loads(err)
    api = client.post(path, json=body, headers=auth).json()
    assert status == 2
    for key in ("type", "title", "status", "detail", "errors"):
        assert problem[key] == api[key]


def test_new_commands_need_no_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANNER_")}
    env["PLANNER_DATABASE_URL"] = "postgresql+psycopg://nobody@127.0.0.1:9/none"
    script = (
        "from service.__main__ import main\n"
        "main(['optimal', '--compute-flops', '5.76e23', '--json'])\n"
        "main(['plan', '--model', 'llama-7b', '--gpus', '8', '--strategy', 'ddp', '--json'])\n"
        "main(['planner', 'search', '--model', 'llama-7b', '--tokens', '1e12', '--gpu-types',"
        " 'a100-80gb', '--max-gpus', '8', '--json'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
        cwd=tmp_path,
    )
    optimal, plan, search = (json.loads(line) for line in result.stdout.splitlines())
    assert optimal["law"]["id"] == "chinchilla-approach1"
    assert plan["fits"] is False
    assert plan["results"]["recommendations"][0].startswith("Does not fit with ddp on 8 x")
    assert search["feasible"]
    assert result.stderr == ""


# --- the progress bar ---------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_appears_only_after_the_delay_and_is_erased() -> None:
    quick = FakeTerminal()
    with Progress("quick", stream=quick, delay=1.0):
        pass
    assert quick.getvalue() == ""
    slow = FakeTerminal()
    with Progress("planning", total=4, stream=slow, delay=0.05, interval=0.01) as bar:
        for _ in range(4):
            time.sleep(0.03)
            bar.advance()
    drawn = slow.getvalue()
    assert "\rplanning [" in drawn
    assert "/4" in drawn
    assert drawn.endswith("\r")  # the last write blanks the line
    assert drawn.rsplit("\r", 2)[-2].strip() == ""


def test_progress_needs_a_terminal_unless_forced() -> None:
    pipe = io.StringIO()
    with Progress("x", stream=pipe, delay=0, interval=0.01):
        time.sleep(0.05)
    assert pipe.getvalue() == ""
    forced = io.StringIO()
    with Progress("searching", stream=forced, enabled=True, delay=0, interval=0.01) as bar:
        bar.advance(3)
        time.sleep(0.05)
    assert "searching [" in forced.getvalue()
    assert "3 done" in forced.getvalue()


def test_progress_render() -> None:
    bar = Progress("search", total=10, width=10)
    bar.advance(5)
    assert bar.render().startswith("search [#####.....] 5/10 ")


SMALL_SEARCH = ["planner", "search", "--model", "llama-7b", "--tokens", "1e12", "--gpu-types",
                "a100-80gb", "--max-gpus", "64", "--json"]  # fmt: skip
#: A drawn bar fed by the core: the configurations done of all of them.
BAR = re.compile(r"\rsearching \[[#.]{24}\] [\d,]+/[\d,]+ [\d.]+s")


def test_the_search_feeds_the_bar_when_forced(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    _, quiet, _ = run(*SMALL_SEARCH)
    monkeypatch.setattr("service.cli.PROGRESS_DELAY", 0.0)  # draw at once
    drawn: list[tuple[int, int | None]] = []
    update = Progress.update

    def spy(self: Progress, done: int, total: int | None = None) -> None:
        drawn.append((done, total))
        update(self, done, total)

    monkeypatch.setattr(Progress, "update", spy)
    status, out, err = run(*SMALL_SEARCH, "--progress")
    assert (status, out) == (0, quiet)  # standard output is only the answer
    assert "\rsearching [" in err
    assert err.endswith("\r")  # erased at the end
    evaluated = json.loads(out)["evaluated"]
    assert drawn[0] == (0, evaluated)
    assert drawn[-1] == (evaluated, evaluated)


def test_the_bar_needs_a_terminal_or_progress(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("service.cli.PROGRESS_DELAY", 0.0)
    assert run(*SMALL_SEARCH)[2] == ""  # captured stderr is not a terminal
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert run(*SMALL_SEARCH)[0] == 0
    assert "\rsearching [" in terminal.getvalue()
    silenced = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", silenced)
    assert run(*SMALL_SEARCH, "--no-progress")[0] == 0
    assert silenced.getvalue() == ""


def test_a_large_search_shows_its_progress_after_a_second(run: Run) -> None:
    """Three GPU types up to 65,536 GPUs: about 93 million configurations, seconds of work."""
    started = time.monotonic()
    status, out, err = run("planner", "search", "--model", "llama2-70b", "--tokens", "2e12",
                           "--gpu-types", "a100-80gb,h100-80gb,mi300x-192gb",
                           "--max-gpus", "65536", "--top-k", "3", "--progress",
                           "--json")  # fmt: skip
    elapsed = time.monotonic() - started
    assert status == 0
    assert json.loads(out)["evaluated"] > 10**7
    if elapsed > 1.5:
        assert BAR.search(err), err[:300]
        assert err.endswith("\r")
    elif elapsed < 1.0:  # a machine fast enough to finish within the delay shows nothing
        assert err == ""
    quick = run("optimal", "--compute-flops", "1e21", "--progress")
    assert quick[0] == 0
    assert quick[2] == ""  # done within the second


# --- against a running server -------------------------------------------------------------


def test_client_commands(run: Run, tmp_path: Path) -> None:
    key = "cli-key-0123456789"
    memory = ["memory", "--model", "llama-7b", "--strategy", "zero-3", "--gpus", "8", "--json"]
    with running_server(tmp_path, api_keys=key) as base:
        client = ["client", "--url", base, "--api-key", key]
        status, out, err = run(*client, "models", "list", "--family", "encoder-only")
        assert status == 0, err
        assert "bert-base" in out
        assert "gpt2" not in out
        assert out.rstrip().endswith("4 models")
        status, out, _ = run(*client, "models", "list", "--json")
        assert len(json.loads(out)) >= 30
        status, out, _ = run(*client, "models", "get", "llama-7b", "--json")
        assert ModelRead.model_validate_json(out).slug == "llama-7b"
        status, out, _ = run(*client, "models", "get", "llama-7b")
        assert "parameters       6,700,000,000" in out
        assert "Sources:" in out
        remote = run(*client, "estimate", *memory)
        local = run("estimate", *memory)
        assert remote == local
        assert remote[0] == 0
        status, out, err = run(*client, "models", "get", "no-such-model")
        assert (status, out) == (1, "")
        assert err.startswith("error (404): Not Found: No model with slug 'no-such-model'.")
        assert "request id: " in err
        status, _, err = run(*client, "estimate", "memory", "--model", "llama-7b", "--gpus", "0")
        assert status == 2
        assert "--gpus (body.gpus)" in err
        status, _, err = run(*client, "estimate", "memory", "--model", "no-such-model")
        assert status == 2
        assert "--model (body.model): No model with slug" in err
    status, _, err = run("client", "--url", base, "--retries", "0", "models", "get", "gpt2")
    assert status == 1
    assert "ConnectError" in err
    assert key not in err


def test_client_commands_for_optimal_plans_and_the_planner(run: Run, tmp_path: Path) -> None:
    key = "cli-key-0123456789"
    optimal = ["optimal", "--gpu-hours", "1e5", "--gpu", "h100-80gb", "--law", "epoch-2024"]
    search = ["planner", "search", "--model", "llama-7b", "--tokens", "1e12", "--gpu-types",
              "a100-80gb,h100-80gb", "--max-gpus", "64", "--top-k", "4"]  # fmt: skip
    plan = flags(PLANS[0])
    with running_server(tmp_path, api_keys=key) as base:
        client = ["client", "--url", base, "--api-key", key]
        for command in (optimal, search):
            remote = run(*client, *command, "--json")
            assert remote == run(*command, "--json")
            assert remote[0] == 0
            assert run(*client, *command) == run(*command)  # the same table
        status, created, err = run(*client, "plan", "create", *plan, "--json")
        assert (status, err) == (0, "")
        stored = PlanRead.model_validate_json(created)
        local = json.loads(run("plan", *plan, "--json")[1])
        assert stored.results.model_dump(mode="json") == local["results"]
        status, fetched, _ = run(*client, "plan", "get", stored.id, "--json")
        assert (status, fetched) == (0, created)
        status, table, _ = run(*client, "plan", "get", stored.id)
        assert table.startswith(f"Plan: LLaMA-7B on 64 A100s (id {stored.id}, version 1, ")
        assert table.splitlines()[3:5] == run("plan", *plan)[1].splitlines()[3:5]
        status, out, err = run(*client, "plan", "get", "00000000-0000-4000-8000-000000000000")
        assert (status, out) == (1, "")
        assert err.startswith("error (404): Not Found: No plan with id")
        anonymous = ["client", "--url", base, "plan", "create", *plan]
        status, _, err = run(*anonymous)
        assert status == 1
        assert err.startswith("error (401): ")
        status, _, err = run(*client, "planner", "search", "--model", "llama-7b", "--tokens",
                             "1e12", "--gpu-types", "a100-81gb", "--max-gpus", "8")  # fmt: skip
        assert status == 2
        assert "--gpu-types (body.gpu_types.0): No accelerator" in err
        status, _, err = run(*client, "optimal", "--law", "moore", "--compute-flops", "1e21")
        assert status == 2
        assert "--law (body.law): Unknown law 'moore'." in err
    assert API_KEY not in err
