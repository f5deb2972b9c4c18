"""Every identifier a generated module uses, as every kind of `.pm` name (issue #8, item 9).

The pool (:func:`~tests.properties.names.identifier_pool`) holds every
identifier of the examples' generated modules, of ``pmc.runtime`` and of
the classes generated code builds on, and the builtins. A process whose
names come from it either gets a diagnostic about a name, or compiles to a
module that ``mypy --strict`` accepts, that imports, and that runs end to
end on the memory store: sync and async tasks, bindings from the event, a
task's result, ``machine_id`` and ``key``, a process that completes.
"""

from __future__ import annotations

import itertools
import keyword
from collections.abc import Iterator
from math import ceil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from pmc.naming import PYTHON_BUILTINS
from tests.codegen.support import compile_text
from tests.properties.names import (
    KINDS,
    PLAIN,
    SLOTS,
    Checked,
    about_names,
    check,
    identifier_pool,
    import_and_run,
    mypy_strict,
    some_about_names,
)

POOL = identifier_pool()

# The identifiers no rule rejects outright as a name of any kind: drawn
# more often, so that more drawn processes get as far as the generated module.
PLAUSIBLE = [
    name
    for name in POOL
    if not name.startswith("_") and not keyword.iskeyword(name) and name not in PYTHON_BUILTINS
]

_numbers = itertools.count()


@pytest.fixture(scope="module")
def generated_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the modules go."""
    return tmp_path_factory.mktemp("names")


def _compile(checked: Checked, directory: Path) -> tuple[Path, str]:
    assert checked.model is not None
    code = compile_text(checked.text, "names.pm")
    path = directory / f"names_{next(_numbers)}.py"
    path.write_text(code, encoding="utf-8")
    return path, code


def _without_rejected(names: dict[str, str]) -> tuple[dict[str, str], Checked]:
    """``names`` less those an error points at, until none does.

    Every error on the way must be about a name.
    """
    while True:
        checked = check(names)
        if not checked.codes:
            return names, checked
        assert about_names(checked.codes), (names, checked.codes)
        blamed = {slot for slot, name in names.items() if name in checked.blamed}
        if not blamed:
            # The error points past the name (`on after completed`, a task
            # named `after`, is a syntax error at `completed`): ask each slot.
            blamed = {slot for slot, name in names.items() if check({slot: name}).codes}
        assert blamed, (names, checked.codes, checked.blamed)
        names = {slot: name for slot, name in names.items() if slot not in blamed}


def sweep() -> Iterator[dict[str, str]]:
    """Processes that together put every identifier in a slot of every kind.

    In process ``i``, the ``j``-th slot of a kind with ``k`` slots takes the
    identifier ``i * k + j`` (each kind starting at its own offset, so that
    the names of one process differ).
    """
    rounds = max(ceil(len(POOL) / len(slots)) for slots in KINDS.values())
    offset = len(POOL) // len(KINDS)
    for number in range(rounds):
        names: dict[str, str] = {}
        for kind, slots in enumerate(KINDS.values()):
            for index, slot in enumerate(slots):
                name = POOL[(number * len(slots) + index + kind * offset) % len(POOL)]
                if name not in names.values():
                    names[slot] = name
        yield names


@pytest.mark.slow
def test_every_identifier_as_every_kind_of_name(generated_dir: Path, mypy_cache: Path) -> None:
    accepted: dict[str, set[str]] = {kind: set() for kind in KINDS}
    paths = []
    for drawn in sweep():
        names, checked = _without_rejected(drawn)
        path, code = _compile(checked, generated_dir)
        paths.append(path)
        import_and_run(code, names)
        for kind, slots in KINDS.items():
            accepted[kind] |= {names[slot] for slot in slots if slot in names}

    done = mypy_strict(paths, mypy_cache)

    assert done.returncode == 0, done.stdout + done.stderr
    # Most identifiers are fine names: the sweep is no sweep if they are not.
    assert {kind: len(names) > len(PLAUSIBLE) // 2 for kind, names in accepted.items()} == {
        kind: True for kind in KINDS
    }, {kind: len(names) for kind, names in accepted.items()}


@st.composite
def named(draw: st.DrawFn) -> dict[str, str]:
    """Some slots renamed: to identifiers of the pool, or to a name another slot took."""
    slots = draw(st.lists(st.sampled_from(SLOTS), unique=True, min_size=1, max_size=12))
    names: dict[str, str] = {}
    for slot in slots:
        choices = [st.sampled_from(PLAUSIBLE), st.sampled_from(POOL)]
        taken = sorted({*names.values(), *(PLAIN[s] for s in SLOTS if s not in names)})
        choices.append(st.sampled_from(taken))
        names[slot] = draw(st.one_of(choices))
    return names


def test_a_process_named_from_the_pool_is_rejected_or_works(
    generated_dir: Path, mypy_cache: Path
) -> None:
    """Each drawn process is rejected about a name, or imports and runs; then
    mypy checks every compiled module in one run, as the sweep above does
    (one mypy start per drawn process cost more than all the rest)."""
    compiled: dict[str, str] = {}  # module file name: the process it was compiled from

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(named())
    def rejected_or_runs(names: dict[str, str]) -> None:
        checked = check(names)
        note(checked.text)
        if checked.codes:
            event("rejected")
            assert some_about_names(checked.codes), checked.codes
            return
        event("compiled")

        path, code = _compile(checked, generated_dir)
        import_and_run(code, names)
        compiled[path.name] = checked.text

    rejected_or_runs()
    if not compiled:
        return
    done = mypy_strict([generated_dir / name for name in compiled], mypy_cache)

    assert done.returncode == 0, (done.stdout + done.stderr, compiled)
