"""Names a user may choose never break the generated module (issue #8, item 9).

Each case puts one name where it used to clash with a name the generated
module uses itself: a class attribute of the definition, a parameter of
``route`` or of a binding function. The process must compile, pass
``mypy --strict``, and run end to end. The property test in
``tests/properties/test_names.py`` tries every identifier in every place.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.codegen.support import compile_text
from tests.properties.names import check, import_and_run, mypy_strict, render

# (slot of tests.properties.names.SHAPE, name): the clashes the issue lists.
CLASHES = [
    # a task named like a table of the definition class: the task table
    # picked up the class attribute
    *[
        (slot, name)
        for slot in ("sync_task", "async_task")
        for name in ("start_on", "machines", "events", "cancel_on", "category", "key_field")
    ],
    # an event named like a table: `handle` raised TypeError
    ("start_event", "category"),
    ("start_event", "key_field"),
    ("cancel_event", "category"),
    # an event named like a parameter of `route`: `case self():` matched it
    ("start_event", "self"),
    ("start_event", "event"),
    # a task named like a parameter of its binding function
    *[
        (slot, name)
        for slot in ("sync_task", "next_task")
        for name in ("key", "event", "machine_id")
    ],
    # an event named like a table it is listed in: mypy failed
    ("start_event", "events"),
    ("cancel_event", "events"),
    ("start_event", "start_on"),
    ("cancel_event", "cancel_on"),
    # a task whose method is named like the module alias `rt`: the method hid
    # it in the tasks protocol, and mypy failed on every later signature
    ("sync_task", "Rt"),
    ("sync_task", "RT"),
    ("next_task", "Rt"),
]


@pytest.mark.parametrize(("slot", "name"), CLASHES, ids=lambda value: str(value))
def test_a_name_the_module_uses_itself_compiles_and_runs(slot: str, name: str) -> None:
    names = {slot: name}
    assert check(names).codes == ()

    import_and_run(compile_text(render(names)), names)


def test_the_modules_with_those_names_pass_mypy_strict(tmp_path: Path, mypy_cache: Path) -> None:
    paths = []
    for number, (slot, name) in enumerate(CLASHES):
        path = tmp_path / f"clash_{number}.py"
        path.write_text(compile_text(render({slot: name})), encoding="utf-8")
        paths.append(path)

    done = mypy_strict(paths, mypy_cache)

    assert done.returncode == 0, done.stdout + done.stderr
