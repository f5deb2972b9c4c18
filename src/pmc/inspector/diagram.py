"""The process diagram of the inspector's instance page: SVG drawn from the definition.

Pure functions, no I/O: ``machine_graphs`` reads the machines and their
transitions from a generated module's tables, ``layout`` places them, and
``render_svg`` draws them with each machine instance's current state
highlighted. Nothing is fetched by the page and no graph tool runs: the
layout is a small layered one, the same for the same definition every time.

Layered layout: a state's column is its distance from the initial state
(breadth first over the transitions, in the tables' order); states no
transition reaches come after those, and final states last of all, in one
column. Inside a column, states keep their declared order, all as wide as
the widest. Nothing is drawn over a state, and no label over another:

- a transition to the next column is a curve between the two states; one
  inside a column bends out to its right. Their labels are in the gap right
  of the column, stacked: the gap is as wide as its longest label;
- a transition back to an earlier column, or over the next one, runs around
  the others: down its own corridor beside its column, along its own lane
  under every state (its label on the lane), up beside the target's column;
- a transition from a state to itself is a loop above it, in room kept free
  above that state, its label above the loop (the column is as wide as it).

Transitions between the same two states are one arrow carrying every name.

Every name is escaped: states and transitions come from the ``.pm`` file,
machine ids from the stream, and both may hold anything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

from pmc.runtime.contract import row_specs
from pmc.runtime.definition import ProcessDefinition

# The fill of a state a machine instance is in (the browser test looks for it).
HIGHLIGHT = "#ffb000"
NODE_FILL = "#ffffff"
INK = "#333333"

CHAR_WIDTH = 7.5  # of a 13px sans-serif character, wide enough for most
NODE_HEIGHT = 34
IDS_HEIGHT = 15  # the line of machine ids under a highlighted state's name
MIN_NODE_WIDTH = 70
COLUMN_GAP = 80
ROW_GAP = 34
MARGIN = 24
TITLE_HEIGHT = 26
MACHINE_GAP = 30
SHOWN_IDS = 3  # ids listed on a node; the rest are counted
MAX_LABEL = 40  # characters of a name shown; longer ones end in an ellipsis
LABEL_HEIGHT = 13  # of a line of 11px labels stacked in a gap
LABEL_PAD = 10  # between a gap's labels and its columns
LOOP_ROOM = 32  # above a state with a loop: the loop and its label
LANE_GAP = 16  # between the lanes under the states
CORRIDOR_STEP = 6  # between vertical runs side by side
BESIDE_BEND = 40  # how far a transition inside a column bends out of it


@dataclass(frozen=True, slots=True)
class Edge:
    """A transition drawn: from ``source`` to ``target``, labelled with its name."""

    source: str
    target: str
    label: str


@dataclass(frozen=True, slots=True)
class MachineGraph:
    name: str
    states: tuple[str, ...]  # in declared order
    initial: str
    final: frozenset[str]
    edges: tuple[Edge, ...]


@dataclass(frozen=True, slots=True)
class Node:
    state: str
    x: float
    y: float
    width: float
    height: float
    ids: tuple[str, ...]  # the machine instances in this state


@dataclass(frozen=True, slots=True)
class Route:
    """How a transition is drawn: its SVG path and where its label's middle goes."""

    edge: Edge
    path: str
    label_x: float
    label_y: float


@dataclass(frozen=True, slots=True)
class MachineLayout:
    graph: MachineGraph
    nodes: Mapping[str, Node]
    columns: Mapping[str, int]
    routes: tuple[Route, ...]
    top: float
    width: float
    height: float


def machine_graphs(definition: ProcessDefinition) -> tuple[MachineGraph, ...]:
    """Each machine of ``definition`` with its states and transitions, as declared."""
    return tuple(_machine_graph(definition, spec.name) for spec in definition.machines)


