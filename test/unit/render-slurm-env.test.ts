/**
 * The rank environment under Slurm equals the local runtime's for the same spec. For each rank, the rank
 * program of the rendered sbatch script (its env-computation part, mode `env`) runs under bash with Slurm's
 * view faked: the job's hosts and addresses are the local plan's host names and addresses, and
 * SLURMD_NODENAME is that rank's host. Then every `MULTINODE_*`, `MASTER_*` and `TF_CONFIG` value must be
 * byte-identical to `planSpec(…, target 'local')`'s, except file paths, which live in the job directory
 * (same file names).
 */
import { test } from 'node:test';
import { literal } from './helpers/plan-helpers.js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseSpec } from '../../src/spec/index.js';
import { defaultPlanOptions, generateInventory, planSpec } from '../../src/plan/index.js';
import type { Plan } from '../../src/api/plan.js';
import { slurmInventory, slurmPlanOptions } from '../../src/targets/slurm/target.js';
import { renderSlurm } from '../../src/targets/slurm/index.js';
import { extractRankProgram, fakeSlurmBin } from './render-slurm-helpers.js';

const PATH_VARS = new Set(['MULTINODE_HOSTFILE', 'MULTINODE_CLUSTER_FILE', 'MULTINODE_SSH_WRAPPER']);
const compared = (k: string): boolean =>
  k.startsWith('MULTINODE_') || k.startsWith('MASTER_') || k === 'TF_CONFIG';

function localPlan(text: string, file: string, nodes: number): Plan {
  const spec = parseSpec(text, file);
  assert.ok(spec.ok, JSON.stringify(!spec.ok && spec.issues));
  const s0 = spec.value.services[0];
  const inv = generateInventory({
    nodes,
    gpusPerNode: s0?.resource.gpus ?? 0,
    cores: Math.max(2, s0?.resource.cpuCores ?? 1),
    memoryBytes: 2 * (s0?.resource.memoryBytes ?? 2 ** 30),
    numaDomains: 1,
    ...(s0?.resource.gpuModel !== undefined ? { gpuModel: s0.resource.gpuModel } : {}),
  });
  const r = planSpec(spec.value, inv, defaultPlanOptions({ target: 'local' }));
  assert.ok(r.ok, JSON.stringify(!r.ok && r));
  return r.plan;
}

function slurmScript(text: string, file: string): string {
  const spec = parseSpec(text, file);
  assert.ok(spec.ok);
  const r = planSpec(spec.value, slurmInventory(spec.value), slurmPlanOptions(0));
  assert.ok(r.ok, JSON.stringify(!r.ok && r));
  return renderSlurm(r.plan);
}

function rankEnv(program: string, hosts: string[], addrs: string[], rank: number): Record<string, string> {
  const r = spawnSync('bash', ['-c', program, 'multinode-rank', 'env'], {
    env: {
      PATH: '/usr/bin:/bin',
      MN_JOB_ID: '4242',
      MN_JOB_HOSTS: hosts.join(' '),
      MN_JOB_ADDRS: addrs.join(' '),
      MN_JOB_DIR: '/tmp/multinode-env-test-does-not-matter',
      MN_RANK_PROGRAM: program,
      SLURMD_NODENAME: hosts[rank] ?? '',
      SLURM_JOB_ID: '4242',
      SLURM_NODEID: String(rank),
      SLURM_PROCID: String(rank),
      SLURM_JOB_NODELIST: hosts.join(','),
    },
    encoding: 'utf8',
  });
  // The program writes its job files first; a read-only /tmp would make that fail, which is not the point.
  assert.equal(r.status, 0, r.stderr);
  const out: Record<string, string> = {};
  for (const e of r.stdout.split('\0')) {
    const i = e.indexOf('=');
    if (i > 0) out[e.slice(0, i)] = e.slice(i + 1);
  }
  spawnSync('rm', ['-rf', '/tmp/multinode-env-test-does-not-matter']);
  return out;
}

