"""Hand-written SVG chart of iso-FLOP curves (no plotting library).

One chart shows one or more :class:`~service.domain.scaling.IsoFlopCurve` values in the style of
Hoffmann et al. 2022 Figure 3 (left): model size on a logarithmic x axis, predicted loss on a
linear y axis, one line per compute budget, each curve's minimum marked and labelled.

The output is a self-contained SVG 1.1 document (a string) with a ``<title>`` and ``<desc>`` for
screen readers, colours from the Okabe-Ito palette (distinguishable with colour-vision
deficiencies) and every text escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from xml.sax.saxutils import escape

from service.domain.errors import InvalidInputError
from service.domain.scaling import IsoFlopCurve

#: Okabe & Ito 2008, "Color Universal Design" palette (black omitted, used for axes).
PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#F0E442",
)

_MARGIN_LEFT = 72
_MARGIN_RIGHT = 24
_MARGIN_TOP = 48
_MARGIN_BOTTOM = 56
_LEGEND_LINE = 18
_FONT = 'font-family="Helvetica, Arial, sans-serif"'


def format_count(value: float) -> str:
    """``67.9B``-style short form of a count (k, M, B, T; plain below 1,000)."""
    for factor, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            scaled = value / factor
            return f"{scaled:.3g}{suffix}"
    return f"{value:.3g}"


def _nice_step(span: float, target: int) -> float:
    """A 1-2-2.5-5 x 10^k step giving about ``target`` intervals over ``span``."""
    raw = span / target
    power = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1.0, 2.0, 2.5, 5.0):
        if raw <= multiple * power:
            return multiple * power
    return 10.0 * power


def _decimals(step: float) -> int:
    """Fewest decimals that print multiples of ``step`` exactly (at most 9)."""
    return next(d for d in range(10) if abs(round(step, d) - step) < step * 1e-6 or d == 9)


def iso_flop_svg(
    curves: Sequence[IsoFlopCurve],
    *,
    title: str | None = None,
    width: int = 760,
    height: int = 480,
) -> str:
    """An SVG line chart of ``curves`` (one to seven, one colour each).

    The legend under the plot gives, per curve, its budget and its minimum (parameters, tokens,
    loss); the minimum is also marked on the curve with a dot and a dashed drop line to the
    parameter axis.
    """
    if not 1 <= len(curves) <= len(PALETTE):
        raise InvalidInputError("curves", f"give between 1 and {len(PALETTE)} curves")
    margin_bottom = _MARGIN_BOTTOM + _LEGEND_LINE * len(curves)
    if not (320 <= width <= 4000 and margin_bottom + _MARGIN_TOP + 120 <= height <= 4000):
        raise InvalidInputError(
            "size", "width must be in [320, 4000] and height leave at least 120 px of plot"
        )
    plot_w = width - _MARGIN_LEFT - _MARGIN_RIGHT
    plot_h = height - _MARGIN_TOP - margin_bottom
    bottom = _MARGIN_TOP + plot_h
    xs = [math.log10(p.parameters) for c in curves for p in c.points]
    ys = [p.loss for c in curves for p in c.points]
    x_lo, x_hi = min(xs), max(xs)
    y_step = _nice_step(max(max(ys) - min(ys), 1e-9), 6)
    y_lo = math.floor(min(ys) / y_step) * y_step
    y_hi = math.ceil(max(ys) / y_step) * y_step

    def px(parameters: float) -> float:
        return _MARGIN_LEFT + (math.log10(parameters) - x_lo) / (x_hi - x_lo) * plot_w

    def py(loss: float) -> float:
        return _MARGIN_TOP + (y_hi - loss) / (y_hi - y_lo) * plot_h

    laws = sorted({c.law.id for c in curves})
    units = sorted({c.loss_units for c in curves})
    heading = title or "Iso-FLOP curves: predicted loss against model size"
    unit_text = (
        f"loss in {units[0]}"
        if len(units) == 1
        else "losses of these laws are in different units and not comparable"
    )
    subtitle = f"law: {', '.join(laws)}; {unit_text}; C = 6ND"
    descriptions = [
        f"C = {c.compute_flops:.3g} FLOPs"
        + (f" ({c.law.id})" if len(laws) > 1 else "")
        + f": minimum at {format_count(c.minimum.parameters)} parameters, "
        f"{format_count(c.minimum.tokens)} tokens, loss {c.minimum.loss:.3f}"
        for c in curves
    ]
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img">',
        f"<title>{escape(heading)}</title>",
        f"<desc>{escape('; '.join(descriptions))}</desc>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{width / 2:.1f}" y="22" text-anchor="middle" font-size="16" '
        f'font-weight="bold" {_FONT}>{escape(heading)}</text>',
        f'<text x="{width / 2:.1f}" y="40" text-anchor="middle" font-size="12" '
        f'fill="#444444" {_FONT}>{escape(subtitle)}</text>',
    ]
    # Log axis: a grid line and label per decade, small ticks at 2..9 x 10^k.
    for decade in range(math.floor(x_lo), math.ceil(x_hi) + 1):
        for mult in range(1, 10):
            value = mult * 10.0**decade
            if not x_lo - 1e-9 <= math.log10(value) <= x_hi + 1e-9:
                continue
            x = px(value)
            if mult == 1:
                out.append(
                    f'<line x1="{x:.1f}" y1="{_MARGIN_TOP}" x2="{x:.1f}" y2="{bottom}" '
                    f'stroke="#dddddd"/>'
                )
                out.append(
                    f'<text x="{x:.1f}" y="{bottom + 20}" text-anchor="middle" '
                    f'font-size="12" {_FONT}>{format_count(value)}</text>'
                )
            tick = 6 if mult == 1 else 3
            out.append(
                f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + tick}" '
                f'stroke="#000000"/>'
            )
    decimals = _decimals(y_step)
    for i in range(round((y_hi - y_lo) / y_step) + 1):
        value = y_lo + i * y_step
        y = py(value)
        out.append(
            f'<line x1="{_MARGIN_LEFT}" y1="{y:.1f}" x2="{_MARGIN_LEFT + plot_w}" '
            f'y2="{y:.1f}" stroke="#eeeeee"/>'
        )
        out.append(
            f'<text x="{_MARGIN_LEFT - 8}" y="{y + 4:.1f}" text-anchor="end" font-size="12" '
            f"{_FONT}>{value:.{decimals}f}</text>"
        )
    mid_y = _MARGIN_TOP + plot_h / 2
    out += [
        f'<rect x="{_MARGIN_LEFT}" y="{_MARGIN_TOP}" width="{plot_w}" height="{plot_h}" '
        f'fill="none" stroke="#000000"/>',
        f'<text x="{_MARGIN_LEFT + plot_w / 2:.1f}" y="{bottom + 40}" text-anchor="middle" '
        f'font-size="13" {_FONT}>Parameters (log scale)</text>',
        f'<text x="18" y="{mid_y:.1f}" text-anchor="middle" font-size="13" '
        f'transform="rotate(-90 18 {mid_y:.1f})" {_FONT}>Predicted loss</text>',
    ]
    for index, (curve, text) in enumerate(zip(curves, descriptions, strict=True)):
        colour = PALETTE[index]
        path = " ".join(f"{px(p.parameters):.1f},{py(p.loss):.1f}" for p in curve.points)
        mx, my = px(curve.minimum.parameters), py(curve.minimum.loss)
        legend_y = bottom + 64 + _LEGEND_LINE * index
        out += [
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>',
            f'<line x1="{mx:.1f}" y1="{my:.1f}" x2="{mx:.1f}" y2="{bottom}" stroke="{colour}" '
            f'stroke-dasharray="4 3"/>',
            f'<circle cx="{mx:.1f}" cy="{my:.1f}" r="5" fill="{colour}" stroke="#000000"/>',
            f'<line x1="{_MARGIN_LEFT}" y1="{legend_y - 4}" x2="{_MARGIN_LEFT + 22}" '
            f'y2="{legend_y - 4}" stroke="{colour}" stroke-width="3"/>',
            f'<circle cx="{_MARGIN_LEFT + 11}" cy="{legend_y - 4}" r="4" fill="{colour}" '
            f'stroke="#000000"/>',
            f'<text x="{_MARGIN_LEFT + 30}" y="{legend_y}" font-size="12" {_FONT}>'
            f"{escape(text)}</text>",
        ]
    out.append("</svg>")
    return "\n".join(out) + "\n"
