"""``@record`` classes behave as ``@dataclass(frozen=True, slots=True)`` classes do.

``record`` builds ``__repr__``, ``__eq__`` and ``__hash__`` without compiling
them (start-up time, issue 11). Each test sets a record beside its twin made
by ``dataclasses`` from the same fields, and shows that nothing a caller can
see tells them apart: every AST node and model class, then the finer points
(fields left out of equality, frozen-ness, pickling, recursion in ``repr``).
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from typing import Any

import pytest

from pmc.semantics import model
from pmc.source import Span
from pmc.syntax import ast
from pmc.syntax.records import record

RECORDS = sorted(
    (
        cls
        for module in (ast, model)
        for cls in vars(module).values()
        if isinstance(cls, type) and cls.__module__ == module.__name__
        if dataclasses.is_dataclass(cls)
    ),
    key=lambda cls: f"{cls.__module__}.{cls.__qualname__}",
)


def twin(cls: type) -> Any:
    """The class ``@dataclass(frozen=True, slots=True)`` makes of ``cls``'s fields."""
    fields = [
        (f.name, f.type, dataclasses.field(default=f.default, repr=f.repr, compare=f.compare))
        if f.default is not dataclasses.MISSING
        else (f.name, f.type, dataclasses.field(repr=f.repr, compare=f.compare))
        for f in dataclasses.fields(cls)
    ]
    return dataclasses.make_dataclass(cls.__name__, fields, frozen=True, slots=True)


def values(cls: type, salt: str) -> dict[str, object]:
    """A distinct value for every field of ``cls``."""
    return {f.name: f"{f.name}-{salt}" for f in dataclasses.fields(cls)}


def test_every_ast_node_and_model_class_is_a_record() -> None:
    assert len(RECORDS) > 80
    assert all(cls.__repr__.__module__ == "pmc.syntax.records" for cls in RECORDS)


@pytest.mark.parametrize("cls", RECORDS, ids=lambda cls: cls.__qualname__)
def test_a_record_and_its_dataclass_twin_look_alike(cls: type) -> None:
    other = twin(cls)
    first, second = values(cls, "a"), values(cls, "b")
    ours, theirs = cls(**first), other(**first)

    assert repr(ours) == repr(theirs)
    assert hash(ours) == hash(theirs)
    assert inspect.signature(cls) == inspect.signature(other)
    assert cls.__match_args__ == other.__match_args__
    assert cls.__slots__ == other.__slots__
    for name in first:  # equality and hash follow exactly the compared fields
        changed = {**first, name: second[name]}
        assert (cls(**changed) == ours) is (other(**changed) == theirs)
        assert (hash(cls(**changed)) == hash(ours)) is (hash(other(**changed)) == hash(theirs))


def test_equality_needs_the_same_class_and_defers_to_the_other_side() -> None:
    name = ast.Name("x", Span(1, 1, 1, 2))

    assert name == ast.Name("x", Span(1, 1, 1, 2))
    assert name != ast.Name("y", Span(1, 1, 1, 2))
    assert name.__eq__("x") is NotImplemented
    assert name != ast.StringLiteral("x", Span(1, 1, 1, 2))


def test_fields_out_of_equality_are_out_of_the_hash_too() -> None:
    integer = model.PrimitiveType(model.Primitive.INT)
    here = model.FieldModel("amount", integer, span=Span(1, 1, 1, 7))
    there = model.FieldModel("amount", integer, span=Span(9, 1, 9, 7))

    assert here == there
    assert hash(here) == hash(there)
    assert len({here, there}) == 1


def test_a_record_is_frozen_slotted_and_replaced_as_a_dataclass_is() -> None:
    name = ast.Name("x", Span(1, 1, 1, 2))

    with pytest.raises(dataclasses.FrozenInstanceError):
        name.text = "y"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del name.text  # type: ignore[misc]
    assert not hasattr(name, "__dict__")
    assert dataclasses.replace(name, text="y") == ast.Name("y", Span(1, 1, 1, 2))
    assert dataclasses.astuple(name) == ("x", (1, 1, 1, 2))
    match name:
        case ast.Name(text, _):
            assert text == "x"


def test_a_record_survives_pickling_and_copying() -> None:
    name = ast.Name("x", Span(1, 1, 1, 2))

    assert pickle.loads(pickle.dumps(name)) == name
    assert copy.deepcopy(name) == name
    assert copy.copy(name) == name


@record
class Node:
    label: str
    children: list[Node]


def test_repr_of_a_record_that_contains_itself_stops_as_dataclasses_does() -> None:
    node = Node("root", [])
    node.children.append(node)

    assert repr(node) == "Node(label='root', children=[...])"


def test_a_class_writing_its_own_equality_keeps_dataclass() -> None:
    class Custom:
        def __eq__(self, other: object) -> bool:
            return True

    with pytest.raises(TypeError, match="Custom writes __eq__, __hash__: use @dataclass"):
        record(Custom)
