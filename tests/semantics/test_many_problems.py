"""One file with many unrelated problems reports all of them, in source order."""

from __future__ import annotations

import time

from pmc.semantics import analyze
from pmc.source import Span
from pmc.syntax import ast
from tests.semantics.helpers import analyze_text

MANY = """process Orders {
    event OrderPlaced {
        order_id: str
        total: money
        customer: str
        customer: str
    }

    task Charge {
        amount: float
        retry -1
    }

    task Charge { }

    machine Payment {
        states Waiting, Charging, Paid, Lost
        initial Waiting
        final Paid

        transition charge: Waiting -> Charging on OrderPlaced
            run Charge(amount = event.customer, note = "x")
        transition paid: Charging -> Paid on Charge completed
        transition again: Paid -> Waiting on OrderPlacd
    }

    machine Refund {
        states Open
        initial Closed
    }

    complete when all Payment in Lost
    fail when any Shipping in Lost
}
"""


def test_every_problem_is_reported_in_one_run() -> None:
    analysis = analyze_text(MANY)
    assert analysis.model is None
    found = [(d.span.line, d.id) for d in analysis.diagnostics]
    assert found == [
        (1, "PM0304"),  # no key
        (4, "PM0205"),  # unknown type `money`
        (6, "PM0104"),  # duplicate field
        (11, "PM0307"),  # negative retry count
        (14, "PM0101"),  # task declared twice
        (17, "PM0401"),  # `Lost` is unreachable
        (22, "PM0404"),  # `Charging` does not handle `Charge failed`
        (22, "PM0603"),  # `str` into `float`
        (22, "PM0601"),  # no field `note`
        (24, "PM0303"),  # leaves the final state `Paid`
        (24, "PM0201"),  # unknown event `OrderPlacd`
        (27, "PM0305"),  # `Refund` has no final state
        (29, "PM0301"),  # `initial Closed` is not a state
        (32, "PM0903"),  # `all Payment in Lost` can never hold
        (33, "PM0206"),  # unknown machine `Shipping`
    ]


def test_diagnostics_are_sorted_by_position() -> None:
    keys = [d.sort_key for d in analyze_text(MANY).diagnostics]
    assert keys == sorted(keys)


def _chain_module(size: int) -> ast.Module:
    """A process whose one machine is a chain of ``size`` states, built without parsing."""
    span = Span(1, 1, 1, 2)

    def name(text: str) -> ast.Name:
        return ast.Name(text, span)

    str_type = ast.NamedType(name("str"), (), span)
    event = ast.EventDecl(name("Next"), (ast.Field(name("id"), str_type, None, span),), span)
    states = tuple(name(f"S{i}") for i in range(size))
    members: list[ast.MachineMember] = [
        ast.StatesClause(states, span),
        ast.InitialClause(states[0], span),
        ast.FinalClause((states[-1],), span),
    ]
    members += [
        ast.Transition(
            name(f"t{i}"),
            (states[i],),
            states[i + 1],
            ast.EventTrigger(name("Next"), span),
            None,
            span,
        )
        for i in range(size - 1)
    ]
    machine = ast.MachineDecl(name("Chain"), tuple(members), span)
    process = ast.Process(name("P"), (ast.KeyDecl(name("id"), span), event, machine), span)
    return ast.Module(process, ())


def test_a_50000_state_machine_analyses_in_linear_time() -> None:
    module = _chain_module(50_000)
    started = time.thread_time()
    analysis = analyze(module)
    elapsed = time.thread_time() - started
    assert analysis.model is not None
    # Every transition leaves its state on `Next`, but each from a different state.
    assert len(analysis.model.machine("Chain").transitions) == 49_999
    # About 1s of CPU; anything quadratic would take many minutes.
    assert elapsed < 5.0


def _guards_and_signals_module(size: int) -> ast.Module:
    """``size`` guarded transitions on one state and trigger, then a fallback, and
    ``size`` signals each raising the next, the last the first: one cycle."""
    span = Span(1, 1, 1, 2)

    def name(text: str) -> ast.Name:
        return ast.Name(text, span)

    int_type = ast.NamedType(name("int"), (), span)
    str_type = ast.NamedType(name("str"), (), span)
    data = ast.DataDecl((ast.Field(name("n"), int_type, ast.IntLiteral(0, span), span),), span)
    event = ast.EventDecl(name("Go"), (ast.Field(name("id"), str_type, None, span),), span)
    signals = [ast.SignalDecl(name(f"S{i}"), (), span) for i in range(size)]
    n = ast.DataFieldRef(ast.DataScope.DATA, name("n"), span)

    def transition(
        label: str, target: str, trigger: ast.Trigger, guard: ast.Guard | None, emit: str
    ) -> ast.Transition:
        emits = (ast.EmitClause(name(emit), (), span),)
        return ast.Transition(
            name(label), (name("A"),), name(target), trigger, None, span, guard, emits=emits
        )

    go = ast.EventTrigger(name("Go"), span)
    members: list[ast.MachineMember] = [
        ast.StatesClause((name("A"), name("Done")), span),
        ast.InitialClause(name("A"), span),
        ast.FinalClause((name("Done"),), span),
    ]
    members += [
        transition(
            f"g{i}",
            "A",
            go,
            ast.Guard(ast.BinaryExpr(ast.BinaryOp.EQ, n, ast.IntLiteral(i, span), span), span),
            "S0",
        )
        for i in range(size)
    ]
    members.append(transition("fallback", "Done", go, None, "S0"))
    members += [
        transition(f"s{i}", "A", ast.EventTrigger(name(f"S{i}"), span), None, f"S{(i + 1) % size}")
        for i in range(size)
    ]
    machine = ast.MachineDecl(name("M"), tuple(members), span)
    declarations = (ast.KeyDecl(name("id"), span), data, event, *signals, machine)
    return ast.Module(ast.Process(name("P"), declarations, span), ())


def test_guards_and_signal_cycles_are_checked_in_linear_time() -> None:
    module = _guards_and_signals_module(5_000)
    started = time.thread_time()
    diagnostics = analyze(module).diagnostics
    elapsed = time.thread_time() - started
    # Guarded transitions before their fallback are fine; the signals make one cycle.
    assert [d.id for d in diagnostics] == ["PM0311"]
    assert elapsed < 5.0
    # Spelled out in a few steps, not 5,000.
    [cycle] = diagnostics
    assert len(cycle.notes) == 9 and len(cycle.labels) == 8
    assert cycle.message.endswith("`S7` -> ... (4992 more) -> `S0`")
