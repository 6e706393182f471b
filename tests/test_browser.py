"""What a person sees: the offline docs and the SVG charts, rendered by headless Chromium.

Chromium comes from Debian's package (`.ci/run` installs it). Without it these tests skip with
the reason, unless ``PLANNER_TEST_REQUIRE_CHROMIUM=1`` (as in CI), which makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.test_cli import running_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRED = os.environ.get("PLANNER_TEST_REQUIRE_CHROMIUM") == "1"
# The flags this workplace documents for a closed network (no background connections).
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    if CHROMIUM is None:
        if REQUIRED:
            pytest.fail("chromium is not installed (PLANNER_TEST_REQUIRE_CHROMIUM=1)")
        pytest.skip("chromium is not installed; `apt-get install chromium` to run these")
    return CHROMIUM


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(tmp_path_factory.mktemp("browser"), api_keys="k") as base:
        yield base


def _run(chromium: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"
    return subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def _distinct_colours(png: bytes) -> int:
    """Count distinct RGB(A) pixels of an 8-bit non-interlaced PNG (Chromium's screenshots)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks, header = 8, b"", b""
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        data = png[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = data
        elif kind == b"IDAT":
            chunks += data
        position += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8
    channels = {2: 3, 6: 4}[colour]
    raw = zlib.decompress(chunks)
    stride = width * channels
    seen: set[bytes] = set()
    previous = bytearray(stride)
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + predictor) & 0xFF
        seen.update(bytes(line[i : i + 3]) for i in range(0, stride, channels * 7))
        previous = line
    return len(seen)


def test_swagger_ui_renders_offline(chromium: str, server: str, tmp_path: Path) -> None:
    dom = _run(chromium, tmp_path, "--virtual-time-budget=8000", "--dump-dom", f"{server}/docs")
    # Swagger UI builds these elements with its JavaScript, served by the service itself.
    assert "opblock-summary-path" in dom.stdout
    assert "/v1/estimates/memory" in dom.stdout


def test_redoc_renders_offline(chromium: str, server: str, tmp_path: Path) -> None:
    dom = _run(chromium, tmp_path, "--virtual-time-budget=8000", "--dump-dom", f"{server}/redoc")
    assert "Pre-training planner" in dom.stdout
    assert "/v1/plans" in dom.stdout


@pytest.mark.parametrize("chart", ["plan", "isoflop"])
def test_charts_render(chromium: str, server: str, tmp_path: Path, chart: str) -> None:
    if chart == "plan":
        created = httpx.post(
            f"{server}/v1/plans",
            json={"name": "LLaMA-7B DDP", "model": "llama-7b", "gpus": 8, "strategy": "ddp"},
            headers={"X-API-Key": "k"},
        )
        assert created.status_code == 201, created.text
        url = f"{server}/v1/plans/{created.json()['id']}/memory.svg"
    else:
        url = f"{server}/v1/scaling/isoflop.svg?compute_flops=1e19&compute_flops=1e21"
    shot = tmp_path / "chart.png"
    _run(chromium, tmp_path, "--window-size=800,520", f"--screenshot={shot}", url)
    # A rendered chart has bars or curves in several colours, not a blank or error page.
    assert _distinct_colours(shot.read_bytes()) >= 6
