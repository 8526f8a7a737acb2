/**
 * The Slurm target through the real CLI, as a user runs it: `cluster create --slurm`, `render --target
 * slurm`, `up --target slurm --cluster`, `ps --target slurm`, `cluster delete` — and after the delete no
 * Slurm or munge daemon of that cluster is left (checked by the PIDs it recorded).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { clusterDir } from '../../src/targets/local/paths.js';
import { readSlurmJobRecords, slurmJobRecordPath } from '../../src/targets/slurm/jobs.js';
import { slurmMungeDir } from '../../src/targets/slurm/cluster.js';
import { slurmSkipReason } from './slurm-helpers.js';

const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'src/cli/main.ts');

function cli(args: readonly string[]): { code: number; out: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test(
  'cluster create --slurm → render/up/ps --target slurm → cluster delete',
  { skip: slurmSkipReason() ?? false, timeout: 120_000 },
  async () => {
    const name = `slc-${process.pid % 100000}`;
    const scratch = mkdtempSync(join(tmpdir(), 'mn-slurm-cli-'));
    const file = join(scratch, 'hello.yaml');
    writeFileSync(
      file,
      `version: v1
services:
  sl-hello:
    script: |
      #!/bin/sh
      echo "rank $MULTINODE_NODE_RANK of $MULTINODE_NUM_NODES on $(hostname), master $MASTER_ADDR:$MASTER_PORT"
    multinode:
      nodes: 2
      launch: all
`,
    );
    const before = new Set((await readSlurmJobRecords()).map((r) => r.id));
    const pids: number[] = [];
    try {
      const created = cli(['cluster', 'create', name, '--nodes', '2', '--slurm']);
      assert.equal(created.code, 0, created.out);
      assert.match(created.out, /started Slurm on .*slurmd on 2 node\(s\)/);
      const run = join(clusterDir(name), 'slurm', 'run');
      for (const f of readdirSync(run)) pids.push(Number(readFileSync(join(run, f), 'utf8').trim()));
      pids.push(
        Number(
          readFileSync(
            join(slurmMungeDir(join(clusterDir(name), 'slurm')), 'run', 'munged.pid'),
            'utf8',
          ).trim(),
        ),
      );
      assert.equal(pids.length, 4, 'slurmctld, 2× slurmd, munged');
      assert.ok(pids.every(alive));

      const rendered = cli(['render', file, '--target', 'slurm']);
      assert.equal(rendered.code, 0, rendered.out);
      assert.match(rendered.out, /#SBATCH --nodes=2\n#SBATCH --ntasks-per-node=1\n/);

      const up = cli(['up', '--target', 'slurm', '--cluster', name, file]);
      assert.equal(up.code, 0, up.out);
      assert.match(up.out, /0: rank 0 of 2 on node-1, master node-1:29500/);
      assert.match(up.out, /1: rank 1 of 2 on node-2, master node-1:29500/);
      assert.match(up.out, /completed sl-hello/);

      const ps = cli(['ps', '--target', 'slurm', '--output', 'json']);
      assert.equal(ps.code, 0, ps.out);
      const jobs = JSON.parse(ps.out) as { service: string; state: string; nodeList?: string }[];
      assert.ok(
        jobs.some((j) => j.service === 'sl-hello' && j.state === 'COMPLETED' && j.nodeList === 'node-[1-2]'),
      );
    } finally {
      const del = cli(['cluster', 'delete', name, '--force']);
      assert.equal(del.code, 0, del.out);
      for (const r of await readSlurmJobRecords()) {
        if (before.has(r.id) || r.service !== 'sl-hello') continue;
        for (const f of [slurmJobRecordPath(r), r.scriptPath, r.output]) rmSync(f, { force: true });
      }
      rmSync(scratch, { recursive: true, force: true });
    }
    const until = Date.now() + 5000;
    while (Date.now() < until && pids.some(alive)) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(pids.filter(alive), [], 'every daemon of the cluster stopped');
  },
);
