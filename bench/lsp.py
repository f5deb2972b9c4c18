"""`pmc lsp`: what one keystroke costs on a 1,000-line file, against `pmc check` of it.

On each change the server re-checks the document as `pmc check` does, but
re-parses only the top-level blocks the change touched (the others are kept
by their text and moved to their new lines: pmc.syntax.incremental) and
re-analyses only the machines that changed or read what did
(pmc.semantics.memo; a machine moved to other lines has changed), then
converts the diagnostics to LSP's positions (the symbol index is built on
the first request that needs it, not per keystroke). The file is
``examples/dunning.pm`` with its `Invoice` machine copied until the file
passes 1,000 lines; each keystroke is one character more in a comment, so
every text is a new one that checks cleanly (in a comment, the tree does not
change: no machine is analysed again). Six rows:

- the keystroke in-process, in milliseconds (goal: under 50 ms, half of the
  issue's "well under 100 ms");
- the keystroke over `pmc check`'s front end (`pmc.compiler.check_source`,
  which parses the whole file) on the same texts (goal <= 0.5x). The two
  sides are measured in turns, so a busy spell of the machine slows both;
- a keystroke in a machine's code (a character more in a string of a
  guard of the middle machine: its block is parsed and it is analysed
  again; the text still checks cleanly) over `pmc check` of the same texts
  (goal <= 0.5x);
- Enter pressed in the first machine (a blank line more each time) over
  `pmc check` of the same texts (goal <= 0.5x): every block below moves
  one line down, its kept parse is moved, not parsed again;
- a keystroke that leaves a syntax error (a stray word typed, letter by
  letter, in the middle of the file) over `pmc check` of the same texts
  (goal <= 1.5x): such a text is parsed whole, as `pmc check` parses it,
  so that its errors are `pmc check`'s, but from where the last such parse
  stood at the broken block's start; and the same near the end of the file
  (goal: under 50 ms);
- the keystroke over the protocol: `pmc lsp` in a subprocess is sent each
  text (`didChange`) and the time until its diagnostics arrive is taken
  (goal: under 50 ms): JSON-RPC both ways and the check's thread included.

    python bench/lsp.py [--quick] [--repeats N]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import benchlib
from workload import interleaved_medians

from pmc.compiler import Checker, CheckResult, check_source
from pmc.lsp.features import analyse, lsp_diagnostics
from pmc.source import SourceFile

REPO = Path(__file__).resolve().parents[1]
DUNNING = REPO / "examples" / "dunning.pm"
LINES = 1000
GOAL_MS = 50.0
GOAL_RATIO = 0.5
# A text that does not parse is parsed whole, as `pmc check` does; the
# incremental attempt before it and the conversion of the diagnostics to
# LSP's positions (which `pmc check` does not do) are what the server adds:
# the bound the bench set for that before the check was incremental.
GOAL_BROKEN_RATIO = 1.5


def thousand_lines() -> str:
    """Dunning with copies of its `Invoice` machine (renamed) until it has ``LINES`` lines."""
    text = DUNNING.read_text(encoding="utf-8")
    start = text.index("    machine Invoice {")
    machine = text[start : text.index("\n    }\n", start) + len("\n    }\n")]
    copies = []
    while text.count("\n") + sum(c.count("\n") for c in copies) < LINES:
        copies.append("\n" + machine.replace("machine Invoice", f"machine Invoice{len(copies)}"))
    return text[: start + len(machine)] + "".join(copies) + text[start + len(machine) :]


def typed_texts(text: str, keystrokes: int) -> list[str]:
    """``text`` as it is after each of ``keystrokes`` characters typed into a comment."""
    typed = text.replace("# Dunning", "# Dunning ", 1)
    point = typed.index("# Dunning ") + len("# Dunning ")
    return [typed[:point] + "x" * n + typed[point:] for n in range(keystrokes)]


def code_texts(text: str, keystrokes: int) -> list[str]:
    """``text`` after each of ``keystrokes`` characters typed into a string of the middle
    machine's guard: every text checks cleanly, and that machine's tree changes each time."""
    literal = '"hard_decline"'
    point = text.index(literal, text.index("machine Invoice5 {")) + len(literal) - 1
    return [text[:point] + "x" * n + text[point:] for n in range(1, keystrokes + 1)]


def enter_texts(text: str, keystrokes: int) -> list[str]:
    """``text`` after Enter is pressed ``keystrokes`` times at the top of the first machine."""
    opening = "machine Invoice {\n"
    point = text.index(opening) + len(opening)
    return [text[:point] + "\n" * n + text[point:] for n in range(1, keystrokes + 1)]


def broken_texts(text: str, keystrokes: int, machine: str = "Invoice5") -> list[str]:
    """``text`` after each of ``keystrokes`` characters of a stray word in ``machine``
    (by default the middle one): every one a syntax error."""
    opening = f"machine {machine} {{\n"
    point = text.index(opening) + len(opening)
    return [text[:point] + "        t" + "x" * n + "\n" + text[point:] for n in range(keystrokes)]


def per_keystroke(step: Callable[[str], object], texts: list[str]) -> float:
    """Milliseconds ``step`` takes per text."""
    start = time.perf_counter()
    for each in texts:
        step(each)
    return (time.perf_counter() - start) * 1000 / len(texts)


def over_the_protocol(text: str, keystrokes: int) -> float:
    """Milliseconds from each ``didChange`` sent to `pmc lsp` until its diagnostics arrive."""
    # The tests' client: the same bytes an editor sends, written once.
    sys.path.insert(0, str(REPO))
    from tests.lsp.client import running_server

    uri = (REPO / "dunning-1000.pm").as_uri()  # never read from disk: the text is sent
    with running_server(REPO) as server:
        server.open(uri, text)
        texts = typed_texts(text, keystrokes)
        start = time.perf_counter()
        for version, each in enumerate(texts, start=2):
            server.send_change(uri, version, each)
            while server.published(uri)["version"] != version:
                pass
        return (time.perf_counter() - start) * 1000 / keystrokes


def editor() -> Callable[[str], object]:
    """What the server does with each new text of one document."""
    checker = Checker()

    def keystroke(text: str) -> object:
        analysis = analyse("dunning.pm", text, check=checker.check)
        return lsp_diagnostics(analysis, "file:///dunning.pm")

    return keystroke


def check(text: str) -> CheckResult:
    return check_source(SourceFile("dunning.pm", text))


def ratio_row(what: str, ours: float, baseline: float) -> benchlib.Row:
    """A row of milliseconds per keystroke against `pmc check` of the same texts."""
    return benchlib.Row(
        f"pmc lsp: {what}",
        f"{ours:.1f} ms",
        f"{baseline:.1f} ms",
        ours / baseline,
        f"<= {GOAL_RATIO}x",
        ours / baseline <= GOAL_RATIO,
    )


def against_check(
    repeats: int, keystroke: Callable[[str], object], texts: list[str]
) -> tuple[float, float]:
    """Milliseconds per text of ``keystroke`` and of `pmc check`, measured in turns."""
    return interleaved_medians(
        repeats,
        lambda: per_keystroke(keystroke, texts),
        lambda: per_keystroke(check, texts),
    )


def main() -> None:
    options = benchlib.options(__doc__.splitlines()[0])
    text = thousand_lines()
    assert not check(text).diagnostics, "the benchmark's file must check cleanly"
    keystrokes = 10 if options.quick else 40
    keystroke = editor()
    typed = typed_texts(text, keystrokes)
    per_keystroke(keystroke, typed[:3])  # warm: the parser is built, the blocks parsed once
    ours, baseline = against_check(options.repeats, keystroke, typed)
    code = code_texts(text, keystrokes)
    assert not any(check(each).diagnostics for each in code), "each must check cleanly"
    ours_code, baseline_code = against_check(options.repeats, keystroke, code)
    enter = enter_texts(text, keystrokes)
    assert not any(check(each).diagnostics for each in enter), "each must check cleanly"
    ours_enter, baseline_enter = against_check(options.repeats, keystroke, enter)
    broken = broken_texts(text, keystrokes)
    assert all(check(each).module is None for each in broken), "each must be a syntax error"
    ours_broken, baseline_broken = against_check(options.repeats, keystroke, broken)
    # Where a parse from the file's start would run through the file before it fails.
    last = f"Invoice{text.count('machine Invoice') - 2}"
    late = broken_texts(text, keystrokes, last)
    assert all(check(each).module is None for each in late), "each must be a syntax error"
    ours_late, baseline_late = against_check(options.repeats, keystroke, late)
    protocol = benchlib.median_of(options.repeats, lambda: over_the_protocol(text, keystrokes))
    lines = text.count("\n")
    benchlib.print_rows(
        [
            benchlib.Row(
                f"pmc lsp: one keystroke re-checks {lines} lines",
                f"{ours:.1f} ms",
                f"{GOAL_MS:.0f} ms",
                ours,
                f"< {GOAL_MS:.0f}ms",
                ours < GOAL_MS,
                unit="ms",
            ),
            ratio_row(f"keystroke vs pmc check's front end, {lines} lines", ours, baseline),
            ratio_row(f"a keystroke in a machine's code, {lines} lines", ours_code, baseline_code),
            ratio_row(f"Enter in the first machine, {lines} lines", ours_enter, baseline_enter),
            benchlib.Row(
                f"pmc lsp: a keystroke leaving a syntax error, {lines} lines",
                f"{ours_broken:.1f} ms",
                f"{baseline_broken:.1f} ms",
                ours_broken / baseline_broken,
                f"<= {GOAL_BROKEN_RATIO}x",
                ours_broken / baseline_broken <= GOAL_BROKEN_RATIO,
            ),
            benchlib.Row(
                f"pmc lsp: a syntax error near the end, {lines} lines",
                f"{ours_late:.1f} ms",
                f"{GOAL_MS:.0f} ms (pmc check {baseline_late:.1f} ms)",
                ours_late,
                f"< {GOAL_MS:.0f}ms",
                ours_late < GOAL_MS,
                unit="ms",
            ),
            benchlib.Row(
                f"pmc lsp: one keystroke over the protocol, {lines} lines",
                f"{protocol:.1f} ms",
                f"{GOAL_MS:.0f} ms",
                protocol,
                f"< {GOAL_MS:.0f}ms",
                protocol < GOAL_MS,
                unit="ms",
            ),
        ]
    )


if __name__ == "__main__":
    main()
