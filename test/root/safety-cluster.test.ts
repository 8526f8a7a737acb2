/**
 * Safety on one shared cluster (2 nodes, 1 GPU each), through the CLI with a private state directory:
 * three `up -d` of 2-node services needing 1 GPU per node started together never double-book (one runs,
 * the others are refused as infeasible); state, logs and plan files are private; `down` during a detached
 * `up`'s start leaves nothing behind; two `down`s at once are fine; an `up` killed with SIGKILL while it
 * plans leaves nothing a later `down` and `up` cannot handle.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  EMPTY_SNAPSHOT,
  ROOT_DIR,
  cleanupStateDir,
  cli,
  hashesFor,
  makeStateDir,
  skipReason,
  sleep,
  snapshot,
} from './runtime-helpers.js';

const skip = skipReason();
const MAIN = join(ROOT_DIR, 'src/cli/main.ts');

interface Run {
  readonly pid: number;
  readonly done: Promise<{ code: number; out: string }>;
}

/** The CLI, started without waiting (so several run at once). */
function start(state: string, args: readonly string[]): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: ROOT_DIR,
    env: { ...process.env, MULTINODE_STATE_DIR: state, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<{ code: number; out: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code: code ?? (signal ? -1 : 1), out })),
  );
  return { pid: child.pid ?? 0, done };
}

/**
 * A 2-rank service that sleeps. `slowStart`: rank 0 has a readiness probe that cannot pass for 60 s, so a
 * detached `up` is still starting whenever a test's `down` arrives, however fast the machine is.
 */
function spec(state: string, name: string, gpus: number, slowStart = false): string {
  const file = join(state, `${name}.yaml`);
  const probe = slowStart
    ? `    ports:
      - { name: web, port: 8000 }
    readiness-probe:
      tcp-socket:
        port: 8000
      initial-delay-seconds: 60
`
    : '';
  writeFileSync(
    file,
    `version: v1
services:
  ${name}:
    script: |
      #!/bin/sh
      exec sleep 600
    resource:
      devices:
        nvidia.com/gpu: ${gpus}
    multinode:
      nodes: 2
${probe}`,
  );
  return file;
}

async function waitFor(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Processes whose command line runs `__supervise NAME` with this state directory's CLI. */
function supervisors(name: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (cmd.includes('__supervise') && cmd.includes(name)) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** What the kernel still holds of one service (the cluster's own mounts stay until it is deleted). */
function serviceLeft(state: string, service: string) {
  const snap = snapshot(state, hashesFor(state, [], [['sf', service]]));
  return { ...snap, mounts: snap.mounts.filter((m) => !m.includes(`${state}/clusters/`)) };
}

/** Regular files under `dir` whose mode lets group or others read, write or run them. */
function openFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && (statSync(p).mode & 0o077) !== 0)
        out.push(`${p} ${(statSync(p).mode & 0o777).toString(8)}`);
    }
  };
  walk(dir);
  return out;
}

