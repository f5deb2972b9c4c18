"""Generated modules are deterministic, formatted, lint-clean and strictly typed.

All modules are written to one directory so ruff and mypy each run once.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tokenize
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import pmc.runtime as rt
from pmc.codegen.emit import program_digest
from pmc.runtime import EventMeta
from tests.codegen.second_edition import dunning_code
from tests.codegen.support import compile_text, import_code, program_of
from tests.codegen.test_golden import EXAMPLES, SECOND_EDITION, compile_example
from tests.codegen.test_safety import TRICKY, TRICKY_DATA
from tests.engine.processes import APPROVAL, JOBS, PICKING
from tests.engine.test_seed_scenario import REBASE_CLEANUP

# No tasks and no timers, and every field type: the smallest tables and the
# most imports.
TYPES = """
process Types {
    key id
    event Ping {
        id: UUID
        at: datetime
        day: date
        amount: Decimal = 1.50
        zero: Decimal = 0
        debt: Decimal = -2
        ratio: float = 2.5
        whole: float = 2
        count: int = -3
        flag: bool = true
        maybe: str | None = none
        tags: dict[str, list[int | None]]
    }
    machine M {
        states Idle, Done
        initial Idle
        final Done
        transition ping: Idle -> Done on Ping
    }
}
"""

# Names of 60 characters and more, string literals longer than any line.
LONG_NAMES = (Path(__file__).parent / "fixtures" / "long_names.pm").read_text(encoding="utf-8")

# What the generated code is checked against, besides ruff's defaults. Not
# RUF001: confusable characters in a user's own strings are theirs to keep.
RUFF_RULES = "E,F,W,B,UP,SIM,RUF,I,PYI"
RUFF_IGNORE = "RUF001"
LINE_LENGTH = "88"  # what pmc.codegen formats to: ruff's default


def all_modules() -> dict[str, str]:
    modules = {path.stem: compile_example(path) for path in EXAMPLES}
    for name, source in [
        ("tricky", TRICKY),
        ("tricky_data", TRICKY_DATA),
        ("jobs", JOBS),
        ("approval", APPROVAL),
        ("picking", PICKING),  # a broadcast route
        ("seed", REBASE_CLEANUP),
        ("types", TYPES),
        ("long_names", LONG_NAMES),
    ]:
        modules[f"inline_{name}"] = compile_text(source)
    modules["second_edition"] = compile_example(SECOND_EDITION)
    modules["model_dunning"] = dunning_code()  # the second edition, built by hand
    return modules


@pytest.fixture(scope="module")
def generated_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("generated")
    for name, code in all_modules().items():
        (directory / f"{name}.py").write_text(code, encoding="utf-8")
    return directory


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_defaults_keep_their_declared_types() -> None:
    m = import_code(compile_text(TYPES))

    ping = m.Ping(id=uuid.UUID(int=7), at="2026-01-01T00:00:00Z", day="2026-01-01", tags={})

    assert (ping.amount, ping.ratio, ping.whole, ping.count) == (Decimal("1.50"), 2.5, 2, -3)
    assert type(ping.amount) is Decimal and type(ping.whole) in (int, float)
    assert (ping.flag, ping.maybe) == (True, None)
    assert m.DEFINITION.key_of(ping) == str(uuid.UUID(int=7))


def test_input_events_are_runtime_input_events_with_finite_floats() -> None:
    m = import_code(compile_text(TYPES))
    fields: dict[str, Any] = {"id": uuid.UUID(int=7), "at": "2026-01-01T00:00:00Z"}
    fields |= {"day": "2026-01-01", "tags": {}}

    assert issubclass(m.Ping, rt.InputEvent)
    with pytest.raises(ValidationError, match="finite"):
        m.Ping(**fields, ratio=float("inf"))
    with pytest.raises(ValidationError, match="finite"):
        m.Ping(**fields, ratio=float("nan"))


def test_compiling_twice_gives_the_same_text() -> None:
    assert all_modules() == all_modules()


def test_output_does_not_depend_on_the_hash_seed() -> None:
    script = (
        "import hashlib\n"
        "from tests.codegen.test_generated_code import all_modules\n"
        "for name, code in sorted(all_modules().items()):\n"
        "    print(name, hashlib.sha256(code.encode()).hexdigest())\n"
    )
    root = Path(__file__).parents[2]
    outputs = []
    for seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    here = "".join(
        f"{name} {hashlib.sha256(code.encode()).hexdigest()}\n"
        for name, code in sorted(all_modules().items())
    )
    assert outputs == [here, here]


def test_the_header_names_pmc_the_source_and_its_hash() -> None:
    # The hash is that of the program (see tests/compat/test_generated_contract.py).
    path = next(p for p in EXAMPLES if p.name == "rebase_cleanup.pm")
    digest = program_digest(program_of(path.read_text(encoding="utf-8"), path.name))

    first, second, *_ = compile_example(path).splitlines()

    assert first.startswith("# Code generated by pmc ")
    assert first.endswith(" from rebase_cleanup.pm. DO NOT EDIT.")
    assert second == f"# program sha256: {digest}"


def test_ruff_format_leaves_generated_code_unchanged(generated_dir: Path) -> None:
    done = run(
        "ruff",
        "format",
        "--isolated",
        "--line-length",
        LINE_LENGTH,
        "--check",
        "--diff",
        ".",
        cwd=generated_dir,
    )

    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_check_with_its_default_rules_finds_nothing(generated_dir: Path) -> None:
    done = run("ruff", "check", "--isolated", ".", cwd=generated_dir)

    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_check_with_more_rules_finds_nothing(generated_dir: Path) -> None:
    done = run(
        "ruff",
        "check",
        "--isolated",
        "--line-length",
        LINE_LENGTH,
        "--select",
        RUFF_RULES,
        "--ignore",
        RUFF_IGNORE,
        "--output-format",
        "json",
        ".",
        cwd=generated_dir,
    )

    found = json.loads(done.stdout)
    assert done.returncode in (0, 1), done.stderr
    assert [f for f in found if not unsplittable_long_line(generated_dir, f)] == []


def unsplittable_long_line(directory: Path, finding: dict[str, Any]) -> bool:
    """An E501 the formatter cannot fix: a string literal is what makes the line long.

    ruff parenthesizes a long string onto a line of its own when it fits
    there; one longer than that stays where it is, and so does a long dict
    key before its value's opening bracket (`"LongTaskName": rt.TaskSpec(`).
    """
    if finding["code"] != "E501":
        return False
    path = directory / finding["filename"]
    line = path.read_text(encoding="utf-8").splitlines()[finding["location"]["row"] - 1]
    indent = len(line) - len(line.lstrip())
    strings = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline):
            if token.type == tokenize.STRING:
                strings.append(token.string)
    except tokenize.TokenError:
        pass  # the line opens a bracket that a later line closes
    return any(
        indent + 4 + len(s) + 1 > int(LINE_LENGTH) or len(line) - len(s) <= int(LINE_LENGTH)
        for s in strings
    )


def test_long_names_and_literals_exercise_the_unsplittable_case(generated_dir: Path) -> None:
    # The exemption above is needed: a default longer than any line stays
    # on the line of its field.
    code = (generated_dir / "inline_long_names.py").read_text(encoding="utf-8")

    assert any(
        len(line) > int(LINE_LENGTH) and line.strip().startswith("a_reason_with_a_very_long")
        for line in code.splitlines()
    )


def test_a_module_with_long_names_imports_and_decides() -> None:
    m = import_code(compile_text(LONG_NAMES))
    event = m.SomethingHappenedInTheUpstreamSystemThatWeReallyNeedToReactToNow(
        the_correlation_key_field_with_a_remarkably_long_descriptive_name="k",
        a_list_of_machine_identifiers_that_this_event_fans_out_across_all=["A"],
    )
    meta = EventMeta(uuid.UUID(int=1), datetime(2026, 1, 1, tzinfo=UTC), "k")

    planned, timer = m.DEFINITION.decide(m.DEFINITION.initial_state(), event, meta)

    assert planned.task == "PerformTheExtremelyImportantCleanupOperationOnTheRemoteMachineNow"
    assert timer.due_at == datetime(2125, 12, 8, tzinfo=UTC)  # after 36500d


def test_literal_none_is_written_as_an_optional_literal() -> None:
    # ``Literal["X", None]`` is PYI061 in ruff's default rules.
    code = compile_text(REBASE_CLEANUP)

    assert 'task: Literal["CloseInstance"] | None = None' in code
    assert 'task_mode: Literal["async"] | None = None' in code
    assert ", None]" not in code


def test_section_banners_have_one_width() -> None:
    banners = [
        line
        for code in all_modules().values()
        for line in code.splitlines()
        if line.startswith("# ---- ")
    ]

    assert len(banners) > 20
    assert {len(line) for line in banners} == {88}


@pytest.mark.slow
def test_mypy_strict_accepts_generated_code(
    generated_dir: Path, pytestconfig: pytest.Config, tmp_path: Path
) -> None:
    # Without pytest's cache plugin (``-p no:cacheprovider``) ``config.cache``
    # does not exist: mypy then caches in a tmp dir.
    pytest_cache: pytest.Cache | None = getattr(pytestconfig, "cache", None)
    cache = pytest_cache.mkdir("mypy-generated") if pytest_cache else tmp_path / "mypy-cache"

    done = run("mypy", "--strict", "--cache-dir", str(cache), ".", cwd=generated_dir)

    assert done.returncode == 0, done.stdout + done.stderr
