"""``pmc explain``: the reference pages, cut into entries by their ``## CODE: title`` headings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pmc.diagnostics import BREAKING_RULES as RULES
from pmc.diagnostics import CODES, REPLAY_RULES
from pmc.tools.explain import all_sections, explain, sections
from tests.cli.conftest import PmcRunner

DOCS = Path(__file__).resolve().parents[2] / "docs"

PAGE = """# Reference

Intro with a `## PM0001: not a heading` in running text.

---

## PM0001: syntax error

The file does not follow the grammar.

```pm
# a comment in an example, not a heading
## not one either
```

**Fix:** write what is expected.

## PM0002: unexpected end of file

Short.
## Decisions

Not an entry.
"""


def test_each_entry_runs_from_its_heading_to_the_next_heading() -> None:
    found = sections(PAGE)
    assert list(found) == ["PM0001", "PM0002"]
    assert found["PM0001"] == (
        "## PM0001: syntax error\n\nThe file does not follow the grammar.\n\n"
        "```pm\n# a comment in an example, not a heading\n## not one either\n```\n\n"
        "**Fix:** write what is expected.\n"
    )
    assert found["PM0002"] == "## PM0002: unexpected end of file\n\nShort.\n"


def test_codes_are_looked_up_in_any_case_on_every_page() -> None:
    pages = {
        "diagnostics.md": PAGE,
        "breaking.md": "## KEY_SAME: keep the key\n\nText.\n",
        "replay.md": "",
    }
    assert explain("pm0002", pages.__getitem__) == "## PM0002: unexpected end of file\n\nShort.\n"
    assert explain(" key_same ", pages.__getitem__) == "## KEY_SAME: keep the key\n\nText.\n"
    assert explain("PM0003", pages.__getitem__) is None


def test_every_diagnostic_code_and_breaking_rule_has_an_entry() -> None:
    documented = all_sections()
    assert set(CODES) <= set(documented)
    assert set(RULES) <= set(documented)


def test_breaking_rules_are_documented_with_their_titles() -> None:
    headings = re.findall(r"^## ([A-Z_]+): (.+)$", (DOCS / "breaking.md").read_text("utf-8"), re.M)
    assert dict(headings) == {rule.id: rule.title for rule in RULES.values()}


def test_cli_prints_the_entry(pmc: PmcRunner) -> None:
    run = pmc("explain", "state_no_delete")
    assert (run.exit_code, run.stderr) == (0, "")
    assert run.stdout == explain("STATE_NO_DELETE")
    assert run.stdout.startswith("## STATE_NO_DELETE: states are not removed or renamed\n")


@pytest.mark.parametrize(
    ("code", "hint"), [("STATE_NO_DELET", "help: did you mean `STATE_NO_DELETE`?\n"), ("XYZ", "")]
)
def test_cli_rejects_an_unknown_code(cli: PmcRunner, code: str, hint: str) -> None:
    run = cli("explain", code)
    assert (run.exit_code, run.stdout) == (2, "")
    assert run.stderr == (
        f"error: no documentation for `{code}`: not a diagnostic code (PM0203), "
        "a breaking-change rule (STATE_NO_DELETE) or a replay rule (REPLAY_UNKNOWN_STATE)\n" + hint
    )


def test_every_replay_rule_has_an_entry() -> None:
    assert set(REPLAY_RULES) <= set(all_sections())


def test_help_names_every_kind_of_code(cli: PmcRunner) -> None:
    run = cli("explain", "--help")
    assert run.exit_code == 0
    text = " ".join(run.stdout.split())
    for example in ("PM0203", "STATE_NO_DELETE", "REPLAY_UNKNOWN_STATE"):
        assert example in text


@pytest.mark.parametrize("code", ["MACHINE_SAME_INSTANCES", "INITIAL_SAME"])
def test_cli_explains_the_rules_that_keep_names_but_break_replay(cli: PmcRunner, code: str) -> None:
    run = cli("explain", code)
    assert (run.exit_code, run.stderr) == (0, "")
    assert run.stdout.startswith(f"## {code}: a machine keeps ")
    assert "**Fix:**" in run.stdout


@pytest.mark.parametrize(
    ("code", "title"),
    [
        ("data_field_no_delete", "data fields are not removed or renamed"),
        ("DATA_DEFAULT_SAME", "data fields keep their default"),
        ("SIGNAL_NO_DELETE", "signals are not removed or renamed"),
        ("GUARD_ORDER_SAME", "transitions of one state and trigger are tried in the same order"),
    ],
)
def test_cli_explains_the_second_edition_rules_with_an_example(
    cli: PmcRunner, code: str, title: str
) -> None:
    run = cli("explain", code)
    assert (run.exit_code, run.stderr) == (0, "")
    assert run.stdout.startswith(f"## {code.upper()}: {title}\n")
    assert "```pm\n" in run.stdout
    assert f"[{code.upper()}]" in run.stdout  # the example shows where it is reported
    assert "**Fix:**" in run.stdout


@pytest.mark.parametrize(
    "code",
    [
        "PM0107",
        "PM0207",
        "PM0208",
        "PM0310",
        "PM0311",
        "PM0312",
        "PM0408",
        "PM0506",
        "PM0507",
        "PM0508",
        "PM0509",
        "PM0510",
        "PM0905",
        "PM0906",
        "PM0907",
    ],
)
def test_cli_explains_the_second_edition_codes(cli: PmcRunner, code: str) -> None:
    run = cli("explain", code.lower())
    assert (run.exit_code, run.stderr) == (0, "")
    assert run.stdout.startswith(f"## {code}: {CODES[code].title}\n")
    assert run.stdout == explain(code)
