"""Small helpers to analyse ``.pm`` text in tests."""

from __future__ import annotations

from pmc.diagnostics import Diagnostic
from pmc.semantics import Analysis, analyze
from pmc.source import SourceFile
from pmc.syntax.parser import parse


def analyze_text(text: str) -> Analysis:
    parsed = parse(SourceFile("test.pm", text))
    assert parsed.module is not None, parsed.diagnostics
    return analyze(parsed.module)


def diagnostics(text: str) -> tuple[Diagnostic, ...]:
    return analyze_text(text).diagnostics


def codes(text: str) -> list[str]:
    return [d.id for d in diagnostics(text)]


def only(text: str, code: str) -> Diagnostic:
    """The one diagnostic with ``code``; fails if there is none or more than one."""
    found = [d for d in diagnostics(text) if d.id == code]
    assert len(found) == 1, [(d.id, d.message) for d in diagnostics(text)]
    return found[0]


def machine_process(machine: str, declarations: str = "", tail: str = "") -> str:
    """A process with events ``Go``/``Stop``, tasks ``Work``/``Check`` and the given machine.

    ``Work`` returns ``done: int``; ``Check`` takes a required ``level: int``.
    """
    return f"""process P {{
    key id
    event Go {{ id: str  count: int  note: str | None = none }}
    event Stop {{ id: str }}
    task Work {{ returns {{ done: int }} }}
    task Check sync {{ level: int  label: str = "x" }}
{declarations}
    machine M {{
{machine}
    }}
{tail}
}}
"""
