"""A runtime API 3 module written by hand, the way pmc generates one, from:

    process EdDunning {
        key invoice_id
        data {
            attempts: int = 0
            retry_at: datetime | None
            paid: bool = false
            first: str = "a"
            second: str = "b"
        }
        event Opened { invoice_id: str  retry_at: datetime | None }
        event Paid { invoice_id: str  paid_invoice: str }
        event Swap { invoice_id: str }
        event Hold { invoice_id: str }
        event Drop { invoice_id: str }
        task Charge sync {
            invoice_id: str  attempt: int
            returns { code: str  retry_at: datetime | None }
        }
        machine Billing {
            states Open, Charging, Waiting, Held, Paid, Failed
            initial Open
            final Paid, Failed
            transition charge: Open -> Charging on Opened
                run Charge(invoice_id = key, attempt = data.attempts + 1)
                set data.attempts = data.attempts + 1, data.retry_at = event.retry_at
            transition declined: Charging -> Failed on Charge completed when event.code == "hard"
            transition soft: Charging -> Waiting on Charge completed when event.code != "ok"
                set data.retry_at = event.retry_at
            transition ok: Charging -> Paid on Charge completed set data.paid = true
            transition paid: Charging, Waiting -> Paid on Paid when event.paid_invoice == key
                set data.paid = true
            transition retry: Waiting -> Charging on at data.retry_at
                run Charge(invoice_id = key, attempt = data.attempts + 1)
                set data.attempts = data.attempts + 1
            transition swap: Waiting -> Waiting on Swap
                set data.first = data.second, data.second = data.first
            transition hold: Charging -> Held on Hold keep Charge
            transition released: Held -> Paid on Charge completed set data.paid = true
            transition drop: Charging -> Failed on Drop
            transition broken: Charging, Held -> Failed on Charge failed
        }
        complete when data.paid
        fail when data.attempts >= 3
    }

Codegen is written in parallel with the engine: this module is the engine's
contract with it (design.md, "Codegen"), so the engine is tested on its own.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Literal

from event_sourcery import Event

import pmc.runtime as rt

rt.require_api(4, source="ed2_dunning.pm")


class EdDunningData(rt.ProcessData):
    attempts: int = 0
    retry_at: datetime | None = None
    paid: bool = False
    first: str = "a"
    second: str = "b"


class Opened(rt.InputEvent):
    __event_name__ = "EdDunning.Opened"
    invoice_id: str
    retry_at: datetime | None


class Paid(rt.InputEvent):
    __event_name__ = "EdDunning.Paid"
    invoice_id: str
    paid_invoice: str


class Swap(rt.InputEvent):
    __event_name__ = "EdDunning.Swap"
    invoice_id: str


class Hold(rt.InputEvent):
    __event_name__ = "EdDunning.Hold"
    invoice_id: str


class Drop(rt.InputEvent):
    __event_name__ = "EdDunning.Drop"
    invoice_id: str


class Charge(rt.TaskInput):
    invoice_id: str
    attempt: int


class ChargeResult(rt.TaskResult):
    code: str
    retry_at: datetime | None


class BillingState(StrEnum):
    Open = "Open"
    Charging = "Charging"
    Waiting = "Waiting"
    Held = "Held"
    Paid = "Paid"
    Failed = "Failed"


_TRANSITION = Literal[
    "charge",
    "declined",
    "soft",
    "ok",
    "paid",
    "retry",
    "swap",
    "hold",
    "released",
    "drop",
    "broken",
]


class TransitionPlanned(rt.TransitionPlannedBase):
    __event_name__ = "EdDunning.TransitionPlanned"
    machine: Literal["Billing"]
    transition: _TRANSITION
    from_state: BillingState
    to_state: BillingState
    task: Literal["Charge"] | None = None
    task_mode: Literal["sync"] | None = None


class TaskStarted(rt.TaskStartedBase):
    __event_name__ = "EdDunning.TaskStarted"


class TaskCompleted(rt.TaskCompletedBase):
    __event_name__ = "EdDunning.TaskCompleted"
    machine: Literal["Billing"]
    transition: Literal["charge", "retry"]


class TaskFailed(rt.TaskFailedBase):
    __event_name__ = "EdDunning.TaskFailed"
    machine: Literal["Billing"]
    transition: Literal["charge", "retry"]


class TaskRetryScheduled(rt.TaskRetryScheduledBase):
    __event_name__ = "EdDunning.TaskRetryScheduled"


class TaskTimedOut(rt.TaskTimedOutBase):
    __event_name__ = "EdDunning.TaskTimedOut"


class TimerScheduled(rt.TimerScheduledBase):
    __event_name__ = "EdDunning.TimerScheduled"


class TimerFired(rt.TimerFiredBase):
    __event_name__ = "EdDunning.TimerFired"


class ProcessCompleted(rt.ProcessCompletedBase):
    __event_name__ = "EdDunning.ProcessCompleted"


class ProcessFailed(rt.ProcessFailedBase):
    __event_name__ = "EdDunning.ProcessFailed"


class ProcessCancelled(rt.ProcessCancelledBase):
    __event_name__ = "EdDunning.ProcessCancelled"


# One pure function per clause, each reading one Scope.
_S = rt.Scope


def _bind_charge(s: _S[Opened, EdDunningData, rt.NoData]) -> Charge:
    return Charge(invoice_id=s.key, attempt=(s.data.attempts + 1))


def _set_charge(s: _S[Opened, EdDunningData, rt.NoData]) -> rt.Assignments:
    return rt.Assignments(data={"attempts": (s.data.attempts + 1), "retry_at": s.event.retry_at})


def _when_declined(s: _S[ChargeResult, EdDunningData, rt.NoData]) -> bool:
    return s.event.code == "hard"


def _when_soft(s: _S[ChargeResult, EdDunningData, rt.NoData]) -> bool:
    return s.event.code != "ok"


def _set_soft(s: _S[ChargeResult, EdDunningData, rt.NoData]) -> rt.Assignments:
    return rt.Assignments(data={"retry_at": s.event.retry_at})


def _set_paid_flag(s: _S[object, EdDunningData, rt.NoData]) -> rt.Assignments:
    return rt.Assignments(data={"paid": True})


def _when_paid(s: _S[Paid, EdDunningData, rt.NoData]) -> bool:
    return s.event.paid_invoice == s.key


def _at_retry(s: _S[None, EdDunningData, rt.NoData]) -> datetime | None:
    return s.data.retry_at


def _bind_retry(s: _S[TimerFired, EdDunningData, rt.NoData]) -> Charge:
    return Charge(invoice_id=s.key, attempt=(s.data.attempts + 1))


def _set_retry(s: _S[TimerFired, EdDunningData, rt.NoData]) -> rt.Assignments:
    return rt.Assignments(data={"attempts": (s.data.attempts + 1)})


def _set_swap(s: _S[Swap, EdDunningData, rt.NoData]) -> rt.Assignments:
    return rt.Assignments(data={"first": s.data.second, "second": s.data.first})


def _complete_data(d: EdDunningData) -> bool:
    return d.paid


def _fail_data(d: EdDunningData) -> bool:
    return d.attempts >= 3


_B = BillingState
_BROKEN = rt.TransitionSpec(name="broken", target=_B.Failed)
_PAID = rt.TransitionSpec(name="paid", target=_B.Paid, guard=_when_paid, assign=_set_paid_flag)


class EdDunning(rt.ProcessDefinition):
    api = 4
    category = "EdDunning"
    key_field = "invoice_id"
    events = (Opened, Paid, Swap, Hold, Drop)
    start_on = (Opened, Paid, Swap, Hold, Drop)
    cancel_on = ()
    data_model = EdDunningData
    machines = (
        rt.MachineSpec(
            name="Billing",
            states=BillingState,
            initial=_B.Open,
            final=(_B.Paid, _B.Failed),
            multi_instance=False,
        ),
    )
    tasks: ClassVar[rt.TaskTable] = {
        "Charge": rt.TaskSpec(
            name="Charge", mode="sync", input=Charge, result=ChargeResult, method="charge"
        ),
    }
    transitions: ClassVar[rt.TransitionTable] = {
        ("Billing", _B.Open, "Opened"): rt.TransitionSpec(
            name="charge",
            target=_B.Charging,
            task="Charge",
            bind=_bind_charge,
            assign=_set_charge,
        ),
        # Three transitions of one state and trigger: a tuple, in source order.
        ("Billing", _B.Charging, "Charge completed"): (
            rt.TransitionSpec(name="declined", target=_B.Failed, guard=_when_declined),
            rt.TransitionSpec(name="soft", target=_B.Waiting, guard=_when_soft, assign=_set_soft),
            rt.TransitionSpec(name="ok", target=_B.Paid, assign=_set_paid_flag),
        ),
        ("Billing", _B.Charging, "Paid"): _PAID,
        ("Billing", _B.Waiting, "Paid"): _PAID,
        ("Billing", _B.Waiting, "after:retry"): rt.TransitionSpec(
            name="retry",
            target=_B.Charging,
            task="Charge",
            bind=_bind_retry,
            assign=_set_retry,
        ),
        ("Billing", _B.Waiting, "Swap"): rt.TransitionSpec(
            name="swap", target=_B.Waiting, assign=_set_swap
        ),
        ("Billing", _B.Charging, "Hold"): rt.TransitionSpec(
            name="hold", target=_B.Held, keep=("Charge",)
        ),
        ("Billing", _B.Held, "Charge completed"): rt.TransitionSpec(
            name="released", target=_B.Paid, assign=_set_paid_flag
        ),
        ("Billing", _B.Charging, "Drop"): rt.TransitionSpec(name="drop", target=_B.Failed),
        ("Billing", _B.Charging, "Charge failed"): _BROKEN,
        ("Billing", _B.Held, "Charge failed"): _BROKEN,
    }
    timers: ClassVar[rt.TimerTable] = {
        ("Billing", _B.Waiting): (rt.TimerSpec(transition="retry", after_ms=0, at=_at_retry),),
    }
    wildcard_transitions: ClassVar[rt.WildcardTable] = {}
    wildcard_timers: ClassVar[rt.WildcardTimerTable] = {}
    complete_when = (rt.DataCondition(_complete_data, "data.paid"),)
    fail_when = (rt.DataCondition(_fail_data, "data.attempts >= 3"),)
    lifecycle = rt.LifecycleTypes(
        transition_planned=TransitionPlanned,
        task_started=TaskStarted,
        task_completed=TaskCompleted,
        task_failed=TaskFailed,
        task_retry_scheduled=TaskRetryScheduled,
        task_timed_out=TaskTimedOut,
        timer_scheduled=TimerScheduled,
        timer_fired=TimerFired,
        process_completed=ProcessCompleted,
        process_failed=ProcessFailed,
        process_cancelled=ProcessCancelled,
    )

    @staticmethod
    def route(_event: Event) -> list[rt.Route]:
        match _event:
            case Opened() | Paid() | Swap() | Hold() | Drop():
                return [rt.Route("Billing", ("Billing",))]
            case _:
                return []


DEFINITION = EdDunning()
