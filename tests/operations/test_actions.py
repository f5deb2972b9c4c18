"""Operator actions (cancel, retry, fire, move), on every store.

Each action is recorded in the stream as an operator event with who and
why, followed by what the engine decided on it; the work index changes with
it; a replay of the stream (``ProcessManager.replay`` and ``pmc replay``'s
checks) rebuilds the state the action left. Time is a fake clock (the
``clock`` fixture): a worker's ``drain()`` does what is due at the store's time.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from pmc.errors import PmcError
from pmc.runtime import (
    End,
    PermanentFailure,
    ProcessDefinition,
    ProcessManager,
    TaskContext,
    Worker,
)
from pmc.runtime.actions import ActionResult, Actor, OperationRefused, fire, move
from pmc.runtime.operations import Operations
from pmc.runtime.operator import OPERATOR_PREFIX
from pmc.runtime.preconditions import Precondition
from pmc.runtime.results import HandleResult
from pmc.runtime.state import KeyValue, ProcessState, TaskStatus
from pmc.runtime.stores import ProcessStore
from pmc.streams.replay import replay, store_streams
from tests.codegen.support import compile_text, import_code
from tests.operations.support import DESK_SOURCE, FIXTURES, Desk, DeskTasks
from tests.runtime.support import T0, FakeClock, assert_well_formed, compiled, fail_first
from tests.runtime_store.rows import work_items

WHO = {"by": "ann", "reason": "ticket 42 is urgent"}


def recorded(result: ActionResult) -> list[str]:
    """The short names of the events an action recorded, in order (``pmc:`` dropped)."""
    return [event.name.rpartition(".")[2].removeprefix(OPERATOR_PREFIX) for event in result.events]


def comparable(state: ProcessState) -> dict[str, object]:
    """A state's fields as plain values that compare equal when the states do."""
    return {
        "instances": {m: dict(ids) for m, ids in state.instances.items()},
        "tasks": dict(state.tasks),
        "timers": dict(state.timers),
        "rest": (state.key, state.version, state.end, state.end_reason, state.data),
    }


def assert_replays(desk: Desk, key: str = "t1") -> None:
    """The stream folds to the state the runtime holds, and passes ``pmc replay``'s checks."""
    history = desk.manager.history(key)
    assert_well_formed(history)
    live = comparable(desk.manager.state(key))
    assert comparable(desk.manager.replay(key)) == live
    report = replay(desk.definition, store_streams(desk.store, "OpDesk", [key]))
    assert report.findings == ()
    assert report.streams[0].state is not None
    assert comparable(report.streams[0].state) == live


def work_ids(desk: Desk, key: str = "t1") -> list[str]:
    return sorted(item.work_id.partition(":")[0] for item in work_items(desk.store, "OpDesk", key))


# ---- cancel ---------------------------------------------------------------------------


def test_cancel_records_who_and_why_then_ends_the_process(
    store: ProcessStore, clock: FakeClock
) -> None:
    desk = Desk(store)
    desk.open()

    result = desk.ops.cancel("t1", **WHO)

    assert recorded(result) == ["OperatorCancelled", "ProcessCancelled"]
    assert result.events[0].payload == WHO
    assert not result.deduplicated
    state = desk.manager.state("t1")
    assert (state.end, state.end_reason) == (End.CANCELLED, "cancelled by ann: ticket 42 is urgent")
    assert result.version == state.version
    # Its planned Notify is abandoned: nothing left for a worker.
    assert work_items(store, "OpDesk", "t1") == []
    desk.worker.drain()
    assert desk.tasks.calls.of("Notify") == []
    assert_replays(desk)


# ---- retry ----------------------------------------------------------------------------


