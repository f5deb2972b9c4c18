"""Review of the inspector's diagram on every example: readable, not only well-formed.

Fails on ui at c749923: transition labels are drawn over each other and over
states, and transitions run through states they do not join.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pmc.inspector.diagram import CHAR_WIDTH, machine_graphs, render_svg
from tests.runtime.support import compiled

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.pm"))
Box = tuple[float, float, float, float]


def svg_of(example: Path) -> str:
    text = example.read_text(encoding="utf-8")
    renamed = re.sub(r"process (\w+)", r"process Reviewed\1", text, count=1)
    return render_svg(machine_graphs(compiled(renamed).DEFINITION), {})


def states(svg: str) -> dict[str, Box]:
    found = re.finditer(
        r'data-state="([^"]*)">\n<rect x="([\d.]+)" y="([\d.]+)" '
        r'width="([\d.]+)" height="([\d.]+)"',
        svg,
    )
    return {
        m[1] + f"@{m[3]}": (
            float(m[2]),
            float(m[3]),
            float(m[2]) + float(m[4]),
            float(m[3]) + float(m[5]),
        )
        for m in found
    }


def labels(svg: str) -> list[tuple[str, Box]]:
    """Each transition's label and the box its 11px text covers."""
    found = re.finditer(
        r'<text x="([\d.]+)" y="([\d.]+)" text-anchor="middle" font-size="11" '
        r'fill="#555555">([^<]*)</text>',
        svg,
    )
    boxes = []
    for m in found:
        x, y, width = float(m[1]), float(m[2]), len(m[3]) * CHAR_WIDTH * 11 / 13
        boxes.append((m[3], (x - width / 2, y - 9, x + width / 2, y + 2)))
    return boxes


def overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_no_label_is_drawn_over_another_or_over_a_state(example: Path) -> None:
    svg = svg_of(example)
    drawn = labels(svg)
    over_states = [(t, s) for t, box in drawn for s, r in states(svg).items() if overlap(box, r)]
    over_labels = [
        (t1, t2) for i, (t1, a) in enumerate(drawn) for t2, b in drawn[i + 1 :] if overlap(a, b)
    ]
    assert (over_states, over_labels) == ([], [])


def on_curve(points: list[float], t: float) -> tuple[float, float]:
    (x0, y0, x1, y1, x2, y2, x3, y3), u = points, 1 - t
    return (
        u**3 * x0 + 3 * u * u * t * x1 + 3 * u * t * t * x2 + t**3 * x3,
        u**3 * y0 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t**3 * y3,
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_no_transition_runs_through_a_state(example: Path) -> None:
    svg = svg_of(example)
    boxes = states(svg)
    crossing = set()
    for m in re.finditer(r'class="transition" d="M([\d.]+),([\d.]+) C([\d., ]+)"', svg):
        points = [float(v) for v in re.split(r"[ ,]", f"{m[1]},{m[2]} {m[3]}")]
        for step in range(1, 100):
            x, y = on_curve(points, step / 100)
            crossing |= {
                s
                for s, (x1, y1, x2, y2) in boxes.items()
                if x1 + 2 < x < x2 - 2 and y1 + 2 < y < y2 - 2
            }
    assert crossing == set()
