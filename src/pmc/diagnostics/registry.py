"""The one registry of diagnostic ids: compiler codes, breaking rules, replay rules.

Every :class:`~pmc.diagnostics.Diagnostic` names an id of this table, and its
severity comes from here. Ids are stable: never rename, renumber or reuse
one; a retired id stays with ``retired=True``. Each family has its reference
page, and tests keep the pages and the table in step:

- compiler codes (``PMxxxx``, ``docs/diagnostics.md``), by range: PM00xx
  syntax, input limits and unreadable input, PM01xx names and duplicates,
  PM02xx unknown references, PM03xx machine and process structure, PM04xx
  state-graph checks, PM05xx types and the correlation key, PM06xx task
  bindings, PM07xx collisions in the generated module, PM09xx warnings;
- breaking-change rules of ``pmc breaking`` (``docs/breaking.md``), like
  buf's ``FIELD_NO_DELETE``;
- replay rules of ``pmc replay`` (``docs/replay.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar

_T = TypeVar("_T")


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


ERROR, WARNING = Severity.ERROR, Severity.WARNING


class Family(StrEnum):
    """Which tool reports an id, and which page documents it."""

    CODE = "code"
    BREAKING = "breaking"
    REPLAY = "replay"


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: Severity
    title: str
    retired: bool = False


def registry(key: Callable[[_T], str], *entries: _T) -> dict[str, _T]:
    """Entries by id, in order; an id written twice is a programming error, caught at import."""
    table: dict[str, _T] = {}
    for entry in entries:
        if key(entry) in table:
            raise AssertionError(f"duplicate id {key(entry)}")
        table[key(entry)] = entry
    return table


def _family(*rules: Rule) -> Mapping[str, Rule]:
    return MappingProxyType(registry(lambda rule: rule.id, *rules))


CODES: Mapping[str, Rule] = _family(
    # syntax and limits
    Rule("PM0001", ERROR, "syntax error"),
    Rule("PM0002", ERROR, "unexpected end of file"),
    Rule("PM0003", ERROR, "unexpected character"),
    Rule("PM0004", ERROR, "invalid string literal"),
    Rule("PM0005", ERROR, "input exceeds a limit"),
    Rule("PM0006", ERROR, "invalid number or duration"),
    Rule("PM0007", ERROR, "cannot read input"),
    # names and duplicates
    Rule("PM0101", ERROR, "duplicate declaration"),
    Rule("PM0102", ERROR, "duplicate state"),
    Rule("PM0103", ERROR, "duplicate transition"),
    Rule("PM0104", ERROR, "duplicate field"),
    Rule("PM0105", ERROR, "invalid identifier"),
    Rule("PM0106", ERROR, "duplicate clause"),
    Rule("PM0107", ERROR, "field assigned twice in one `set`"),
    # unknown references
    Rule("PM0201", ERROR, "unknown event"),
    Rule("PM0202", ERROR, "unknown task"),
    Rule("PM0203", ERROR, "unknown state"),
    Rule("PM0204", ERROR, "unknown field"),
    Rule("PM0205", ERROR, "unknown type"),
    Rule("PM0206", ERROR, "unknown machine"),
    Rule("PM0207", ERROR, "unknown data field"),
    Rule("PM0208", ERROR, "unknown signal"),
    # structure
    Rule("PM0301", ERROR, "missing or invalid initial state"),
    Rule("PM0302", ERROR, "machine declares no states"),
    Rule("PM0303", ERROR, "transition leaves a final state"),
    Rule("PM0304", ERROR, "missing key declaration"),
    Rule("PM0305", ERROR, "machine declares no final state"),
    Rule("PM0306", ERROR, "process declares no machine"),
    Rule("PM0307", ERROR, "invalid retry or timeout"),
    Rule("PM0308", ERROR, "event both starts and cancels the process"),
    Rule("PM0309", ERROR, "failure condition holds when the process starts"),
    Rule("PM0310", ERROR, "data field has no default and is not optional"),
    Rule("PM0311", ERROR, "signal cycle"),
    Rule("PM0312", ERROR, "kept task is not in flight"),
    # state graph
    Rule("PM0401", ERROR, "unreachable state"),
    Rule("PM0402", ERROR, "trap state"),
    Rule("PM0403", ERROR, "nondeterministic transitions"),
    Rule("PM0404", ERROR, "task outcome not handled"),
    Rule("PM0405", ERROR, "dead outcome transition"),
    Rule("PM0406", ERROR, "machine mixes single- and multi-instance triggers", retired=True),
    Rule("PM0407", ERROR, "event both selects and broadcasts in one machine"),
    Rule("PM0408", ERROR, "transition can never be taken"),
    # types and key
    Rule("PM0501", ERROR, "invalid instance selector type"),
    Rule("PM0502", ERROR, "trigger event lacks the key field"),
    Rule("PM0503", ERROR, "invalid key type"),
    Rule("PM0504", ERROR, "default value does not match the field type"),
    Rule("PM0505", ERROR, "invalid type"),
    Rule("PM0506", ERROR, "operator does not apply to these types"),
    Rule("PM0507", ERROR, "condition is not a `bool`"),
    Rule("PM0508", ERROR, "assigned value does not fit the data field"),
    Rule("PM0509", ERROR, "deadline is not a `datetime`"),
    Rule("PM0510", ERROR, "expression reads what is not available here"),
    # task bindings
    Rule("PM0601", ERROR, "binding names an unknown task field"),
    Rule("PM0602", ERROR, "missing required task field"),
    Rule("PM0603", ERROR, "binding type mismatch"),
    Rule("PM0604", ERROR, "field not present on the trigger"),
    # generated-module collisions
    Rule("PM0701", ERROR, "name collides in the generated module"),
    # warnings
    Rule("PM0901", WARNING, "unused event"),
    Rule("PM0902", WARNING, "unused task"),
    Rule("PM0903", WARNING, "completion condition can never hold"),
    Rule("PM0904", WARNING, "completion always comes with failure"),
    Rule("PM0905", WARNING, "every transition on a task outcome or timer is guarded"),
    Rule("PM0906", WARNING, "signal emitted but never handled"),
    Rule("PM0907", WARNING, "signal handled but never emitted"),
)

BREAKING_RULES: Mapping[str, Rule] = _family(
    Rule("PROCESS_SAME_NAME", ERROR, "the process keeps its name"),
    Rule("KEY_SAME", ERROR, "the correlation key keeps its field and type"),
    Rule("EVENT_NO_DELETE", ERROR, "events are not removed or renamed"),
    Rule("TASK_NO_DELETE", ERROR, "tasks are not removed or renamed"),
    Rule("MACHINE_NO_DELETE", ERROR, "machines are not removed or renamed"),
    Rule("STATE_NO_DELETE", ERROR, "states are not removed or renamed"),
    Rule("TRANSITION_NO_DELETE", ERROR, "transitions are not removed or renamed"),
    Rule(
        "TRANSITION_SAME_ENDPOINTS",
        ERROR,
        "a transition keeps every source and target it had",
    ),
    Rule("FIELD_NO_DELETE", ERROR, "event, signal and task fields are not removed or renamed"),
    Rule("FIELD_SAME_TYPE", ERROR, "fields keep a type that accepts the old values"),
    Rule("FIELD_NO_ADD_REQUIRED", ERROR, "a field added to a recorded shape has a default"),
    Rule("RETURNS_FIELD_NO_DELETE", ERROR, "task result fields are not removed or renamed"),
    Rule("TASK_MODE_SAME", WARNING, "tasks keep their mode"),
    Rule(
        "MACHINE_SAME_INSTANCES",
        ERROR,
        "a machine keeps one instance, or keeps many",
    ),
    Rule("INITIAL_SAME", ERROR, "a machine keeps its initial state"),
    Rule("DATA_FIELD_NO_DELETE", ERROR, "data fields are not removed or renamed"),
    Rule("DATA_FIELD_SAME_TYPE", ERROR, "data fields keep a type that accepts the old values"),
    Rule("DATA_DEFAULT_SAME", WARNING, "data fields keep their default"),
    Rule("SIGNAL_NO_DELETE", ERROR, "signals are not removed or renamed"),
    Rule(
        "GUARD_ORDER_SAME",
        WARNING,
        "transitions of one state and trigger are tried in the same order",
    ),
)

REPLAY_RULES: Mapping[str, Rule] = _family(
    Rule("REPLAY_UNKNOWN_CATEGORY", ERROR, "the stream is recorded under this process's name"),
    Rule("REPLAY_VERSION_GAP", ERROR, "stream versions count up from 1 without gaps"),
    Rule("REPLAY_DUPLICATE_VERSION", ERROR, "each stream version is recorded once"),
    Rule("REPLAY_UNKNOWN_EVENT", ERROR, "every recorded event name has a class in the module"),
    Rule("REPLAY_INVALID_PAYLOAD", ERROR, "every recorded payload validates against its class"),
    Rule("REPLAY_KEY_MISMATCH", ERROR, "input events carry the key of their stream"),
    Rule("REPLAY_UNKNOWN_MACHINE", ERROR, "recorded machines still exist"),
    Rule("REPLAY_UNKNOWN_STATE", ERROR, "recorded states are still states of their machine"),
    Rule("REPLAY_UNKNOWN_TRANSITION", ERROR, "recorded transitions are still in the table"),
    Rule("REPLAY_UNKNOWN_TASK", ERROR, "recorded tasks still exist"),
    Rule("REPLAY_INVALID_TASK_INPUT", ERROR, "recorded task inputs validate against the task"),
    Rule("REPLAY_STATE_MISMATCH", ERROR, "a recorded transition leaves the state replay is in"),
    Rule("REPLAY_UNKNOWN_SIGNAL", ERROR, "recorded signals are still declared"),
    Rule("REPLAY_INVALID_DATA", ERROR, "recorded data values fit the current data records"),
    Rule("REPLAY_EVOLVE_ERROR", ERROR, "evolve folds every recorded event"),
    Rule("REPLAY_NO_STREAMS", WARNING, "there is a stream to replay"),
    Rule("REPLAY_STREAMS_REQUIRED", ERROR, "with --require-streams, there is a stream to replay"),
)

FAMILIES: Mapping[Family, Mapping[str, Rule]] = MappingProxyType(
    {Family.CODE: CODES, Family.BREAKING: BREAKING_RULES, Family.REPLAY: REPLAY_RULES}
)

# One table: an id is unique across families too.
RULES: Mapping[str, Rule] = MappingProxyType(
    registry(
        lambda rule: rule.id, *(rule for family in FAMILIES.values() for rule in family.values())
    )
)
