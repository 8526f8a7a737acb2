/**
 * Hostile names never become paths: every command that takes a name from argv refuses `..`, `/`-paths and
 * friends with exit 2 and touches nothing (the state directory is compared before and after). Also the
 * guards below the CLI (serviceDir/clusterDir, job record pruning), the Slurm option values, the private
 * state root and the ControlMaster directory refusal. No root needed: every refusal comes before a
 * namespace would be made.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MultinodeError } from '../../src/api/issues.js';
import { clusterDir, serviceDir } from '../../src/targets/local/paths.js';
import { ensureStateRoot } from '../../src/targets/state-root.js';
import { ensureOwnDir, isOwnDir } from '../../src/targets/private-dir.js';
import { defaultControlDir, teardownServiceSsh } from '../../src/targets/local/ssh/index.js';
import { pruneSlurmJobRecords } from '../../src/targets/slurm/jobs.js';
import type { SlurmJobRecord } from '../../src/targets/slurm/jobs.js';

const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'src/cli/main.ts');

function cli(state: string, args: readonly string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, MULTINODE_STATE_DIR: state, NO_COLOR: '1' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** Every path under `dir` (sorted), to compare before and after. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      out.push(join(d, e.name));
      if (e.isDirectory()) walk(join(d, e.name));
    }
  };
  walk(dir);
  return out.sort();
}

/** With MULTINODE_STATE_DIR pointing at `state` for this process too. */
function withState<T>(state: string, fn: () => T): T {
  const prev = process.env['MULTINODE_STATE_DIR'];
  process.env['MULTINODE_STATE_DIR'] = state;
  try {
    return fn();
  } finally {
    if (prev === undefined) delete process.env['MULTINODE_STATE_DIR'];
    else process.env['MULTINODE_STATE_DIR'] = prev;
  }
}

