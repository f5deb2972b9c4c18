"""The inspector's process diagram: drawn from the definition alone, the same every time.

Every state of every machine is on it, each transition between the states
it joins, each machine instance's state highlighted, and every name is text
of a well-formed SVG document, whatever it holds.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from pmc.inspector.diagram import (
    CHAR_WIDTH,
    HIGHLIGHT,
    Edge,
    MachineGraph,
    columns,
    layout,
    machine_graphs,
    render_svg,
)
from pmc.runtime import ProcessDefinition
from tests.operations.support import desk_definition
from tests.runtime.support import compiled

SVG = "{http://www.w3.org/2000/svg}"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DESK_STATES = {"Ticket": {"Ticket": "Waiting"}, "Host": {"h1": "Closing", "h2": "Stuck"}}


def approval() -> ProcessDefinition:
    """examples/document_approval.pm, renamed: a `*` transition, a many-instance machine."""
    text = (EXAMPLES / "document_approval.pm").read_text(encoding="utf-8")
    found: ProcessDefinition = compiled(
        text.replace("process DocumentApproval", "process InspectedApproval")
    ).DEFINITION
    return found


def state_groups(svg: str) -> dict[tuple[str, str], ET.Element]:
    """Each state's group in the document, by (machine, state)."""
    root = ET.fromstring(svg)
    return {
        (machine.get("data-machine", ""), group.get("data-state", "")): group
        for machine in root.iter(f"{SVG}g")
        if machine.get("class") == "machine"
        for group in machine.iter(f"{SVG}g")
        if group.get("data-state") is not None
    }


def test_the_desk_diagram(snapshot: SnapshotAssertion) -> None:
    assert render_svg(machine_graphs(desk_definition()), DESK_STATES) == snapshot


def test_the_same_definition_draws_the_same_diagram() -> None:
    first = render_svg(machine_graphs(approval()), {})
    assert render_svg(machine_graphs(approval()), {}) == first


def test_every_state_of_every_machine_is_drawn() -> None:
    definition = approval()
    drawn = set(state_groups(render_svg(machine_graphs(definition), {})))
    declared = {(m.name, str(s.value)) for m in definition.machines for s in m.states}
    assert drawn == declared


def test_a_star_transition_leaves_every_non_final_state() -> None:
    review = next(g for g in machine_graphs(approval()) if g.name == "Review")
    removed_from = {edge.source for edge in review.edges if "remove" in edge.label.split(", ")}
    assert removed_from == set(review.states) - review.final


def test_transitions_between_the_same_states_are_one_arrow_with_every_name() -> None:
    host = next(g for g in machine_graphs(desk_definition()) if g.name == "Host")
    assert Edge("Closing", "Stuck", "stuck, expire") in host.edges


def test_columns_are_the_distance_from_the_initial_state_and_final_states_last() -> None:
    ticket = next(g for g in machine_graphs(desk_definition()) if g.name == "Ticket")
    assert columns(ticket) == {"New": 0, "Notifying": 1, "Waiting": 2, "Escalated": 3, "Done": 4}
    lonely = MachineGraph("M", ("A", "B", "Z"), "A", frozenset(), (Edge("A", "B", "go"),))
    assert columns(lonely) == {"A": 0, "B": 1, "Z": 2}  # unreached: last


def test_states_do_not_overlap() -> None:
    for graph in machine_graphs(approval()):
        nodes = list(layout(graph, {}).nodes.values())
        for index, a in enumerate(nodes):
            for b in nodes[index + 1 :]:
                apart = (
                    a.x + a.width <= b.x
                    or b.x + b.width <= a.x
                    or a.y + a.height <= b.y
                    or b.y + b.height <= a.y
                )
                assert apart, (graph.name, a.state, b.state)


def test_the_current_states_are_highlighted_with_their_instances() -> None:
    groups = state_groups(render_svg(machine_graphs(desk_definition()), DESK_STATES))
    highlighted = {
        key for key, group in groups.items() if group.find(f"{SVG}rect").get("fill") == HIGHLIGHT
    }
    assert highlighted == {("Ticket", "Waiting"), ("Host", "Closing"), ("Host", "Stuck")}
    ids = groups[("Host", "Closing")].find(f"{SVG}text[@class='ids']")
    assert ids is not None and ids.text == "h1"
    # A single-instance machine's one instance is the machine: no id under it.
    assert groups[("Ticket", "Waiting")].find(f"{SVG}text[@class='ids']") is None


def test_names_are_text_whatever_they_hold() -> None:
    odd = "<script>alert('x')</script> & \"q\" ü"
    graph = MachineGraph(odd, (odd, "B"), odd, frozenset({"B"}), (Edge(odd, "B", odd),))
    svg = render_svg((graph,), {odd: {odd + "-id": odd}})
    root = ET.fromstring(svg)  # well-formed: nothing broke out of its text
    assert [element.tag for element in root.iter() if "script" in element.tag] == []
    texts = [element.text for element in root.iter(f"{SVG}text")]
    assert texts.count(odd) == 3  # the machine's title, the state, the transition
    assert f"{odd}-id" in texts
    assert root.find(f"{SVG}g").get("data-machine") == odd


def test_long_names_are_cut_on_the_drawing_and_whole_in_the_tooltip() -> None:
    long_id = "i" * 200
    graph = MachineGraph("M", ("A",), "A", frozenset(), ())
    root = ET.fromstring(render_svg((graph,), {"M": {long_id: "A"}}))
    ids = root.find(f".//{SVG}text[@class='ids']")
    assert ids is not None and ids.text is not None
    assert len(ids.text) == 40 and ids.text.endswith("…")
    assert root.find(f".//{SVG}title").text == long_id
    assert float(root.get("width", "0")) < 500


def test_a_loop_on_the_first_row_stays_under_the_machine_s_title() -> None:
    graph = MachineGraph(
        "M", ("A", "B"), "A", frozenset({"B"}), (Edge("A", "A", "again"), Edge("A", "B", "go"))
    )
    placed = layout(graph, {})
    [loop] = [route for route in placed.routes if route.edge.label == "again"]
    title_baseline = placed.top + 14
    assert loop.label_y - 11 > title_baseline  # the label's top under the title's letters
    assert loop.label_y < placed.nodes["A"].y  # and above its state


# ---- every example, readable ----------------------------------------------------------
# Not only well-formed: no transition label is drawn over another or over a
# state, and no transition runs through a state it does not join.

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.pm"))
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


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=lambda path: path.stem)
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


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=lambda path: path.stem)
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
