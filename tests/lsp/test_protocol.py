"""``pmc lsp`` over its real protocol: a subprocess speaking JSON-RPC on stdio, as editors do."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.lsp.client import LspClient, running_server
from tests.lsp.conftest import FIXTURES, SHOP, find, lsp_position, uri_of
from tests.syntax.test_incremental import dunning_with_a_long_guard

BROKEN = SHOP.replace("data.paid == 0", "data.payd == 0")


def test_errors_are_published_on_open_and_cleared_once_fixed(server: LspClient) -> None:
    uri = uri_of("diagnostics.pm")

    published = server.open(uri, BROKEN)
    fixed = server.change(uri, 2, SHOP)

    assert [(d["code"], d["severity"], d["source"]) for d in published] == [("PM0207", 1, "pmc")]
    (diagnostic,) = published
    # Two emoji before it on the line: each is one pmc column but two UTF-16 units.
    line, character = find(BROKEN, "payd")
    assert diagnostic["range"] == {
        "start": {"line": line, "character": character},
        "end": {"line": line, "character": character + 4},
    }
    assert diagnostic["message"].splitlines() == [
        "unknown data field `data.payd`",
        "not declared in the `data` of process `Shop`",
        "help: did you mean `paid`?",
    ]
    assert fixed == []


def test_a_syntax_error_is_published_with_its_code(server: LspClient) -> None:
    uri = uri_of("syntax.pm")

    published = server.open(uri, SHOP.replace("initial New", "initial"))

    assert published and published[0]["code"].startswith("PM00")


def test_hover_shows_a_declaration_with_its_comment(server: LspClient) -> None:
    uri = uri_of("hover.pm")
    server.open(uri, SHOP)

    hover = server.at("textDocument/hover", uri, *find(SHOP, "Paid\n"))

    assert hover["contents"]["kind"] == "markdown"
    assert hover["contents"]["value"] == (
        "```pmc\nevent Paid {\n    order_id: str\n    amount: Decimal\n}\n```\n\n"
        "Payment for an order,\nin full."
    )


def test_hover_on_a_data_field_shows_its_type(server: LspClient) -> None:
    uri = uri_of("hover_field.pm")
    server.open(uri, SHOP)

    hover = server.at("textDocument/hover", uri, *find(SHOP, "paid =", 1))

    assert hover["contents"]["value"].startswith("```pmc\ndata.paid: Decimal = 0\n")


def test_hover_on_a_diagnostic_explains_its_code(server: LspClient) -> None:
    uri = uri_of("hover_code.pm")
    server.open(uri, BROKEN)

    hover = server.at("textDocument/hover", uri, *find(BROKEN, "payd"))

    assert "## PM0207: unknown data field" in hover["contents"]["value"]


def test_definition_of_a_state_is_where_the_machine_declares_it(server: LspClient) -> None:
    uri = uri_of("definition.pm")
    server.open(uri, SHOP)

    found = server.at("textDocument/definition", uri, *find(SHOP, "Shipping", 2))

    line, character = find(SHOP, "Shipping")
    assert found == {
        "uri": uri,
        "range": {
            "start": {"line": line, "character": character},
            "end": {"line": line, "character": character + len("Shipping")},
        },
    }


def test_references_of_a_task_are_every_name_of_it(server: LspClient) -> None:
    uri = uri_of("references.pm")
    server.open(uri, SHOP)

    found = server.at(
        "textDocument/references", uri, *find(SHOP, "Ship {"), context={"includeDeclaration": True}
    )

    starts = [(r["range"]["start"]["line"], r["range"]["start"]["character"]) for r in found]
    assert starts == [
        find(SHOP, "Ship {"),
        find(SHOP, "Ship("),
        *[find(SHOP, "Ship ", n) for n in (2, 3)],
    ]


def complete_after(server: LspClient, name: str, text: str, typed: str) -> list[dict[str, Any]]:
    """Open SHOP, change it to ``text`` (maybe half typed), complete right after ``typed``."""
    uri = uri_of(name)
    server.open(uri, SHOP)
    if text != SHOP:
        server.change(uri, 2, text)
    line, character = find(text, typed)
    completion = server.at("textDocument/completion", uri, line, character + len(typed))
    return list(completion["items"])


def test_completion_after_an_arrow_offers_the_machines_states(server: LspClient) -> None:
    # Half typed, the text does not parse: the names come from the last text that did.
    typing = SHOP.replace("New -> Paying on OrderPlaced", "New -> ")

    items = complete_after(server, "complete_arrow.pm", typing, "New -> ")

    assert [i["label"] for i in items] == ["New", "Paying", "Shipping", "Done"]


def test_completion_after_on_offers_events_signals_and_tasks(server: LspClient) -> None:
    items = complete_after(server, "complete_on.pm", SHOP, "New -> Paying on ")

    assert [i["label"] for i in items] == ["OrderPlaced", "Paid", "Ship"]


def test_completion_after_data_offers_its_fields_with_types(server: LspClient) -> None:
    typing = SHOP.replace("set data.paid = event.amount", "set data.")

    items = complete_after(server, "complete_data.pm", typing, "set data.")

    assert [(i["label"], i["detail"]) for i in items] == [("paid", "Decimal")]


def test_a_typed_space_offers_names_where_they_go_and_no_keywords_elsewhere(
    server: LspClient,
) -> None:
    uri = uri_of("complete_space.pm")
    server.open(uri, SHOP)
    typed_space = {"triggerKind": 2, "triggerCharacter": " "}

    after_set = server.at(
        "textDocument/completion", uri, *find(SHOP, "data.paid = event"), context=typed_space
    )
    after_on = server.at(
        "textDocument/completion", uri, *find(SHOP, "OrderPlaced\n"), context=typed_space
    )

    assert after_set["items"] == []
    assert [i["label"] for i in after_on["items"]] == ["OrderPlaced", "Paid", "Ship"]


def test_document_symbols_are_the_outline(server: LspClient) -> None:
    uri = uri_of("symbols.pm")
    server.open(uri, SHOP)

    (process,) = server.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})

    assert process["name"] == "Shop"
    assert [child["name"] for child in process["children"]] == [
        "OrderPlaced",
        "Paid",
        "Ship",
        "paid",
        "Order",
    ]
    machine = process["children"][-1]
    assert [child["name"] for child in machine["children"]] == [
        "New",
        "Paying",
        "Shipping",
        "Done",
        "place",
        "pay",
        "shipped",
        "lost",
    ]


def format_text(server: LspClient, name: str, text: str) -> Any:
    """The server's answer to formatting ``text``, opened under ``name``."""
    uri = uri_of(name)
    server.open(uri, text)
    options = {"tabSize": 4, "insertSpaces": True}
    return server.request(
        "textDocument/formatting", {"textDocument": {"uri": uri}, "options": options}
    )


