"""Rules for misspelled keywords."""

from __future__ import annotations

from collections.abc import Iterable

from pmc.diagnostics import Diagnostic
from pmc.syntax.errors.expected import keyword_texts
from pmc.syntax.errors.stuck import Stuck, on_token

_TASK_KEYWORDS = ("retry", "timeout", "returns", "backoff", "every", "max")


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions, swaps."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def closest_keyword(word: str, keywords: Iterable[str]) -> str | None:
    """The keyword ``word`` is most likely a misspelling of, if any is close enough."""
    lowered = word.lower()
    best: tuple[int, str] | None = None
    for keyword in sorted(keywords):
        if keyword == word:
            continue
        limit = 1 if len(keyword) <= 4 else 2
        if abs(len(word) - len(keyword)) > limit:
            continue  # a cheap lower bound; huge words would make the distance slow
        distance = edit_distance(lowered, keyword)
        if distance <= limit and len(word) >= 2 and (best is None or distance < best[0]):
            best = (distance, keyword)
    return best[1] if best else None


def misspelled_keyword(stuck: Stuck) -> Diagnostic | None:
    if stuck.bad.type != "NAME":
        return None
    suggestion = closest_keyword(str(stuck.bad), keyword_texts(stuck.accepts))
    if suggestion is None:
        return None
    return Diagnostic(
        "PM0001",
        f"misspelled keyword `{stuck.bad}`; did you mean `{suggestion}`?",
        on_token(stuck.bad),
        label=f"did you mean `{suggestion}`?",
    )


def misspelled_task_keyword(stuck: Stuck) -> Diagnostic | None:
    """``retyr 3`` in a task: a field name is allowed there, so the typo is noticed late."""
    previous = stuck.stack_token(-1)
    if (
        stuck.block_kind != "task"
        or previous is None
        or previous.type != "NAME"
        or stuck.bad.type == "COLON"
    ):
        return None
    suggestion = closest_keyword(str(previous), _TASK_KEYWORDS)
    if suggestion is None:
        return None
    return Diagnostic(
        "PM0001",
        f"misspelled keyword `{previous}`; did you mean `{suggestion}`?",
        on_token(previous),
        label=f"did you mean `{suggestion}`?",
    )
