// Compiles one contract of a Solidity file with solc-js (default settings)
// and prints its artifact: {"abi": [...], "bytecode": "0x..."}.
// Usage: node compile.mjs FILE.sol CONTRACT
import solc from "solc";
import { readFileSync } from "node:fs";

const [file, name] = process.argv.slice(2);
const out = JSON.parse(solc.compile(JSON.stringify({
  language: "Solidity",
  sources: { [file]: { content: readFileSync(file, "utf8") } },
  settings: { outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } } },
})));
for (const e of out.errors ?? []) {
  if (e.severity === "error") { console.error(e.formattedMessage); process.exit(1); }
}
const c = out.contracts[file][name];
console.log(JSON.stringify({ abi: c.abi, bytecode: "0x" + c.evm.bytecode.object }));
