"""A fake task runner: each task's outcomes scripted in advance, every call recorded.

``FakeTasks`` stands for a process's ``<Process>Tasks`` handlers: it has a
method for every task of the definition, so the real runtime (manager and
worker) calls it as it would call production handlers. What a call does is
the next outcome scripted for its task; the last one stands for every call
after it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pmc.errors import PmcError
from pmc.runtime.definition import PermanentFailure, ProcessDefinition, TaskContext
from pmc.runtime.lifecycle import TaskInput

# What a scripted result may be: the result itself, or made from the task's input.
ResultOf = Mapping[str, Any] | Callable[[Any], Mapping[str, Any] | None] | None


class ScriptError(PmcError):
    """A scenario's tasks are scripted wrong, or a task ran that nobody scripted."""


class AttemptHung(GeneratorExit):
    """Raised by a ``time_out()`` handler in a ``Scenario``: the attempt never ends.

    The one exception the runtime lets out of a handler (``GeneratorExit``,
    see ``pmc.runtime.attempts.invoke``): no outcome is recorded, so the
    attempt stays in flight, as that of a worker that hung or died, until
    the runtime finds its lease over. The scenario catches it; it is no error.
    """


class ScriptedFailure(PmcError):
    """Raised by a handler scripted with ``fail(reason)``: the attempt fails with ``reason``.

    It stands for the task's own error, which the runtime records as the
    attempt's failure (and retries, if the task says so).
    """


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one call of a task's handler does. Built by ``succeed``, ``fail``, ... below."""

    kind: str  # succeed, fail, raise, time_out, run
    result: ResultOf = None
    reason: str = ""
    permanent: bool = False
    error: BaseException | None = None
    handler: Callable[[Any, TaskContext], Any] | None = None

    def times(self, count: int) -> tuple[Outcome, ...]:
        """This outcome for ``count`` calls in a row: ``fail("busy").times(2)``."""
        if count < 1:
            raise ScriptError(f"an outcome is scripted for at least one call, not {count}")
        return (self,) * count


def succeed(result: ResultOf = None) -> Outcome:
    """The attempt completes with ``result`` (a mapping, or a function of the task's input)."""
    return Outcome("succeed", result=result)


def fail(reason: str, *, permanent: bool = False) -> Outcome:
    """The attempt fails with ``reason``; ``permanent=True`` skips the retries left
    (the handler raises ``PermanentFailure``)."""
    return Outcome("fail", reason=reason, permanent=permanent)


def raises(error: BaseException) -> Outcome:
    """The handler raises ``error``: the runtime records what it makes of it."""
    return Outcome("raise", error=error)


def time_out() -> Outcome:
    """The attempt outlives its lease (the task's ``timeout``, else the worker's lease).

    In a ``Scenario`` the handler never ends (``AttemptHung``): the attempt
    stays in flight with no outcome, and when time reaches the end of its
    lease (``advance``) the worker records ``TaskTimedOut`` (and schedules a
    retry if one is left), as in production; timers due before then fire
    first. ``FakeTasks`` alone (no scenario) just raise ``TimeoutError``.
    """
    return Outcome("time_out")


def run(handler: Callable[[Any, TaskContext], Any]) -> Outcome:
    """Call ``handler(task_input, ctx)`` (``def`` or ``async def``) as the task's handler."""
    return Outcome("run", handler=handler)


@dataclass(frozen=True, slots=True)
class Call:
    """One call of a task's handler: the task, its machine instance, the attempt, the input."""

    task: str
    machine_id: str
    attempt: int
    input: Mapping[str, Any]  # as JSON, the way the stream records it


# Called by a ``time_out()`` outcome with the attempt's context; a scenario's hangs the attempt.
TimeOutHook = Callable[[TaskContext], None]


