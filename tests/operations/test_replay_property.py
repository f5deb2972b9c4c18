"""Any run of operator actions, worker rounds and events replays to the state it left.

Hypothesis draws a run: the ticket's hosts, which attempts of each task
fail, and steps (a worker round, the clock moving, an input event, or any
operator action with any arguments; a refused action records nothing). After
the run, the stream folds to the state the runtime holds, passes ``pmc
replay``'s checks, and the work index holds exactly the work of that state.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from pmc.runtime.actions import OperationRefused
from pmc.runtime.stores import open_store
from pmc.runtime.work import task_work_id, timer_work_id
from tests.fake_clock import FakeClock
from tests.operations.support import Desk, DeskTasks
from tests.operations.test_actions import WHO, assert_replays
from tests.runtime_store.rows import work_items

TICKET_STATES = ["New", "Notifying", "Waiting", "Escalated", "Done"]
HOST_STATES = ["Up", "Closing", "Closed", "Stuck"]
MOVES = st.one_of(
    st.tuples(st.just("move"), st.just("Ticket"), st.just(None), st.sampled_from(TICKET_STATES)),
    st.tuples(
        st.just("move"),
        st.just("Host"),
        st.sampled_from(["h1", "h2", None]),
        st.sampled_from(HOST_STATES),
    ),
)
# Worker rounds and the clock come often; a cancel (which ends the run) is last.
STEPS = st.one_of(
    st.tuples(st.just("drain")),
    st.tuples(st.just("advance"), st.sampled_from([5, 30, 90, 1500])),
    st.tuples(st.just("drain")),
    st.tuples(st.just("advance"), st.sampled_from([5, 30, 90, 1500])),
    st.tuples(st.just("answer")),
    st.tuples(st.just("retry"), st.just("Notify"), st.just(None)),
    st.tuples(
        st.just("retry"), st.sampled_from(["Notify", "Close"]), st.sampled_from(["h1", "h2"])
    ),
    st.tuples(st.just("fire"), st.just("escalate"), st.just(None)),
    st.tuples(st.just("fire"), st.just("expire"), st.sampled_from(["h1", "h2", None])),
    st.tuples(st.just("retry"), st.just("Notify"), st.just(None)),
    MOVES,
)
LAST = st.sampled_from([(), (("cancel",),)])


def failing(attempts: frozenset[int]) -> Any:
    def script(machine_id: str, attempt: int) -> None:
        if attempt in attempts:
            raise RuntimeError(f"attempt {attempt} refused")

    return script


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hosts=st.lists(st.sampled_from(["h1", "h2"]), unique=True, max_size=2),
    notify_fails=st.frozensets(st.integers(1, 6)),
    close_fails=st.frozensets(st.integers(1, 2)),
    steps=st.lists(STEPS, min_size=4, max_size=20),
    last=LAST,
)
def test_a_run_with_operator_actions_replays_to_its_state(
    hosts: list[str],
    notify_fails: frozenset[int],
    close_fails: frozenset[int],
    steps: list[tuple[Any, ...]],
    last: tuple[tuple[Any, ...], ...],
) -> None:
    clock = FakeClock()
    desk = Desk(
        open_store("memory://", clock=clock),
        DeskTasks(notify=failing(notify_fails), close=failing(close_fails)),
    )
    desk.open(hosts=tuple(hosts))
    for step in [*steps, *last]:
        note(f"{step}: {desk.names()[-3:]}")
        run(desk, clock, step)

    assert_replays(desk)
    state = desk.manager.state("t1")
    expected = set()
    if not state.ended:
        expected = {task_work_id(t) for t in state.tasks} | {timer_work_id(t) for t in state.timers}
    assert {item.work_id for item in work_items(desk.store, "OpDesk", "t1")} == expected


def run(desk: Desk, clock: FakeClock, step: tuple[Any, ...]) -> None:
    match step:
        case ("drain",):
            desk.worker.drain()
        case ("advance", minutes):
            clock.advance(minutes=minutes)
        case ("answer",):
            desk.manager.handle(desk.module.Answered(ticket_id="t1"))
        case _:
            version = desk.manager.state("t1").version
            try:
                act(desk, step)
                event(f"{step[0]} recorded")
            except OperationRefused:
                event(f"{step[0]} refused")
                # A refused action records nothing.
                assert desk.manager.state("t1").version == version


def act(desk: Desk, step: tuple[Any, ...]) -> None:
    match step:
        case ("cancel",):
            desk.ops.cancel("t1", **WHO)
        case ("retry", task, machine_id):
            desk.ops.retry("t1", task, machine_id, **WHO)
        case ("fire", transition, machine_id):
            desk.ops.fire("t1", transition, machine_id, **WHO)
        case ("move", machine, machine_id, state):
            desk.ops.move("t1", machine, machine_id, state, **WHO)
