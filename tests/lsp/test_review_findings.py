"""Review of branch lsp: defects found by driving ``pmc lsp`` as an editor would.

Each test fails on the branch as reviewed; the report names the line to fix.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol.types import Position

from pmc.lsp.features import RenameRefused, analyse, completion, rename
from tests.lsp.client import LspClient, running_server
from tests.lsp.conftest import FIXTURES, SHOP, find, uri_of

URI = "file:///shop.pm"


def labels(text: str, position: Position) -> list[str]:
    # While the line being typed does not parse, the server completes with the
    # names of the last text that parsed (the server's `Documents.last_index`).
    last_parsed = analyse("shop.pm", SHOP).index
    positions = analyse("shop.pm", text).positions
    return [item.label for item in completion(positions, position, last_parsed)]


def test_completion_past_the_end_of_a_line_is_completion_at_its_end() -> None:
    # LSP: "If the character value is greater than the line length it defaults
    # back to the line length." Past the end, the server reads the lines below.
    typing = SHOP.replace(
        "        transition lost:", "        transition late: Paying -> \n        transition lost:"
    )
    line, _ = find(typing, "transition late")
    end = len(typing.splitlines()[line])

    at_end = labels(typing, Position(line=line, character=end))
    past_end = labels(typing, Position(line=line, character=end + 40))

    assert at_end == ["New", "Paying", "Shipping", "Done"]
    assert past_end == at_end


def test_a_completion_far_past_the_end_of_the_file_does_not_hang_the_server() -> None:
    # completion() sums every line's length up to the position's line: a line
    # number of 2**31 - 1 keeps the event loop busy for minutes, and every
    # request after it waits (the client's patience, 30 s, runs out).
    uri = uri_of("far.pm")
    with running_server(FIXTURES) as server:  # its own: a hung server would fail the others
        server.open(uri, SHOP)

        server.at("textDocument/completion", uri, 2**31 - 1, 0)
        hover = server.at("textDocument/hover", uri, *find(SHOP, "Paid\n"))

    assert hover is not None


def test_a_request_about_a_file_that_does_not_exist_answers_nothing(server: LspClient) -> None:
    # An editor asks about a file it closed and deleted: an internal error with
    # a Python traceback comes back (FileNotFoundError).
    uri = uri_of("deleted-meanwhile.pm")

    assert server.at("textDocument/hover", uri, 0, 0) is None


def test_a_file_on_disk_that_is_not_utf8_gets_no_traceback(
    server: LspClient, tmp_path: Path
) -> None:
    latin1 = tmp_path / "latin1.pm"
    latin1.write_bytes(SHOP.replace("🎁", "caf\xe9").encode("latin-1"))

    # UnicodeDecodeError comes back as an internal error with a traceback.
    server.at("textDocument/hover", latin1.as_uri(), *find(SHOP, "Paid\n"))


@pytest.mark.parametrize("taken", ["Ship", "Order"], ids=["a task", "a machine"])
def test_renaming_an_event_to_a_name_the_process_already_declares_is_refused(taken: str) -> None:
    # Events, tasks, signals and machines share the process's names: the edit
    # the server returns leaves the file with PM0101 (declared more than once).
    line, character = find(SHOP, "Paid {")

    with pytest.raises(RenameRefused):
        rename(analyse("shop.pm", SHOP), URI, Position(line=line, character=character), taken)


def test_a_file_never_opened_is_read_again_after_it_changes_on_disk(
    server: LspClient, tmp_path: Path
) -> None:
    # Its analysis is kept under version None, which every later read matches:
    # the outline of the file as it was first read comes back forever.
    path = tmp_path / "on_disk.pm"
    path.write_text(SHOP, encoding="utf-8")
    symbols = {"textDocument": {"uri": path.as_uri()}}
    server.request("textDocument/documentSymbol", symbols)

    path.write_text(SHOP.replace("Paid", "Settled"), encoding="utf-8")
    (process,) = server.request("textDocument/documentSymbol", symbols)

    assert [child["name"] for child in process["children"]][:3] == [
        "OrderPlaced",
        "Settled",
        "Ship",
    ]
