"""The second edition's forms parse to the AST that semantics reads.

Data blocks, signals, guards, ``keep``, ``set``, ``emit``, ``at`` deadlines,
expressions with their precedence, and data conditions in ``complete when`` /
``fail when``. Expressions are shown as s-expressions (:func:`sexp`) so that
a test states the tree's shape in one line.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass

import pytest

from pmc.diagnostics import Diagnostic
from pmc.source import SourceFile, Span
from pmc.syntax import ast
from pmc.syntax.parser import parse

HEAD = """\
process P {
    key id
    event E { id: str; n: int; ids: list[str] }
    task T { n: int }
    signal Abort {}
    signal Release { node: str; count: int = 0 }
"""


def program(body: str, machine_head: str = "") -> str:
    """A process whose machine ``M`` has ``machine_head`` then the transitions ``body``."""
    return (
        HEAD
        + "    machine M {\n"
        + machine_head
        + "        states A, B\n        initial A\n        final B\n"
        + body
        + "\n    }\n}\n"
    )


def parsed(text: str) -> ast.Process:
    result = parse(SourceFile("test.pm", text))
    assert result.module is not None, result.diagnostics
    return result.module.process


def only_error(text: str) -> Diagnostic:
    result = parse(SourceFile("test.pm", text))
    assert result.module is None
    return result.diagnostics[0]


def transition(clauses: str) -> ast.Transition:
    [machine] = parsed(program(f"        transition t: A -> B on E {clauses}")).machines
    [only] = machine.transitions
    return only


def sexp(expr: ast.Expr) -> str:
    """``not data.a and data.b`` -> ``(and (not data.a) data.b)``."""
    match expr:
        case ast.BinaryExpr(op, left, right):
            return f"({op} {sexp(left)} {sexp(right)})"
        case ast.UnaryExpr(op, operand):
            return f"({op} {sexp(operand)})"
        case ast.IsNoneExpr(operand, negated):
            return f"({'is not none' if negated else 'is none'} {sexp(operand)})"
        case ast.ParenExpr(inner):
            return f"(paren {sexp(inner)})"
        case ast.DataFieldRef(scope, field):
            return f"{scope}.{field.text}"
        case ast.EventFieldRef(field):
            return f"event.{field.text}"
        case ast.KeyRef():
            return "key"
        case ast.MachineIdRef():
            return "machine_id"
        case ast.StringLiteral(value):
            return repr(value)
        case ast.BoolLiteral(value):
            return "true" if value else "false"
        case ast.NoneLiteral():
            return "none"
        case ast.DecimalLiteral(_, text):
            return text
        case ast.IntLiteral(value):
            return str(value)


def guard_of(expression: str) -> str:
    guard = transition(f"when {expression}").guard
    assert guard is not None
    return sexp(guard.condition)


@pytest.mark.parametrize(
    ("expression", "tree"),
    [
        ("not data.a and data.b or data.c", "(or (and (not data.a) data.b) data.c)"),
        ("data.a or data.b and data.c", "(or data.a (and data.b data.c))"),
        ("data.a or data.b or data.c", "(or (or data.a data.b) data.c)"),
        ("data.a + data.b - data.c", "(- (+ data.a data.b) data.c)"),
        ("event.id in data.ids and data.y", "(and (in event.id data.ids) data.y)"),
        ("event.id not in instance.ids", "(not in event.id instance.ids)"),
        ("len(data.ids) > 0", "(> (len data.ids) 0)"),
        ("not data.n == 1", "(not (== data.n 1))"),
        ("not not data.a", "(not (not data.a))"),
        ("data.n + 1 >= event.n - 2", "(>= (+ data.n 1) (- event.n 2))"),
        ("data.a is none or data.b is not none", "(or (is none data.a) (is not none data.b))"),
        ("(data.a or data.b) and data.c", "(and (paren (or data.a data.b)) data.c)"),
        ("key != machine_id", "(!= key machine_id)"),
        ('data.s <= "x"', "(<= data.s 'x')"),
        ("data.d < 1.50", "(< data.d 1.50)"),
        ("data.flag == true", "(== data.flag true)"),
        ("data.note == none", "(== data.note none)"),
    ],
)
def test_operators_bind_by_precedence(expression: str, tree: str) -> None:
    assert guard_of(expression) == tree


@pytest.mark.parametrize(
    ("expression", "tree"),
    [
        # After an operator a minus starts a negative number...
        ("data.n == -1", "(== data.n -1)"),
        ("data.n + -1 > 0", "(> (+ data.n -1) 0)"),
        # ...after an operand it subtracts, spaced or not.
        ("data.n -1 > 0", "(> (- data.n 1) 0)"),
        ("data.n-1 > 0", "(> (- data.n 1) 0)"),
    ],
)
def test_a_minus_is_a_sign_only_where_an_operand_is_expected(expression: str, tree: str) -> None:
    assert guard_of(expression) == tree


@pytest.mark.parametrize("expression", ["data.a < data.b < data.c", "data.a == data.b != 1"])
def test_comparisons_do_not_chain(expression: str) -> None:
    text = program(f"        transition t: A -> B on E when {expression}")
    error = only_error(text)
    assert error.id == "PM0001"
    line = text.split("\n")[error.span.line - 1]
    second = expression.split()[3]
    assert line[error.span.column - 1 :].startswith(second)


def test_a_process_data_block_holds_fields_with_optional_defaults() -> None:
    process = parsed(
        HEAD + "    data {\n        count: int = 0\n        note: str | None\n    }\n}\n"
    )
    [data] = process.data_blocks
    count, note = data.fields
    assert (count.name.text, count.default) == ("count", ast.IntLiteral(0, count.default.span))
    assert (note.name.text, note.default) == ("note", None)
    assert isinstance(note.type, ast.UnionType)


def test_a_signal_has_fields_or_empty_braces() -> None:
    abort, release = parsed(HEAD + "}\n").signals
    assert (abort.name.text, abort.fields) == ("Abort", ())
    assert release.name.text == "Release"
    assert [f.name.text for f in release.fields] == ["node", "count"]


def test_a_machine_data_block_comes_first_and_is_a_member() -> None:
    text = program("", machine_head="        data { probes: int = 0 }\n")
    [machine] = parsed(text).machines
    assert isinstance(machine.members[0], ast.DataDecl)
    [data] = machine.data_blocks
    assert [f.name.text for f in data.fields] == ["probes"]
    assert len(machine.states_clauses) == 1


def test_every_clause_of_a_transition_in_order() -> None:
    t = transition(
        "when event.n > data.n keep T run T(n = data.n + 1)"
        " set data.n = event.n, instance.seen = true"
        " emit Abort emit Release(node = event.id, count = len(event.ids))"
    )
    assert t.guard is not None and sexp(t.guard.condition) == "(> event.n data.n)"
    assert t.keep is not None and [name.text for name in t.keep.tasks] == ["T"]
    assert t.run is not None
    assert [(b.field.text, sexp(b.value)) for b in t.run.bindings] == [("n", "(+ data.n 1)")]
    assert t.set is not None
    assert [(sexp(a.target), sexp(a.value)) for a in t.set.assignments] == [
        ("data.n", "event.n"),
        ("instance.seen", "true"),
    ]
    assert [
        (e.signal.text, [(b.field.text, sexp(b.value)) for b in e.bindings]) for e in t.emits
    ] == [
        ("Abort", []),
        ("Release", [("node", "event.id"), ("count", "(len event.ids)")]),
    ]


def test_clauses_are_optional_and_a_bare_emit_has_no_bindings() -> None:
    bare, empty = transition("emit Abort"), transition("emit Abort()")
    assert bare.emits[0].bindings == empty.emits[0].bindings == ()
    assert (bare.guard, bare.keep, bare.run, bare.set) == (None, None, None, None)


def test_keep_names_several_tasks() -> None:
    keep = transition("keep T, U").keep
    assert keep is not None and [name.text for name in keep.tasks] == ["T", "U"]


@pytest.mark.parametrize(("ref", "scope"), [("data.due", "data"), ("instance.due", "instance")])
def test_a_deadline_trigger_reads_a_data_field(ref: str, scope: str) -> None:
    [machine] = parsed(program(f"        transition t: A -> B on at {ref}")).machines
    trigger = machine.transitions[0].trigger
    assert isinstance(trigger, ast.DeadlineTrigger)
    assert (trigger.field.scope, trigger.field.field.text) == (ast.DataScope(scope), "due")


def test_on_a_name_stays_an_event_trigger_whatever_it_names() -> None:
    # `on Abort` names a signal here: the parser cannot tell, semantics does.
    [machine] = parsed(program("        transition t: A -> B on Abort")).machines
    assert isinstance(machine.transitions[0].trigger, ast.EventTrigger)


@pytest.mark.parametrize(
    ("clause", "conditions", "data"),
    [
        ("complete when data.done", [], "data.done"),
        ("complete when all M final", ["AllFinal"], None),
        ("complete when all M final and data.n > 0", ["AllFinal"], "(> data.n 0)"),
        (
            "complete when all M final and all M in B and data.a and data.b",
            ["AllFinal", "AllIn"],
            "(and data.a data.b)",
        ),
        ("fail when data.n >= 3", [], "(>= data.n 3)"),
        ("fail when any M in A or data.n >= 3", ["AnyIn"], "(>= data.n 3)"),
        ("fail when any M in A, B or any M in A", ["AnyIn", "AnyIn"], None),
    ],
)
def test_data_conditions_follow_machine_conditions(
    clause: str, conditions: list[str], data: str | None
) -> None:
    process = parsed(program("").removesuffix("}\n") + f"    {clause}\n}}\n")
    [declaration] = process.of_type(ast.CompleteWhen) or process.of_type(ast.FailWhen)
    assert [type(c).__name__ for c in declaration.conditions] == conditions
    assert (None if declaration.data is None else sexp(declaration.data)) == data


def test_binding_values_are_expressions() -> None:
    t = transition('run T(n = data.n + event.n, note = "x")')
    assert t.run is not None
    assert [sexp(b.value) for b in t.run.bindings] == ["(+ data.n event.n)", "'x'"]


_KEYWORDS = ["data", "instance", "signal", "len", "not", "in", "is", "or", "and"]
_MORE = ["keep", "set", "emit", "when", "at", "event", "key", "none"]


def test_keywords_stay_usable_as_field_names() -> None:
    names = _KEYWORDS + _MORE
    fields_text = "; ".join(f"{name}: str" for name in names)
    process = parsed(
        "process P {\n"
        f"    event E {{ {fields_text} }}\n"
        f"    signal S {{ {fields_text} }}\n"
        f"    data {{ {fields_text} }}\n"
        "    machine M { states A\n initial A\n"
        "        transition t: A -> A on E when data.data == event.len set data.set = event.in\n"
        "    }\n}\n"
    )
    assert [f.name.text for f in process.events[0].fields] == names
    assert [f.name.text for f in process.signals[0].fields] == names
    assert [f.name.text for f in process.data_blocks[0].fields] == names
    t = process.machines[0].transitions[0]
    assert t.guard is not None and sexp(t.guard.condition) == "(== data.data event.len)"


def _children(node: object) -> list[object]:
    values = [getattr(node, f.name) for f in fields(node)]  # type: ignore[arg-type]
    flat: list[object] = []
    for value in values:
        flat.extend(value if isinstance(value, tuple) else [value])
    return [value for value in flat if is_dataclass(value) and not isinstance(value, Span)]


def _inside(inner: Span, outer: Span) -> bool:
    return (outer.line, outer.column) <= (inner.line, inner.column) and (
        inner.end_line,
        inner.end_column,
    ) <= (outer.end_line, outer.end_column)


def test_every_node_has_a_span_within_its_parent() -> None:
    text = program(
        "        transition t: A -> B on at data.due when not (data.a or event.n > 1)"
        " keep T run T(n = len(data.ids) - 1) set data.n = data.n + 1 emit Release(node = key)"
    )
    text = text.removesuffix("}\n") + "    complete when all M final and data.n is not none\n}\n"
    checked = 0

    def walk(node: object, parent: Span) -> None:
        nonlocal checked
        span = getattr(node, "span", None)
        if isinstance(span, Span):
            assert _inside(span, parent), (node, parent)
            parent = span
            checked += 1
        for child in _children(node):
            walk(child, parent)

    process = parsed(text)
    walk(process, process.span)
    assert checked > 60


def test_an_expression_span_covers_its_text() -> None:
    text = program("        transition t: A -> B on E when data.n + 1 > 2")
    guard = parsed(text).machines[0].transitions[0].guard
    assert guard is not None
    span = guard.condition.span
    line = text.split("\n")[span.line - 1]
    assert line[span.column - 1 : span.end_column - 1] == "data.n + 1 > 2"
