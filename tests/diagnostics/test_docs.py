"""The diagnostics reference documents every code, and codes stay well-formed."""

from __future__ import annotations

import re
from pathlib import Path

from pmc.diagnostics import CODES

DOCS = Path(__file__).resolve().parents[2] / "docs" / "diagnostics.md"


def test_every_code_is_documented() -> None:
    headings = set(re.findall(r"^## (PM\d{4})\b", DOCS.read_text(encoding="utf-8"), re.M))
    assert sorted(set(CODES) - headings) == []
    assert sorted(headings - set(CODES)) == []


def test_codes_are_well_formed() -> None:
    for code, entry in CODES.items():
        assert re.fullmatch(r"PM\d{4}", code)
        assert entry.id == code
        assert entry.title == entry.title.strip() and entry.title[0].islower()
        expected = "warning" if code.startswith("PM09") else "error"
        assert entry.severity == expected, code
