#!/usr/bin/env node
// `solc` for Slither, from the pinned solcjs (node_modules/solc): the two calls crytic-compile's
// standard-JSON platform makes, `solc --version` and `solc --standard-json` (input on stdin).
// No native solc binary is fetched: the machines reach only the package registries.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const require = createRequire(import.meta.url);
const solc = require("solc");
const args = process.argv.slice(2);

if (args.includes("--version")) {
  console.log(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}`);
  process.exit(0);
}
if (!args.includes("--standard-json")) {
  console.error("only --version and --standard-json are offered");
  process.exit(2);
}
const input = fs.readFileSync(0, "utf8");
const findImports = (p) =>
  fs.existsSync(path.resolve(p)) ? { contents: fs.readFileSync(path.resolve(p), "utf8") } : { error: `not found: ${p}` };
process.stdout.write(solc.compile(input, { import: findImports }));
