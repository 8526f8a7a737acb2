/**
 * The conformance suite: every scenario of scenarios.ts against every target, each observation checked by
 * check.ts. Runners:
 *   kubernetes  the rendered pod entrypoint run as a pod runs it (k8s-pod.ts: no API server here); for a
 *               restart scenario only the rendered objects are checked (restarting pods is the kubelet's)
 *   local       `multinode up` on an emulated cluster (root); a restart scenario runs detached and its
 *               record (`ps -o json`) is read before `down`
 *   slurm       slurmUp on a real slurmctld/slurmd running on that same emulated cluster (root)
 * One emulated cluster (4 nodes × 16 cores × 2 GPUs, NVIDIA L4) with Slurm on it serves every local and
 * Slurm scenario: start-up is the expensive part. A scenario a target cannot run is a skip with its reason;
 * a known design bug is a todo with its reason (docs/reference/conformance.md lists both).
 */
import { after, before, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { slurmSkipReason } from '../root/slurm-helpers.js';
import { skipReason } from '../root/runtime-helpers.js';
import { SCENARIOS } from './scenarios.js';
import type { Scenario, ScenarioContext, TargetName } from './scenarios.js';
import { checksFor, readRecords, renderChecksFor } from './check.js';
import type { Check, Observation } from './check.js';
import { createEmulatedCluster, renderForKubernetes, upLocal, upLocalRecorded, upSlurm } from './drive.js';
import type { EmulatedCluster, RunResult, ServiceRecord } from './drive.js';
import { runPod, runsProgram } from './k8s-pod.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const TOOLS = [
  '/usr/bin/python3',
  '/usr/bin/mpicc.openmpi',
  '/usr/bin/mpicc.mpich',
  '/usr/bin/mpirun.openmpi',
];

function toolsSkip(): string | undefined {
  const torch = spawnSync('/usr/bin/python3', [
    '-c',
    'import torch.distributed as d; assert d.is_gloo_available()',
  ]);
  if (torch.status !== 0) return 'needs Debian python3-torch with gloo (/usr/bin/python3)';
  for (const t of TOOLS) if (spawnSync('test', ['-x', t]).status !== 0) return `needs ${t}`;
  return undefined;
}

/** The image name the Kubernetes runner gives every spec (the pod then runs on this machine's files). */
const STAND_IN_IMAGE = 'docker://conformance.invalid/host-root:1';

const scratch = mkdtempSync(join(tmpdir(), 'mn-conformance-'));
chmodSync(scratch, 0o755);
after(() => rmSync(scratch, { recursive: true, force: true }));

function context(target: TargetName, s: Scenario): { ctx: ScenarioContext; file: string } {
  const dir = join(scratch, `${target}-${s.name}`);
  const out = join(dir, 'out');
  mkdirSync(out, { recursive: true });
  chmodSync(dir, 0o755);
  chmodSync(out, 0o777);
  const ctx: ScenarioContext = {
    probe: join(ROOT, 'test', 'conformance', 'probe.py'),
    uses: join(ROOT, 'test', 'conformance', 'uses.py'),
    out,
    bin: join(scratch, 'bin'),
    standins: join(ROOT, 'test', 'programs', 'standins'),
    pylib: join(ROOT, 'test', 'conformance', 'pylib'),
    examples: join(ROOT, 'examples'),
    home: join(dir, 'home'),
  };
  mkdirSync(ctx.home, { recursive: true });
  const file = join(dir, 'spec.yaml');
  const text = s.spec(ctx);
  // Kubernetes needs an image; this machine's root file system stands in for it (the pod runs here).
  writeFileSync(
    file,
    target !== 'kubernetes'
      ? text
      : s.expect.uses
        ? // Several services: each gets the image.
          text.replace(/^( {2}[a-z0-9-]+:\n)/gm, `$1    image: { uri: ${STAND_IN_IMAGE} }\n`)
        : text.replace(/^(services:\n {2}[^\n]+:\n)/m, `$1    image: { uri: ${STAND_IN_IMAGE} }\n`),
  );
  return { ctx, file };
}

