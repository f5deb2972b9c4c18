"""The language server: pygls speaks the protocol, :mod:`pmc.lsp.features` answers.

Documents are synchronised whole (a ``.pm`` file is small, and checking it
costs more than sending it). Every open or change re-checks the document and
publishes its diagnostics, an empty list once it is fixed. The analysis of
each version is kept for the requests that follow; so is the index of the
last version that parsed, which completion uses while the text being typed
does not parse.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lsprotocol import types
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
    """The latest analysis of each open document, and the analysis of its last text that parsed."""

    analyses: dict[str, Analysis] = field(default_factory=dict)
    parsed: dict[str, Analysis] = field(default_factory=dict)

    def update(self, uri: str, text: str, encoding: str) -> Analysis:
        analysis = analyse(to_fs_path(uri) or uri, text, encoding)
        self.analyses[uri] = analysis
        if analysis.module is not None:
            self.parsed[uri] = analysis
        return analysis

    def last_index(self, uri: str) -> SymbolIndex | None:
        """The index of the document's last text that parsed (completion's names)."""
        parsed = self.parsed.get(uri)
        return parsed.index if parsed is not None else None

    def close(self, uri: str) -> None:
        self.analyses.pop(uri, None)
        self.parsed.pop(uri, None)


def create_server(version: str) -> LanguageServer:
    """A server with every feature registered, not yet started; ``version`` is pmc's."""
    server = LanguageServer("pmc", version, text_document_sync_kind=types.TextDocumentSyncKind.Full)
    documents = Documents()

    def update(uri: str) -> Analysis:
        # The column unit agreed with the client at initialize (UTF-16 unless it prefers another).
        encoding = server.server_capabilities.position_encoding or UTF16
        return documents.update(uri, server.workspace.get_text_document(uri).source, encoding)

    def publish(uri: str) -> None:
        analysis = update(uri)
        params = types.PublishDiagnosticsParams(uri=uri, diagnostics=lsp_diagnostics(analysis, uri))
        server.text_document_publish_diagnostics(params)

    def analysis_of(uri: str) -> Analysis:
        """The document's latest analysis; one the editor never opened is read and checked now."""
        return documents.analyses.get(uri) or update(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: types.DidOpenTextDocumentParams) -> None:
        publish(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: types.DidChangeTextDocumentParams) -> None:
        publish(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        documents.close(uri)
        # A closed file's problems leave the editor's list with it.
        server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def on_hover(params: types.HoverParams) -> types.Hover | None:
        return hover(analysis_of(params.text_document.uri), params.position)

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def on_definition(params: types.DefinitionParams) -> types.Location | None:
        uri = params.text_document.uri
        return definition(analysis_of(uri), uri, params.position)

    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    def on_references(params: types.ReferenceParams) -> list[types.Location]:
        uri = params.text_document.uri
        declaration = params.context.include_declaration
        return references(analysis_of(uri), uri, params.position, declaration)

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=[".", ">", " "]),
    )
    def on_completion(params: types.CompletionParams) -> types.CompletionList:
        uri = params.text_document.uri
        positions = analysis_of(uri).positions
        typed = params.context is not None and (
            params.context.trigger_kind == types.CompletionTriggerKind.TriggerCharacter
        )
        items = completion(positions, params.position, documents.last_index(uri), not typed)
        return types.CompletionList(is_incomplete=False, items=items)

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def on_symbols(params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
        return document_symbols(analysis_of(params.text_document.uri))

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    def on_formatting(params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
        return formatting(analysis_of(params.text_document.uri))

    @server.feature(types.TEXT_DOCUMENT_PREPARE_RENAME)
    def on_prepare_rename(params: types.PrepareRenameParams) -> types.Range | None:
        analysis = analysis_of(params.text_document.uri)
        try:
            return analysis.positions.range(rename_target(analysis, params.position).span)
        except RenameRefused:
            return None

    @server.feature(types.TEXT_DOCUMENT_RENAME)
    def on_rename(params: types.RenameParams) -> types.WorkspaceEdit | None:
        uri = params.text_document.uri
        try:
            renaming = rename(analysis_of(uri), uri, params.position, params.new_name)
        except RenameRefused as refused:
            message = types.ShowMessageParams(types.MessageType.Error, str(refused))
            server.window_show_message(message)
            return None
        warning = types.ShowMessageParams(types.MessageType.Warning, renaming.warning)
        server.window_show_message(warning)
        return renaming.edit

    return server


def serve(version: str) -> None:
    """Run the server over stdin and stdout until the client shuts it down."""
    create_server(version).start_io()