def _machine_graph(definition: ProcessDefinition, machine: str) -> MachineGraph:
    spec = definition.machine(machine)
    states = tuple(str(member.value) for member in spec.states)
    final = frozenset(str(state) for state in spec.final)
    edges: list[Edge] = []
    own_triggers: dict[str, set[str]] = {state: set() for state in states}
    for (row_machine, state, trigger), row in definition.transitions.items():
        if row_machine != machine:
            continue
        own_triggers[str(state)].add(trigger)
        edges += [Edge(str(state), str(t.target), t.name) for t in row_specs(row)]
    # A `*` transition leaves every non-final state without a row of its own.
    for (row_machine, trigger), row in definition.wildcard_transitions.items():
        if row_machine != machine:
            continue
        for state in states:
            if state not in final and trigger not in own_triggers[state]:
                edges += [Edge(state, str(t.target), t.name) for t in row_specs(row)]
    # Transitions between the same two states are one arrow, labelled with each name.
    labels: dict[tuple[str, str], list[str]] = {}
    for edge in edges:
        names = labels.setdefault((edge.source, edge.target), [])
        if edge.label not in names:
            names.append(edge.label)
    order = {state: index for index, state in enumerate(states)}
    merged = [Edge(source, target, ", ".join(names)) for (source, target), names in labels.items()]
    merged.sort(key=lambda e: (order[e.source], order[e.target]))
    return MachineGraph(machine, states, str(spec.initial), final, tuple(merged))


def columns(graph: MachineGraph) -> dict[str, int]:
    """Each state's column: its distance from the initial state; unreached states after
    the reached ones, and final states after all of them."""
    found = {graph.initial: 0}
    frontier = [graph.initial]
    while frontier:
        following: list[str] = []
        for state in frontier:
            for edge in graph.edges:
                if edge.source == state and edge.target not in found:
                    found[edge.target] = found[state] + 1
                    following.append(edge.target)
        frontier = following
    unreached = max(found.values()) + 1
    placed = {state: found.get(state, unreached) for state in graph.states}
    # Final states share the last column: arrows into them then all run forward.
    if graph.final and graph.initial not in graph.final:
        last = max((placed[s] for s in graph.states if s not in graph.final), default=0) + 1
        placed |= {state: last for state in graph.final}
    return placed


def layout(graph: MachineGraph, current: Mapping[str, str], top: float = MARGIN) -> MachineLayout:
    """Place ``graph``'s states and route its transitions; ``current`` maps machine ids to
    their state."""
    column_of = columns(graph)
    count = max(column_of.values()) + 1
    ids_in: dict[str, list[str]] = {}
    for machine_id, state in sorted(current.items()):
        ids_in.setdefault(state, []).append(machine_id)
    sizes = {state: _node_size(graph, state, ids_in.get(state, [])) for state in graph.states}
    kinds = {edge: _kind(edge, column_of) for edge in graph.edges}
    around = [edge for edge in graph.edges if kinds[edge] == "around"]
    grid = _grid(graph, column_of, count, sizes, kinds, around)
    nodes: dict[str, Node] = {}
    looped = {edge.source for edge in graph.edges if kinds[edge] == "loop"}
    lowest = top + TITLE_HEIGHT
    for column in range(count):
        y = top + TITLE_HEIGHT
        for state in (s for s in graph.states if column_of[s] == column):
            y += LOOP_ROOM if state in looped else 0
            width, height = grid.node_widths[column], sizes[state][1]
            x = grid.lefts[column] + (grid.widths[column] - width) / 2
            nodes[state] = Node(state, x, y, width, height, tuple(ids_in.get(state, ())))
            lowest = max(lowest, y + height)
            y += height + ROW_GAP
    routes: dict[Edge, Route] = {}
    for column in range(count):
        stacked = _stacked_labels(
            [
                edge
                for edge in graph.edges
                if kinds[edge] in ("next", "beside") and column_of[edge.source] == column
            ],
            nodes,
            kinds,
            grid,
            column,
        )
        routes |= stacked
        lowest = max([lowest, *(route.label_y + 2 for route in stacked.values())])
    for edge in graph.edges:
        if kinds[edge] == "loop":
            routes[edge] = _loop(edge, nodes[edge.source])
    lane = lowest + LANE_GAP
    for edge in around:
        routes[edge] = _around(edge, nodes, column_of, grid, around, lane)
        lane += LANE_GAP
    height = lane - LANE_GAP + ROW_GAP - top if around else lowest + ROW_GAP - top
    ordered = tuple(routes[edge] for edge in graph.edges)
    return MachineLayout(graph, nodes, column_of, ordered, top, grid.width, height)