def test_formatting_rewrites_the_file_as_pmc_fmt_does(server: LspClient) -> None:
    edits = format_text(server, "format.pm", SHOP.replace("    key order_id", "  key   order_id"))

    assert [edit["newText"] for edit in edits] == [SHOP]


def test_formatting_does_nothing_to_a_file_with_syntax_errors(server: LspClient) -> None:
    assert format_text(server, "format_broken.pm", SHOP.replace("initial New", "initial")) is None


def test_rename_of_a_state_edits_every_use_and_warns_of_recorded_streams(
    server: LspClient,
) -> None:
    uri = uri_of("rename.pm")
    server.open(uri, SHOP)

    edit = server.at("textDocument/rename", uri, *find(SHOP, "Done"), newName="Finished")
    warning = server.next_notification("window/showMessage")

    renamed = [(e["range"]["start"]["line"], e["newText"]) for e in edit["changes"][uri]]
    assert renamed == [(find(SHOP, "Done", n)[0], "Finished") for n in (1, 2, 3, 4)]
    assert warning["type"] == 2  # a warning
    assert "STATE_NO_DELETE" in warning["message"]


def test_a_rename_onto_a_task_s_name_fails_with_the_check_it_would_fail(
    server: LspClient,
) -> None:
    uri = uri_of("rename_onto_task.pm")
    server.open(uri, SHOP)
    line, character = find(SHOP, "Paid {")
    params = {
        "textDocument": {"uri": uri},
        "position": {"line": line, "character": character},
        "newName": "Ship",
    }

    error = server.error("textDocument/rename", params)

    assert error["code"] == -32803  # RequestFailed: the client shows the message
    assert "PM0101 `Ship` is declared more than once" in error["message"]


