// Starts `pmc lsp` (docs/editors.md) for every .pm file; the command comes
// from the `pmc.command` setting, `pmc lsp` on the PATH by default.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

exports.activate = async () => {
  const [command, ...args] = vscode.workspace.getConfiguration("pmc").get("command");
  client = new LanguageClient(
    "pmc",
    "pmc",
    { command, args },
    { documentSelector: [{ scheme: "file", language: "pm" }] },
  );
  await client.start();
};

exports.deactivate = () => (client ? client.stop() : undefined);
