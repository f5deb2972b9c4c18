"""Operating a process from outside: the API the CLI (and a web page) is built on.

``Operations`` wraps one definition and one store. The operator actions
(``cancel``, ``retry``, ``fire``, ``move``) live in ``actions``: each is
recorded in the stream as an operator event, through the same decide/append
path as every event, and returns what it recorded (``ActionResult``,
``to_json()`` for the CLI's and a web page's JSON).
"""

from __future__ import annotations

from pmc.runtime import actions
from pmc.runtime.actions import ActionResult, Actor
from pmc.runtime.definition import ProcessDefinition
from pmc.runtime.manager import ProcessManager
from pmc.runtime.state import KeyValue
from pmc.runtime.stores.api import ProcessStore


class Operations:
    """Operate the instances of one process in one store.

    Every action takes who takes it (``by``) and why (``reason``), both
    recorded, and an optional ``action_id``: the same id again records
    nothing again. A refused action raises ``actions.OperationRefused`` and
    records nothing.
    """

    def __init__(self, definition: ProcessDefinition, store: ProcessStore) -> None:
        self.definition = definition
        self.store = store
        # Records without running tasks: the workers run what an action plans.
        self._manager = ProcessManager(definition, store)

    def cancel(
        self, key: KeyValue, by: str, reason: str, action_id: str | None = None
    ) -> ActionResult:
        """Cancel a running process (``ProcessCancelled``); its work is abandoned."""
        return actions.cancel(self._manager, key, Actor(by, reason, action_id))

    def retry(
        self,
        key: KeyValue,
        task: str,
        machine_id: str | None = None,
        *,
        by: str,
        reason: str,
        action_id: str | None = None,
    ) -> ActionResult:
        """Make the next attempt of ``task`` due now: a retry waiting for its time, or
        a task that failed for good while its instance still waits for its outcome."""
        return actions.retry(self._manager, key, task, machine_id, Actor(by, reason, action_id))

    def fire(
        self,
        key: KeyValue,
        transition: str,
        machine_id: str | None = None,
        *,
        by: str,
        reason: str,
        action_id: str | None = None,
    ) -> ActionResult:
        """Fire the pending timer of the timed transition ``transition`` now."""
        return actions.fire(
            self._manager, key, transition, machine_id, Actor(by, reason, action_id)
        )

    def move(
        self,
        key: KeyValue,
        machine: str,
        machine_id: str | None,
        state: str,
        *,
        by: str,
        reason: str,
        action_id: str | None = None,
    ) -> ActionResult:
        """Put a machine instance in ``state`` (``machine_id`` None: a single-instance machine)."""
        return actions.move(
            self._manager, key, machine, machine_id, state, Actor(by, reason, action_id)
        )