class FakeTasks:
    """The ``<Process>Tasks`` handlers of ``definition``, answering as scripted.

    ``default`` is the outcome of a task with no script; without one, a call
    of an unscripted task fails its attempt and is kept in ``unscripted``
    until ``take_unscripted``, which the scenario turns into a ``ScriptError``
    naming the task.
    """

    def __init__(self, process: ProcessDefinition | object, default: Outcome | None = None) -> None:
        # A generated module stands for its ``DEFINITION``, as everywhere in the kit.
        definition = getattr(process, "DEFINITION", process)
        if not isinstance(definition, ProcessDefinition):
            raise ScriptError(f"{process!r} is neither a process definition nor a generated module")
        self._definition = definition
        self._by_method = {spec.method: name for name, spec in definition.tasks.items()}
        # By (task, machine id); machine id None: every instance without a script of its own.
        self._scripts: dict[tuple[str, str | None], list[Outcome]] = {}
        # The outcome of the next call only, by (task, machine id), before any script.
        self._next_only: dict[tuple[str, str], Outcome] = {}
        self._default = default
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self.unscripted: list[str] = []
        self.on_time_out: TimeOutHook | None = None

    def script(
        self, task: str, *outcomes: Outcome | Sequence[Outcome], machine_id: str | None = None
    ) -> FakeTasks:
        """What the next calls of ``task`` do, in order; the last outcome stands for the rest.

        With ``machine_id``, only for the calls of that machine instance, whose
        script comes before the task's own.
        """
        if task not in self._definition.tasks:
            known = ", ".join(sorted(self._definition.tasks)) or "none"
            raise ScriptError(f"process {self._definition.category} has no task {task} ({known})")
        flat = [
            o for given in outcomes for o in ((given,) if isinstance(given, Outcome) else given)
        ]
        if not flat:
            raise ScriptError(f"no outcome given for {task}")
        with self._lock:
            self._scripts[task, machine_id] = flat
        return self

    def next_call(self, task: str, machine_id: str, outcome: Outcome) -> FakeTasks:
        """What the next call of ``task`` for ``machine_id`` does, whatever the scripts say;
        the calls after it follow them."""
        with self._lock:
            self._next_only[task, machine_id] = outcome
        return self

    def forget_next_calls(self) -> FakeTasks:
        """Drop the ``next_call`` outcomes no call used: they were for a call that did not come."""
        with self._lock:
            self._next_only.clear()
        return self

    def take_unscripted(self) -> list[str]:
        """The unscripted tasks called since the last take, in call order: each reported once."""
        with self._lock:
            taken, self.unscripted = self.unscripted, []
        return taken

    def calls(self, task: str | None = None) -> list[Call]:
        """The calls made so far (of ``task``, or of every task), in call order."""
        with self._lock:
            return [c for c in self._calls if task in (None, c.task)]

    def inputs(self, task: str) -> list[dict[str, Any]]:
        """The inputs ``task``'s handler was called with, in call order."""
        return [dict(c.input) for c in self.calls(task)]

    def __getattr__(self, method: str) -> Callable[[TaskInput, TaskContext], Any]:
        # Only the methods of the tasks protocol exist; anything else is a plain miss.
        task = self.__dict__.get("_by_method", {}).get(method)
        if task is None:
            raise AttributeError(method)

        def handler(task_input: TaskInput, ctx: TaskContext) -> Any:
            return self._answer(task, task_input, ctx)

        handler.__name__ = method
        return handler

    def _answer(self, task: str, task_input: TaskInput, ctx: TaskContext) -> Any:
        given = task_input.model_dump(mode="json")
        with self._lock:
            self._calls.append(Call(task, ctx.machine_id, ctx.attempt, given))
            outcome = self._next(task, ctx.machine_id)
        if outcome is None:
            raise ScriptedFailure(f"{task} is not scripted")
        return self._act(outcome, task_input, ctx)

    def _next(self, task: str, machine_id: str) -> Outcome | None:
        """The outcome of this call of ``task`` (under the lock)."""
        once = self._next_only.pop((task, machine_id), None)
        if once is not None:
            return once
        script = self._scripts.get((task, machine_id)) or self._scripts.get((task, None))
        if script is None:
            if self._default is None:
                self.unscripted.append(task)
            return self._default
        return script.pop(0) if len(script) > 1 else script[0]

    def _act(self, outcome: Outcome, task_input: TaskInput, ctx: TaskContext) -> Any:
        match outcome.kind:
            case "succeed":
                result = outcome.result
                return result(task_input) if callable(result) else result
            case "fail" if outcome.permanent:
                raise PermanentFailure(outcome.reason)
            case "fail":
                raise ScriptedFailure(outcome.reason)
            case "raise":
                assert outcome.error is not None
                raise outcome.error
            case "time_out":
                if self.on_time_out is not None:
                    self.on_time_out(ctx)
                raise TimeoutError("the handler ran past its lease")
        assert outcome.handler is not None
        return outcome.handler(task_input, ctx)