def test_retry_makes_a_retry_waiting_for_its_time_due_now(
    store: ProcessStore, clock: FakeClock
) -> None:
    desk = Desk(store, DeskTasks(notify=fail_first(1)))
    desk.open()
    desk.worker.drain()
    waiting = next(iter(desk.manager.state("t1").tasks.values()))
    assert (waiting.status, waiting.attempt) == (TaskStatus.RETRY_SCHEDULED, 2)
    assert waiting.not_before == T0 + timedelta(minutes=10)

    result = desk.ops.retry("t1", "Notify", **WHO)

    assert recorded(result) == ["OperatorRetried"]
    assert result.events[0].payload["attempt"] == 2
    # The same attempt, due at once: the worker runs it without the clock moving.
    desk.worker.drain()
    assert desk.tasks.calls.of("Notify") == [("Ticket", 1), ("Ticket", 2)]
    assert desk.manager.state("t1").of("Ticket") == "Waiting"
    assert_replays(desk)


def test_retry_plans_again_a_task_that_failed_for_good_while_its_state_takes_its_outcome(
    store: ProcessStore, clock: FakeClock
) -> None:
    desk = Desk(store, DeskTasks(notify=fail_first(4)))
    desk.open()
    for _ in range(4):  # `retry 3`: four attempts
        desk.worker.drain()
        clock.advance(days=1)
    state = desk.manager.state("t1")
    # Four attempts failed; Ticket looped on Notifying (`unreachable`), which takes
    # `Notify completed`.
    assert (state.of("Ticket"), dict(state.tasks)) == ("Notifying", {})
    assert desk.names()[-2:] == ["TaskFailed", "TransitionPlanned"]

    result = desk.ops.retry("t1", "Notify", **WHO)

    assert recorded(result) == ["OperatorRetried"]
    payload = result.events[0].payload
    assert (payload["task"], payload["attempt"], payload["transition"]) == ("Notify", 5, "open")
    assert payload["task_input"] == {"ticket_id": "t1"}
    desk.worker.drain()
    assert desk.tasks.calls.of("Notify")[-1] == ("Ticket", 5)
    assert desk.manager.state("t1").of("Ticket") == "Waiting"
    assert_replays(desk)


def test_an_operator_retry_that_fails_again_takes_the_failed_transition_at_once(
    store: ProcessStore, clock: FakeClock
) -> None:
    desk = Desk(store, DeskTasks(notify=fail_first(10)))
    desk.open()
    for _ in range(4):
        desk.worker.drain()
        clock.advance(days=1)

    desk.ops.retry("t1", "Notify", **WHO)
    desk.worker.drain()

    # One more attempt, past the declared four: its failure is final.
    assert desk.names()[-3:] == ["TaskStarted", "TaskFailed", "TransitionPlanned"]
    assert desk.manager.state("t1").tasks == {}
    assert_replays(desk)


def test_after_a_permanent_failure_an_operator_retry_keeps_the_retries_left(
    store: ProcessStore, clock: FakeClock
) -> None:
    def refuse(machine_id: str, attempt: int) -> None:
        if attempt == 1:
            raise PermanentFailure("mailbox deleted")
        raise RuntimeError("mail server down")

    desk = Desk(store, DeskTasks(notify=refuse))
    desk.open()
    desk.worker.drain()
    assert desk.manager.state("t1").tasks == {}  # failed for good at attempt 1

    desk.ops.retry("t1", "Notify", **WHO)
    desk.worker.drain()

    # Attempt 2 of the declared four failed: its retry waits, as the clause says.
    (task,) = desk.manager.state("t1").tasks.values()
    assert (task.attempt, task.status) == (3, TaskStatus.RETRY_SCHEDULED)
    assert_replays(desk)


# Close retries once after 10 minutes; a failure for good loops on Closing,
# which still takes `Close completed`: an operator may retry it.
RETRYABLE_CLOSE = (
    DESK_SOURCE.replace("process OpDesk", "process OpRetryCloseDesk")
    .replace(
        "task Close async {\n        ticket_id: str\n    }",
        "task Close async {\n        ticket_id: str\n        retry 1 backoff 10m\n    }",
    )
    .replace("stuck: Closing -> Stuck on Close failed", "stuck: Closing -> Closing on Close failed")
)