@dataclass(frozen=True, slots=True)
class _Grid:
    """Where the columns and the gaps between them are, left to right.

    The gap right of column ``c`` holds, from left to right, the corridors of the
    transitions that leave ``c`` around the others, the labels of the transitions
    from ``c``, and the corridors of those that come into ``c + 1`` around them.
    """

    lefts: tuple[float, ...]  # each column's left edge
    widths: tuple[float, ...]  # each column's width
    node_widths: tuple[float, ...]  # every node of a column is as wide as its widest
    label_x: tuple[float, ...]  # the middle of each gap's labels
    width: float


def _grid(
    graph: MachineGraph,
    column_of: Mapping[str, int],
    count: int,
    sizes: Mapping[str, tuple[float, float]],
    kinds: Mapping[Edge, str],
    around: list[Edge],
) -> _Grid:
    leaving = Counter(column_of[edge.source] for edge in around)
    entering = Counter(column_of[edge.target] for edge in around)
    node_widths = [
        max(sizes[s][0] for s in graph.states if column_of[s] == c) for c in range(count)
    ]
    # A loop's label is above its state: the column is as wide as it.
    widths = [
        max(
            [node_widths[c]]
            + [
                _label_width(e.label) + 8
                for e in graph.edges
                if kinds[e] == "loop" and column_of[e.source] == c
            ]
        )
        for c in range(count)
    ]
    lefts: list[float] = []
    label_x: list[float] = []
    x = MARGIN + _band(entering[0]) + 16  # room for the initial state's dot
    for column in range(count):
        lefts.append(x)
        x += widths[column] + _band(leaving[column])
        labels = [
            _label_width(e.label)
            for e in graph.edges
            if kinds[e] in ("next", "beside") and column_of[e.source] == column
        ]
        inner = max([COLUMN_GAP, *(width + 2 * LABEL_PAD for width in labels)])
        label_x.append(x + inner / 2)
        x += inner + _band(entering[column + 1])
    return _Grid(tuple(lefts), tuple(widths), tuple(node_widths), tuple(label_x), x + MARGIN)


def _band(corridors: int) -> float:
    """The width of ``corridors`` vertical runs side by side, with room around them."""
    return CORRIDOR_STEP * (corridors + 1) if corridors else 0.0


def _kind(edge: Edge, column_of: Mapping[str, int]) -> str:
    source, target = column_of[edge.source], column_of[edge.target]
    if edge.source == edge.target:
        return "loop"
    if target == source + 1:
        return "next"
    if target == source:
        return "beside"
    return "around"  # back to an earlier column, or over the next one


