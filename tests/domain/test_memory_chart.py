"""The per-GPU memory bar chart."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from service.domain.errors import InvalidInputError
from service.domain.memory_chart import memory_bar_svg

GIB = 2**30
SEGMENTS = [("weights", 2 * 10**9), ("optimizer states", 12 * 10**9), ("activations <&>", 10**9)]


def _texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)  # noqa: S314  (our own output)
    return [el.text or "" for el in root.iter("{http://www.w3.org/2000/svg}text")]


def test_fitting_bar_names_every_segment_and_the_capacity() -> None:
    svg = memory_bar_svg(
        SEGMENTS, capacity_bytes=80 * GIB, usable_bytes=72 * GIB, title="A & B", subtitle="s"
    )
    texts = _texts(svg)
    assert "fits: 15.0 GB of 77.3 GB usable" in texts
    assert "capacity 85.9 GB" in texts
    assert "activations <&>: 1.0 GB" in texts
    assert "A &amp; B" in svg


def test_overflowing_bar_says_so_and_keeps_labels_on_the_canvas() -> None:
    svg = memory_bar_svg(
        [("weights", 100 * 10**9)], capacity_bytes=40 * GIB, usable_bytes=40 * GIB, title="t"
    )
    assert "does not fit: 100.0 GB needed, 42.9 GB usable" in _texts(svg)
    assert 'text-anchor="start"' in svg  # lines left of 70% of the axis label to the right


@pytest.mark.parametrize(
    ("segments", "capacity", "usable"),
    [([], 10, 5), ([("w", -1)], 10, 5), ([("w", 1)], 0, 0), ([("w", 1)], 10, 11)],
)
def test_invalid_charts(segments: list[tuple[str, int]], capacity: int, usable: int) -> None:
    with pytest.raises(InvalidInputError):
        memory_bar_svg(segments, capacity_bytes=capacity, usable_bytes=usable, title="t")
