"""Render a checked process into the text of its Python module."""

from __future__ import annotations

from functools import cache

import jinja2

from pmc._resources import data_dir
from pmc.codegen.emit import header_lines
from pmc.codegen.formatter import format_module, module_filename
from pmc.codegen.view import ModuleView, module_view, required_api
from pmc.semantics.model import ProcessModel


def _load_template(name: str) -> str:
    return data_dir("templates").joinpath(name).read_text(encoding="utf-8")


@cache
def _environment() -> jinja2.Environment:
    # Reading through the Traversable works for checkouts and installed wheels alike.
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(_load_template),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render(view: ModuleView) -> str:
    text = _environment().get_template("module.py.jinja").render(view=view)
    return text.rstrip("\n") + "\n"


def generate(model: ProcessModel, *, source_name: str, program: str) -> str:
    """The generated module for ``model``: same input, same text.

    ``program`` is the text of the source's tree as
    :func:`pmc.syntax.printer.program_text` prints it, whose hash the header
    records. Rendered from the templates, then formatted by the pinned ruff
    in isolated mode; raises :class:`~pmc.codegen.formatter.CodegenError`
    when the formatter is missing or fails.
    """
    header = header_lines(source_name, program, required_api(model))
    text = render(module_view(model, header=header, source_name=source_name))
    return format_module(text, filename=module_filename(source_name))
