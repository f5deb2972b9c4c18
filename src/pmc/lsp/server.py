"""The language server: pygls speaks the protocol, :mod:`pmc.lsp.features` answers.

Documents are synchronised whole (a ``.pm`` file is small, and checking it
costs more than sending it). Every open or change re-checks the document and
publishes its diagnostics, an empty list once it is fixed; changes that
arrive while a check runs are checked together, once. The analysis of the
current version is kept for the requests that follow; so is the index of
the last version that parsed, which completion uses while the text being
typed does not parse.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

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
class Documents:
    """What the server knows of each document, by URI.

    ``analyses`` holds the latest analysis and ``versions`` the document
    version it is of; ``parsed`` the analysis of the last text that parsed.
    ``checking`` names the documents being checked in a thread, and
    ``stale`` those that changed meanwhile: they are checked again, once,
    with their newest text.
    """

    analyses: dict[str, Analysis] = field(default_factory=dict)
    versions: dict[str, int | None] = field(default_factory=dict)
    parsed: dict[str, Analysis] = field(default_factory=dict)
    opened: set[str] = field(default_factory=set)
    checking: set[str] = field(default_factory=set)
    stale: set[str] = field(default_factory=set)

    def store(self, uri: str, analysis: Analysis, version: int | None) -> Analysis:
        self.analyses[uri] = analysis
        self.versions[uri] = version
        if analysis.module is not None:
            self.parsed[uri] = analysis
        return analysis

    def last_index(self, uri: str) -> SymbolIndex | None:
        """The index of the document's last text that parsed (completion's names)."""
        parsed = self.parsed.get(uri)
        return parsed.index if parsed is not None else None

    def close(self, uri: str) -> None:
        for known in (self.analyses, self.versions, self.parsed):
            known.pop(uri, None)
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


def create_server(version: str) -> LanguageServer:
    """A server with every feature registered, not yet started; ``version`` is pmc's."""
    server = LanguageServer("pmc", version, text_document_sync_kind=types.TextDocumentSyncKind.Full)
    documents = Documents()

    def encoding() -> str:
        # The column unit agreed with the client at initialize (UTF-16 unless it prefers another).
        return server.server_capabilities.position_encoding or UTF16

    def analysis_of(uri: str) -> Analysis | None:
        """The analysis of the document's current text: a request must not read an older one.

        A document the editor never opened is read from disk and checked now;
        None when it cannot be read (the request is then answered with nothing).
        """
        if uri not in documents.opened:
            text = _read(uri)
            return analyse(_path(uri), text, encoding()) if text is not None else None
        document = server.workspace.get_text_document(uri)
        known = documents.analyses.get(uri)
        if known is not None and documents.versions.get(uri) == document.version:
            return known
        analysis = analyse(_path(uri), document.source, encoding())
        return documents.store(uri, analysis, document.version)

    async def publish(uri: str) -> None:
        """Check the document in a thread; publish its diagnostics unless it changed meanwhile.

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
                analysis = await asyncio.to_thread(analyse, _path(uri), text, encoding())
                if uri not in documents.opened:
                    return  # closed meanwhile: its diagnostics are already cleared
                if uri in documents.stale:
                    continue
                documents.store(uri, analysis, version)
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
        await publish(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(params: types.DidChangeTextDocumentParams) -> None:
        await publish(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        documents.close(uri)
        # A closed file's problems leave the editor's list with it.
        server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )

    # A document that cannot be read (see `_read`) is answered with nothing.

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def on_hover(params: types.HoverParams) -> types.Hover | None:
        analysis = analysis_of(params.text_document.uri)
        return hover(analysis, params.position) if analysis else None

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def on_definition(params: types.DefinitionParams) -> types.Location | None:
        uri = params.text_document.uri
        analysis = analysis_of(uri)
        return definition(analysis, uri, params.position) if analysis else None

    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    def on_references(params: types.ReferenceParams) -> list[types.Location]:
        uri = params.text_document.uri
        analysis = analysis_of(uri)
        declaration = params.context.include_declaration
        return references(analysis, uri, params.position, declaration) if analysis else []

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=[".", ">", " "]),
    )
    def on_completion(params: types.CompletionParams) -> types.CompletionList:
        uri = params.text_document.uri
        analysis = analysis_of(uri)
        typed = params.context is not None and (
            params.context.trigger_kind == types.CompletionTriggerKind.TriggerCharacter
        )
        items = (
            completion(analysis.positions, params.position, documents.last_index(uri), not typed)
            if analysis
            else []
        )
        return types.CompletionList(is_incomplete=False, items=items)

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def on_symbols(params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
        analysis = analysis_of(params.text_document.uri)
        return document_symbols(analysis) if analysis else []

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    def on_formatting(params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
        analysis = analysis_of(params.text_document.uri)
        return formatting(analysis) if analysis else None

    @server.feature(types.TEXT_DOCUMENT_PREPARE_RENAME)
    def on_prepare_rename(params: types.PrepareRenameParams) -> types.Range | None:
        analysis = analysis_of(params.text_document.uri)
        if analysis is None:
            return None
        try:
            return analysis.positions.range(rename_target(analysis, params.position).span)
        except RenameRefused:
            return None

    @server.feature(types.TEXT_DOCUMENT_RENAME)
    def on_rename(params: types.RenameParams) -> types.WorkspaceEdit | None:
        uri = params.text_document.uri
        analysis = analysis_of(uri)
        if analysis is None:
            return None
        try:
            renaming = rename(analysis, uri, params.position, params.new_name)
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
