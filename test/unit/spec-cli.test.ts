/** `multinode validate` and `multinode schema` end to end through the CLI entry (tsx, no build needed). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('validate: seeds pass (exit 0) with warnings shown', () => {
  const r = cli('validate', 'examples/seed-000-vllm.yaml', 'examples/seed-000-mpi-inference.yaml');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /valid: examples\/seed-000-vllm\.yaml/);
  assert.match(r.stderr, /warning\[host-network\]/);
});

test('validate: a bad spec exits 2, shows the source line and a caret; json lists issues', () => {
  const file = 'test/fixtures/spec/bad/range-port-high.yaml';
  const human = cli('validate', file);
  assert.equal(human.status, 2);
  assert.match(human.stderr, /range-port-high\.yaml:7:15: error\[range\] services\.app\.ports\[0\]\.port: /);
  assert.match(human.stderr, /\n {3}7 \| {9}port: 70000\n {5}\| {15}\^/);
  const json = cli('validate', '--output', 'json', file, 'examples/seed-000-vllm.yaml');
  assert.equal(json.status, 2);
  const out = JSON.parse(json.stdout) as {
    valid: boolean;
    files: { valid: boolean; issues: { code: string }[] }[];
  };
  assert.equal(out.valid, false);
  assert.equal(out.files[0]?.valid, false);
  assert.equal(out.files[0]?.issues[0]?.code, 'range');
  assert.equal(out.files[1]?.valid, true);
});

test('validate: a missing file exits 2; the other files are still checked', () => {
  const r = cli('validate', 'does-not-exist.yaml', 'examples/seed-000-vllm.yaml');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /cannot read does-not-exist\.yaml: no such file \(ENOENT\)/);
  assert.match(
    r.stdout,
    /invalid: does-not-exist\.yaml \(unreadable\)\nvalid: examples\/seed-000-vllm\.yaml/,
  );
  assert.match(r.stderr, /1 of 2 files invalid/);
  const json = cli('validate', '--output', 'json', 'does-not-exist.yaml', 'examples/seed-000-vllm.yaml');
  const out = JSON.parse(json.stdout) as { valid: boolean; files: { valid: boolean; error?: string }[] };
  assert.equal(out.valid, false);
  assert.match(out.files[0]?.error ?? '', /no such file/);
  assert.equal(out.files[1]?.valid, true);
});

test('schema prints JSON Schema 2020-12', () => {
  const r = cli('schema');
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.equal(s['$schema'], 'https://json-schema.org/draft/2020-12/schema');
});