function assertSameEnv(text: string, file: string, nodes: number): number {
  const local = localPlan(text, file, nodes);
  const program = extractRankProgram(slurmScript(text, file));
  const svc = local.services[0] && literal(local.services[0]);
  assert.ok(svc);
  const hosts = svc.ranks.map((r) => r.hostname);
  const addrs = svc.ranks.map((r) => r.address);
  let checked = 0;
  for (const rank of svc.ranks) {
    const got = rankEnv(program, hosts, addrs, rank.rank);
    const want = Object.fromEntries(Object.entries(rank.env).filter(([k]) => compared(k)));
    const have = Object.fromEntries(Object.entries(got).filter(([k]) => compared(k)));
    assert.deepEqual(Object.keys(have).sort(), Object.keys(want).sort(), `rank ${rank.rank}: same variables`);
    for (const [k, v] of Object.entries(want)) {
      if (PATH_VARS.has(k)) assert.equal(basename(have[k] ?? ''), basename(v), `rank ${rank.rank} ${k}`);
      else assert.equal(have[k], v, `rank ${rank.rank} ${k}`);
      checked++;
    }
  }
  return checked;
}

test('same rank environment as the local plan: 3-rank launch-all service (overlay network locally)', () => {
  const spec = `version: v1
services:
  trainer:
    script: |
      #!/bin/sh
      exec /usr/bin/python3 train.py
    multinode:
      nodes: 3
      launch: all
    ports:
      - name: metrics
        port: 9100
`;
  assert.ok(assertSameEnv(spec, 'trainer.yaml', 3) >= 3 * 15);
});

test("same rank environment as the local plan: seed 000's vLLM example (host network, ports)", () => {
  const file = join(import.meta.dirname, '..', '..', 'examples', 'seed-000-vllm.yaml');
  assert.ok(assertSameEnv(readFileSync(file, 'utf8'), file, 2) >= 2 * 15);
});

test('same rank environment as the local plan: OpenMPI service, 4 ranks', () => {
  const spec = `version: v1
services:
  mpi:
    script: |
      #!/bin/sh
      mpirun -np 4 ./a.out
    multinode:
      nodes: 4
      implementation: ompi
`;
  assert.ok(assertSameEnv(spec, 'mpi.yaml', 4) > 0);
});

test('same rank environment through the whole script: fake scontrol/srun answer with the local host names', () => {
  const text = `version: v1
services:
  whole:
    script: |
      #!/bin/sh
      env -0 > "$OUT/env-$MULTINODE_NODE_RANK"
    multinode:
      nodes: 3
      launch: all
`;
  const svc0 = localPlan(text, 'whole.yaml', 3).services[0];
  const local = svc0 && literal(svc0);
  assert.ok(local);
  const fake = fakeSlurmBin();
  try {
    const out = join(fake, 'out');
    mkdirSync(out);
    writeFileSync(join(fake, 'job.sh'), slurmScript(text, 'whole.yaml'));
    const hosts = local.ranks.map((r) => r.hostname);
    const r = spawnSync('bash', [join(fake, 'job.sh')], {
      encoding: 'utf8',
      env: {
        PATH: `${fake}/bin:/usr/bin:/bin`,
        OUT: out,
        TMPDIR: fake,
        SLURM_JOB_ID: '99',
        SLURM_JOB_NODELIST: hosts.join(','),
        SLURMD_NODENAME: hosts[0] ?? '',
        FAKE_NODES: hosts.join(' '),
        FAKE_ADDRS: local.ranks.map((x) => x.address).join(' '),
      },
    });
    assert.equal(r.status, 0, r.stderr);
    for (const rank of local.ranks) {
      const got: Record<string, string> = {};
      for (const e of readFileSync(join(out, `env-${rank.rank}`), 'utf8').split('\0')) {
        const i = e.indexOf('=');
        if (i > 0 && compared(e.slice(0, i))) got[e.slice(0, i)] = e.slice(i + 1);
      }
      const want = Object.fromEntries(Object.entries(rank.env).filter(([k]) => compared(k)));
      assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
      for (const [k, v] of Object.entries(want))
        assert.equal(
          PATH_VARS.has(k) ? basename(got[k] ?? '') : got[k],
          PATH_VARS.has(k) ? basename(v) : v,
          k,
        );
    }
  } finally {
    rmSync(fake, { recursive: true, force: true });
  }
});

