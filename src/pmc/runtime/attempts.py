"""One task attempt: the events that record it and the call of its handler.

Every event the runtime records on its own account gets an id derived from
what it reports, never a random one: a task attempt is started once (the
second worker to try finds the id already in the stream), has one outcome,
times out once; a timer fires once; and the decisions made on an event are
numbered from that event's id. Recording the same thing twice is then caught
by the stream's inbox instead of stored twice.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

# The id derivations live in ``contract``, where the runtime's own modules
# take them from; re-exported for code that imported them from here (pmc 0.1.0).
from pmc.errors import InputError
from pmc.runtime.contract import RUNTIME_NAMESPACE as RUNTIME_NAMESPACE
from pmc.runtime.contract import decision_id as decision_id
from pmc.runtime.contract import delivery_id as delivery_id
from pmc.runtime.contract import fired_id as fired_id
from pmc.runtime.contract import outcome_id as outcome_id
from pmc.runtime.contract import renewed_id as renewed_id
from pmc.runtime.contract import runtime_id as runtime_id
from pmc.runtime.contract import started_id as started_id
from pmc.runtime.contract import timed_out_id as timed_out_id
from pmc.runtime.definition import PermanentFailure, ProcessDefinition, TaskContext
from pmc.runtime.lifecycle import (
    TaskCompletedBase,
    TaskFailedBase,
    TaskOutcome,
    TaskStartedBase,
    TaskTimedOutBase,
    TimerFiredBase,
)
from pmc.runtime.loops import await_in_thread

# The loops live in ``loops``; re-exported for code that closed them from here.
from pmc.runtime.loops import close_helper_loop as close_helper_loop
from pmc.runtime.loops import close_thread_loop as close_thread_loop
from pmc.runtime.results import OutcomeKind
from pmc.runtime.state import TaskInFlight, Timer
from pmc.runtime.stores.api import unstorable

# ---- the events ----------------------------------------------------------------------


def started_event(
    definition: ProcessDefinition, task: TaskInFlight, worker: str, lease_until: datetime
) -> TaskStartedBase:
    return definition.lifecycle.task_started(
        task_id=task.task_id, attempt=task.attempt, worker=worker, lease_until=lease_until
    )


def completed_event(
    definition: ProcessDefinition, task: TaskInFlight, result: dict[str, Any] | None
) -> TaskCompletedBase:
    return definition.lifecycle.task_completed(
        machine=task.machine,
        machine_id=task.machine_id,
        task_id=task.task_id,
        transition=task.transition,
        attempt=task.attempt,
        result=result,
    )


def failed_event(
    definition: ProcessDefinition, task: TaskInFlight, reason: str, *, permanent: bool = False
) -> TaskFailedBase:
    return definition.lifecycle.task_failed(
        machine=task.machine,
        machine_id=task.machine_id,
        task_id=task.task_id,
        transition=task.transition,
        attempt=task.attempt,
        reason=safe_reason(reason),
        permanent=permanent,
    )


def timed_out_event(definition: ProcessDefinition, task: TaskInFlight) -> TaskTimedOutBase:
    return definition.lifecycle.task_timed_out(task_id=task.task_id, attempt=task.attempt)


def fired_event(definition: ProcessDefinition, timer: Timer) -> TimerFiredBase:
    return definition.lifecycle.timer_fired(timer_id=timer.timer_id)


def attempt_lease(
    definition: ProcessDefinition, task: TaskInFlight, default: timedelta
) -> timedelta:
    """An attempt's lease: the task's ``timeout``, else the runner's (renewed as it runs)."""
    timeout_ms = definition.tasks[task.task].timeout_ms
    return default if timeout_ms is None else timedelta(milliseconds=timeout_ms)


# ---- running a handler -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Completed:
    result: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str
    permanent: bool = False  # the handler raised PermanentFailure: no retry


Outcome = Completed | Failed


def invoke(
    definition: ProcessDefinition, handlers: object, task: TaskInFlight, context: TaskContext
) -> Outcome:
    """Run the handler of ``task`` and turn whatever happens into an outcome.

    A handler may be ``def`` or ``async def``: what an ``async def`` handler
    returns is awaited (see ``loops.await_in_thread``) before it counts, so its body
    always runs. Whatever the handler raises becomes a failure,
    ``BaseException`` included: a handler calling ``sys.exit(3)`` records
    ``TaskFailed`` with the reason ``SystemExit: 3`` and the runner carries
    on, so one bad handler never takes a worker thread down. (Only
    ``GeneratorExit``, which is not an error, propagates.)
    ``PermanentFailure`` is a failure without retries, raised alone or in an
    exception group (see ``failure_of``). A result the task's
    ``returns`` refuses, or one holding text the stores cannot keep, is a
    failure too.
    """
    try:
        handler = handler_of(definition, handlers, task.task)
        returned = handler(definition.task_input(task), context)
        if inspect.isawaitable(returned):
            returned = await_in_thread(returned)
    except GeneratorExit:
        raise
    except BaseException as error:  # see the docstring
        return failure_of(error)
    return outcome_of(definition, task, returned)


