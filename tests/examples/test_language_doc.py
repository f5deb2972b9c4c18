"""``docs/language.md`` stays true to the grammar, the examples and the codes.

The reference is only useful while it is right: its snippets must parse, its
running example must be the real example file, its keyword list must be the
grammar's, and the codes it cites must exist.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pmc.diagnostics import CODES
from pmc.source import SourceFile
from pmc.syntax.grammar import grammar_text
from pmc.syntax.parser import parse

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
PM_SNIPPETS = [body for lang, body in _FENCE.findall(DOC) if lang == "pm"]

_MACHINE_CLAUSES = ("transition", "states", "initial", "final")


def _as_file(snippet: str) -> str:
    """Wrap a fragment in the smallest process (and machine) that can hold it."""
    code = "\n".join(line.split("#")[0] for line in snippet.splitlines())
    first_word = code.split()[0]
    if first_word == "process":
        return snippet
    if first_word in _MACHINE_CLAUSES:
        return f"process P {{\nmachine M {{\n{snippet}}}\n}}\n"
    return f"process P {{\n{snippet}}}\n"


def test_the_doc_has_snippets() -> None:
    # Guards the parametrised test below against a fence syntax it misses.
    assert len(PM_SNIPPETS) >= 10


@pytest.mark.parametrize("snippet", PM_SNIPPETS, ids=lambda s: s.split("\n")[0][:40])
def test_every_pm_snippet_parses(snippet: str) -> None:
    result = parse(SourceFile("docs/language.md", _as_file(snippet)))
    assert result.diagnostics == ()


def test_the_running_example_is_the_example_file() -> None:
    example = (ROOT / "examples" / "rebase_cleanup.pm").read_text(encoding="utf-8")
    assert PM_SNIPPETS[0] == example


def _grammar_keywords() -> set[str]:
    code = "\n".join(line.split("//")[0] for line in grammar_text().splitlines())
    return set(re.findall(r'"([a-z_]+)"', code))


def _documented_keywords() -> set[str]:
    section = DOC.split("The language's keywords are", 1)[1]
    match = _FENCE.search(section)
    assert match is not None
    return set(match.group(2).split())


def test_the_keyword_list_is_the_grammars() -> None:
    assert _documented_keywords() == _grammar_keywords()


def test_cited_codes_exist_and_every_code_is_listed() -> None:
    cited = set(re.findall(r"\bPM\d{4}\b", DOC))
    active = {code for code, entry in CODES.items() if not entry.retired}
    assert sorted(cited - set(CODES)) == []
    assert sorted(active - cited) == []