def test_retry_finds_the_instance_that_failed_for_good_while_another_runs_the_task(
    store: ProcessStore, clock: FakeClock
) -> None:
    assert "retry 1 backoff 10m" in RETRYABLE_CLOSE and "Closing -> Closing" in RETRYABLE_CLOSE
    module = compiled(RETRYABLE_CLOSE)
    ops = Operations(module.DEFINITION, store)
    retried: list[ActionResult] = []

    class Tasks:
        def notify(self, task: object, ctx: TaskContext) -> None:
            pass

        def close(self, task: object, ctx: TaskContext) -> None:
            if ctx.machine_id == "h2":
                raise PermanentFailure("host gone")  # h2 fails for good at once
            if ctx.attempt == 1:
                raise RuntimeError("busy")  # h1 retries in 10 minutes
            # h1's second attempt is running: the operator retries Close, and
            # h2 is the one instance with anything to retry.
            retried.append(ops.retry("t1", "Close", **WHO))

    ProcessManager(module.DEFINITION, store).handle(
        module.Opened(ticket_id="t1", hosts=["h1", "h2"])
    )
    worker = Worker(module.DEFINITION, store, Tasks())
    worker.drain()
    clock.advance(minutes=11)
    worker.drain()

    (result,) = retried
    assert recorded(result) == ["OperatorRetried"]
    assert (result.events[0].payload["machine_id"], result.events[0].payload["attempt"]) == (
        "h2",
        2,
    )


def test_retry_plans_again_a_kept_task_that_failed_for_good_in_the_state_it_was_kept_in(
    store: ProcessStore, clock: FakeClock
) -> None:
    module = compiled((FIXTURES / "kept.pm").read_text(encoding="utf-8"))
    manager = ProcessManager(module.DEFINITION, store)

    class Tasks:
        def notify(self, task: object, ctx: TaskContext) -> None:
            raise PermanentFailure("mail server down")

    manager.handle(module.Opened(ticket_id="t1"))
    manager.handle(module.Hold(ticket_id="t1"))  # Held keeps Notify in flight
    Worker(module.DEFINITION, store, Tasks()).drain()
    state = manager.state("t1")
    # Notify failed for good; Ticket waits in Held, which takes `Notify completed`.
    assert (state.of("Ticket"), dict(state.tasks)) == ("Held", {})

    result = Operations(module.DEFINITION, store).retry("t1", "Notify", **WHO)

    assert recorded(result) == ["OperatorRetried"]
    assert result.events[0].payload["attempt"] == 2
    (task,) = manager.state("t1").tasks.values()
    assert (task.task, task.attempt) == ("Notify", 2)


# ---- fire -----------------------------------------------------------------------------


def test_fire_fires_a_timer_before_it_is_due(store: ProcessStore, clock: FakeClock) -> None:
    desk = Desk(store)
    desk.open()
    desk.worker.drain()
    assert desk.manager.state("t1").of("Ticket") == "Waiting"

    result = desk.ops.fire("t1", "escalate", **WHO)

    assert recorded(result) == ["OperatorFiredTimer", "TimerFired", "TransitionPlanned"]
    state = desk.manager.state("t1")
    assert (state.of("Ticket"), dict(state.timers)) == ("Escalated", {})
    assert work_items(store, "OpDesk", "t1") == []
    # When it would have been due, nothing is left to fire.
    clock.advance(hours=2)
    desk.worker.drain()
    assert desk.manager.state("t1").version == state.version
    assert_replays(desk)


# ---- move -----------------------------------------------------------------------------


