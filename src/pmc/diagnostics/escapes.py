"""What a terminal (or a page) is shown of untrusted text: unsafe characters as escapes.

Used by the diagnostics' renderers and by the inspector, which shows keys as
``pmc ps`` prints them.
"""

from __future__ import annotations

import re
import unicodedata

# A `.pm` file is untrusted input, and its text reaches the terminal (and CI
# logs) in the source line under a diagnostic and in messages that quote it.
# Raw, an escape sequence there could retitle or clear the terminal, recolour
# or hide diagnostics, and a bidi control could make the line read as
# something else. So every character of these categories is shown as a Python
# escape (`\x1b`, `\u202e`): controls (tab excepted in source lines, where it
# is four spaces), format characters (bidi controls, zero-width joiners),
# surrogates, private-use and unassigned code points, and line and paragraph
# separators.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Everything outside printable ASCII is looked at one by one; the rest is
# passed through (and measured) at C speed.
NOT_PLAIN = re.compile(r"[^\x20-\x7e]")


def is_unsafe(char: str) -> bool:
    return unicodedata.category(char) in UNSAFE_CATEGORIES


def escape_char(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape_text(text: str) -> str:
    """``text`` with every unsafe character (see above) written as an escape."""
    return NOT_PLAIN.sub(lambda m: escape_char(m[0]) if is_unsafe(m[0]) else m[0], text)
