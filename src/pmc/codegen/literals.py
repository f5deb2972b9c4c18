"""Python source text for values and types taken from a ``.pm`` file.

Nothing from the source reaches the generated module except through these
functions (values) or as a validated identifier (names). Strings are written
the way ``ruff format`` writes them, so formatting the output changes nothing.
"""

from __future__ import annotations

from decimal import Decimal

from pmc.semantics.model import (
    DictType,
    ListType,
    LiteralValue,
    OptionalType,
    Primitive,
    PrimitiveType,
    ValueType,
)

_SIMPLE_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def py_str(text: str) -> str:
    """A Python string literal equal to ``text``.

    Double quotes unless the text holds more double than single quotes (the
    choice ruff makes); every character that is not printable is escaped, so
    a literal can never end a line, a comment or the string early.
    """
    quote = "'" if text.count('"') > text.count("'") else '"'
    parts = [quote]
    for char in text:
        if char in _SIMPLE_ESCAPES:
            parts.append(_SIMPLE_ESCAPES[char])
        elif char == quote:
            parts.append("\\" + char)
        elif not char.isprintable():
            parts.append(repr(char)[1:-1])
        else:
            parts.append(char)
    parts.append(quote)
    return "".join(parts)


def printable(text: str) -> str:
    """``text`` for a comment or docstring: no line breaks or other control characters."""
    if text.isprintable() and '"""' not in text and "\\" not in text:
        return text
    return text.encode("unicode_escape").decode("ascii").replace('"', "\\x22")


def annotation(value_type: ValueType) -> str:
    match value_type:
        case PrimitiveType(primitive):
            return primitive.value
        case ListType(item):
            return f"list[{annotation(item)}]"
        case DictType(value):
            return f"dict[str, {annotation(value)}]"
        case OptionalType(inner):
            return f"{annotation(inner)} | None"


def primitives(value_type: ValueType) -> frozenset[Primitive]:
    """The primitive types an annotation names (to decide the imports)."""
    match value_type:
        case PrimitiveType(primitive):
            return frozenset({primitive})
        case ListType(item):
            return primitives(item)
        case DictType(value):
            return primitives(value)
        case OptionalType(inner):
            return primitives(inner)


def value_literal(value: LiteralValue, value_type: ValueType) -> str:
    """Source text for ``value`` as a value of ``value_type`` (already checked by semantics)."""
    if value is None:
        return "None"
    target = value_type.inner if isinstance(value_type, OptionalType) else value_type
    primitive = target.primitive if isinstance(target, PrimitiveType) else None
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, str):
        return py_str(value)
    if primitive is Primitive.DECIMAL:
        # An integer as an int (ruff's default FURB157 flags ``Decimal("7")``);
        # ``7.0`` keeps its string, which keeps its precision.
        whole = isinstance(value, int) or value.as_tuple().exponent == 0
        if whole:
            return f"Decimal({int(value)})"
        return f"Decimal({py_str(str(value))})"
    if primitive is Primitive.FLOAT and isinstance(value, Decimal):
        # Finite: semantics refuses a literal too large for a float.
        return repr(float(value))
    return str(value)
