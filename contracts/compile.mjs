// Compiles contracts/src/**/*.sol with the pinned solcjs and contracts/src/**/*.vy with the
// venv's vyper into contracts/build/<Name>.json ({abi, bytecode, deployedBytecode}).
// Skips work when the sources hash is unchanged so `make contracts` stays cheap.
import { createRequire } from "node:module";
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const srcDir = path.join(here, "src");
const buildDir = path.join(here, "build");
const hashFile = path.join(buildDir, ".sources-hash");
const vyperBin = process.env.VYPER || path.join(root, ".venv", "bin", "vyper");

function listSources(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listSources(full));
    else if (entry.isFile() && (entry.name.endsWith(".sol") || entry.name.endsWith(".vy"))) out.push(full);
  }
  return out;
}

// Source unit names are repo-relative with forward slashes so hashes and
// import resolution do not depend on the machine's checkout path.
const files = listSources(srcDir)
  .map((f) => path.relative(root, f).split(path.sep).join("/"))
  .sort();
if (files.length === 0) {
  console.error("no contract sources under contracts/src");
  process.exit(1);
}

const sources = {};
const vyperFiles = [];
const hash = createHash("sha256");
for (const rel of files) {
  const content = fs.readFileSync(path.join(root, rel), "utf8");
  if (rel.endsWith(".vy")) vyperFiles.push(rel);
  else sources[rel] = { content };
  hash.update(rel);
  hash.update("\0");
  hash.update(content);
  hash.update("\0");
}
const digest = hash.digest("hex");

if (fs.existsSync(hashFile) && fs.readFileSync(hashFile, "utf8").trim() === digest) {
  console.log("contracts up to date");
  process.exit(0);
}

const solc = require("solc");
const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    viaIR: false,
    outputSelection: {
      "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] },
    },
  },
};

function findImports(importPath) {
  const full = path.join(root, importPath);
  if (fs.existsSync(full)) return { contents: fs.readFileSync(full, "utf8") };
  return { error: `import not found: ${importPath}` };
}

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const diagnostics = output.errors || [];
const errors = diagnostics.filter((d) => d.severity === "error");
for (const d of diagnostics) {
  if (d.severity !== "error") console.warn(d.formattedMessage || d.message);
}
if (errors.length > 0) {
  for (const e of errors) console.error(e.formattedMessage || e.message);
  process.exit(1);
}

// Every artifact is built in memory first, so a failed compile leaves contracts/build as it was.
const artifacts = new Map(); // name -> { unit, artifact }
function add(name, unit, artifact) {
  if (artifacts.has(name)) {
    console.error(`duplicate contract name ${name} in ${unit} and ${artifacts.get(name).unit}`);
    process.exit(1);
  }
  artifacts.set(name, { unit, artifact });
}

for (const [unit, contracts] of Object.entries(output.contracts || {})) {
  for (const [name, c] of Object.entries(contracts)) {
    const bytecode = c.evm?.bytecode?.object || "";
    // Interfaces, abstract contracts and libraries with no deployable code are skipped.
    if (bytecode.length === 0) continue;
    add(name, unit, {
      abi: c.abi,
      bytecode: "0x" + bytecode,
      deployedBytecode: "0x" + (c.evm?.deployedBytecode?.object || ""),
    });
  }
}

// A Vyper file is one contract, named after the file.
for (const unit of vyperFiles) {
  if (!fs.existsSync(vyperBin)) {
    console.error(`vyper not found at ${vyperBin}; run \`make install\` (or set VYPER)`);
    process.exit(1);
  }
  let out;
  try {
    out = execFileSync(vyperBin, ["-f", "abi,bytecode,bytecode_runtime", "--evm-version", "cancun", unit], {
      cwd: root,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
  } catch {
    console.error(`vyper failed on ${unit}`);
    process.exit(1);
  }
  const [abi, bytecode, deployedBytecode] = out.trim().split("\n");
  add(path.basename(unit, ".vy"), unit, { abi: JSON.parse(abi), bytecode, deployedBytecode });
}

fs.mkdirSync(buildDir, { recursive: true });
// Drop artifacts of contracts that no longer exist so stale ABIs are never loaded.
for (const f of fs.readdirSync(buildDir)) {
  if (f.endsWith(".json")) fs.unlinkSync(path.join(buildDir, f));
}
for (const [name, { artifact }] of artifacts) {
  fs.writeFileSync(path.join(buildDir, `${name}.json`), JSON.stringify(artifact, null, 2) + "\n");
}
fs.writeFileSync(hashFile, digest + "\n");
const vyperNote = vyperFiles.length > 0 ? `, vyper ${execFileSync(vyperBin, ["--version"], { encoding: "utf8" }).trim()}` : "";
console.log(
  `compiled ${files.length} source(s), wrote ${artifacts.size} artifact(s) to contracts/build (solc ${solc.version()}${vyperNote})`,
);
