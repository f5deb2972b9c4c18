"""The language server: pygls speaks the protocol, :mod:`pmc.lsp.features` answers.

Documents are synchronised whole (a ``.pm`` file is small, and checking it
costs more than sending it). Every open or change re-checks the document,
re-parsing only the blocks the change touched (:class:`pmc.compiler.Checker`),
and publishes its diagnostics, an empty list once it is fixed; changes
that arrive while a check runs are checked together, once. Each text is
checked once (:class:`Checks`): a request awaits the check of the current
text that is in flight, or reuses its analysis; the index of the last text
that parsed is kept too, which completion uses while the text being typed
does not parse.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from pmc.compiler import Checker
from pmc.lsp.features import (
    Analysis,
    RenameRefused,
    analyse,
    completion,
    definition,
    document_symbols,
    formatting,
    hover,
    lsp_diagnostics,
    references,
    rename,
    rename_target,
)
from pmc.lsp.index import SymbolIndex
from pmc.lsp.positions import UTF16


@dataclass
class Checks:
    """Each text of a document is checked once, and whoever needs its analysis awaits that check.

    ``run`` checks one text of a document (in a thread: the event loop keeps
    reading messages). Publishing diagnostics and answering a request after
    a keystroke both need the analysis of the newest text; the second asker
    awaits the check the first started rather than checking the text again.
    Only each document's latest text is kept: an older one is not asked for
    again (a request is about the current text). ``parsed`` is the analysis
    of the last-started check whose text parsed (completion's names while
    the text being typed does not parse).
    """

    run: Callable[[str, str], Analysis]
    latest: dict[str, tuple[str, asyncio.Future[Analysis]]] = field(default_factory=dict)
    parsed: dict[str, tuple[int, Analysis]] = field(default_factory=dict)
    started: int = 0  # checks started so far: orders `parsed`, whose checks may end in any order

    def of(self, uri: str, text: str) -> asyncio.Future[Analysis]:
        """The check of ``text`` as ``uri``'s content: the one in flight or done, or a new one."""
        known = self.latest.get(uri)
        if known is not None and known[0] == text:
            return known[1]
        self.started += 1
        check = asyncio.ensure_future(asyncio.to_thread(self.run, uri, text))
        check.add_done_callback(partial(self._keep, uri, self.started))
        self.latest[uri] = (text, check)
        return check

    def _keep(self, uri: str, order: int, done: asyncio.Future[Analysis]) -> None:
        if uri not in self.latest or done.cancelled() or done.exception() is not None:
            return  # forgotten meanwhile (closed), or failed: its awaiter gets the error
        analysis = done.result()
        kept = self.parsed.get(uri)
        if analysis.module is not None and (kept is None or kept[0] < order):
            self.parsed[uri] = (order, analysis)

    def last_index(self, uri: str) -> SymbolIndex | None:
        """The index of the document's last text that parsed (completion's names)."""
        kept = self.parsed.get(uri)
        return kept[1].index if kept is not None else None

    def forget(self, uri: str) -> None:
        self.latest.pop(uri, None)
        self.parsed.pop(uri, None)


@dataclass
class Documents:
    """What the server knows of the documents the editor opened, by URI.

    ``checking`` names the documents whose diagnostics are being computed,
    and ``stale`` those that changed meanwhile: they are checked again,
    once, with their newest text.
    """

    checks: Checks
    opened: set[str] = field(default_factory=set)
    checking: set[str] = field(default_factory=set)
    stale: set[str] = field(default_factory=set)

    def close(self, uri: str) -> None:
        self.checks.forget(uri)
        self.opened.discard(uri)


def _path(uri: str) -> str:
    """The file a diagnostic names: the document's path, or its URI when it is not a file."""
    return to_fs_path(uri) or uri


def _read(uri: str) -> str | None:
    """The text of a file the editor did not open; None when it is not a readable UTF-8 file.

    An editor may ask about a file it deleted meanwhile, a directory, or an
    ``untitled:`` buffer it never sent: nothing to answer, not an error.
    """
    path = to_fs_path(uri) if uri.startswith("file:") else None
    if path is None:
        return None
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