async function verify(
  t: TestContext,
  target: TargetName,
  s: Scenario,
  ctx: ScenarioContext,
  r: RunResult & { readonly service?: ServiceRecord },
) {
  const obs: Observation = {
    exitCode: r.exitCode,
    output: r.output,
    ...readRecords(ctx.out),
    ...(r.service ? { service: r.service } : {}),
  };
  await runChecks(t, target, s, checksFor(s, obs));
}

async function runChecks(t: TestContext, target: TargetName, s: Scenario, checks: readonly Check[]) {
  for (const c of checks) {
    const todo = s.todo?.[`${target}:${c.name}`];
    await t.test(c.name, { todo: todo ?? false }, c.run);
  }
}

function options(target: TargetName, s: Scenario): { skip: string | false; todo: string | false } {
  return { skip: s.cannot?.[target] ?? false, todo: s.todo?.[target] ?? false };
}

describe('conformance: kubernetes (rendered pod entrypoint run as a pod runs it)', () => {
  for (const s of SCENARIOS) {
    test(`kubernetes: ${s.name}`, options('kubernetes', s), async (t) => {
      const { ctx, file } = context('kubernetes', s);
      const { plan, objects } = renderForKubernetes(file);
      // Restarting a pod is the kubelet's and the Job controller's work, and neither runs here.
      if (s.expect.restart || s.expect.uses)
        return runChecks(t, 'kubernetes', s, renderChecksFor(s, objects));
      const svc = plan.services[0];
      if (!svc) throw new Error('no service');
      let leader: RunResult = { exitCode: -1, output: '' };
      for (const r of svc.ranks) {
        if (!runsProgram(objects, svc.name, r.rank)) continue;
        const res = runPod(objects, svc.name, r.rank);
        if (r.rank === 0) leader = res;
      }
      await verify(t, 'kubernetes', s, ctx, leader);
    });
  }
});

const rootSkip = skipReason() || slurmSkipReason() || toolsSkip() || false;

describe(
  'conformance: local runtime and emulated Slurm (one shared cluster)',
  { skip: rootSkip, timeout: 600_000 },
  () => {
    let cluster: EmulatedCluster | undefined;
    before(async () => {
      const bin = join(scratch, 'bin');
      mkdirSync(bin);
      for (const [cc, out] of [
        ['/usr/bin/mpicc.openmpi', 'allreduce.ompi'],
        ['/usr/bin/mpicc.mpich', 'allreduce.mpich'],
      ] as const) {
        const r = spawnSync(
          cc,
          ['-O2', '-o', join(bin, out), join(ROOT, 'test', 'programs', 'allreduce.c')],
          {
            encoding: 'utf8',
          },
        );
        if (r.status !== 0) throw new Error(`${cc}: ${r.stderr}`);
      }
      const t0 = Date.now();
      cluster = await createEmulatedCluster({
        name: `cf${process.pid % 100000}`,
        nodes: 4,
        cores: 16,
        gpusPerNode: 2,
        gpuModel: 'NVIDIA L4',
        memoryMb: 256_000,
        slurmDir: join(scratch, 'slurm'),
      });
      process.stderr.write(`conformance: cluster + Slurm up in ${Date.now() - t0} ms\n`);
    });
    after(async () => {
      await cluster?.teardown();
    });
    const shared = (): EmulatedCluster => {
      if (!cluster) throw new Error('cluster not started');
      return cluster;
    };

    for (const s of SCENARIOS) {
      test(`local: ${s.name}`, options('local', s), async (t) => {
        const { ctx, file } = context('local', s);
        const run =
          s.expect.restart || s.expect.tfFailover
            ? await upLocalRecorded(file, shared().name, s.name)
            : upLocal(file, shared().name);
        await verify(t, 'local', s, ctx, run);
      });
    }
    for (const s of SCENARIOS) {
      test(`slurm: ${s.name}`, options('slurm', s), async (t) => {
        const { ctx, file } = context('slurm', s);
        await verify(t, 'slurm', s, ctx, await upSlurm(file, shared().slurm.clientArgv));
      });
    }
  },
);