test('hostile names on the command line: exit 2, a message saying what is allowed, nothing touched', () => {
  const top = mkdtempSync(join(tmpdir(), 'mn-names-'));
  try {
    const state = join(top, 'state');
    mkdirSync(join(state, 'services', 'keep'), { recursive: true });
    writeFileSync(join(state, 'services', 'keep', 'marker'), 'x');
    mkdirSync(join(state, 'clusters', 'keep'), { recursive: true });
    const spec = join(top, 'ok.yaml');
    writeFileSync(spec, 'version: v1\nservices:\n  web:\n    script: "true"\n');
    const before = tree(top);
    const cases: [string, string[]][] = [
      ['down ..', ['down', '..']],
      ['down ../..', ['down', '../..']],
      ['down of a directory path', ['down', top]],
      ['down --target slurm', ['down', '--target', 'slurm', '../x']],
      ['down --target slurm of a directory path', ['down', '--target', 'slurm', top]],
      ['logs', ['logs', '..']],
      ['exec', ['exec', '../services', '--', 'true']],
      ['__supervise', ['__supervise', '../..']],
      ['cluster create', ['cluster', 'create', '../evil', '--nodes', '1']],
      ['cluster delete', ['cluster', 'delete', '..']],
      ['up --cluster', ['up', '-d', spec, '--cluster', '../keep']],
      ['up --target slurm --cluster', ['up', '--target', 'slurm', spec, '--cluster', '..']],
      [
        'render --partition with a newline',
        ['render', spec, '--target', 'slurm', '--partition', 'p\n#SBATCH --uid=0'],
      ],
      ['render --time with a command', ['render', spec, '--target', 'slurm', '--time', '1;reboot']],
      ['render --account with a space', ['render', spec, '--target', 'slurm', '--account', 'a b']],
    ];
    for (const [what, args] of cases) {
      const r = cli(state, args);
      assert.equal(r.code, 2, `${what}: exit ${r.code}\n${r.out}`);
      assert.match(r.out, /allowed:/, `${what}: ${r.out}`);
      assert.deepEqual(tree(top), before, `${what} changed the state directory`);
    }
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
});

test('below the CLI: serviceDir and clusterDir refuse names that would leave the state directory', () => {
  withState('/tmp/mn-state-guard', () => {
    for (const bad of ['..', '.', '', 'a/b', '../x', 'A', 'x\n', 'x\u001b[2J']) {
      for (const f of [serviceDir, clusterDir])
        assert.throws(
          () => f(bad),
          (e: unknown) => e instanceof MultinodeError && e.exitCode === 2,
          JSON.stringify(bad),
        );
    }
    assert.equal(serviceDir('web-1'), '/tmp/mn-state-guard/services/web-1');
  });
});

test('job record pruning removes nothing a record names outside the jobs directory', async () => {
  const top = mkdtempSync(join(tmpdir(), 'mn-prune-'));
  try {
    const outside = join(top, 'precious');
    writeFileSync(outside, 'x');
    await withState(join(top, 'state'), async () => {
      const old = new Date(0).toISOString();
      const rec = (id: string): SlurmJobRecord => ({
        id,
        jobId: '1',
        service: 'web',
        file: '/x.yaml',
        planHash: 'h',
        submittedAt: old,
        client: { argv: [] },
        output: outside,
        scriptPath: outside,
        endpoints: [],
        state: 'COMPLETED',
        updatedAt: old,
        endedAt: old,
      });
      const kept = await pruneSlurmJobRecords([rec('1-abc'), rec('../../precious')]);
      assert.deepEqual(kept, []);
    });
    assert.ok(existsSync(outside));
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
});

test('the state root is made 0700, an existing one narrowed to 0700; a symlink is refused', async () => {
  const top = mkdtempSync(join(tmpdir(), 'mn-root-'));
  try {
    const fresh = join(top, 'fresh');
    await withState(fresh, () => ensureStateRoot());
    assert.equal(statSync(fresh).mode & 0o777, 0o700);
    const wide = join(top, 'wide');
    mkdirSync(join(wide, 'services'), { recursive: true, mode: 0o755 });
    chmodSync(wide, 0o755);
    await withState(wide, () => ensureStateRoot());
    assert.equal(statSync(wide).mode & 0o777, 0o700);
    // A shared directory (sticky, world-writable, like /tmp) or one holding other things is never chmod-ed.
    const shared = join(top, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    await assert.rejects(
      withState(shared, () => ensureStateRoot()),
      /others may write to it/,
    );
    assert.equal(statSync(shared).mode & 0o7777, 0o1777);
    const home = join(top, 'home');
    mkdirSync(home, { mode: 0o755 });
    writeFileSync(join(home, '.bashrc'), '');
    await assert.rejects(
      withState(home, () => ensureStateRoot()),
      /holds other things \(\.bashrc\)/,
    );
    assert.equal(statSync(home).mode & 0o777, 0o755);
    const link = join(top, 'link');
    symlinkSync(wide, link);
    await assert.rejects(
      withState(link, () => ensureStateRoot()),
      /is not a directory \(it is a symlink\)/,
    );
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
});

test('ControlMaster directory: a long state path uses a private parent, and a planted directory is refused', async () => {
  const long = `/tmp/${'x'.repeat(80)}/services/web/ssh`;
  const cm = defaultControlDir(long);
  assert.ok(!cm.startsWith('/tmp/multinode-ssh-'), cm);
  assert.match(
    cm,
    process.getuid?.() === 0 ? /^\/run\/multinode\/ssh-[0-9a-f]{12}$/ : /^\/tmp\/multinode-\d+\/ssh-/,
  );

  const top = mkdtempSync(join(tmpdir(), 'mn-cm-'));
  try {
    // Someone else's directory with a file in it, and a symlink to it: neither is accepted or emptied.
    const theirs = join(top, 'theirs');
    mkdirSync(theirs, { mode: 0o700 });
    writeFileSync(join(theirs, 'their-file'), 'x');
    const link = join(top, 'link');
    symlinkSync(theirs, link);
    await assert.rejects(ensureOwnDir(link, 0o700), /refusing to use .*: it is a symlink/);
    assert.equal(await isOwnDir(link, 0o700), false);
    const svc = join(top, 'svc');
    mkdirSync(join(svc, 'ssh'), { recursive: true });
    await teardownServiceSsh(svc, { controlDir: link });
    assert.ok(existsSync(join(theirs, 'their-file')), 'teardown emptied a directory that is not ours');
    // Wrong mode (0755 instead of 0700) is refused too.
    const wide = join(top, 'wide');
    mkdirSync(wide, { mode: 0o755 });
    await assert.rejects(ensureOwnDir(wide, 0o700), /its mode is 0755, not 0700/);
    if (process.getuid?.() === 0) {
      chownSync(theirs, 65534, 65534);
      await assert.rejects(ensureOwnDir(theirs, 0o700), /it belongs to uid 65534/);
    }
    // Ours: made 0700 and accepted again.
    const mine = join(top, 'mine');
    await ensureOwnDir(mine, 0o700);
    await ensureOwnDir(mine, 0o700);
    assert.equal(statSync(mine).mode & 0o777, 0o700);
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
});
