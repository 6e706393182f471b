"""SVG chart of iso-FLOP curves."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from service.domain.errors import InvalidInputError
from service.domain.scaling import iso_flop_curve
from service.domain.scaling_laws import EPOCH_2024, KAPLAN_2020, parametric_law
from service.domain.svg import PALETTE, _decimals, _nice_step, format_count, iso_flop_svg

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    # Parsing our own generated document, not untrusted input.
    return ET.fromstring(svg)  # noqa: S314


def test_chart_structure() -> None:
    curves = [iso_flop_curve(c, EPOCH_2024) for c in (6e18, 1e20, 1e21, 3e21)]
    svg = iso_flop_svg(curves)
    root = _parse(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("width") == "760"
    assert root.get("height") == "480"
    polylines = root.findall(f"{SVG}polyline")
    assert len(polylines) == 4
    assert [p.get("stroke") for p in polylines] == list(PALETTE[:4])
    for polyline, curve in zip(polylines, curves, strict=True):
        assert len((polyline.get("points") or "").split()) == len(curve.points)
    circles = root.findall(f"{SVG}circle")
    assert len(circles) == 8  # a marker on each curve and one in each legend entry
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert {"100M", "1B", "10B"} <= set(texts)  # decade labels of the log axis
    assert "Parameters (log scale)" in texts
    assert "Predicted loss" in texts
    assert any("minimum at 2.78B parameters, 60B tokens" in t for t in texts)
    assert any("MassiveText" in t for t in texts)
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text == "Iso-FLOP curves: predicted loss against model size"
    desc = root.find(f"{SVG}desc")
    assert desc is not None
    assert "C = 1e+21 FLOPs: minimum at 2.78B parameters" in (desc.text or "")
    # The chart stays inside its canvas.
    for circle in circles:
        assert 0 <= float(circle.get("cx") or -1) <= 760
        assert 0 <= float(circle.get("cy") or -1) <= 480


def test_chart_marks_the_minimum_on_the_curve() -> None:
    curve = iso_flop_curve(1e21, EPOCH_2024, points=21)
    root = _parse(iso_flop_svg([curve], title="One budget", width=600, height=400))
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text == "One budget"
    points = [
        tuple(map(float, pair.split(",")))
        for pair in (root.find(f"{SVG}polyline").get("points") or "").split()  # type: ignore[union-attr]
    ]
    marker = root.findall(f"{SVG}circle")[0]
    cx, cy = float(marker.get("cx") or 0), float(marker.get("cy") or 0)
    middle = points[len(points) // 2]  # the curve is centred on its minimum
    assert cx == pytest.approx(middle[0], abs=0.2)
    assert cy == pytest.approx(middle[1], abs=0.2)
    # The lowest loss is drawn lowest on the page: the largest y coordinate in SVG space.
    assert cy >= max(y for _, y in points) - 0.2


def test_chart_with_several_laws_says_losses_differ() -> None:
    tricky = parametric_law(
        'a<b>&"c"', E=1.8, A=480.0, B=2000.0, alpha=0.35, beta=0.36, citation="test"
    )
    curves = [iso_flop_curve(5.76e23, KAPLAN_2020), iso_flop_curve(5.76e23, tricky)]
    svg = iso_flop_svg(curves)
    root = _parse(svg)  # still well-formed with markup characters in a law id
    texts = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert "different units and not comparable" in texts
    assert "(kaplan-2020)" in texts
    assert 'a<b>&"c"' in texts
    assert "&lt;b&gt;&amp;" in svg


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"curves": []}, "curves"),
        ({"count": 8}, "curves"),
        ({"width": 100}, "size"),
        ({"height": 200}, "size"),
        ({"height": 5000}, "size"),
    ],
)
def test_chart_errors(kwargs: dict[str, object], field: str) -> None:
    curve = iso_flop_curve(1e21, EPOCH_2024, points=5)
    count = int(kwargs.pop("count", 1))  # type: ignore[call-overload]
    curves = kwargs.pop("curves", [curve] * count)
    with pytest.raises(InvalidInputError) as info:
        iso_flop_svg(curves, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_format_count() -> None:
    assert format_count(999.0) == "999"
    assert format_count(1500.0) == "1.5k"
    assert format_count(2.78e9) == "2.78B"
    assert format_count(1.4e12) == "1.4T"
    assert format_count(400e6) == "400M"


def test_axis_helpers() -> None:
    assert _nice_step(1.0, 6) == pytest.approx(0.2)
    assert _nice_step(1.5, 6) == pytest.approx(0.25)
    assert _nice_step(0.6, 6) == pytest.approx(0.1)
    assert _nice_step(3.0, 6) == pytest.approx(0.5)
    assert _nice_step(5.5, 6) == pytest.approx(1.0)  # 0.917 -> next decade
    assert _decimals(0.25) == 2
    assert _decimals(0.5) == 1
    assert _decimals(2.0) == 0
    assert _decimals(1e-12) == 9
