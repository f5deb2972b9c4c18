"""The canonical printer: lays the AST out as canonical lines.

``pmc fmt`` weaves the comments back in between the lines
(:mod:`pmc.tools.fmt`); codegen hashes the :func:`program_text` alone. Each
:class:`Line` remembers the range of source it renders, so that the comments
can be placed before, inside or after it. The rules are documented in
``docs/style.md``; keep the two in step.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from pmc.source import Span
from pmc.syntax import ast
from pmc.syntax.strings import quote

INDENT = 4
MAX_WIDTH = 100

Pos = tuple[int, int]
"""A source position as ``(line, column)``, 1-based; tuples compare in reading order."""


class Kind(Enum):
    """What a line is, which decides the blank lines allowed before it."""

    TOP = "top"  # a declaration of the process: always one blank line before
    MEMBER = "member"  # a member of a block: keeps one blank line if the author had one
    CONT = "cont"  # the rest of a construct that did not fit on one line: never a blank line
    CLOSE = "close"  # `}` or `)`: comments before it belong to the block's end


@dataclass(frozen=True, slots=True)
class Line:
    indent: int
    text: str
    start: Pos  # where the first token rendered on this line starts in the source
    end: Pos  # where the last one ends
    kind: Kind

    @property
    def opens(self) -> bool:
        return self.text.endswith(("{", "("))


@dataclass(frozen=True, slots=True)
class _Piece:
    """A token or a short run of tokens that line filling never splits."""

    text: str
    start: Pos
    end: Pos


def start_of(span: Span) -> Pos:
    return (span.line, span.column)


def end_of(span: Span) -> Pos:
    return (span.end_line, span.end_column)


def _last_char(span: Span) -> Pos:
    """The closing `}` or `)` of a node: its last character."""
    return (span.end_line, span.end_column - 1)


@dataclass(frozen=True, slots=True)
class CommentIndex:
    """Where the comments start: some layout choices depend on a comment inside."""

    positions: tuple[Pos, ...]

    @staticmethod
    def of(positions: Iterable[Pos]) -> CommentIndex:
        return CommentIndex(tuple(sorted(positions)))

    def any_between(self, start: Pos, end: Pos) -> bool:
        index = bisect_left(self.positions, start)
        return index < len(self.positions) and self.positions[index] < end


def _fits(indent: int, text: str) -> bool:
    return indent + len(text) <= MAX_WIDTH


# ---- the layout ----------------------------------------------------------------


def layout_process(process: ast.Process, comments: CommentIndex) -> list[Line]:
    """The lines of a whole file, comments left out; ``comments`` only steer choices."""
    header = f"process {process.name.text}"
    body: list[Line] = []
    for declaration in process.declarations:
        body.extend(_declaration(declaration, INDENT, comments))
    return _block(header, end_of(process.name.span), process.span, body, 0, Kind.MEMBER, comments)


def program_text(module: ast.Module) -> str:
    """The program alone, as ``pmc fmt`` lays it out: no comments, no blank lines.

    Two sources that differ only in layout or comments have the same
    program text; generated modules hash it (``docs/design.md``).
    """
    lines = layout_process(module.process, CommentIndex.of(()))
    return "".join(f"{' ' * line.indent}{line.text}\n" for line in lines)


def _block(
    header: str,
    header_end: Pos,
    span: Span,
    body: list[Line],
    indent: int,
    kind: Kind,
    comments: CommentIndex,
) -> list[Line]:
    """``header {`` + body + ``}``, or ``header {}`` when there is nothing inside.

    ``header_end`` is where the header's last token ends in the source: a
    comment between it and the closing brace keeps the block open.
    """
    start = start_of(span)
    close = _last_char(span)
    if not body and not comments.any_between(header_end, close):
        return [Line(indent, f"{header} {{}}", start, end_of(span), kind)]
    return [
        Line(indent, f"{header} {{", start, header_end, kind),
        *body,
        Line(indent, "}", close, end_of(span), Kind.CLOSE),
    ]


def _declaration(declaration: ast.Declaration, indent: int, comments: CommentIndex) -> list[Line]:
    kind = Kind.TOP
    match declaration:
        case ast.KeyDecl(field=field, span=span):
            return [_line(indent, f"key {field.text}", span, kind)]
        case ast.EventDecl(name=name, fields=fields, span=span):
            return _fields_block(f"event {name.text}", name.span, fields, span, indent, comments)
        case ast.SignalDecl(name=name, fields=fields, span=span):
            return _fields_block(f"signal {name.text}", name.span, fields, span, indent, comments)
        case ast.DataDecl():
            return _data_block(declaration, indent, kind, comments)
        case ast.TaskDecl():
            return _task(declaration, indent, comments)
        case ast.MachineDecl(name=name, members=members, span=span):
            body = [line for m in members for line in _machine_member(m, indent + INDENT, comments)]
            header = f"machine {name.text}"
            return _block(header, end_of(name.span), span, body, indent, kind, comments)
        case ast.StartOn(events=events, span=span):
            return _fill("start on", _names(events), indent, start_of(span), kind)
        case ast.CancelOn(events=events, span=span):
            return _fill("cancel on", _names(events), indent, start_of(span), kind)
        case ast.CompleteWhen(conditions=conditions, span=span, data=data):
            parts: tuple[Condition, ...] = (*conditions, *_chain(data, ast.BinaryOp.AND))
            return _conditions("complete when", "and", parts, indent, span, kind)
        case ast.FailWhen(conditions=conditions, span=span, data=data):
            parts = (*conditions, *_chain(data, ast.BinaryOp.OR))
            return _conditions("fail when", "or", parts, indent, span, kind)


def _line(indent: int, text: str, span: Span, kind: Kind) -> Line:
    return Line(indent, text, start_of(span), end_of(span), kind)


def _names(names: Sequence[ast.Name]) -> list[_Piece]:
    return [_Piece(n.text, start_of(n.span), end_of(n.span)) for n in names]


def _fill(prefix: str, pieces: Sequence[_Piece], indent: int, start: Pos, kind: Kind) -> list[Line]:
    """``prefix a, b, c`` on one line, or filled greedily up to the width limit
    with the continuation lines aligned under the first piece."""
    column = indent + len(prefix) + 1
    texts = [p.text + "," for p in pieces[:-1]] + [pieces[-1].text]
    rows: list[list[int]] = [[0]]
    for i in range(1, len(pieces)):
        row = rows[-1]
        width = sum(len(texts[j]) + 1 for j in row) + len(texts[i])
        if column + width <= MAX_WIDTH:
            row.append(i)
        else:
            rows.append([i])
    lines = []
    for number, row in enumerate(rows):
        text = " ".join(texts[j] for j in row)
        first, last = pieces[row[0]], pieces[row[-1]]
        if number == 0:
            lines.append(Line(indent, f"{prefix} {text}", start, last.end, kind))
        else:
            lines.append(Line(column, text, first.start, last.end, Kind.CONT))
    return lines


# ---- events and tasks --------------------------------------------------------


def _field(field: ast.Field, indent: int) -> Line:
    text = f"{field.name.text}: {type_text(field.type)}"
    if field.default is not None:
        text += f" = {literal_text(field.default)}"
    return _line(indent, text, field.span, Kind.MEMBER)


def _fields_block(
    header: str,
    name_span: Span,
    fields: Sequence[ast.Field],
    span: Span,
    indent: int,
    comments: CommentIndex,
) -> list[Line]:
    """``event E { ... }`` and ``signal S { ... }``: a named block of fields."""
    body = [_field(f, indent + INDENT) for f in fields]
    return _block(header, end_of(name_span), span, body, indent, Kind.TOP, comments)


def _data_block(data: ast.DataDecl, indent: int, kind: Kind, comments: CommentIndex) -> list[Line]:
    """``data { ... }``: a process's (a top declaration) or a machine's (a member)."""
    keyword_end = (data.span.line, data.span.column + len("data"))
    body = [_field(f, indent + INDENT) for f in data.fields]
    return _block("data", keyword_end, data.span, body, indent, kind, comments)


def _task(task: ast.TaskDecl, indent: int, comments: CommentIndex) -> list[Line]:
    header = f"task {task.name.text}"
    header_end = end_of(task.name.span)
    if task.mode is not None and task.mode_span is not None:
        header += f" {task.mode.value}"
        header_end = end_of(task.mode_span)
    body = [line for m in task.members for line in _task_member(m, indent + INDENT, comments)]
    return _block(header, header_end, task.span, body, indent, Kind.TOP, comments)


def _task_member(member: ast.TaskMember, indent: int, comments: CommentIndex) -> list[Line]:
    match member:
        case ast.Field():
            return [_field(member, indent)]
        case ast.ReturnsClause(fields=fields, span=span):
            keyword_end = (span.line, span.column + len("returns"))
            body = [_field(f, indent + INDENT) for f in fields]
            return _block("returns", keyword_end, span, body, indent, Kind.MEMBER, comments)
        case ast.RetryClause():
            return [_line(indent, retry_text(member), member.span, Kind.MEMBER)]
        case ast.TimeoutClause(duration=duration, span=span):
            return [_line(indent, f"timeout {duration.text}", span, Kind.MEMBER)]


def retry_text(retry: ast.RetryClause) -> str:
    text = f"retry {retry.retries}"
    if retry.delay is not None:
        text += f" {retry.delay.kind.value} {retry.delay.duration.text}"
    if retry.max_delay is not None:
        text += f" max {retry.max_delay.text}"
    return text


# ---- machines ----------------------------------------------------------------


def _machine_member(member: ast.MachineMember, indent: int, comments: CommentIndex) -> list[Line]:
    match member:
        case ast.DataDecl():
            return _data_block(member, indent, Kind.MEMBER, comments)
        case ast.StatesClause(names=names, span=span):
            return _fill("states", _names(names), indent, start_of(span), Kind.MEMBER)
        case ast.InitialClause(state=state, span=span):
            return [_line(indent, f"initial {state.text}", span, Kind.MEMBER)]
        case ast.FinalClause(states=states, span=span):
            return _fill("final", _names(states), indent, start_of(span), Kind.MEMBER)
        case ast.Transition():
            return _transition(member, indent, comments)


def _transition(transition: ast.Transition, indent: int, comments: CommentIndex) -> list[Line]:
    """``transition n: A, B -> C on E`` on one line when it fits; otherwise the
    sources are filled and ``-> C on E`` goes on a continuation line. Each
    clause (``when``, ``keep``, ``run``, ``set``, ``emit``) always starts a
    continuation line of its own, in that order."""
    head = f"transition {transition.name.text}:"
    sources = [_source_piece(s) for s in transition.sources]
    tail = f"-> {transition.target.text} on {trigger_text(transition.trigger)}"
    start = start_of(transition.span)
    tail_end = end_of(transition.trigger.span)
    one_line = f"{head} {', '.join(p.text for p in sources)} {tail}"
    if _fits(indent, one_line):
        lines = [Line(indent, one_line, start, tail_end, Kind.MEMBER)]
    else:
        lines = _fill(head, sources, indent, start, Kind.MEMBER)
        tail_start = start_of(transition.target.span)
        lines.append(Line(indent + INDENT, tail, tail_start, tail_end, Kind.CONT))
    return lines + _clauses(transition, indent + INDENT, comments)


def _clauses(transition: ast.Transition, indent: int, comments: CommentIndex) -> list[Line]:
    lines: list[Line] = []
    if transition.guard is not None:
        guard = transition.guard
        condition = guard.condition
        joiner = _joiner(condition)
        parts = _chain(condition, joiner)
        lines.extend(_conditions("when", joiner.value, parts, indent, guard.span, Kind.CONT))
    if transition.keep is not None:
        keep = transition.keep
        lines.extend(_fill("keep", _names(keep.tasks), indent, start_of(keep.span), Kind.CONT))
    if transition.run is not None:
        run = transition.run
        lines.extend(_call("run", run.task, run.bindings, run.span, indent, comments))
    if transition.set is not None:
        lines.extend(_set(transition.set, indent))
    for emit in transition.emits:
        lines.extend(_call("emit", emit.signal, emit.bindings, emit.span, indent, comments))
    return lines


def _set(clause: ast.SetClause, indent: int) -> list[Line]:
    """Assignments filled to the width; a lone one too long for a line breaks
    before each outermost ``and`` / ``or`` of its value, as a guard does."""
    match clause.assignments:
        case (assignment,) if not _fits(indent, f"set {_assignment_piece(assignment).text}"):
            value = assignment.value
            joiner = _joiner(value)
            keyword = f"set {expr_text(assignment.target)} ="
            return _conditions(
                keyword, joiner.value, _chain(value, joiner), indent, clause.span, Kind.CONT
            )
    assignments = [_assignment_piece(a) for a in clause.assignments]
    return _fill("set", assignments, indent, start_of(clause.span), Kind.CONT)


def _assignment_piece(assignment: ast.Assignment) -> _Piece:
    text = f"{expr_text(assignment.target)} = {expr_text(assignment.value)}"
    return _Piece(text, start_of(assignment.span), end_of(assignment.span))


def _source_piece(source: ast.Name | ast.Wildcard) -> _Piece:
    text = source.text if isinstance(source, ast.Name) else "*"
    return _Piece(text, start_of(source.span), end_of(source.span))


def trigger_text(trigger: ast.Trigger) -> str:
    match trigger:
        case ast.EventTrigger(event=event):
            return event.text
        case ast.SelectorTrigger(event=event, field=field):
            return f"{event.text}.{field.text}"
        case ast.OutcomeTrigger(task=task, outcome=outcome):
            return f"{task.text} {outcome.value}"
        case ast.TimerTrigger(duration=duration):
            return f"after {duration.text}"
        case ast.DeadlineTrigger(field=field):
            return f"at {expr_text(field)}"


def _call(
    keyword: str,
    name: ast.Name,
    bindings: Sequence[ast.Binding],
    span: Span,
    indent: int,
    comments: CommentIndex,
) -> list[Line]:
    """``run T(a = x, b = y)`` / ``emit S(...)`` when it fits and holds no
    comment; otherwise one binding per line with a trailing comma. No
    bindings: plain ``run T`` / ``emit S``."""
    call = f"{keyword} {name.text}"
    if not bindings:
        return [_line(indent, call, span, Kind.CONT)]
    texts = [f"{b.field.text} = {expr_text(b.value)}" for b in bindings]
    inline = f"{call}({', '.join(texts)})"
    close = _last_char(span)
    commented = comments.any_between(end_of(name.span), close)
    if _fits(indent, inline) and not commented:
        return [_line(indent, inline, span, Kind.CONT)]
    return [
        Line(indent, f"{call}(", start_of(span), end_of(name.span), Kind.CONT),
        *(
            _line(indent + INDENT, f"{text},", b.span, Kind.CONT)
            for text, b in zip(texts, bindings, strict=True)
        ),
        Line(indent, ")", close, end_of(span), Kind.CLOSE),
    ]


# ---- process-level conditions ----------------------------------------------------


Condition = ast.AllFinal | ast.AllIn | ast.AnyIn | ast.Expr


def _joiner(expr: ast.Expr) -> ast.BinaryOp:
    """The operator whose operands a long guard puts one per line: its ``or``, else ``and``."""
    if isinstance(expr, ast.BinaryExpr) and expr.op is ast.BinaryOp.OR:
        return ast.BinaryOp.OR
    return ast.BinaryOp.AND


def _chain(expr: ast.Expr | None, op: ast.BinaryOp) -> tuple[ast.Expr, ...]:
    """``a and b and c`` -> ``(a, b, c)``: the operands of a left-leaning chain of ``op``.

    Written one per line after ``op``, they parse back to the same tree.
    """
    if expr is None:
        return ()
    # A loop, not recursion: a chain of thousands of operands is a deep left tree.
    operands: list[ast.Expr] = []
    while isinstance(expr, ast.BinaryExpr) and expr.op is op:
        operands.append(expr.right)
        expr = expr.left
    operands.append(expr)
    return tuple(reversed(operands))


def _conditions(
    keyword: str,
    joiner: str,
    conditions: Sequence[Condition],
    indent: int,
    span: Span,
    kind: Kind,
) -> list[Line]:
    """All conditions on one line when they fit; otherwise one per line, the
    later ones on continuation lines that start with ``and`` / ``or``. A data
    condition or a guard counts its operands of ``and`` / ``or`` as conditions."""
    one_line = f"{keyword} " + f" {joiner} ".join(condition_text(c) for c in conditions)
    if _fits(indent, one_line):
        return [_line(indent, one_line, span, kind)]
    lines: list[Line] = []
    for number, condition in enumerate(conditions):
        if number == 0:
            lines.extend(_condition(keyword, condition, indent, start_of(span), kind))
        else:
            start = start_of(condition.span)
            lines.extend(_condition(joiner, condition, indent + INDENT, start, Kind.CONT))
    return lines


def _condition(
    prefix: str, condition: Condition, indent: int, start: Pos, kind: Kind
) -> list[Line]:
    match condition:
        case ast.AllFinal(machine=machine):
            end = end_of(condition.span)
            return [Line(indent, f"{prefix} all {machine.text} final", start, end, kind)]
        case ast.AllIn(machine=machine, states=states):
            return _fill(f"{prefix} all {machine.text} in", _names(states), indent, start, kind)
        case ast.AnyIn(machine=machine, states=states):
            return _fill(f"{prefix} any {machine.text} in", _names(states), indent, start, kind)
        case _:
            end = end_of(condition.span)
            return [Line(indent, f"{prefix} {expr_text(condition)}", start, end, kind)]


def condition_text(condition: Condition) -> str:
    match condition:
        case ast.AllFinal(machine=machine):
            return f"all {machine.text} final"
        case ast.AllIn(machine=machine, states=states):
            return f"all {machine.text} in {', '.join(s.text for s in states)}"
        case ast.AnyIn(machine=machine, states=states):
            return f"any {machine.text} in {', '.join(s.text for s in states)}"
        case _:
            return expr_text(condition)


# ---- types, literals and expressions ---------------------------------------------


def type_text(type_: ast.TypeExpr) -> str:
    match type_:
        case ast.UnionType(members=members):
            return " | ".join(type_text(m) for m in members)
        case ast.NamedType(name=name, args=args):
            if not args:
                return name.text
            return f"{name.text}[{', '.join(type_text(a) for a in args)}]"


def literal_text(literal: ast.Literal) -> str:
    match literal:
        case ast.StringLiteral(value=value):
            return quote(value)
        case ast.IntLiteral(value=value):
            return str(value)
        case ast.DecimalLiteral(text=text):
            return text
        case ast.BoolLiteral(value=value):
            return "true" if value else "false"
        case ast.NoneLiteral():
            return "none"


def expr_text(expr: ast.Expr) -> str:
    """An expression with single spaces around operators and the author's parentheses.

    The tree keeps every pair of parentheses (:class:`ast.ParenExpr`) and none
    is added, so the text parses back to the same tree.
    """
    match expr:
        case ast.EventFieldRef(field=field):
            return f"event.{field.text}"
        case ast.MachineIdRef():
            return "machine_id"
        case ast.KeyRef():
            return "key"
        case ast.DataFieldRef(scope=scope, field=field):
            return f"{scope.value}.{field.text}"
        case ast.UnaryExpr(op=op, operand=operand):
            inner = expr_text(operand)
            return f"len({inner})" if op is ast.UnaryOp.LEN else f"not {inner}"
        case ast.BinaryExpr():
            # Down the left spine in a loop: a chain such as `a and b and ...`
            # or `x - y - ...` is a left tree as deep as it is long. Right
            # operands nest no deeper than the parser's nesting limit.
            tails: list[str] = []
            while isinstance(expr, ast.BinaryExpr):
                tails.append(f" {expr.op.value} {expr_text(expr.right)}")
                expr = expr.left
            return expr_text(expr) + "".join(reversed(tails))
        case ast.IsNoneExpr(operand=operand, negated=negated):
            return f"{expr_text(operand)} is {'not none' if negated else 'none'}"
        case ast.ParenExpr(inner=inner):
            return f"({expr_text(inner)})"
        case _:
            return literal_text(expr)
