"""Helpers for the formatter tests: parse, format, and compare trees without spans."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from pathlib import Path

from pmc.source import SourceFile, Span
from pmc.syntax import ast
from pmc.syntax.parser import parse
from pmc.tools.fmt import format_module

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.pm"))


def parse_module(text: str, path: str = "test.pm") -> ast.Module:
    result = parse(SourceFile(path, text))
    assert result.module is not None, f"does not parse: {result.diagnostics}\n{text}"
    return result.module


def parses(text: str) -> bool:
    return parse(SourceFile("test.pm", text)).module is not None


def fmt(text: str) -> str:
    return format_module(parse_module(text), SourceFile("test.pm", text))


def without_spans(node: object) -> object:
    """The tree as nested tuples, every position left out (``span``, ``mode_span``, ...).

    Two texts that differ only in layout give equal results.
    """
    if isinstance(node, tuple):
        return tuple(without_spans(item) for item in node)
    if is_dataclass(node) and not isinstance(node, type):
        kept = (
            (f.name, without_spans(getattr(node, f.name)))
            for f in fields(node)
            if not f.name.endswith("span") and not isinstance(getattr(node, f.name), Span)
        )
        return (type(node).__name__, *kept)
    return node


def comment_texts(module: ast.Module) -> list[str]:
    # The formatter drops trailing whitespace, in comments too.
    return [comment.text.rstrip() for comment in module.comments]


def assert_formatting_is_safe(text: str) -> str:
    """Format ``text`` and check the promises of ``pmc fmt``; return the result.

    The result parses to the same tree, keeps every comment in order, and is a
    fixed point of the formatter.
    """
    original = parse_module(text)
    formatted = format_module(original, SourceFile("test.pm", text))
    reparsed = parse_module(formatted, "formatted.pm")
    assert without_spans(reparsed.process) == without_spans(original.process), formatted
    assert comment_texts(reparsed) == comment_texts(original), formatted
    assert fmt(formatted) == formatted, f"not idempotent:\n{formatted}"
    return formatted