class RefusalsAreAnswers(logging.Filter):
    """pygls logs every ``JsonRpcException`` a handler raises with its traceback, as
    an error; a refused request (a rename onto a taken name) is an answer the
    client shows, not a fault of the server: one line at INFO, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, JsonRpcException) and error.code == types.LSPErrorCodes.RequestFailed:
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args = "request refused: %s", (error.message,)
            record.exc_info = record.exc_text = None
        return True


_REFUSALS = RefusalsAreAnswers()


def create_server(version: str) -> LanguageServer:
    """A server with every feature registered, not yet started; ``version`` is pmc's."""
    # addFilter keeps one of each: creating several servers adds it once.
    logging.getLogger("pygls.protocol.json_rpc").addFilter(_REFUSALS)
    server = LanguageServer("pmc", version, text_document_sync_kind=types.TextDocumentSyncKind.Full)

    def encoding() -> str:
        # The column unit agreed with the client at initialize (UTF-16 unless it prefers another).
        return server.server_capabilities.position_encoding or UTF16

    # Each open document's checker keeps what its last text's check did: a
    # keystroke re-parses only the block it changed, and re-analyses only
    # the machines that changed (or moved to other lines) or read what did.
    checkers: dict[str, Checker] = {}

    def check(uri: str, text: str) -> Analysis:
        checker = checkers.get(uri)
        if checker is None:
            return analyse(_path(uri), text, encoding())
        return analyse(_path(uri), text, encoding(), checker.check)

    documents = Documents(Checks(check))

    async def analysis_of(uri: str) -> Analysis | None:
        """The analysis of the document's current text: a request must not read an older one.

        A document the editor never opened is read from disk and checked now;
        None when it cannot be read (the request is then answered with nothing).
        """
        if uri not in documents.opened:
            text = _read(uri)
            return await asyncio.to_thread(check, uri, text) if text is not None else None
        return await documents.checks.of(uri, server.workspace.get_text_document(uri).source)

    async def publish(uri: str) -> None:
        """Publish the diagnostics of the document's newest text, unless it changes meanwhile.

        The event loop reads the next changes while a check runs: a burst of
        keystrokes costs one check in flight and one more of the newest text,
        not one per keystroke.
        """
        if uri in documents.checking:
            documents.stale.add(uri)
            return
        documents.checking.add(uri)
        try:
            while True:
                documents.stale.discard(uri)
                document = server.workspace.get_text_document(uri)
                text, version = document.source, document.version
                analysis = await documents.checks.of(uri, text)
                if uri not in documents.opened:
                    return  # closed meanwhile: its diagnostics are already cleared
                if uri in documents.stale:
                    continue
                diagnostics = lsp_diagnostics(analysis, uri)
                server.text_document_publish_diagnostics(
                    types.PublishDiagnosticsParams(
                        uri=uri, diagnostics=diagnostics, version=version
                    )
                )
                return
        finally:
            documents.checking.discard(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(params: types.DidOpenTextDocumentParams) -> None:
        documents.opened.add(params.text_document.uri)
        checkers[params.text_document.uri] = Checker()
        await publish(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(params: types.DidChangeTextDocumentParams) -> None:
        await publish(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        documents.close(uri)
        checkers.pop(uri, None)
        # A closed file's problems leave the editor's list with it.
        server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )

    # A document that cannot be read (see `_read`) is answered with nothing.

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def on_hover(params: types.HoverParams) -> types.Hover | None:
        analysis = await analysis_of(params.text_document.uri)
        return hover(analysis, params.position) if analysis else None

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    async def on_definition(params: types.DefinitionParams) -> types.Location | None:
        uri = params.text_document.uri
        analysis = await analysis_of(uri)
        return definition(analysis, uri, params.position) if analysis else None

    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    async def on_references(params: types.ReferenceParams) -> list[types.Location]:
        uri = params.text_document.uri
        analysis = await analysis_of(uri)
        declaration = params.context.include_declaration
        return references(analysis, uri, params.position, declaration) if analysis else []

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=[".", ">", " "]),
    )
    async def on_completion(params: types.CompletionParams) -> types.CompletionList:
        uri = params.text_document.uri
        analysis = await analysis_of(uri)
        typed = params.context is not None and (
            params.context.trigger_kind == types.CompletionTriggerKind.TriggerCharacter
        )
        items = (
            completion(
                analysis.positions, params.position, documents.checks.last_index(uri), not typed
            )
            if analysis
            else []
        )
        return types.CompletionList(is_incomplete=False, items=items)

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    async def on_symbols(params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
        analysis = await analysis_of(params.text_document.uri)
        return document_symbols(analysis) if analysis else []

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    async def on_formatting(params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
        analysis = await analysis_of(params.text_document.uri)
        return formatting(analysis) if analysis else None

    @server.feature(types.TEXT_DOCUMENT_PREPARE_RENAME)
    async def on_prepare_rename(params: types.PrepareRenameParams) -> types.Range | None:
        analysis = await analysis_of(params.text_document.uri)
        if analysis is None:
            return None
        try:
            return analysis.positions.range(rename_target(analysis, params.position).span)
        except RenameRefused:
            return None

    @server.feature(types.TEXT_DOCUMENT_RENAME)
    async def on_rename(params: types.RenameParams) -> types.WorkspaceEdit | None:
        uri = params.text_document.uri
        analysis = await analysis_of(uri)
        if analysis is None:
            return None
        try:
            # In a thread: a rename checks the renamed text, as long as a keystroke.
            renaming = await asyncio.to_thread(
                rename, analysis, uri, params.position, params.new_name
            )
        except RenameRefused as refused:
            # An error response: the client shows its message where the user typed the name.
            raise JsonRpcException(str(refused), types.LSPErrorCodes.RequestFailed) from None
        warning = types.ShowMessageParams(types.MessageType.Warning, renaming.warning)
        server.window_show_message(warning)
        return renaming.edit

    return server


def serve(version: str) -> None:
    """Run the server over stdin and stdout until the client shuts it down."""
    create_server(version).start_io()