def test_move_abandons_the_tasks_of_the_state_left_and_schedules_the_timers_of_the_new_one(
    store: ProcessStore, clock: FakeClock
) -> None:
    desk = Desk(store)
    desk.open()
    assert work_ids(desk) == ["task"]

    result = desk.ops.move("t1", "Ticket", None, "Waiting", **WHO)

    assert recorded(result) == ["OperatorMoved", "TimerScheduled"]
    assert result.events[0].payload == {
        **WHO,
        "machine": "Ticket",
        "machine_id": "Ticket",
        "from_state": "Notifying",
        "to_state": "Waiting",
    }
    assert result.events[1].payload["due_at"] == "2026-01-01T13:00:00Z"
    state = desk.manager.state("t1")
    assert (state.of("Ticket"), dict(state.tasks)) == ("Waiting", {})
    assert work_ids(desk) == ["timer"]
    desk.worker.drain()
    assert desk.tasks.calls.of("Notify") == []
    assert_replays(desk)


def test_a_move_to_a_final_state_ends_the_process_as_its_conditions_say(
    store: ProcessStore, clock: FakeClock
) -> None:
    desk = Desk(store)
    desk.open()

    result = desk.ops.move("t1", "Ticket", None, "Done", **WHO)

    assert recorded(result) == ["OperatorMoved", "ProcessCompleted"]
    assert desk.manager.state("t1").end is End.COMPLETED
    assert work_items(store, "OpDesk", "t1") == []
    assert_replays(desk)


def test_move_names_an_instance_of_a_machine_with_many(
    store: ProcessStore, clock: FakeClock
) -> None:
    desk = Desk(store)
    desk.open(hosts=("h1", "h2"))

    result = desk.ops.move("t1", "Host", "h2", "Closed", **WHO)

    assert recorded(result) == ["OperatorMoved"]
    assert dict(desk.manager.state("t1").instances_of("Host")) == {
        "h1": "Closing",
        "h2": "Closed",
    }
    desk.worker.drain()
    # Only h1's Close still ran: h2's was abandoned with the state it left.
    assert desk.tasks.calls.of("Close") == [("h1", 1)]
    assert_replays(desk)


# ---- refusals -------------------------------------------------------------------------


def refused(action: object, *args: object, **kwargs: object) -> str:
    assert callable(action)
    with pytest.raises(OperationRefused) as raised:
        action(*args, **{**WHO, **kwargs})
    assert isinstance(raised.value, PmcError)
    return str(raised.value)


def test_every_action_is_refused_on_a_process_that_does_not_exist_or_has_ended(
    store: ProcessStore, clock: FakeClock
) -> None:
    desk = Desk(store)
    assert refused(desk.ops.cancel, "t9") == "no OpDesk process has the key 't9'"
    desk.open()
    desk.ops.cancel("t1", **WHO)
    version = desk.manager.state("t1").version

    ended = "OpDesk t1 has ended (cancelled: cancelled by ann: ticket 42 is urgent)"
    assert refused(desk.ops.cancel, "t1").startswith(ended)
    assert refused(desk.ops.retry, "t1", "Notify").startswith(ended)
    assert refused(desk.ops.fire, "t1", "escalate").startswith(ended)
    assert refused(desk.ops.move, "t1", "Ticket", None, "Waiting").startswith(ended)
    assert desk.manager.state("t1").version == version


def test_retry_is_refused_unless_a_retry_waits_or_a_failed_task_can_still_be_taken(
    store: ProcessStore, clock: FakeClock
) -> None:
    desk = Desk(store, DeskTasks(close=fail_first(1)))
    desk.open(hosts=("h1",))

    assert refused(desk.ops.retry, "t1", "Ship") == (
        "OpDesk has no task `Ship` (its tasks: Close, Notify)"
    )
    assert refused(desk.ops.retry, "t1", "Notify") == (
        "OpDesk t1: task `Notify` of Ticket Ticket is planned (attempt 1): nothing to retry"
    )
    desk.worker.drain()
    # Close failed for good and moved h1 to Stuck, which does not take its outcome.
    assert desk.manager.state("t1").instances_of("Host") == {"h1": "Stuck"}
    assert refused(desk.ops.retry, "t1", "Close") == (
        "OpDesk t1: nothing to retry: task `Close` has no retry waiting, and no attempt that"
        " failed for good while its instance still waits in a state that takes"
        " `Close completed`"
    )


