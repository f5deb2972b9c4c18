"""``record``: ``@dataclass(frozen=True, slots=True)`` for less start-up time.

The AST and the semantic model are about ninety frozen slotted dataclasses,
and every ``pmc check`` defines them all before it reads a line: for each
one, ``dataclasses`` compiles the source text of six methods. ``record`` has
``dataclasses`` compile only what must be compiled (``__init__``, whose
signature is the class's, and the frozen ``__setattr__``/``__delattr__`` it
always writes) and builds ``__repr__``, ``__eq__`` and ``__hash__`` from the
fields without compiling, with the results ``dataclasses`` gives: the same
text, the same equality (same class, fields with ``compare`` in order) and
the same hash (of the tuple of the fields that hash). ``dataclasses.fields``,
``replace``, ``asdict``, pattern matching and pickling see a dataclass.
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform

_T = TypeVar("_T")

# The methods ``record`` writes; a class that writes one itself keeps
# ``@dataclass`` (none in pmc does).
_OWN_METHODS = ("__repr__", "__eq__", "__hash__")


def _values(names: tuple[str, ...]) -> Callable[[object], tuple[Any, ...]]:
    """The tuple of the attributes ``names`` of an object (``attrgetter`` does not
    make a tuple of one)."""
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    if not names:
        return lambda obj: ()
    return attrgetter(*names)


def _named(cls: type, method: Callable[..., Any]) -> None:
    """Put ``method`` on ``cls`` under its name, qualified as dataclasses does."""
    method.__qualname__ = f"{cls.__qualname__}.{method.__name__}"
    setattr(cls, method.__name__, method)


def _add_methods(cls: type) -> None:
    fields = dataclasses.fields(cls)
    shown = tuple(f.name for f in fields if f.repr)
    shown_values = _values(shown)
    compared = _values(tuple(f.name for f in fields if f.compare))
    # dataclasses' rule: ``hash=None`` follows ``compare``.
    hashed = _values(tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash)))

    @reprlib.recursive_repr()
    def __repr__(self: Any) -> str:
        pairs = zip(shown, shown_values(self), strict=True)
        return f"{self.__class__.__qualname__}({', '.join(f'{n}={v!r}' for n, v in pairs)})"

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is self.__class__:
            return compared(self) == compared(other)
        return NotImplemented

    def __hash__(self: Any) -> int:
        return hash(hashed(self))

    for method in (__repr__, __eq__, __hash__):
        _named(cls, method)


@dataclass_transform(frozen_default=True)
def record(cls: type[_T], /) -> type[_T]:
    """``cls`` made a frozen slotted dataclass, as ``@dataclass(frozen=True, slots=True)``."""
    written = sorted(set(_OWN_METHODS) & set(vars(cls)))
    if written:
        raise TypeError(f"record {cls.__qualname__} writes {', '.join(written)}: use @dataclass")
    built = dataclasses.dataclass(cls, frozen=True, slots=True, repr=False, eq=False)
    _add_methods(built)
    return built
