// Tokenizes files with the TextMate engine VS Code uses and prints, as JSON,
// each file's lines: their tokens (text and scopes) and whether the line
// ended in the grammar's initial state. tests/editors/ judges the result.
//
//   node tokenize.mjs GRAMMAR.json FILE...
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import oniguruma from "vscode-oniguruma";
import textmate from "vscode-textmate";

const require = createRequire(import.meta.url);
const [grammarPath, ...files] = process.argv.slice(2);

const wasm = readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm")).buffer;
await oniguruma.loadWASM(wasm);
const registry = new textmate.Registry({
  onigLib: Promise.resolve({
    createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
    createOnigString: (text) => new oniguruma.OnigString(text),
  }),
  loadGrammar: async () =>
    textmate.parseRawGrammar(readFileSync(grammarPath, "utf8"), grammarPath),
});
const grammar = await registry.loadGrammar("source.pm");

const result = {};
for (const file of files) {
  let state = textmate.INITIAL;
  result[file] = readFileSync(file, "utf8")
    .split("\n")
    .map((line) => {
      const { tokens, ruleStack, stoppedEarly } = grammar.tokenizeLine(line, state);
      state = ruleStack;
      return {
        tokens: tokens.map((t) => [line.slice(t.startIndex, t.endIndex), t.scopes]),
        // Depth 1: only the root rule is open, as at the start of a file.
        initial: !stoppedEarly && ruleStack.depth === 1,
      };
    });
}
process.stdout.write(JSON.stringify(result));