def test_a_retry_already_due_is_refused_and_records_nothing(
    store: ProcessStore, clock: FakeClock
) -> None:
    desk = Desk(store, DeskTasks(notify=fail_first(1)))
    desk.open()
    desk.worker.drain()
    desk.ops.retry("t1", "Notify", **WHO)  # attempt 2 is due now
    version = desk.manager.state("t1").version

    with pytest.raises(OperationRefused) as refused:
        desk.ops.retry("t1", "Notify", **WHO)

    assert str(refused.value) == (
        "OpDesk t1: task `Notify` of Ticket Ticket: attempt 2 is already due: nothing to retry"
    )
    assert desk.names().count("OperatorRetried") == 1
    assert desk.manager.state("t1").version == version


def test_fire_is_refused_for_an_unknown_or_not_pending_timer(
    store: ProcessStore, clock: FakeClock
) -> None:
    desk = Desk(store)
    desk.open()

    assert refused(desk.ops.fire, "t1", "open") == (
        "OpDesk has no timer `open` (its timed transitions: escalate, expire)"
    )
    assert refused(desk.ops.fire, "t1", "escalate") == (
        "OpDesk t1: no pending timer `escalate` (pending: none)"
    )


def test_fire_names_the_instance_where_several_have_the_timer_pending(
    store: ProcessStore, clock: FakeClock
) -> None:
    desk = Desk(store)
    desk.open(hosts=("h1", "h2"))

    assert refused(desk.ops.fire, "t1", "expire") == (
        "OpDesk t1: timer `expire` is pending for several instances (h1, h2): name one (machine_id)"
    )
    result = desk.ops.fire("t1", "expire", "h2", **WHO)

    assert recorded(result) == ["OperatorFiredTimer", "TimerFired", "TransitionPlanned"]
    assert dict(desk.manager.state("t1").instances_of("Host")) == {
        "h1": "Closing",
        "h2": "Stuck",
    }
    assert_replays(desk)


def test_move_is_refused_for_an_unknown_machine_instance_or_state_a_final_source_or_no_change(
    store: ProcessStore, clock: FakeClock
) -> None:
    desk = Desk(store, DeskTasks(close=fail_first(1)))
    desk.open(hosts=("h1",))
    desk.worker.drain()

    assert refused(desk.ops.move, "t1", "Desk", None, "Done") == (
        "OpDesk has no machine `Desk` (its machines: Ticket, Host)"
    )
    assert refused(desk.ops.move, "t1", "Ticket", None, "Closed") == (
        "machine `Ticket` has no state `Closed`"
        " (its states: New, Notifying, Waiting, Escalated, Done)"
    )
    assert refused(desk.ops.move, "t1", "Host", None, "Closed") == (
        "machine `Host` has many instances: name one (machine_id) of 'h1'"
    )
    assert refused(desk.ops.move, "t1", "Host", "h9", "Closed") == (
        "OpDesk t1: machine `Host` has no instance 'h9' (instances: 'h1')"
    )
    assert refused(desk.ops.move, "t1", "Host", "h1", "Closed") == (
        "OpDesk t1: Host 'h1' is in `Stuck`, a final state: it is never left"
    )
    assert refused(desk.ops.move, "t1", "Ticket", None, "Waiting") == (
        "OpDesk t1: Ticket is in `Waiting` already"
    )