def test_rename_of_a_task_is_refused(server: LspClient) -> None:
    uri = uri_of("rename_task.pm")
    server.open(uri, SHOP)

    prepared = server.at("textDocument/prepareRename", uri, *find(SHOP, "Ship {"))

    assert prepared is None


def test_a_file_the_editor_never_opened_is_read_from_disk(server: LspClient) -> None:
    uri = uri_of("shop.pm")  # the fixture itself, never opened in this server

    found = server.at("textDocument/definition", uri, *find(SHOP, "Paid", 2))

    line, character = find(SHOP, "Paid {")
    assert found["range"]["start"] == {"line": line, "character": character}


def test_a_closed_document_is_read_from_disk_again(server: LspClient) -> None:
    # The editor's text goes with the editor's buffer: what the server kept of it too.
    uri = uri_of("shop.pm")  # the fixture on disk says `Paid`
    symbols = {"textDocument": {"uri": uri}}
    server.open(uri, SHOP.replace("Paid", "Settled"))
    (edited,) = server.request("textDocument/documentSymbol", symbols)

    server.notify("textDocument/didClose", symbols)
    cleared = server.diagnostics(uri)
    (on_disk,) = server.request("textDocument/documentSymbol", symbols)

    assert [child["name"] for child in edited["children"]][1] == "Settled"
    assert cleared == []
    assert [child["name"] for child in on_disk["children"]][1] == "Paid"


def test_a_completion_far_past_the_end_of_the_file_does_not_hang_the_server() -> None:
    # Were completion() to sum every line's length up to the position's line, a
    # line number of 2**31 - 1 would keep the event loop busy for minutes, and
    # every request after it would wait (the client's patience, 30 s, runs out).
    uri = uri_of("far.pm")
    with running_server(FIXTURES) as server:  # its own: a hung server would fail the others
        server.open(uri, SHOP)

        server.at("textDocument/completion", uri, 2**31 - 1, 0)
        hover = server.at("textDocument/hover", uri, *find(SHOP, "Paid\n"))

    assert hover is not None


def test_a_request_about_a_file_that_does_not_exist_answers_nothing(server: LspClient) -> None:
    # An editor asks about a file it closed and deleted: no answer, not an
    # internal error with a Python traceback (FileNotFoundError).
    uri = uri_of("deleted-meanwhile.pm")

    assert server.at("textDocument/hover", uri, 0, 0) is None


def test_a_file_on_disk_that_is_not_utf8_gets_no_traceback(
    server: LspClient, tmp_path: Path
) -> None:
    latin1 = tmp_path / "latin1.pm"
    latin1.write_bytes(SHOP.replace("🎁", "caf\xe9").encode("latin-1"))

    # Answered, not an internal error with a traceback (UnicodeDecodeError):
    # ``at`` asserts the response holds no error.
    server.at("textDocument/hover", latin1.as_uri(), *find(SHOP, "Paid\n"))


def test_a_file_never_opened_is_read_again_after_it_changes_on_disk(
    server: LspClient, tmp_path: Path
) -> None:
    # Its analysis is not kept under version None, which every later read would
    # match: the outline of the file as it was first read would come back forever.
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


@pytest.mark.parametrize("where", ["directory", "untitled"])
def test_a_document_that_is_no_readable_file_gets_no_answer(
    server: LspClient, tmp_path: Path, where: str
) -> None:
    uri = tmp_path.as_uri() if where == "directory" else "untitled:Untitled-1"

    assert server.at("textDocument/hover", uri, 0, 0) is None
    assert server.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}}) == []


