#!/usr/bin/env node
// Runs the test suites with node's own test runner (TypeScript through tsx).
//   unit: src/**/*.test.ts and test/unit/**/*.test.ts, files in parallel
//   root: test/root/**/*.test.ts and the conformance suite (test/conformance/), one file at a time (they
//         share the kernel's namespaces and nftables)
// Usage: node scripts/run-tests.mjs [unit|root|all] [name-filter]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const which = process.argv[2] ?? 'all';
const filter = process.argv[3];

function find(dir, out = []) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) find(p, out);
    else if (p.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const suites = {
  unit: { files: [...find('src'), ...find('test/unit')], concurrency: 2 },
  root: { files: [...find('test/root'), ...find('test/conformance')], concurrency: 1 },
};
const selected = which === 'all' ? ['unit', 'root'] : [which];
let status = 0;
const totals = { passed: 0, failed: 0, skipped: 0 };
const countDir = mkdtempSync(join(tmpdir(), 'multinode-counts-'));
for (const name of selected) {
  const suite = suites[name];
  if (!suite) throw new Error(`unknown suite ${name}`);
  const files = suite.files.filter((f) => !filter || f.includes(filter)).sort();
  if (files.length === 0) continue;
  console.log(`== ${name} tests (${files.length} files)`);
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      `--test-concurrency=${suite.concurrency}`,
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=./scripts/count-reporter.mjs',
      `--test-reporter-destination=${join(countDir, name)}`,
      ...files,
    ],
    { stdio: 'inherit' },
  );
  if (r.status !== 0) status = r.status ?? 1;
  try {
    const c = JSON.parse(readFileSync(join(countDir, name), 'utf8'));
    for (const k of Object.keys(totals)) totals[k] += c[k];
  } catch {
    totals.failed++; // the runner died before reporting
  }
}
rmSync(countDir, { recursive: true, force: true });
// The plain closing line CI reads.
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(status);
