"""``pmc lsp``: a Language Server for ``.pm`` files, over stdio.

The entry point is :func:`serve`. The server (:mod:`pmc.lsp.server`, on
pygls) only speaks the protocol; each feature is a pure function of one
checked document (:mod:`pmc.lsp.features`) on the compiler's front end and a
symbol index (:mod:`pmc.lsp.index`); completion reads the slot at the cursor
(:mod:`pmc.lsp.completion`); :mod:`pmc.lsp.positions` converts pmc's
character columns to LSP's UTF-16 ones. Needs the ``lsp`` extra (pygls).
"""

from __future__ import annotations


def serve(version: str) -> None:
    """Serve the Language Server Protocol on stdin and stdout until the client exits.

    ``version`` is what the server tells the client it is (pmc's version).
    """
    # Imported here: `import pmc.lsp` must not need pygls.
    from pmc.lsp.server import serve as serve_stdio

    serve_stdio(version)


__all__ = ["serve"]
