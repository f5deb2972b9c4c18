"""``pmc lsp`` that also writes one line per check it runs (a hash of the text) to a file.

Run as ``python counting_server.py LOG`` by the test that proves each text is
checked once: the count is taken where the checks run, inside the server.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

from pmc.lsp import server
from pmc.lsp.features import Analysis, analyse


def counted(path: str, text: str, *options: Any) -> Analysis:
    """``analyse``, logging the text first (its options, as the server passes them, unread)."""
    with Path(sys.argv[1]).open("a", encoding="utf-8") as log:
        log.write(hashlib.sha256(text.encode("utf-8")).hexdigest() + "\n")
    return analyse(path, text, *options)


if __name__ == "__main__":
    server.analyse = counted  # the name the server's checks call
    server.serve("counting")
