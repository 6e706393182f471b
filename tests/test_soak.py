"""A short run of ``bench/soak.py`` (the full 60 s run and its figures are in bench/SOAK.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import fresh_database

ROOT = Path(__file__).resolve().parents[1]
SECONDS = 8


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_short_soak_has_no_unexpected_status_and_every_write_reads_back(
    backend: str, tmp_path: Path
) -> None:
    figures = tmp_path / "soak.json"
    command = [sys.executable, str(ROOT / "bench" / "soak.py"), "--seconds", str(SECONDS)]
    command += ["--threads", "6", "--json", str(figures)]
    with fresh_database(backend, tmp_path) as url:
        if backend == "postgresql":
            command += ["--postgres", url]
        run = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=180, check=False
        )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(figures.read_text())
    assert result["unexpected"] == 0, result["unexpected_samples"]
    assert result["requests"] > 100
    writes = result["writes"]
    assert writes["plans_created"] > 0
    assert writes["models_created"] > 0
    assert writes["problems"] == []
    assert writes["verified"] == writes["plans_created"] + writes["models_created"]
    statuses = {
        operation: {int(status) for status in item["statuses"]}
        for operation, item in result["operations"].items()
    }
    assert statuses["POST /v1/plans"] == {201}
    assert statuses["PATCH /v1/plans/{id}"] <= {200, 412}
    assert statuses["POST /v1/models (retry: 409)"] == {409}
    assert result["memory"]["samples"] >= SECONDS - 1
