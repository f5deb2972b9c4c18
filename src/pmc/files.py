"""Writing files the way every pmc command must: atomically, and diffs for `--diff`."""

from __future__ import annotations

import contextlib
import difflib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` in one step: readers see the old file or the new one, never half.

    See :func:`replacing` for the rules.
    """
    with replacing(path) as handle:
        handle.write(text)


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[TextIO]:
    """A text file to write that replaces ``path`` in one step when the block ends.

    For output written piece by piece (``pmc export``). The temporary file
    sits beside the target so the rename stays on one file system and is
    flushed to disk first. An existing file keeps its permissions, a new one
    gets the umask's; a symbolic link stays a link and the file it points to
    is replaced. If the block raises, ``path`` is left as it was.
    """
    target = path.resolve() if path.is_symlink() else path
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    descriptor, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def unified_diff(before: str | None, after: str, fromfile: str, tofile: str) -> str:
    """A unified diff; ``before=None`` means the file does not exist yet."""
    lines = difflib.unified_diff(
        _lines(before or ""),
        _lines(after),
        fromfile="/dev/null" if before is None else fromfile,
        tofile=tofile,
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


def _lines(text: str) -> list[str]:
    # Not str.splitlines: it also splits at form feeds and U+2028, which a
    # string or a comment may hold.
    if not text:
        return []
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1].removesuffix("\n")
    return lines if lines[-1] else lines[:-1]
