"""Hand-written SVG stacked bar of one GPU's memory against its capacity (no plotting library).

The bar stacks the components of a per-GPU memory estimate (weights, gradients, optimizer
states, activations, overhead) on a horizontal axis in gigabytes, with the device's capacity
and its usable part (capacity less the headroom) drawn as vertical lines, so a reader sees at a
glance whether and by how much a configuration fits. Colours are the Okabe-Ito palette.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from xml.sax.saxutils import escape

from service.domain.errors import InvalidInputError
from service.domain.svg import PALETTE

_WIDTH = 760
_LEFT = 40
_RIGHT = 40
_BAR_TOP = 118
_BAR_HEIGHT = 56
_FONT = 'font-family="Helvetica, Arial, sans-serif"'
GB = 1e9


def _gb(value: float) -> str:
    return f"{value / GB:,.1f} GB"


def _tick_step(limit_gb: float) -> float:
    """A 1-2-5 x 10^k step giving at most ten ticks up to ``limit_gb``.

    With ``power`` the decade of ``limit_gb``, ``limit_gb / power < 10``, so a step of one
    decade always qualifies and ends the search.
    """
    power = 10.0 ** math.floor(math.log10(limit_gb))
    return next(m * power for m in (0.1, 0.2, 0.5, 1.0) if limit_gb / (m * power) <= 10)


def memory_bar_svg(
    segments: Sequence[tuple[str, int]],
    *,
    capacity_bytes: int,
    usable_bytes: int,
    title: str,
    subtitle: str = "",
) -> str:
    """An SVG stacked bar of ``segments`` (label, bytes) against a GPU's capacity."""
    if not segments or any(size < 0 for _, size in segments):
        raise InvalidInputError("segments", "need at least one segment, none negative")
    if capacity_bytes <= 0 or not 0 < usable_bytes <= capacity_bytes:
        raise InvalidInputError("capacity_bytes", "capacity must be positive, usable within it")
    total = sum(size for _, size in segments)
    limit = max(total, capacity_bytes) * 1.05
    plot = _WIDTH - _LEFT - _RIGHT

    def x(value: float) -> float:
        return _LEFT + plot * value / limit

    fits = total <= usable_bytes
    verdict = (
        f"fits: {_gb(total)} of {_gb(usable_bytes)} usable"
        if fits
        else f"does not fit: {_gb(total)} needed, {_gb(usable_bytes)} usable"
    )
    legend_rows = math.ceil(len(segments) / 3)
    height = _BAR_TOP + _BAR_HEIGHT + 70 + 22 * legend_rows
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
        f'viewBox="0 0 {_WIDTH} {height}" role="img">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(verdict)}</desc>",
        f'<rect width="{_WIDTH}" height="{height}" fill="white"/>',
        f'<text x="{_WIDTH / 2}" y="26" text-anchor="middle" font-size="17" font-weight="bold" '
        f"{_FONT}>{escape(title)}</text>",
        f'<text x="{_WIDTH / 2}" y="46" text-anchor="middle" font-size="12" fill="#444" '
        f"{_FONT}>{escape(subtitle)}</text>",
        f'<text x="{_WIDTH / 2}" y="70" text-anchor="middle" font-size="14" '
        f'fill="{"#1a7f37" if fits else "#b42318"}" {_FONT}>{escape(verdict)}</text>',
    ]
    start = 0.0
    for index, (label, size) in enumerate(segments):
        colour = PALETTE[index % len(PALETTE)]
        parts.append(
            f'<rect x="{x(start):.2f}" y="{_BAR_TOP}" width="{x(start + size) - x(start):.2f}" '
            f'height="{_BAR_HEIGHT}" fill="{colour}"><title>{escape(label)}: {_gb(size)}'
            "</title></rect>"
        )
        start += size
    axis_y = _BAR_TOP + _BAR_HEIGHT + 8
    step = _tick_step(limit / GB)
    tick = 0.0
    while tick * GB <= limit:
        parts.append(
            f'<line x1="{x(tick * GB):.2f}" y1="{axis_y}" x2="{x(tick * GB):.2f}" '
            f'y2="{axis_y + 5}" stroke="#333"/>'
            f'<text x="{x(tick * GB):.2f}" y="{axis_y + 18}" text-anchor="middle" font-size="11" '
            f"{_FONT}>{tick:g}</text>"
        )
        tick += step
    parts.append(
        f'<line x1="{_LEFT}" y1="{axis_y}" x2="{_WIDTH - _RIGHT}" y2="{axis_y}" stroke="#333"/>'
        f'<text x="{_WIDTH / 2}" y="{axis_y + 36}" text-anchor="middle" font-size="12" '
        f"{_FONT}>GB per GPU (10^9 bytes)</text>"
    )
    # Two label rows, so the labels never overlap: "usable" left of its line (the capacity line
    # is to its right), "capacity" right of its line unless that would run off the canvas.
    for value, label, dash, top, leftward in (
        (capacity_bytes, f"capacity {_gb(capacity_bytes)}", "", _BAR_TOP - 30, False),
        (
            usable_bytes,
            f"usable {_gb(usable_bytes)}",
            ' stroke-dasharray="5,4"',
            _BAR_TOP - 14,
            True,
        ),
    ):
        parts.append(
            f'<line x1="{x(value):.2f}" y1="{top + 4}" x2="{x(value):.2f}" '
            f'y2="{_BAR_TOP + _BAR_HEIGHT + 4}" stroke="black" stroke-width="2"{dash}/>'
        )
        leftward = leftward or x(value) > _LEFT + 0.8 * plot
        anchor, offset = ("end", -4) if leftward else ("start", 4)
        parts.append(
            f'<text x="{x(value) + offset:.2f}" y="{top}" text-anchor="{anchor}" '
            f'font-size="11" {_FONT}>{escape(label)}</text>'
        )
    legend_top = axis_y + 56
    for index, (label, size) in enumerate(segments):
        column, row = index % 3, index // 3
        left = _LEFT + column * (plot / 3)
        top = legend_top + row * 22
        colour = PALETTE[index % len(PALETTE)]
        parts.append(
            f'<rect x="{left:.2f}" y="{top - 11}" width="14" height="14" fill="{colour}"/>'
            f'<text x="{left + 20:.2f}" y="{top}" font-size="12" {_FONT}>'
            f"{escape(label)}: {_gb(size)}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)
