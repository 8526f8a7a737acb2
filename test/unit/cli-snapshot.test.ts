/**
 * The V8 startup snapshot `./multinode` prefers for `validate` and `--version` (dist/fast/validate.blob, built
 * from src/cli/fast-snapshot.ts after a warm-up run) must behave exactly like the full CLI
 * (dist/multinode.mjs), and its warm-up must leave nothing behind (a file read then, an exit code). Builds
 * into a temp dir.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '../..');

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(argv: readonly string[], input?: string): Result {
  // Node refuses a blob under V8 options other than the build's; the launcher runs it without NODE_OPTIONS.
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env['NODE_OPTIONS'];
  const r = spawnSync(process.execPath, argv, {
    cwd: root,
    encoding: 'utf8',
    env,
    ...(input === undefined ? {} : { input }),
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('startup snapshot: same output and exit codes as the full CLI; the warm-up leaves no state', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mn-snap-'));
  try {
    const b = run(['scripts/build.mjs', dir]);
    assert.equal(b.status, 0, b.stderr);
    const blob = join(dir, 'fast/validate.blob');
    assert.ok(existsSync(blob), `the build makes the snapshot: ${b.stderr}`);
    assert.ok(existsSync(`${blob}.node`), 'the build records the node binary that made it');
    const snap = (args: readonly string[], input?: string): Result =>
      run(['--snapshot-blob', blob, '--', ...args], input);
    const full = join(dir, 'multinode.mjs');

    const bad = readdirSync(join(root, 'test/fixtures/spec/bad'))
      .filter((f) => f.endsWith('.yaml'))
      .sort()
      .slice(-3)
      .map((f) => `test/fixtures/spec/bad/${f}`);
    const cases: (readonly string[])[] = [
      ['validate', 'examples/seed-000-vllm.yaml', 'examples/seed-000-mpi-inference.yaml'],
      ['validate', '--output', 'json', 'examples/seed-000-vllm.yaml', ...bad],
      ['validate', ...bad],
      ['validate', 'examples/quickstart.yaml'],
      ['validate', '--output', 'xml', 'examples/seed-000-vllm.yaml'],
      ['validate', 'no-such-file.yaml'],
      ['validate'],
      ['validate', '--help'],
      ['--version'],
      ['-V'],
    ];
    for (const args of cases) {
      assert.deepEqual(snap(args), run([full, ...args]), `multinode ${args.join(' ')}`);
    }
    const stdin = snap(['validate', '-'], 'services: {}\n');
    assert.deepEqual(stdin, run([full, 'validate', '-'], 'services: {}\n'));
    assert.equal(stdin.status, 2);

    // A snapshot warmed up on a file, then run on that file changed: the issues show its new lines.
    const work = mkdtempSync(join(tmpdir(), 'mn-snap-spec-'));
    try {
      const spec = join(work, 'spec.yaml');
      writeFileSync(spec, 'version: v1\nservices:\n  a:\n    script: "true"\n    bogus: 1\n');
      const own = join(work, 'own.blob');
      const made = run(['--snapshot-blob', own, '--build-snapshot', join(dir, 'fast/snapshot.cjs'), spec]);
      assert.equal(made.status, 0, made.stderr);
      assert.match(made.stderr, /bogus: 1/, 'the warm-up printed the line');
      writeFileSync(spec, 'version: v1\nservices:\n  a:\n    script: "true"\n    other: 2\n');
      const after = run(['--snapshot-blob', own, '--', 'validate', spec]);
      assert.deepEqual(after, run([full, 'validate', spec]));
      assert.match(after.stderr, /other: 2/);
      // No exit code is kept from the warm-up's invalid file.
      assert.equal(run(['--snapshot-blob', own, '--', '--version']).status, 0);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