def _stacked_labels(
    edges: list[Edge],
    nodes: Mapping[str, Node],
    kinds: Mapping[Edge, str],
    grid: _Grid,
    column: int,
) -> dict[Edge, Route]:
    """The transitions from ``column`` to the next one or inside it, with their labels in the
    gap right of it: each as near its curve's middle as the labels above it leave room for."""
    wanted: list[tuple[float, Edge, str]] = []
    for edge in edges:
        source, target = nodes[edge.source], nodes[edge.target]
        x1, y1 = source.x + source.width, source.y + source.height / 2
        y2 = target.y + target.height / 2
        if kinds[edge] == "next":
            x2 = target.x
            bend = (x2 - x1) / 2
            path = (
                f"M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} "
                f"{x2:.1f},{y2:.1f}"
            )
        else:  # beside the column: every node of a column is as wide, so it bends clear of them
            side = x1 + BESIDE_BEND
            path = f"M{x1:.1f},{y1:.1f} C{side:.1f},{y1:.1f} {side:.1f},{y2:.1f} {x1:.1f},{y2:.1f}"
        wanted.append(((y1 + y2) / 2 - 5, edge, path))
    routes: dict[Edge, Route] = {}
    below = float("-inf")
    for y, edge, path in sorted(wanted, key=lambda item: item[0]):
        placed = max(y, below + LABEL_HEIGHT)
        routes[edge] = Route(edge, path, grid.label_x[column], placed)
        below = placed
    return routes


def _loop(edge: Edge, node: Node) -> Route:
    """A transition from a state to itself: a loop above it, its label above the loop
    (``LOOP_ROOM`` is kept free above such a state)."""
    x, y = node.x + node.width / 2, node.y
    path = (
        f"M{x - 12:.1f},{y:.1f} C{x - 30:.1f},{y - 34:.1f} {x + 30:.1f},{y - 34:.1f} "
        f"{x + 12:.1f},{y:.1f}"
    )
    return Route(edge, path, x, y - 29)


def _around(
    edge: Edge,
    nodes: Mapping[str, Node],
    column_of: Mapping[str, int],
    grid: _Grid,
    around: list[Edge],
    lane: float,
) -> Route:
    """A transition back to an earlier column or over the next one: out of its state's right
    side, down its own corridor beside the column, along its own lane under every state,
    up a corridor left of the target's column, into the target's left side."""
    source, target = nodes[edge.source], nodes[edge.target]
    out_column, in_column = column_of[edge.source], column_of[edge.target]
    out_rank = [e for e in around if column_of[e.source] == out_column].index(edge)
    in_rank = [e for e in around if column_of[e.target] == in_column].index(edge)
    down = grid.lefts[out_column] + grid.widths[out_column] + CORRIDOR_STEP * (out_rank + 1)
    up = grid.lefts[in_column] - CORRIDOR_STEP * (in_rank + 1)
    y1, y2 = source.y + source.height / 2, target.y + target.height / 2
    path = (
        f"M{source.x + source.width:.1f},{y1:.1f} L{down:.1f},{y1:.1f} L{down:.1f},{lane:.1f} "
        f"L{up:.1f},{lane:.1f} L{up:.1f},{y2:.1f} L{target.x:.1f},{y2:.1f}"
    )
    return Route(edge, path, (down + up) / 2, lane - 3)


def _label_width(label: str) -> float:
    """How wide a transition's 11px label is drawn."""
    return len(_label(label)) * CHAR_WIDTH * 11 / 13


def _node_size(graph: MachineGraph, state: str, ids: list[str]) -> tuple[float, float]:
    label = _label(state)
    lines = [label, _ids_text(ids)] if ids and not _single(graph, ids) else [label]
    width = max(MIN_NODE_WIDTH, max(len(line) for line in lines) * CHAR_WIDTH + 24)
    return width, NODE_HEIGHT + (IDS_HEIGHT if len(lines) > 1 else 0)


def _single(graph: MachineGraph, ids: list[str]) -> bool:
    """Whether ``ids`` is a single-instance machine's one instance (its id is its name)."""
    return ids == [graph.name]


def _ids_text(ids: list[str]) -> str:
    shown = ", ".join(_label(machine_id) for machine_id in ids[:SHOWN_IDS])
    more = len(ids) - SHOWN_IDS
    return f"{shown} +{more}" if more > 0 else shown


def _label(name: str) -> str:
    return name if len(name) <= MAX_LABEL else name[: MAX_LABEL - 1] + "…"


