"""The editor's incremental check gives exactly what `pmc check` gives.

`pmc lsp` keeps one :class:`Checker` per document and, after a keystroke,
re-parses only the top-level blocks whose text changed
(:class:`IncrementalParser`) and re-analyses only the machines that changed
or read what did (:class:`MachineMemo`). Whatever
the edit (braces, quotes, comment markers, a block split in two or merged),
the check with it must equal the full check of the same text: the same tree
with the same spans, the same model, the same diagnostics (codes, spans,
messages, labels, help).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pmc.compiler import Checker, CheckResult, check_source
from pmc.semantics import memo
from pmc.source import SourceFile, Span
from pmc.syntax import ast, incremental
from pmc.syntax.incremental import cut, moved_down
from pmc.syntax.parser import Resume, parse_once

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.pm"))
DUNNING = EXAMPLES / "dunning.pm"

_SETTINGS = settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])


def assert_same_check(checker: Checker, text: str) -> CheckResult:
    source = SourceFile("edited.pm", text)
    incremental = checker.check(source)
    full = check_source(source)
    assert incremental.diagnostics == full.diagnostics
    assert incremental.module == full.module
    # The model's `==` leaves spans and types out; its repr has every field.
    assert repr(incremental.model) == repr(full.model)
    return incremental


# What an editor's user types: characters that open and close blocks,
# strings and comments, line breaks, and whole words of the language;
# now and then a long line, or a sum just deeper than `pmc check` allows
# (PM0005; not so deep that comparing the trees here overflows the stack).
_LONG = ["# " + "x" * 3000, " + 1" * 201]
_CHARACTERS = ["{", "}", '"', "#", "\n", " ", ";", ",", "(", ")", ".", "->", "x", "1", "\\"]
_WORDS = ["machine M {", "event E {}", "states a, b", "transition t: a -> b on E", "data."]
_TYPED = st.sampled_from([*_CHARACTERS, *_WORDS, *_LONG])


@st.composite
def edits(draw: st.DrawFn, text: str) -> list[str]:
    """Successive texts, each one edit (an insertion or a deletion) away from the one before."""
    texts = []
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:at] + draw(_TYPED) + text[at:]
        else:
            text = text[:at] + text[at + draw(st.integers(1, 12)) :]
        texts.append(text)
    return texts


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda path: path.name)
@settings(_SETTINGS)
@given(data=st.data())
def test_every_step_of_random_edits_checks_as_the_full_check(
    path: Path, data: st.DataObject
) -> None:
    original = path.read_text(encoding="utf-8")
    checker = Checker()
    assert_same_check(checker, original)
    for text in data.draw(edits(original)):
        assert_same_check(checker, text)


def checked_example(name: str) -> tuple[str, Checker]:
    """An example's text, and a checker that has checked it (as the full check does)."""
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    checker = Checker()
    assert_same_check(checker, text)
    return text, checker


def recorded_calls(
    monkeypatch: pytest.MonkeyPatch, module: object, name: str, what: Callable[..., str]
) -> list[str]:
    """What ``what`` says of each call of ``module.name`` from now on."""
    seen: list[str] = []
    real = getattr(module, name)

    def recording(*args: Any) -> Any:
        seen.append(what(*args))
        return real(*args)

    monkeypatch.setattr(module, name, recording)
    return seen


def reparsed_chunks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts the incremental parser parses from now on (each chunk in its wrapper)."""
    return recorded_calls(monkeypatch, incremental, "parse_process", lambda source: source.text)


def test_a_keystroke_reparses_only_the_block_it_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    text, checker = checked_example("dunning.pm")
    reparsed = reparsed_chunks(monkeypatch)
    assert_same_check(checker, text.replace("machine Invoice {", "machine Invoice {  # typed", 1))
    assert len(reparsed) == 1 and "# typed" in reparsed[0]


def test_typing_through_a_broken_line_reparses_only_its_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text, checker = checked_example("dunning.pm")
    reparsed = reparsed_chunks(monkeypatch)
    for typed in ("t", "tr", "tra"):
        broken = assert_same_check(
            checker, text.replace("machine Invoice {", f"machine Invoice {{ {typed}", 1)
        )
        assert broken.module is None
    assert len(reparsed) == 3 and all("machine Invoice" in chunk for chunk in reparsed)


def reanalysed_machines(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The machines semantics analyses from now on, by name."""
    return recorded_calls(
        monkeypatch, memo, "analyze_machine", lambda machine, scope: machine.name.text
    )


