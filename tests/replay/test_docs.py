"""docs/replay.md documents every replay rule, and ``pmc explain`` prints its entry."""

from __future__ import annotations

import re
from pathlib import Path

from pmc.diagnostics import REPLAY_RULES as RULES
from pmc.explain import explain

PAGE = Path(__file__).resolve().parents[2] / "docs" / "replay.md"


def test_every_rule_is_documented_under_its_title() -> None:
    headings = re.findall(r"^## (REPLAY_[A-Z_]+): (.+)$", PAGE.read_text("utf-8"), re.M)

    assert dict(headings) == {rule.id: rule.title for rule in RULES.values()}


def test_explain_prints_a_rule_entry() -> None:
    entry = explain("replay_unknown_state")

    assert entry is not None
    assert entry.startswith(
        "## REPLAY_UNKNOWN_STATE: recorded states are still states of their machine\n"
    )
    assert "**Fix:**" in entry