async def invoke_async(
    definition: ProcessDefinition, handlers: object, task: TaskInFlight, context: TaskContext
) -> Outcome:
    """``invoke`` on the calling event loop, for an ``async def`` handler (``AsyncWorker``).

    The same outcomes, but for a cancellation of the caller's task (the
    attempt's timeout, or its worker stopping), which propagates: a
    cancelled attempt has no outcome of its own (see ``aio.AsyncWorker``).
    """
    try:
        handler = handler_of(definition, handlers, task.task)
        returned = handler(definition.task_input(task), context)
        if inspect.isawaitable(returned):
            returned = await returned
    except (GeneratorExit, asyncio.CancelledError):
        raise
    except BaseException as error:  # see ``invoke``
        return failure_of(error)
    return outcome_of(definition, task, returned)


def is_async_handler(definition: ProcessDefinition, handlers: object, task: str) -> bool:
    """Whether the handler of ``task`` is an ``async def`` (a coroutine function)."""
    return inspect.iscoroutinefunction(handler_of(definition, handlers, task))


def outcome_of(definition: ProcessDefinition, task: TaskInFlight, returned: object) -> Outcome:
    """The outcome of a handler of ``task`` that returned ``returned`` (awaited)."""
    try:
        result = definition.task_result(task.task, returned)
    except ValidationError as error:
        return Failed(invalid_result_reason(error))
    problem = unstorable(result)
    if problem is not None:
        return Failed(f"invalid result: it contains {problem}, which stores cannot hold")
    return Completed(result)


def invalid_result_reason(error: ValidationError) -> str:
    """The first validation error, naming the field, and how many more there are."""
    errors = error.errors()
    if not errors:
        return "invalid result"
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "the result"
    more = len(errors) - 1
    tail = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
    return f"invalid result: {where}: {first['msg']}{tail}"


class HandlersError(InputError, TypeError):
    """The task handlers lack a method of a task; a ``TypeError`` as well, as it was."""


def handler_of(definition: ProcessDefinition, handlers: object, task: str) -> Callable[..., Any]:
    method = definition.tasks[task].method
    handler: Callable[..., Any] | None = getattr(handlers, method, None)
    if not callable(handler):
        raise HandlersError(f"the task handlers have no method `{method}` for the task {task}")
    return handler


def missing_handlers(definition: ProcessDefinition, handlers: object) -> list[str]:
    """The ``<Process>Tasks`` methods ``handlers`` lacks, sorted."""
    methods = {spec.method for spec in definition.tasks.values()}
    return sorted(m for m in methods if not callable(getattr(handlers, m, None)))


def check_handlers(definition: ProcessDefinition, handlers: object) -> None:
    """Refuse ``handlers`` lacking a ``<Process>Tasks`` method (:class:`HandlersError`).

    A setup mistake (a misspelled method) is refused where the handlers are
    given, instead of failing every attempt of the task, retries and all.
    """
    missing = missing_handlers(definition, handlers)
    if missing:
        raise HandlersError(
            f"the task handlers lack {', '.join(missing)} "
            f"(see the {definition.category}Tasks protocol)"
        )


def failure_of(error: BaseException) -> Failed:
    """The failure a handler's exception records.

    An exception group (``asyncio.TaskGroup``, ``ExceptionGroup``) counts by
    its leaves, nested groups flattened: if any is a ``PermanentFailure``,
    the failure is permanent and its reason is theirs; otherwise the reason
    names every leaf. One leaf reads as if it had been raised alone
    (``hard decline``); several as ``2 errors: ValueError: bad; KeyError:
    'card'``.
    """
    leaves = _leaves(error)
    permanent = [leaf for leaf in leaves if isinstance(leaf, PermanentFailure)]
    named = permanent or leaves
    if len(named) == 1:
        reason = failure_reason(named[0])
    else:
        reason = f"{len(named)} errors: " + "; ".join(map(_named_reason, named))
    return Failed(safe_reason(reason), permanent=bool(permanent))


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def _named_reason(error: BaseException) -> str:
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def failure_reason(error: BaseException) -> str:
    """The reason recorded for a handler's exception.

    An ``Exception``'s message (its class name if it has none); for other
    ``BaseException``s, whose messages mean little alone (``SystemExit(3)``
    says ``3``), the class name and the message: ``SystemExit: 3``.
    """
    message = str(error)
    if not isinstance(error, Exception):
        return f"{type(error).__name__}: {message}" if message else type(error).__name__
    return message if message else type(error).__name__


def safe_reason(reason: str) -> str:
    """``reason`` as the stores can hold it: NUL characters become the text ``\\x00``.

    PostgreSQL's JSONB cannot hold U+0000 nor lone surrogates (text that is
    not valid Unicode, as ``os.fsdecode`` makes of undecodable bytes); writing
    ``\\x00`` and ``\\udcff`` keeps the reason readable and the stream
    appendable on every backend alike.
    """
    escaped = reason.encode("utf-8", "backslashreplace").decode("utf-8")
    return escaped.replace("\x00", "\\x00")


def outcome_kind(outcome: Outcome) -> OutcomeKind:
    return "completed" if isinstance(outcome, Completed) else "failed"


def outcome_event(
    definition: ProcessDefinition, task: TaskInFlight, outcome: Outcome
) -> TaskOutcome:
    if isinstance(outcome, Completed):
        return completed_event(definition, task, outcome.result)
    return failed_event(definition, task, outcome.reason, permanent=outcome.permanent)