test(
  'one cluster, many hands: no double-booking, private files, down during up, two downs, SIGKILL mid-plan',
  { skip, timeout: 900_000 },
  async () => {
    const state = makeStateDir('safe');
    const names = ['g1', 'g2', 'g3', 'dd', 'tw', 'sk'];
    try {
      const made = cli(state, [
        'cluster',
        'create',
        'sf',
        '--nodes',
        '2',
        '--gpus-per-node',
        '1',
        '--cores',
        '8',
      ]);
      assert.equal(made.code, 0, made.stdout + made.stderr);

      // ---- three `up -d` at once, each wanting both GPUs (1 per node on 2 nodes) ----------------------
      const ups = ['g1', 'g2', 'g3'].map((n) =>
        start(state, ['up', '-d', '--cluster', 'sf', spec(state, n, 1)]),
      );
      const res = await Promise.all(ups.map((u) => u.done));
      const ok = res.filter((r) => r.code === 0);
      assert.equal(ok.length, 1, res.map((r) => `exit ${r.code}: ${r.out}`).join('\n---\n'));
      for (const r of res.filter((x) => x.code !== 0)) {
        assert.equal(r.code, 2, r.out);
        assert.match(r.out, /cannot place/);
      }
      const held = new Map<string, number[]>();
      for (const n of readdirSync(join(state, 'services'))) {
        const f = join(state, 'services', n, 'state.json');
        if (!existsSync(f)) continue;
        const s = JSON.parse(readFileSync(f, 'utf8')) as {
          plan: { ranks: { node: string; gpus: number[] }[] };
        };
        for (const r of s.plan.ranks) held.set(r.node, [...(held.get(r.node) ?? []), ...r.gpus]);
      }
      for (const [node, gpus] of held) assert.ok(gpus.length <= 1, `${node} holds GPUs ${gpus.join(',')}`);
      const winner = ['g1', 'g2', 'g3'].find((n) => existsSync(join(state, 'services', n, 'state.json')));
      assert.ok(winner);

      // ---- private state: the root is 0700, so nothing below it is reachable by other users; what holds
      // env values (state, logs, plan files) and the locks are 0600 besides, the ssh material 0700.
      assert.equal(statSync(state).mode & 0o777, 0o700);
      const svcDir = join(state, 'services', winner);
      const st = JSON.parse(readFileSync(join(svcDir, 'state.json'), 'utf8')) as {
        plan: { files: { path: string }[] };
      };
      const planFiles = st.plan.files.map((f) => f.path).filter((p) => p.startsWith(`${svcDir}/`));
      assert.ok(planFiles.length > 0, 'the service has plan files in its directory');
      for (const f of [
        join(svcDir, 'state.json'),
        join(svcDir, 'supervisor.log'),
        join(svcDir, 'logs', 'rank-0.log'),
        join(svcDir, 'logs', 'rank-1.log'),
        ...planFiles,
      ])
        assert.equal(statSync(f).mode & 0o077, 0, `${f} is ${(statSync(f).mode & 0o777).toString(8)}`);
      assert.equal(statSync(join(svcDir, 'ssh')).mode & 0o777, 0o700);
      assert.deepEqual(openFiles(join(state, 'locks')), []);
      assert.equal(cli(state, ['down', winner]).code, 0);

      // ---- `down` while a detached `up` starts (at once, during network setup, during sshd/rank start):
      // nothing is left behind, and the supervisor stops by itself when its record is closed.
      for (const delayMs of [0, 400, 1200]) {
        const dd = start(state, ['up', '-d', '--cluster', 'sf', spec(state, 'dd', 0, true)]);
        await waitFor('the record of dd', () => existsSync(join(state, 'services', 'dd', 'state.json')));
        await sleep(delayMs);
        const down = cli(state, ['down', 'dd']);
        assert.equal(down.code, 0, down.stdout + down.stderr);
        const upDd = await dd.done;
        assert.notEqual(upDd.code, 0, `up of dd should see its service go: ${upDd.out}`);
        await waitFor('the supervisor of dd to finish', () => supervisors('dd').length === 0, 30_000);
        assert.equal(existsSync(join(state, 'services', 'dd')), false, `after ${delayMs} ms`);
        assert.deepEqual(serviceLeft(state, 'dd'), EMPTY_SNAPSHOT, `after ${delayMs} ms`);
      }

      // ---- two `down`s at once ------------------------------------------------------------------------
      const tw = cli(state, ['up', '-d', '--cluster', 'sf', spec(state, 'tw', 0)]);
      assert.equal(tw.code, 0, tw.stdout + tw.stderr);
      const downs = await Promise.all([start(state, ['down', 'tw']).done, start(state, ['down', 'tw']).done]);
      for (const d of downs) assert.equal(d.code, 0, d.out);
      assert.equal(
        downs.filter((d) => /removed tw/.test(d.out)).length,
        1,
        downs.map((d) => d.out).join('\n'),
      );
      assert.equal(existsSync(join(state, 'services', 'tw')), false);
      assert.deepEqual(serviceLeft(state, 'tw'), EMPTY_SNAPSHOT);

      // ---- SIGKILL of an `up` while it holds the cluster lock (planning or recording): whatever it got to
      // (nothing, or a record without supervisor), a later `down` handles it, and so does a later `up`
      // (it replaces the record at once: the `up` that made it is gone).
      const skFile = spec(state, 'sk', 1);
      for (const then of ['down', 'up'] as const) {
        const sk = start(state, ['up', '-d', '--cluster', 'sf', skFile]);
        await waitFor('sk to hold the cluster lock', () => {
          try {
            return readFileSync(join(state, 'locks', 'cluster.sf.lock'), 'utf8').startsWith(`${sk.pid} `);
          } catch {
            return false;
          }
        });
        process.kill(sk.pid, 'SIGKILL');
        await sk.done;
        if (then === 'down') {
          const skDown = cli(state, ['down', 'sk']);
          assert.equal(skDown.code, 0, skDown.stdout + skDown.stderr);
        }
        const again = cli(state, ['up', '-d', '--cluster', 'sf', skFile]);
        assert.equal(again.code, 0, `after SIGKILL and ${then}: ${again.stdout}${again.stderr}`);
        assert.equal(cli(state, ['down', skFile]).code, 0);
        await waitFor('the supervisor of sk to finish', () => supervisors('sk').length === 0, 30_000);
        assert.deepEqual(serviceLeft(state, 'sk'), EMPTY_SNAPSHOT);
      }
      await waitFor(
        'every supervisor to finish',
        () => names.every((n) => supervisors(n).length === 0),
        30_000,
      );

      assert.equal(cli(state, ['cluster', 'delete', 'sf']).code, 0);
      assert.deepEqual(
        snapshot(
          state,
          hashesFor(
            state,
            ['sf'],
            names.map((n) => ['sf', n] as const),
          ),
        ),
        EMPTY_SNAPSHOT,
      );
    } finally {
      cleanupStateDir(state);
    }
  },
);
