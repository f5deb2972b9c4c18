"""The registry of diagnostic codes.

Codes are stable: never renumber or reuse one. A retired code stays here with
``retired=True``. ``docs/diagnostics.md`` documents every code, and a test
keeps the two in step.

Ranges: PM00xx syntax, input limits and unreadable input, PM01xx names and duplicates, PM02xx
unknown references, PM03xx machine and process structure, PM04xx state-graph
checks, PM05xx types and the correlation key, PM06xx task bindings, PM07xx
collisions in the generated module, PM09xx warnings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pmc.registry import registry


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    severity: Literal["error", "warning"]
    title: str
    retired: bool = False


CODES: dict[str, Code] = registry(
    lambda entry: entry.code,
    # syntax and limits
    Code("PM0001", "error", "syntax error"),
    Code("PM0002", "error", "unexpected end of file"),
    Code("PM0003", "error", "unexpected character"),
    Code("PM0004", "error", "invalid string literal"),
    Code("PM0005", "error", "input exceeds a limit"),
    Code("PM0006", "error", "invalid number or duration"),
    Code("PM0007", "error", "cannot read input"),
    # names and duplicates
    Code("PM0101", "error", "duplicate declaration"),
    Code("PM0102", "error", "duplicate state"),
    Code("PM0103", "error", "duplicate transition"),
    Code("PM0104", "error", "duplicate field"),
    Code("PM0105", "error", "invalid identifier"),
    Code("PM0106", "error", "duplicate clause"),
    # unknown references
    Code("PM0201", "error", "unknown event"),
    Code("PM0202", "error", "unknown task"),
    Code("PM0203", "error", "unknown state"),
    Code("PM0204", "error", "unknown field"),
    Code("PM0205", "error", "unknown type"),
    Code("PM0206", "error", "unknown machine"),
    # structure
    Code("PM0301", "error", "missing or invalid initial state"),
    Code("PM0302", "error", "machine declares no states"),
    Code("PM0303", "error", "transition leaves a final state"),
    Code("PM0304", "error", "missing key declaration"),
    Code("PM0305", "error", "machine declares no final state"),
    Code("PM0306", "error", "process declares no machine"),
    Code("PM0307", "error", "invalid retry or timeout"),
    Code("PM0308", "error", "event both starts and cancels the process"),
    Code("PM0309", "error", "failure condition holds when the process starts"),
    # state graph
    Code("PM0401", "error", "unreachable state"),
    Code("PM0402", "error", "trap state"),
    Code("PM0403", "error", "nondeterministic transitions"),
    Code("PM0404", "error", "task outcome not handled"),
    Code("PM0405", "error", "dead outcome transition"),
    Code("PM0406", "error", "machine mixes single- and multi-instance triggers"),
    # types and key
    Code("PM0501", "error", "invalid instance selector type"),
    Code("PM0502", "error", "trigger event lacks the key field"),
    Code("PM0503", "error", "invalid key type"),
    Code("PM0504", "error", "default value does not match the field type"),
    Code("PM0505", "error", "invalid type"),
    # task bindings
    Code("PM0601", "error", "binding names an unknown task field"),
    Code("PM0602", "error", "missing required task field"),
    Code("PM0603", "error", "binding type mismatch"),
    Code("PM0604", "error", "field not present on the trigger"),
    # generated-module collisions
    Code("PM0701", "error", "name collides in the generated module"),
    # warnings
    Code("PM0901", "warning", "unused event"),
    Code("PM0902", "warning", "unused task"),
    Code("PM0903", "warning", "completion condition can never hold"),
    Code("PM0904", "warning", "completion always comes with failure"),
)
