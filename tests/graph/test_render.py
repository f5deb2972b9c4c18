"""``render_mermaid`` and ``render_dot``: what each diagram shows and how it is marked."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pmc.semantics.model import ProcessModel
from pmc.tools.graph import (
    UnknownMachineError,
    format_duration,
    render_dot,
    render_mermaid,
)
from tests.graph.helpers import model_of

Renderer = Callable[[ProcessModel, str | None], str]

DOOR = """process Door {
    key door_id

    event Opened { door_id: str }
    event Closed { door_id: str }
    event Broken { door_id: str }

    task Alarm sync {
        door_id: str
        retry 2 every 5s max 1m
        timeout 500ms
    }

    task Log { door_id: str }

    machine Leaf {
        states Shut, Open, Ringing, Gone
        initial Shut
        final Gone

        transition open: Shut -> Open on Opened
        transition close: Open -> Shut on Closed
        transition ring: Open -> Ringing on after 90s
            run Alarm(door_id = key)
        transition rang: Ringing -> Shut on Alarm completed
        transition silent: Ringing -> Shut on Alarm failed
        transition smash: * -> Gone on Broken
    }

    machine Audit {
        states Idle, Logging, Done
        initial Idle
        final Done

        transition log: Idle -> Logging on Opened
            run Log(door_id = key)
        transition logged: Logging -> Done on Log completed
        transition lost: Logging -> Done on Log failed
    }
}
"""


@pytest.fixture(scope="module")
def mermaid() -> str:
    return render_mermaid(model_of(DOOR))


@pytest.fixture(scope="module")
def dot() -> str:
    return render_dot(model_of(DOOR))


# ---- Mermaid ---------------------------------------------------------------------


def test_mermaid_draws_each_machine_as_a_composite_state(mermaid: str) -> None:
    assert mermaid.startswith("stateDiagram-v2\n")
    assert '    state "Leaf" as m0 {\n' in mermaid
    assert '    state "Audit" as m1 {\n' in mermaid
    # States are declared by position; the name is only ever a label.
    assert '        state "Shut" as m0_s0\n' in mermaid
    assert '        state "Idle" as m1_s0\n' in mermaid


def test_mermaid_marks_initial_and_final_states(mermaid: str) -> None:
    assert "        [*] --> m0_s0\n" in mermaid  # Shut
    assert "        m0_s3 --> [*]\n" in mermaid  # Gone
    assert "        m1_s2 --> [*]\n" in mermaid  # Done
    assert mermaid.count("--> [*]") == 2


def test_mermaid_labels_trigger_and_task_compactly(mermaid: str) -> None:
    # `#58;` is Mermaid's entity for `:`, which would otherwise end the label.
    assert "m0_s0 --> m0_s1 : open#58; Opened\n" in mermaid
    assert "m0_s2 --> m0_s0 : rang#58; Alarm completed\n" in mermaid
    assert "m1_s0 --> m1_s1 : log#58; Opened / run Log (async)\n" in mermaid


def test_mermaid_marks_timers(mermaid: str) -> None:
    assert (
        "m0_s1 --> m0_s2 : ring#58; \u23f1 after 90s"
        " / run Alarm (sync, retry 2 every 5s max 1m, timeout 500ms)\n"
    ) in mermaid


def test_mermaid_draws_a_wildcard_once_from_a_dashed_any_state(mermaid: str) -> None:
    assert '        state "* (any non-final state)" as m0_any\n' in mermaid
    assert "        m0_any --> m0_s3 : smash#58; Broken\n" in mermaid
    # Not expanded into one edge per source state.
    assert mermaid.count("smash#58;") == 1
    assert "    class m0_any wildcard\n" in mermaid
    assert "    classDef wildcard " in mermaid


def test_mermaid_without_wildcards_defines_no_wildcard_class() -> None:
    text = render_mermaid(model_of(DOOR), machine="Audit")
    assert "wildcard" not in text


# ---- DOT ---------------------------------------------------------------------------


def test_dot_has_one_cluster_per_machine(dot: str) -> None:
    assert dot.startswith('digraph "Door" {\n')
    assert '    subgraph "cluster_m0" {\n        label="Leaf";\n' in dot
    assert '    subgraph "cluster_m1" {\n        label="Audit";\n' in dot
    assert dot.endswith("    }\n}\n")


def test_dot_marks_initial_and_final_states(dot: str) -> None:
    assert '"m0_start" [shape=point, width=0.15, label=""];' in dot
    assert '"m0_start" -> "m0_s0";' in dot
    assert '"m0_s3" [shape=doublecircle, label="Gone"];' in dot
    assert '"m0_s0" [label="Shut"];' in dot


def test_dot_dashes_timers_and_the_wildcard_node(dot: str) -> None:
    assert (
        '"m0_s1" -> "m0_s2" [style=dashed, label="ring: after 90s'
        ' / run Alarm (sync, retry 2 every 5s max 1m, timeout 500ms)"];'
    ) in dot
    assert '"m0_any" [style="rounded,dashed", label="* (any non-final state)"];' in dot
    assert '"m0_any" -> "m0_s3" [label="smash: Broken"];' in dot
    assert dot.count("style=dashed") == 1


def test_a_transition_with_several_sources_draws_one_edge_each() -> None:
    model = model_of(
        """process P {
            key id
            event Go { id: str }
            event Stop { id: str }
            machine M {
                states A, B, C
                initial A
                final C
                transition go: A -> B on Go
                transition stop: A, B -> C on Stop
            }
        }"""
    )
    text = render_dot(model)
    assert '"m0_s0" -> "m0_s2" [label="stop: Stop"];' in text
    assert '"m0_s1" -> "m0_s2" [label="stop: Stop"];' in text
    assert "m0_any" not in text


def test_a_broadcast_edge_says_it_addresses_all_instances() -> None:
    model = model_of(
        """process P {
            key id
            event Go { id: str  ids: list[str] }
            event Stop { id: str }
            machine M {
                states A, B, C
                initial A
                final C
                transition go: A -> B on Go.ids
                transition stop: B -> C on Stop
            }
        }"""
    )
    assert "m0_s1 --> m0_s2 : stop#58; Stop (all)\n" in render_mermaid(model)
    assert '"m0_s1" -> "m0_s2" [label="stop: Stop (all)"];' in render_dot(model)
    assert '"m0_s0" -> "m0_s1" [label="go: Go.ids"];' in render_dot(model)


# ---- both ----------------------------------------------------------------------------


RENDERERS = pytest.mark.parametrize("render", [render_mermaid, render_dot])


@RENDERERS
def test_one_machine_can_be_drawn_alone(render: Renderer) -> None:
    text = render(model_of(DOOR), machine="Audit")
    assert "Audit" in text
    assert "Leaf" not in text
    # Ids stay positional in the whole process, so they do not shift.
    assert "m1_s0" in text
    assert "m0_" not in text


@RENDERERS
def test_an_unknown_machine_is_an_error_naming_the_machines(render: Renderer) -> None:
    with pytest.raises(UnknownMachineError, match=r"no machine `Door`.*Leaf, Audit"):
        render(model_of(DOOR), machine="Door")


def test_output_is_deterministic() -> None:
    assert render_mermaid(model_of(DOOR)) == render_mermaid(model_of(DOOR))
    assert render_dot(model_of(DOOR)) == render_dot(model_of(DOOR))


@pytest.mark.parametrize(
    ("milliseconds", "text"),
    [
        (500, "500ms"),
        (1500, "1500ms"),
        (30_000, "30s"),
        (90_000, "90s"),
        (120_000, "2m"),
        (3_600_000, "1h"),
        (172_800_000, "2d"),
        (0, "0ms"),
    ],
)
def test_durations_print_in_the_largest_exact_unit(milliseconds: int, text: str) -> None:
    assert format_duration(milliseconds) == text