def test_a_keystroke_in_one_machine_reanalyses_only_that_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text, checker = checked_example("trip_booking.pm")
    first = checker.check(SourceFile("edited.pm", text))
    assert first.module is not None and len(first.module.process.machines) > 1
    edited = first.module.process.machines[-1].name.text
    reanalysed = reanalysed_machines(monkeypatch)
    machine = f"machine {edited} {{"
    commented = text.replace(machine, machine + "  # typed", 1)
    assert_same_check(checker, commented)
    assert reanalysed == []  # a comment is not in the tree
    assert_same_check(checker, commented.replace(machine, f"machine  {edited} {{", 1))
    assert reanalysed == [edited]  # its name moved one column


def test_renaming_a_machine_reanalyses_every_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    # The others read which names are machines (an event named like one is an error).
    text, checker = checked_example("dunning.pm")
    reanalysed = reanalysed_machines(monkeypatch)
    renamed = assert_same_check(checker, text.replace("machine Invoice {", "machine Bill {", 1))
    assert renamed.module is not None
    assert reanalysed == [m.name.text for m in renamed.module.process.machines]
    assert "Bill" in reanalysed and "Invoice" not in reanalysed


def test_a_changed_event_reanalyses_the_machines_that_read_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text, checker = checked_example("dunning.pm")
    reanalysed = reanalysed_machines(monkeypatch)
    # `set data.paid = data.paid + event.amount` no longer adds up.
    paid = "event PaymentReceived {\n        subscription_id: str\n        invoice_id: str\n"
    retyped = text.replace(paid + "        amount: Decimal", paid + "        amount: str", 1)
    assert retyped != text
    checked = assert_same_check(checker, retyped)
    assert checked.diagnostics and reanalysed


def test_lines_added_above_move_the_reused_blocks_down() -> None:
    text, checker = checked_example("order_fulfilment.pm")
    moved = assert_same_check(checker, text.replace("{", "{\n\n\n", 1))
    assert moved.module is not None


def test_an_error_is_the_full_checks_own() -> None:
    text, checker = checked_example("dunning.pm")
    broken = assert_same_check(checker, text.replace("machine Invoice {", "machine Invoice {{", 1))
    assert broken.module is None and broken.diagnostics
    fixed = assert_same_check(checker, text)
    assert fixed.diagnostics == ()


def test_keystrokes_leaving_an_error_late_in_the_file_check_as_the_full_check() -> None:
    # The parse resumes where the last failed one stood at the broken block's
    # start: its first error, and those recovery finds after it, are the same.
    text, checker = checked_example("dunning.pm")
    last_machine = text.rindex("    machine ")
    line_end = text.index("\n", last_machine) + 1
    for typed in ("o", "oo", "oops", "oops x"):
        broken = assert_same_check(checker, f"{text[:line_end]}        {typed}\n{text[line_end:]}")
        assert broken.module is None and broken.diagnostics
    assert assert_same_check(checker, text).diagnostics == ()


def test_two_syntax_errors_in_different_blocks_check_as_the_full_check() -> None:
    text, checker = checked_example("dunning.pm")
    first_machine = text.index("    machine ")
    last_machine = text.rindex("    machine ")
    assert first_machine < last_machine
    first_end = text.index("\n", first_machine) + 1
    last_end = text.index("\n", last_machine) + 1
    for typed in ("initial 1", "initial 12"):
        broken = assert_same_check(
            checker,
            f"{text[:first_end]}        initial 1\n{text[first_end:last_end]}"
            f"        {typed}\n{text[last_end:]}",
        )
        assert broken.module is None and len(broken.diagnostics) == 2


GUARD = "when data.declines < 2"


def dunning_with_a_long_guard(terms: int) -> str:
    """dunning.pm whose guard adds ``terms`` ones: one line of about ``4 * terms`` characters."""
    text = (EXAMPLES / "dunning.pm").read_text(encoding="utf-8")
    assert GUARD in text
    return text.replace(GUARD, "when data.declines < " + " + ".join(["1"] * terms), 1)


def test_a_long_sum_is_reported_by_the_incremental_check_as_by_pmc_check() -> None:
    # `pmc check` reports PM0005 (nested too deeply). The incremental parser
    # walks the parsed block's tree to move it to its line, and a 600-term
    # sum (a 2,400-character line) is a tree 600 deep: a recursive walk
    # overflowed Python's stack.
    source = SourceFile("dunning.pm", dunning_with_a_long_guard(600))
    full = check_source(source)
    assert [d.id for d in full.diagnostics] == ["PM0005"]
    assert Checker().check(source).diagnostics == full.diagnostics


def test_the_models_are_compared_with_their_spans() -> None:
    # Why assert_same_check compares reprs: the model's `==` leaves spans out.
    text = (EXAMPLES / "dunning.pm").read_text(encoding="utf-8")
    original = check_source(SourceFile("dunning.pm", text))
    moved = check_source(SourceFile("dunning.pm", "\n" + text))
    assert moved.model == original.model
    assert repr(moved.model) != repr(original.model)


