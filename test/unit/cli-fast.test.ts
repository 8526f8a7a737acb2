/**
 * The fast path `./multinode` uses for `validate` and `--version` (dist/fast/: one CommonJS bundle run with a
 * V8 code cache) must behave exactly like the full CLI (dist/multinode.mjs), and so must the whole CLI as
 * one code-cached CommonJS bundle (dist/fast/cli-run.cjs, every other command). Builds into a temp dir.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '../..');

function run(
  argv: readonly string[],
  input?: string,
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, argv, {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    ...(input === undefined ? {} : { input }),
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('fast validate bundle: same output and exit codes as the full CLI; code cache primed and rewritten', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mn-fast-'));
  try {
    const b = run(['scripts/build.mjs', dir]);
    assert.equal(b.status, 0, b.stderr);
    const fast = join(dir, 'fast/run.cjs');
    const full = join(dir, 'multinode.mjs');
    const cache = join(dir, 'fast/validate.cjs.cache');
    assert.ok(existsSync(cache), 'the build primes the code cache');

    const bad = readdirSync(join(root, 'test/fixtures/spec/bad'))
      .filter((f) => f.endsWith('.yaml'))
      .slice(0, 3)
      .map((f) => `test/fixtures/spec/bad/${f}`);
    const cases: (readonly string[])[] = [
      ['validate', 'examples/seed-000-vllm.yaml', 'examples/seed-000-mpi-inference.yaml'],
      ['validate', '--output', 'json', 'examples/seed-000-vllm.yaml', ...bad],
      ['validate', ...bad],
      ['validate', '--output', 'xml', 'examples/seed-000-vllm.yaml'],
      ['validate', 'no-such-file.yaml'],
      ['validate', '--help'],
      ['--version'],
    ];
    for (const args of cases) {
      const a = run([fast, ...args]);
      const e = run([full, ...args]);
      assert.deepEqual(a, e, `multinode ${args.join(' ')}`);
    }
    const stdin = run([fast, 'validate', '-'], 'services: {}\n');
    assert.equal(stdin.status, 2);
    assert.match(stdin.stderr, /<stdin>/);

    // The whole CLI as one code-cached CommonJS bundle (what `./multinode` runs for every other command).
    const cli = join(dir, 'fast/cli-run.cjs');
    assert.ok(existsSync(join(dir, 'fast/cli.cjs.cache')), "the build primes the whole CLI's cache");
    for (const args of [
      ['--help'],
      ['plan', 'examples/seed-000-vllm.yaml'],
      ['render', 'kubernetes', 'examples/seed-000-vllm.yaml'],
      ['render', 'slurm', 'examples/seed-000-mpi-inference.yaml'],
      ['schema'],
      ['validate', ...bad],
      ['up', 'no-such-file.yaml'],
      ['no-such-command'],
    ] as const) {
      const a = run([cli, ...args]);
      const e = run([full, ...args]);
      assert.deepEqual(a, e, `multinode ${args.join(' ')} (cli.cjs)`);
    }

    // A missing (or rejected) cache: the run still works and writes it again.
    rmSync(cache);
    const again = run([fast, 'validate', 'examples/seed-000-vllm.yaml']);
    assert.equal(again.status, 0, again.stderr);
    assert.ok(existsSync(cache), 'the cache is rewritten after an uncached run');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
