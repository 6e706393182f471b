"""``python -m service estimate ...`` (the local core, no server) and ``... client ...``."""

from __future__ import annotations

import io
import json
import logging
import os
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
from tests.test_client import running_server

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


# --- against a running server -------------------------------------------------------------


def test_client_commands(run: Run, tmp_path: Path) -> None:
    key = "cli-key-0123456789"
    memory = ["memory", "--model", "llama-7b", "--strategy", "zero-3", "--gpus", "8", "--json"]
    with running_server(tmp_path, key) as base:
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
