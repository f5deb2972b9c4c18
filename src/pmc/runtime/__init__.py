"""What generated process modules import, and the runtime built on it.

Must not import the compiler's dependencies (lark, jinja2, typer) nor any pmc
module outside ``pmc.runtime`` but the error root ``pmc.errors``: a deployed
process needs only this package, event-sourcery and pydantic.

``ProcessManager``, ``Worker`` and their asyncio twins are loaded on first use: importing a
generated module (or compiling one) must not pay for SQLAlchemy and the
stores, which only running a process needs.
"""

from typing import TYPE_CHECKING, Any

from pmc.runtime.contract import (
    RUNTIME_API,
    SECOND_EDITION_API,
    SUPPORTED_APIS,
    AllFinal,
    AllIn,
    AnyIn,
    Assign,
    Assignments,
    Binder,
    DataCondition,
    DataTest,
    Due,
    Emit,
    EventMeta,
    Guard,
    IncompatibleModule,
    MachineSpec,
    RetrySpec,
    Returns,
    Route,
    Scope,
    ScopedBinder,
    TaskMode,
    TaskSpec,
    TaskTable,
    TimerSpec,
    TimerTable,
    TransitionKey,
    TransitionRow,
    TransitionSpec,
    TransitionTable,
    WildcardTable,
    WildcardTimerTable,
    on_event,
    on_outcome,
    on_signal,
    on_timer,
    require_api,
)
from pmc.runtime.definition import PermanentFailure, ProcessDefinition, TaskContext
from pmc.runtime.engine import DecisionError, SignalError
from pmc.runtime.lifecycle import (
    InputEvent,
    LifecycleEvent,
    LifecycleTypes,
    NoData,
    ProcessCancelledBase,
    ProcessCompletedBase,
    ProcessData,
    ProcessFailedBase,
    SignalPayload,
    SignalRaisedBase,
    TaskCompletedBase,
    TaskFailedBase,
    TaskFailure,
    TaskInput,
    TaskResult,
    TaskRetryScheduledBase,
    TaskStartedBase,
    TaskTimedOutBase,
    TimerFiredBase,
    TimerScheduledBase,
    TransitionPlannedBase,
)
from pmc.runtime.state import End, ProcessState, TaskInFlight, TaskStatus, Timer

if TYPE_CHECKING:
    from pmc.runtime.aio import AsyncProcessManager, AsyncWorker
    from pmc.runtime.manager import ProcessManager, SyncRetryWarning
    from pmc.runtime.results import HandleManyError, HandleResult, HandleStatus
    from pmc.runtime.worker import Worker

_LAZY = {
    "AsyncProcessManager": "pmc.runtime.aio",
    "AsyncWorker": "pmc.runtime.aio",
    "HandleManyError": "pmc.runtime.results",
    "HandleResult": "pmc.runtime.results",
    "HandleStatus": "pmc.runtime.results",
    "ProcessManager": "pmc.runtime.manager",
    "SyncRetryWarning": "pmc.runtime.manager",
    "Worker": "pmc.runtime.worker",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "RUNTIME_API",
    "SECOND_EDITION_API",
    "SUPPORTED_APIS",
    "AllFinal",
    "AllIn",
    "AnyIn",
    "Assign",
    "Assignments",
    "AsyncProcessManager",
    "AsyncWorker",
    "Binder",
    "DataCondition",
    "DataTest",
    "DecisionError",
    "Due",
    "Emit",
    "End",
    "EventMeta",
    "Guard",
    "HandleManyError",
    "HandleResult",
    "HandleStatus",
    "IncompatibleModule",
    "InputEvent",
    "LifecycleEvent",
    "LifecycleTypes",
    "MachineSpec",
    "NoData",
    "PermanentFailure",
    "ProcessCancelledBase",
    "ProcessCompletedBase",
    "ProcessData",
    "ProcessDefinition",
    "ProcessFailedBase",
    "ProcessManager",
    "ProcessState",
    "RetrySpec",
    "Returns",
    "Route",
    "Scope",
    "ScopedBinder",
    "SignalError",
    "SignalPayload",
    "SignalRaisedBase",
    "SyncRetryWarning",
    "TaskCompletedBase",
    "TaskContext",
    "TaskFailedBase",
    "TaskFailure",
    "TaskInFlight",
    "TaskInput",
    "TaskMode",
    "TaskResult",
    "TaskRetryScheduledBase",
    "TaskSpec",
    "TaskStartedBase",
    "TaskStatus",
    "TaskTable",
    "TaskTimedOutBase",
    "Timer",
    "TimerFiredBase",
    "TimerScheduledBase",
    "TimerSpec",
    "TimerTable",
    "TransitionKey",
    "TransitionPlannedBase",
    "TransitionRow",
    "TransitionSpec",
    "TransitionTable",
    "WildcardTable",
    "WildcardTimerTable",
    "Worker",
    "on_event",
    "on_outcome",
    "on_signal",
    "on_timer",
    "require_api",
]
