"""Review of the resumed full parse (branch lateerr): defects found.

Lark's LALR tree builder, for a left-recursive `x*` rule, reuses the first
child's ``children`` list and appends to it (ChildFilterLALR's "optimize for
left-recursion"). A Checkpoint's ``values`` tuple holds that `__process_star_0`
tree, so its list keeps growing after the checkpoint is taken, and again on
every parse resumed from it.
"""

from __future__ import annotations

from pathlib import Path

from pmc.compiler import Checker, check_source
from pmc.source import SourceFile
from pmc.syntax.parser import Resume, parse_once

DUNNING = Path(__file__).resolve().parents[2] / "examples" / "dunning.pm"


def test_checker_second_error_span_after_resume() -> None:
    """A syntax error in `task ChargeCard`, an invalid escape in `machine Invoice`:
    moving the escape reports it where the previous text had it."""
    text = DUNNING.read_text(encoding="utf-8")
    k = text.index("{", text.index("    task ChargeCard {")) + 1
    broken = text[:k] + "\n        foo\n" + text[k:]
    first = broken.replace('"hard_decline" or', '"hard\\qdecline" or')
    second = broken.replace('"hard_decline" or', '"hard_de\\qcline" or')
    checker = Checker()
    for edited in (text, first, second):
        source = SourceFile("edited.pm", edited)
        assert checker.check(source).diagnostics == check_source(source).diagnostics


def test_resumed_parse_of_same_text_is_the_full_parse() -> None:
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