def test_an_action_needs_who_and_why(store: ProcessStore, clock: FakeClock) -> None:
    desk = Desk(store)
    desk.open()
    with pytest.raises(OperationRefused, match="needs a reason"):
        desk.ops.cancel("t1", by="ann", reason=" ")
    with pytest.raises(OperationRefused, match=r"needs who takes it \(by\)"):
        desk.ops.cancel("t1", by="", reason="why")
    assert desk.manager.state("t1").end is None


def test_text_no_store_can_hold_is_refused_before_anything_is_read_or_written(
    store: ProcessStore, clock: FakeClock
) -> None:
    desk = Desk(store)
    desk.open()

    assert refused(desk.ops.cancel, "t1", reason="a\x00b") == (
        "OperatorCancelled contains a NUL character (\\x00), which stores cannot hold"
    )
    assert "NUL character" in refused(desk.ops.cancel, "t\x001")
    assert desk.manager.state("t1").end is None


# ---- dedup and races ------------------------------------------------------------------


def test_an_action_repeated_with_its_id_is_recorded_once(
    store: ProcessStore, clock: FakeClock
) -> None:
    desk = Desk(store, DeskTasks(notify=fail_first(1)))
    desk.open()
    desk.worker.drain()

    first = desk.ops.retry("t1", "Notify", **WHO, action_id="op-7")
    again = desk.ops.retry("t1", "Notify", **WHO, action_id="op-7")
    cancelled = desk.ops.cancel("t1", **WHO, action_id="op-8")
    # Repeated after it ended the process: still a duplicate, not a refusal.
    cancelled_again = desk.ops.cancel("t1", **WHO, action_id="op-8")

    assert (again.deduplicated, again.event_id, again.events) == (True, first.event_id, ())
    assert (cancelled_again.deduplicated, cancelled_again.event_id) == (True, cancelled.event_id)
    assert desk.names().count("OperatorRetried") == 1
    assert desk.names().count("OperatorCancelled") == 1
    assert_replays(desk)


def test_the_same_action_id_for_another_key_is_another_action(
    store: ProcessStore, clock: FakeClock
) -> None:
    desk = Desk(store)
    desk.open("t1")
    desk.open("t2")

    one = desk.ops.cancel("t1", **WHO, action_id="op-1")
    two = desk.ops.cancel("t2", **WHO, action_id="op-1")

    assert not one.deduplicated and not two.deduplicated
    assert one.event_id != two.event_id


def test_an_action_id_given_to_another_kind_of_action_is_another_action(
    store: ProcessStore, clock: FakeClock
) -> None:
    desk = Desk(store, DeskTasks(notify=fail_first(1)))
    desk.open()
    desk.worker.drain()
    retried = desk.ops.retry("t1", "Notify", **WHO, action_id="op-7")

    cancelled = desk.ops.cancel("t1", **WHO, action_id="op-7")

    assert not cancelled.deduplicated and cancelled.event_id != retried.event_id
    assert recorded(cancelled) == ["OperatorCancelled", "ProcessCancelled"]


def test_an_action_id_repeated_with_another_target_is_refused(
    store: ProcessStore, clock: FakeClock
) -> None:
    desk = Desk(store)
    desk.open()
    desk.ops.move("t1", "Ticket", None, "Escalated", **WHO, action_id="op-1")
    version = desk.manager.state("t1").version

    with pytest.raises(OperationRefused) as refused:
        desk.ops.move("t1", "Ticket", None, "Waiting", **WHO, action_id="op-1")

    assert str(refused.value) == (
        "action id 'op-1' was used for move `Ticket` of 'Ticket' to `Escalated` of OpDesk t1,"
        " not move `Ticket` to `Waiting`: give this action another id"
    )
    assert desk.manager.state("t1").version == version
    # Repeated as it was, it is a duplicate (the instance named or not).
    again = desk.ops.move("t1", "Ticket", "Ticket", "Escalated", **WHO, action_id="op-1")
    assert again.deduplicated


