"""A recorded stream as failure messages show it: one event a line, with its important fields."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from event_sourcery import Event

from pmc.runtime.lifecycle import (
    ProcessCancelledBase,
    ProcessFailedBase,
    SignalRaisedBase,
    TaskCompletedBase,
    TaskFailedBase,
    TaskRetryScheduledBase,
    TaskStartedBase,
    TaskTimedOutBase,
    TimerFiredBase,
    TimerScheduledBase,
    TransitionPlannedBase,
)
from pmc.runtime.stores import StoredEvent


def transition_text(planned: TransitionPlannedBase) -> str:
    """``Machine: From -> To (name)``, with ``[id]`` after the machine of a multi-instance one."""
    return (
        f"{_instance(planned)}: {planned.from_state} -> {planned.to_state} ({planned.transition})"
    )


def _instance(event: TransitionPlannedBase | TimerScheduledBase) -> str:
    """``Machine``, or ``Machine[id]`` for an instance of a multi-instance machine."""
    return event.machine + _which(event)


def _which(event: TransitionPlannedBase | TimerScheduledBase) -> str:
    """``[id]`` for an instance of a multi-instance machine, else nothing."""
    return "" if event.machine_id == event.machine else f"[{event.machine_id}]"


def fields_text(values: Mapping[str, Any]) -> str:
    return " ".join(f"{name}={_value(value)}" for name, value in values.items())


def _value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return repr(value) if isinstance(value, str) else str(value)


class _Names:
    """Task and timer names by id, learnt from the events read so far."""

    def __init__(self) -> None:
        self.tasks: dict[UUID, str] = {}
        self.timers: dict[UUID, str] = {}

    def learn(self, event: Event) -> None:
        if isinstance(event, TransitionPlannedBase) and event.task_id and event.task:
            # The machine instance too, where there are several: `Deploy[ap]`.
            self.tasks[event.task_id] = event.task + _which(event)
        if isinstance(event, TimerScheduledBase):
            self.timers[event.timer_id] = f"{_instance(event)} {event.transition}"

    def task(self, task_id: UUID) -> str:
        return self.tasks.get(task_id, str(task_id))


def event_text(event: Event, names: _Names, start: datetime) -> str:
    """What one event says, in a line (its name first)."""
    name = type(event).__name__
    detail = _detail(event, names, start)
    return f"{name} {detail}".rstrip()


def _detail(event: Event, names: _Names, start: datetime) -> str:
    match event:
        case TransitionPlannedBase():
            text = transition_text(event)
            if event.task:
                text += f" task {event.task}({fields_text(event.task_input or {})})"
            if event.data_set:
                text += f" set {fields_text(event.data_set)}"
            return text
        case TaskStartedBase():
            return f"{names.task(event.task_id)} attempt {event.attempt} on {event.worker}"
        case TaskCompletedBase():
            result = f" -> {fields_text(event.result)}" if event.result else ""
            return f"{names.task(event.task_id)} attempt {event.attempt}{result}"
        case TaskFailedBase():
            permanent = " (permanent)" if event.permanent else ""
            return (
                f"{names.task(event.task_id)} attempt {event.attempt}: {event.reason!r}{permanent}"
            )
        case TaskRetryScheduledBase():
            at = _offset(event.not_before, start)
            return f"{names.task(event.task_id)} attempt {event.attempt} at {at}"
        case TaskTimedOutBase():
            return f"{names.task(event.task_id)} attempt {event.attempt}"
        case TimerScheduledBase():
            return f"{_instance(event)} {event.transition} at {_offset(event.due_at, start)}"
        case TimerFiredBase():
            return names.timers.get(event.timer_id, str(event.timer_id))
        case SignalRaisedBase():
            return f"{event.signal}({fields_text(event.payload)}) by {event.machine_id}"
        case ProcessFailedBase() | ProcessCancelledBase():
            return repr(event.reason)
    payload = event.model_dump(mode="json", exclude={"metadata"})
    return fields_text({k: v for k, v in payload.items() if k not in _LIFECYCLE_FIELDS})


# Fields every event carries that say nothing of what happened.
_LIFECYCLE_FIELDS = frozenset({"caused_by", "process_key", "key"})


def _offset(when: datetime, start: datetime) -> str:
    """``when`` as a time after the scenario's start: ``+3d``, ``+1h30m``, ``-10s``."""
    delta = when - start
    return f"+{duration_text(delta)}" if delta >= timedelta(0) else f"-{duration_text(-delta)}"


def duration_text(delta: timedelta) -> str:
    """A non-negative duration the way ``.pm`` files write them: ``3d``, ``1h30m``, ``0.5s``."""
    minutes, seconds = divmod(delta.seconds, 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{delta.days}d" if delta.days else "", f"{hours}h" if hours else ""]
    parts.append(f"{minutes}m" if minutes else "")
    fraction = delta.microseconds / 1_000_000
    if seconds or fraction:
        parts.append(f"{seconds + fraction:g}s")
    return "".join(parts) or "0s"


def stream_lines(
    history: Sequence[StoredEvent], start: datetime, marked_from: int | None = None
) -> list[str]:
    """The stream, one numbered line an event; events after version ``marked_from`` get ``>``."""
    names = _Names()
    lines = []
    for stored in history:
        names.learn(stored.event)
        mark = ">" if marked_from is not None and stored.version > marked_from else " "
        at = _offset(stored.created_at, start)
        text = event_text(stored.event, names, start)
        lines.append(f"  {mark}{stored.version:>3} {at:<18} {text}")
    return lines


# A failure message shows this many of a long stream's first and last events.
STREAM_HEAD = 10
STREAM_TAIL = 30


def shortened(lines: Sequence[str], head: int = STREAM_HEAD, tail: int = STREAM_TAIL) -> list[str]:
    """``lines``, or of a long stream its first ``head`` and last ``tail`` lines with a
    ``… N events …`` line for those left out: the last step's events are at its end."""
    left_out = len(lines) - head - tail
    if left_out <= 1:  # a marker in place of one line would hide it for nothing
        return list(lines)
    return [*lines[:head], f"  … {left_out} events …", *lines[len(lines) - tail :]]


def listed(items: Iterable[str]) -> str:
    """Items one a line, indented; ``(none)`` for none."""
    lines = [f"  {item}" for item in items]
    return "\n".join(lines) if lines else "  (none)"
