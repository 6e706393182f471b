"""The command line, and the real server started the way the README starts it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from service.catalogue import load_seed


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANNER_")}
    env["PLANNER_DATABASE_URL"] = f"sqlite:///{(tmp_path / 'cli.sqlite3').as_posix()}"
    env.update(extra)
    return env


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        check=True,
        timeout=120,
    )


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    entries = len(load_seed("models").entries)
    first = _run(tmp_path, "migrate")
    assert f": {entries} inserted, 0 updated, 0 unchanged, 0 skipped" in first.stdout
    second = _run(tmp_path, "migrate")
    assert f": 0 inserted, 0 updated, {entries} unchanged, 0 skipped" in second.stdout


def test_openapi_command_prints_the_document(tmp_path: Path) -> None:
    document = json.loads(_run(tmp_path, "openapi").stdout)
    assert "/v1/models" in document["paths"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_server(tmp_path: Path, **settings: str) -> Iterator[str]:
    """``python -m service serve`` on a free port and a fresh SQLite file; yields its URL."""
    port = _free_port()
    extra = {f"PLANNER_{key.upper()}": value for key, value in settings.items()}
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", str(port)],
        env=_env(tmp_path, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "server exited early"
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
        # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal (exit -15).
        assert process.returncode in (0, -15), output
        assert "Application shutdown complete" in output
        for value in settings.values():
            assert value not in output.split("Uvicorn running", 1)[1]


def test_serve_starts_a_working_service(tmp_path: Path) -> None:
    with running_server(tmp_path, api_keys="k1-secret") as base:
        assert httpx.get(f"{base}/docs").status_code == 200
        models = httpx.get(f"{base}/v1/models", params={"limit": 100}).json()
        assert models["total"] >= 30
        refused = httpx.post(f"{base}/v1/models", json={})
        assert refused.status_code == 401