def test_a_fire_repeated_with_its_id_is_recorded_once_and_not_for_another_instance(
    store: ProcessStore, clock: FakeClock
) -> None:
    desk = Desk(store)
    desk.open(hosts=("h1", "h2"))
    # Both hosts are Closing: each has `expire` pending.
    first = desk.ops.fire("t1", "expire", "h1", **WHO, action_id="op-3")

    again = desk.ops.fire("t1", "expire", None, **WHO, action_id="op-3")
    with pytest.raises(OperationRefused) as refused:
        desk.ops.fire("t1", "expire", "h2", **WHO, action_id="op-3")

    assert (again.deduplicated, again.event_id) == (True, first.event_id)
    assert str(refused.value) == (
        "action id 'op-3' was used for fire `expire` of 'h1' of OpDesk t1,"
        " not fire `expire` of 'h2': give this action another id"
    )
    assert desk.names().count("OperatorFiredTimer") == 1


class RacingManager(ProcessManager):
    """Lets ``before`` write first, once: a worker that moved the stream between the
    action's check and its append."""

    def __init__(self, desk: Desk, before: object) -> None:
        super().__init__(desk.definition, desk.store)
        self.before = before
        self.raced = 0

    def record(
        self,
        key: KeyValue,
        event: object,
        event_id: object,
        precondition: Precondition | None = None,
    ) -> HandleResult:
        if not self.raced:
            self.raced += 1
            assert callable(self.before)
            self.before()
        return super().record(key, event, event_id, precondition)  # type: ignore[arg-type]


def test_an_action_racing_a_worker_is_checked_and_decided_again_on_the_new_state(
    store: ProcessStore, clock: FakeClock
) -> None:
    desk = Desk(store)
    desk.open()
    desk.worker.drain()
    clock.advance(hours=2)  # escalate is due: the worker fires it while the operator acts
    racing = RacingManager(desk, desk.worker.drain)

    result = move(racing, "t1", "Ticket", None, "Done", Actor(**WHO))

    assert racing.raced == 1
    # Decided on the state the worker left: the move leaves Escalated, not Waiting.
    assert result.events[0].payload["from_state"] == "Escalated"
    assert desk.names()[-4:] == [
        "TimerFired",  # the worker's, and its escalate
        "TransitionPlanned",
        "OperatorMoved",
        "ProcessCompleted",
    ]
    assert_replays(desk)


def test_a_fire_racing_the_worker_that_fires_the_timer_is_refused(
    store: ProcessStore, clock: FakeClock
) -> None:
    desk = Desk(store)
    desk.open()
    desk.worker.drain()
    clock.advance(hours=2)
    racing = RacingManager(desk, desk.worker.drain)

    with pytest.raises(OperationRefused, match="no pending timer `escalate`"):
        fire(racing, "t1", "escalate", None, Actor(**WHO))
    assert desk.names().count("TimerFired") == 1
    assert "OperatorFiredTimer" not in desk.names()


# ---- replay with a changed definition -------------------------------------------------


def test_pmc_replay_finds_an_operator_move_to_a_state_the_new_definition_lacks(
    store: ProcessStore, clock: FakeClock
) -> None:
    desk = Desk(store)
    desk.open()
    desk.ops.move("t1", "Ticket", None, "Escalated", **WHO)
    without_escalated = (
        DESK_SOURCE.replace("Waiting, Escalated, Done", "Waiting, Done")
        .replace("Waiting -> Escalated on after 1h", "Waiting -> Done on after 1h")
        .replace("Waiting, Escalated -> Done", "Waiting -> Done")
    )
    # Same process name, a module of its own that never writes (see tests/replay/support.py).
    changed: ProcessDefinition = import_code(compile_text(without_escalated)).DEFINITION

    report = replay(changed, store_streams(store, "OpDesk", ["t1"]))

    assert [(f.id, f.message) for f in report.findings] == [
        ("REPLAY_UNKNOWN_STATE", "machine `Ticket` has no state `Escalated`")
    ]