def test_a_sum_just_too_deep_checks_as_pmc_check() -> None:
    checked = assert_same_check(Checker(), dunning_with_a_long_guard(201))
    assert [d.id for d in checked.diagnostics] == ["PM0005"]


def test_a_keystroke_after_a_long_sum_checks_as_pmc_check() -> None:
    # The memo compares the machine's new tree with its last one, down
    # through the long sum: too deep for that, the text is checked whole.
    # (Its trees are too deep for the test to compare either: diagnostics only.)
    checker = Checker()
    text = dunning_with_a_long_guard(600)
    checker.check(SourceFile("dunning.pm", text))
    later = SourceFile("dunning.pm", text.replace("on after 3d", "on after 4d", 1))
    full = check_source(later)
    assert [d.id for d in full.diagnostics] == ["PM0005"]
    assert checker.check(later).diagnostics == full.diagnostics


# ---- the cut -------------------------------------------------------------------------------


def chunks(text: str) -> list[str]:
    where = cut(text)
    assert where is not None
    ends = (*where.chunk_starts[1:], where.body_end)
    return [text[start:end] for start, end in zip(where.chunk_starts, ends, strict=True)]


def test_the_body_is_cut_after_each_top_level_block() -> None:
    text = 'process P {\n  key id\n  event E { x: str = "}" }  # }\n  machine M {\n  }\n}\n'
    assert chunks(text) == [
        '\n  key id\n  event E { x: str = "}" }',
        "  # }\n  machine M {\n  }",
        "\n",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "process P {\n  event E {\n}\n",  # a block left open
        "process P {\n}\n}\n",  # one `}` too many
        'process P {\n  event E { x: str = "} }\n}\n',  # a string left open
        "process P {\n}\nevent E {}\n",  # text after the process
        "process P\n",  # no body at all
    ],
)
def test_no_cut_when_braces_or_strings_do_not_balance(text: str) -> None:
    assert cut(text) is None


def test_comments_and_blanks_may_follow_the_process() -> None:
    assert cut("process P {\n}\n\n# the end\n") is not None


def test_moved_down_moves_every_span_and_keeps_the_rest() -> None:
    name = ast.Name("Paid", Span(3, 5, 3, 9))
    event = ast.EventDecl(name, (), Span(3, 5, 4, 6))
    assert moved_down(event, 10) == ast.EventDecl(
        ast.Name("Paid", Span(13, 5, 13, 9)), (), Span(13, 5, 14, 6)
    )
    assert moved_down(event, 0) is event


# ---- resumed parses: lark grows an `x*` list in place -----------------------------------


def test_an_error_after_recovery_is_placed_as_pmc_check_places_it_after_a_resume() -> None:
    """A syntax error in `task ChargeCard`, an invalid escape in `machine Invoice`
    found by the recovery: moving the escape moves its diagnostic (a checkpoint
    once kept lark's list of the blocks read after it, with the old escape)."""
    text = DUNNING.read_text(encoding="utf-8")
    k = text.index("{", text.index("    task ChargeCard {")) + 1
    broken = text[:k] + "\n        foo\n" + text[k:]
    first = broken.replace('"hard_decline" or', '"hard\\qdecline" or')
    second = broken.replace('"hard_decline" or', '"hard_de\\qcline" or')
    checker = Checker()
    for edited in (text, first, second):
        source = SourceFile("edited.pm", edited)
        assert checker.check(source).diagnostics == check_source(source).diagnostics


def test_a_resumed_parse_of_a_text_is_its_fresh_parse() -> None:
    text = DUNNING.read_text(encoding="utf-8")
    broken = text[:-20] + "@" + text[-20:]
    resume = Resume(marks=tuple(range(700, len(text), 300)))
    parse_once(SourceFile("e.pm", broken), resume)
    assert resume.taken[1]
    resumed = parse_once(SourceFile("e.pm", text), resume)
    assert resumed == parse_once(SourceFile("e.pm", text))


def test_checkpoints_do_not_grow_with_each_resumed_parse() -> None:
    text = DUNNING.read_text(encoding="utf-8")
    checker = Checker()
    checker.check(SourceFile("e.pm", text))
    for i in range(50):
        broken = text[:-20] + "@" * (1 + i % 2) + text[-20:]
        checker.check(SourceFile("e.pm", broken))
    sizes = [
        len(value.children)
        for checkpoint in checker._parser._resume.taken[1]
        for value in checkpoint.values
        if hasattr(value, "children")
    ]
    # dunning.pm has 11 top-level declarations
    assert max(sizes) <= 11