def test_a_client_preferring_utf8_gets_columns_in_bytes() -> None:
    # Neovim and Helix offer UTF-8 first; the server takes it and counts bytes.
    capabilities = {"general": {"positionEncodings": ["utf-8", "utf-16"]}}
    with running_server(FIXTURES, capabilities) as client:
        (diagnostic,) = client.open(uri_of("utf8.pm"), BROKEN)

    line, _ = find(BROKEN, "payd")
    prefix = BROKEN.splitlines()[line][: BROKEN.splitlines()[line].index("payd")]
    assert diagnostic["range"]["start"] == {"line": line, "character": len(prefix.encode())}


def test_a_burst_of_changes_ends_with_the_diagnostics_of_the_last_text(server: LspClient) -> None:
    uri = uri_of("burst.pm")
    server.open(uri, SHOP)
    # Typing `payd` a letter at a time, then fixing it: the last text is clean.
    texts = [SHOP.replace("data.paid == 0", f"data.{typed} == 0") for typed in ("p", "pa", "pay")]
    for version, text in enumerate([*texts, BROKEN, SHOP], start=2):
        server.send_change(uri, version, text)

    versions = []
    while not versions or versions[-1] != 6:
        published = server.published(uri)
        versions.append(published["version"])

    # No text older than one already published, and the last one is clean.
    assert versions == sorted(versions)
    assert published["diagnostics"] == []


EXAMPLES = sorted((FIXTURES.parents[2] / "examples").glob("*.pm"))


def test_a_request_after_a_keystroke_awaits_its_check_instead_of_checking_again(
    tmp_path: Path,
) -> None:
    # The request arrives while the server checks the new text in a thread:
    # it must wait for that check, not run one more on the same text.
    log = tmp_path / "checks.log"
    counting = [sys.executable, str(Path(__file__).with_name("counting_server.py")), str(log)]
    uri = uri_of("counted.pm")
    # A few hundred lines more, so that a check lasts while the request arrives.
    padded = SHOP.replace(
        "    key order_id\n",
        "    key order_id\n" + "".join(f"    event Noted{n} {{ note: str }}\n" for n in range(300)),
    )
    texts = [padded, padded.replace("Paid", "Settled"), padded.replace("Paid", "Cleared")]
    outlines = []
    with running_server(FIXTURES, command=counting) as server:
        server.open(uri, texts[0])
        for version, text in enumerate(texts[1:], start=2):
            server.send_change(uri, version, text)
            (process,) = server.request(
                "textDocument/documentSymbol", {"textDocument": {"uri": uri}}
            )
            server.at("textDocument/hover", uri, *find(text, "Ship {"))
            outlines.append([child["name"] for child in process["children"]][301])
        while server.published(uri)["version"] != len(texts):
            pass  # diagnostics of older versions, if the server published them

    checks = log.read_text(encoding="utf-8").splitlines()
    assert outlines == ["Settled", "Cleared"]  # each request answered on the text it followed
    assert len(checks) == len(set(checks)) == len(texts)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_an_example_opens_clean_and_its_names_lead_to_their_declarations(
    server: LspClient, path: Path
) -> None:
    text = path.read_text(encoding="utf-8")
    uri = path.as_uri()
    target = re.search(r"transition \w+:[^>]*-> (\w+)", text)  # the first transition's
    assert target is not None

    published = server.open(uri, text)
    where = lsp_position(text, target.start(1))
    declared = server.at("textDocument/definition", uri, *where)
    shown = server.at("textDocument/hover", uri, *where)

    assert published == []
    assert declared["range"]["start"]["line"] < where[0]  # in the machine's `states`
    assert shown["contents"]["value"].startswith("```pmc\n")
    assert f"state {target[1]} of machine " in shown["contents"]["value"]


def test_the_server_publishes_pmc_checks_error_for_a_long_sum(tmp_path: Path) -> None:
    text = dunning_with_a_long_guard(600)
    uri = (tmp_path / "dunning.pm").as_uri()
    with running_server(tmp_path) as server:
        diagnostics = server.open(uri, text)
        # A keystroke after the sum: the kept tree is compared with the new one.
        later = server.change(uri, 2, text.replace("on after 3d", "on after 4d", 1))
        symbols = server.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    assert [d["code"] for d in diagnostics] == ["PM0005"]
    assert [d["code"] for d in later] == ["PM0005"]
    assert symbols  # and it still answers requests