test('GASNet (launch: leader): the spawner environment names the Slurm nodes, and GASNET_SSH_CMD reaches each', () => {
  const text = `version: v1
services:
  pgas:
    script: |
      #!/bin/bash
      env -0 > "$OUT/leader-env"
      # What GASNet's ssh spawner (GASNET_SPAWNFN=S) does: CMD [OPTIONS] HOST COMMAND, one per server.
      for h in $GASNET_SSH_SERVERS; do
        $GASNET_SSH_CMD $GASNET_SSH_OPTIONS "$h" 'echo "$SLURMD_NODENAME $MULTINODE_NODE_RANK $MULTINODE_NODE_IP" > "$OUT/worker-$MULTINODE_NODE_RANK"' &
      done
      wait
    multinode:
      nodes: 3
      implementation: gasnet
`;
  const fake = fakeSlurmBin();
  try {
    const out = join(fake, 'out');
    mkdirSync(out);
    writeFileSync(join(fake, 'job.sh'), slurmScript(text, 'pgas.yaml'));
    const hosts = ['gpu07', 'gpu08', 'gpu09'];
    const addrs = ['10.9.0.7', '10.9.0.8', '10.9.0.9'];
    const log = join(fake, 'srun.log');
    const r = spawnSync('bash', [join(fake, 'job.sh')], {
      encoding: 'utf8',
      env: {
        PATH: `${fake}/bin:/usr/bin:/bin`,
        OUT: out,
        TMPDIR: fake,
        SLURM_JOB_ID: '77',
        SLURM_JOB_NODELIST: 'gpu[07-09]',
        SLURMD_NODENAME: 'gpu07',
        FAKE_NODES: hosts.join(' '),
        FAKE_ADDRS: addrs.join(' '),
        FAKE_LOG: log,
      },
    });
    assert.equal(r.status, 0, r.stderr);
    const env: Record<string, string> = {};
    for (const e of readFileSync(join(out, 'leader-env'), 'utf8').split('\0')) {
      const i = e.indexOf('=');
      if (i > 0) env[e.slice(0, i)] = e.slice(i + 1);
    }
    assert.equal(env['GASNET_SPAWNFN'], 'S');
    assert.equal(env['GASNET_SSH_SERVERS'], 'gpu07 gpu08 gpu09');
    assert.equal(env['GASNET_SSH_OPTIONS'], '');
    assert.match(
      env['GASNET_SSH_CMD'] ?? '',
      new RegExp(`^${fake}/multinode-77\\.[A-Za-z0-9]{10}/bin/multinode-ssh$`),
    );
    assert.equal(env['GASNET_SSH_CMD'], env['MULTINODE_SSH_WRAPPER']);
    for (const [rank, h] of hosts.entries())
      assert.equal(
        readFileSync(join(out, `worker-${rank}`), 'utf8').trim(),
        `${h} ${rank} ${addrs[rank] ?? ''}`,
        `the spawner reached ${h} as rank ${rank}`,
      );
    // Each remote start is one single-task srun step on that node, inside the job.
    // (The log holds each srun's argv; the rank program in it spans lines, so keep the `srun` lines.)
    const steps = readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('srun '));
    assert.equal(steps.length, 3, steps.join('\n'));
    for (const h of hosts)
      assert.ok(
        steps.some((s) => /--jobid=77 /.test(s) && /--nodes=1 --ntasks=1 /.test(s) && s.includes(h)),
        `${h}: ${steps.join('\n')}`,
      );
  } finally {
    rmSync(fake, { recursive: true, force: true });
  }
});
