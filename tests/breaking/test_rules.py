"""Each rule of ``pmc breaking``, shown by an old and a new version of one process.

Every case edits ``BASE`` into a new version and lists what ``compare`` must
report: the rule id, the file the finding points into, and the source text
under its span.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pmc.diagnostics import BREAKING_RULES as RULES
from pmc.diagnostics import Diagnostic, Severity
from pmc.tools.breaking import Finding, Side, compare
from tests.breaking.helpers import Found, edited, findings_between, version
from tests.breaking.test_second_edition import COVERED as SECOND_EDITION

BASE = """process Shop {
    key order_id

    event Placed {
        order_id: str
        customer: str
        items: list[str]
        note: str = ""
    }

    event Cancelled {
        order_id: str
        customer: str
    }

    task Charge async {
        order_id: str
        amount: int
        returns {
            receipt: str
        }
        retry 2
    }

    machine Order {
        states New, Charging, Paid, Failed
        initial New
        final Paid, Failed

        transition charge: New -> Charging on Placed
            run Charge(order_id = key, amount = 1)
        transition paid: Charging -> Paid on Charge completed
        transition failed: Charging -> Failed on Charge failed
        transition cancel: New -> Failed on Cancelled
    }
}
"""


def edit(*replacements: tuple[str, str]) -> str:
    return edited(BASE, *replacements)


def findings(new_text: str, old_text: str = BASE) -> list[Found]:
    return findings_between(old_text, new_text)


@dataclass(frozen=True)
class Case:
    id: str
    new: str
    expected: list[Found]


OLD, NEW = Side.OLD, Side.NEW

CASES = [
    Case(
        "renamed process",
        edit(("process Shop", "process Store")),
        [("PROCESS_SAME_NAME", NEW, "Store")],
    ),
    Case(
        "key moved to another field",
        edit(("key order_id", "key customer")),
        [("KEY_SAME", NEW, "customer")],
    ),
    Case(
        "key changed type",
        edit(("order_id: str", "order_id: int")),
        [
            ("KEY_SAME", NEW, "order_id"),
            # Recorded events and task inputs hold the old type, too.
            ("FIELD_SAME_TYPE", NEW, "int"),
            ("FIELD_SAME_TYPE", NEW, "int"),
            ("FIELD_SAME_TYPE", NEW, "int"),
        ],
    ),
    Case(
        "removed event",
        edit(
            ("    event Cancelled {\n        order_id: str\n        customer: str\n    }\n", ""),
            ("        transition cancel: New -> Failed on Cancelled\n", ""),
        ),
        [("EVENT_NO_DELETE", OLD, "Cancelled"), ("TRANSITION_NO_DELETE", OLD, "cancel")],
    ),
    Case(
        "removed task input field",
        edit(("        amount: int\n", ""), (", amount = 1", "")),
        [("FIELD_NO_DELETE", OLD, "amount: int")],
    ),
    Case(
        "removed event field, even one with a default",
        edit(('        note: str = ""\n', "")),
        [("FIELD_NO_DELETE", OLD, 'note: str = ""')],
    ),
    Case(
        "renamed task",
        edit(("Charge", "Bill")),
        [("TASK_NO_DELETE", OLD, "Charge")],
    ),
    Case(
        "renamed machine",
        edit(("machine Order", "machine Purchase")),
        [("MACHINE_NO_DELETE", OLD, "Order")],
    ),
    Case(
        # Transitions into the renamed state are not reported again.
        "renamed state",
        edit(("Failed", "Failure")),
        [("STATE_NO_DELETE", OLD, "Failed")],
    ),
    Case(
        "renamed transition",
        edit(("transition cancel:", "transition abort:")),
        [("TRANSITION_NO_DELETE", OLD, "cancel")],
    ),
    Case(
        "transition leaves from another state",
        edit(("cancel: New -> Failed", "cancel: Charging -> Failed")),
        [("TRANSITION_SAME_ENDPOINTS", NEW, "Charging -> Failed")],
    ),
    Case(
        "transition enters another state",
        edit(("cancel: New -> Failed", "cancel: New -> Paid")),
        [("TRANSITION_SAME_ENDPOINTS", NEW, "New -> Paid")],
    ),
    Case(
        "changed field type",
        edit(("items: list[str]", "items: list[int]")),
        [("FIELD_SAME_TYPE", NEW, "list[int]")],
    ),
    Case(
        "changed result field type",
        edit(("receipt: str", "receipt: int")),
        [("FIELD_SAME_TYPE", NEW, "int")],
    ),
    Case(
        "dropped a default and widened a list item to optional",
        edit(('note: str = ""', "note: str"), ("items: list[str]", "items: list[str | None]")),
        [],
    ),
    Case(
        "required field added to an event",
        edit(('note: str = ""', 'note: str = ""\n        channel: str')),
        [("FIELD_NO_ADD_REQUIRED", NEW, "channel: str")],
    ),
    Case(
        "required field added to a task input",
        edit(
            ("amount: int\n", "amount: int\n        currency: str\n"),
            ("amount = 1", 'amount = 1, currency = "EUR"'),
        ),
        [("FIELD_NO_ADD_REQUIRED", NEW, "currency: str")],
    ),
    Case(
        "required field added to a task result",
        edit(("receipt: str\n", "receipt: str\n            fee: int\n")),
        [("FIELD_NO_ADD_REQUIRED", NEW, "fee: int")],
    ),
    Case(
        "removed result field",
        edit(("            receipt: str\n", "            receipt_id: str\n")),
        [
            ("FIELD_NO_ADD_REQUIRED", NEW, "receipt_id: str"),
            ("RETURNS_FIELD_NO_DELETE", OLD, "receipt: str"),
        ],
    ),
    Case(
        "changed task mode",
        edit(("task Charge async", "task Charge sync")),
        [("TASK_MODE_SAME", NEW, "sync")],
    ),
    Case(
        # Recorded transitions name the single instance by the machine's name.
        "machine switched from one instance to many",
        edit(("on Placed", "on Placed.customer"), ("on Cancelled", "on Cancelled.customer")),
        [("MACHINE_SAME_INSTANCES", NEW, "Placed.customer")],
    ),
    Case(
        "machine starts in a new initial state",
        edit(
            ("states New,", "states Draft, New,"),
            ("initial New", "initial Draft"),
            (
                "        transition charge:",
                "        transition open: Draft -> New on Placed\n        transition charge:",
            ),
        ),
        [("INITIAL_SAME", NEW, "Draft")],
    ),
    Case(
        "a trigger changed, the machine still has one instance",
        edit(("cancel: New -> Failed on Cancelled", "cancel: New -> Failed on after 1h")),
        [],
    ),
    Case(
        "task mode written out for the first time: same mode",
        edit(("task Charge async", "task Charge")),
        [],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_rule(case: Case) -> None:
    assert sorted(findings(case.new)) == sorted(case.expected)


def test_every_rule_has_a_case() -> None:
    # The rules of the second edition have their cases in test_second_edition.
    covered = {code for case in CASES for code, _, _ in case.expected} | SECOND_EDITION
    assert covered == set(RULES)


def test_narrowing_to_a_required_type_is_reported_but_widening_is_not() -> None:
    optional = edit(("items: list[str]", "items: list[str] | None"))
    assert findings(optional) == []
    # Back again: recorded `none` values do not fit `list[str]`.
    assert findings(BASE, old_text=optional) == [("FIELD_SAME_TYPE", NEW, "list[str]")]


def test_an_unchanged_process_has_no_findings() -> None:
    assert findings(BASE) == []


def test_additions_are_not_breaking() -> None:
    grown = edit(
        (
            'note: str = ""',
            'note: str = ""\n        channel: str = "web"\n        tag: str | None = none',
        ),
        (
            "    task Charge",
            "    event Refunded {\n        order_id: str\n    }\n\n"
            "    task Notify sync {\n        order_id: str\n    }\n\n    task Charge",
        ),
        (
            "states New, Charging, Paid, Failed",
            "states New, Charging, Paid, Failed, Refunding, Refunded",
        ),
        ("final Paid, Failed", "final Failed, Refunded"),
        (
            "        transition cancel:",
            "        transition refund: Paid -> Refunding on Refunded\n"
            "            run Notify(order_id = key)\n"
            "        transition refunded: Refunding -> Refunded on Notify completed\n"
            "        transition refund_lost: Refunding -> Refunded on Notify failed\n"
            "        transition cancel: Charging,",
        ),
    )
    assert findings(grown) == []


def test_a_single_new_name_is_suggested_as_the_rename() -> None:
    [finding] = compare(
        version(BASE, "old.pm"),
        version(edit(("transition cancel:", "transition abort:")), "new.pm"),
    )
    assert finding.diagnostic.message == "transition `cancel` was removed from machine `Order`"
    assert (
        finding.diagnostic.help
        == "if `cancel` was renamed to `abort`, keep the old name: streams record it"
    )


def test_the_mode_change_is_a_warning_and_everything_else_an_error() -> None:
    # Besides the second edition's data default and guard order.
    assert {code for code, rule in RULES.items() if rule.severity is Severity.WARNING} == {
        "TASK_MODE_SAME",
        "DATA_DEFAULT_SAME",
        "GUARD_ORDER_SAME",
    }
    [finding] = compare(version(BASE, "old.pm"), version(edit(("async", "sync")), "new.pm"))
    assert finding.diagnostic.severity is Severity.WARNING


def test_a_finding_must_name_a_registered_rule() -> None:
    span = version(BASE, "x.pm").span
    with pytest.raises(ValueError, match="unregistered"):
        Finding(Diagnostic("NO_SUCH_RULE", "message", span))
    # A compiler code is registered, but it is no breaking rule.
    with pytest.raises(ValueError, match="unregistered"):
        Finding(Diagnostic("PM0001", "message", span))


def test_a_machine_switched_from_many_instances_to_one_is_reported() -> None:
    many = edit(("on Placed", "on Placed.customer"), ("on Cancelled", "on Cancelled.customer"))
    assert findings(BASE, old_text=many) == [("MACHINE_SAME_INSTANCES", NEW, "Placed")]


def test_every_finding_in_the_old_file_has_an_anchor_in_the_new_one() -> None:
    removals = [case for case in CASES if any(side is OLD for _, side, _ in case.expected)]
    assert removals
    for case in removals:
        new = version(case.new, "new.pm")
        for finding in compare(version(BASE, "old.pm"), new):
            if finding.side is OLD:
                assert finding.anchor is not None, case.id
                assert finding.anchor.end_line <= case.new.count("\n") + 1
            else:
                assert finding.anchor is None, case.id