def render_svg(graphs: tuple[MachineGraph, ...], states: Mapping[str, Mapping[str, str]]) -> str:
    """The diagram of every machine, one under another, as an SVG document.

    ``states``: machine -> machine id -> state, as ``Operations.describe``
    gives them; the states named there are highlighted.
    """
    layouts: list[MachineLayout] = []
    top = float(MARGIN)
    for graph in graphs:
        placed = layout(graph, states.get(graph.name, {}), top)
        layouts.append(placed)
        top += placed.height + MACHINE_GAP
    width = max((placed.width for placed in layouts), default=2 * MARGIN)
    height = top - MACHINE_GAP + MARGIN
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="diagram" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        'font-family="sans-serif" font-size="13">',
        "<defs>"
        '<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{INK}"/></marker></defs>',
    ]
    for placed in layouts:
        parts += _machine_svg(placed)
    parts.append("</svg>")
    return "\n".join(parts)


def _machine_svg(placed: MachineLayout) -> list[str]:
    graph = placed.graph
    parts = [
        f'<g class="machine" data-machine="{_text(graph.name)}">',
        f'<text x="{MARGIN}" y="{placed.top + 14:.1f}" font-weight="bold">'
        f"{_text(_label(graph.name))}</text>",
    ]
    for route in placed.routes:
        parts += _edge_svg(route)
    initial = placed.nodes[graph.initial]
    dot_x, dot_y = initial.x - 14, initial.y + initial.height / 2
    parts.append(f'<circle cx="{dot_x:.1f}" cy="{dot_y:.1f}" r="4" fill="{INK}"/>')
    for state in graph.states:
        parts += _node_svg(graph, placed.nodes[state])
    parts.append("</g>")
    return parts


def _node_svg(graph: MachineGraph, node: Node) -> list[str]:
    current = bool(node.ids)
    fill = HIGHLIGHT if current else NODE_FILL
    css = "state current" if current else "state"
    parts = [
        f'<g class="{css}" data-state="{_text(node.state)}">',
        f'<rect x="{node.x:.1f}" y="{node.y:.1f}" width="{node.width:.1f}" '
        f'height="{node.height:.1f}" rx="8" fill="{fill}" stroke="{INK}"/>',
    ]
    if node.state in graph.final:  # a final state: a double border
        parts.append(
            f'<rect x="{node.x + 3:.1f}" y="{node.y + 3:.1f}" width="{node.width - 6:.1f}" '
            f'height="{node.height - 6:.1f}" rx="6" fill="none" stroke="{INK}"/>'
        )
    center = node.x + node.width / 2
    parts.append(
        f'<text x="{center:.1f}" y="{node.y + 21:.1f}" text-anchor="middle">'
        f"{_text(_label(node.state))}</text>"
    )
    if current and not _single(graph, list(node.ids)):
        parts.append(
            f'<text class="ids" x="{center:.1f}" y="{node.y + 21 + IDS_HEIGHT:.1f}" '
            f'text-anchor="middle" font-size="11">{_text(_ids_text(list(node.ids)))}</text>'
        )
    title = ", ".join(node.ids) if current and not _single(graph, list(node.ids)) else node.state
    parts.append(f"<title>{_text(title)}</title></g>")
    return parts


def _edge_svg(route: Route) -> list[str]:
    return [
        f'<path class="transition" d="{route.path}" fill="none" stroke="{INK}" '
        'marker-end="url(#arrow)"/>',
        f'<text x="{route.label_x:.1f}" y="{route.label_y:.1f}" text-anchor="middle" '
        f'font-size="11" fill="#555555">{_text(_label(route.edge.label))}</text>',
    ]


def _text(value: str) -> str:
    """``value`` as text or an attribute's value: ``<``, ``>``, ``&`` and both quotes escaped."""
    return escape(value, quote=True)
