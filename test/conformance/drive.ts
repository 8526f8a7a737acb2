/**
 * The one seam between the conformance suite and the product: every way a runner brings a scenario up
 * goes through here, with the same functions the CLI uses (`src/app/*` and the CLI itself),
 * so a change of how the product is driven touches only this file.
 *
 *   createEmulatedCluster(opts) → { name, slurm, teardown }   one emulated cluster + Slurm on it, shared
 *   upLocal(file, cluster)      → { exitCode, output }        `multinode up --cluster C FILE` (foreground)
 *   upLocalRecorded(file, cluster) → { exitCode, output, service }  `up -d`, `ps -o json` until it ends, `down`
 *   upSlurm(file, clientArgv)   → { exitCode, output }        slurmUp: plan → render → sbatch → follow
 *   renderForKubernetes(file)   → { plan, objects }           what `multinode render --target kubernetes` emits
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join, resolve } from 'node:path';
import type { Plan } from '../../src/api/plan.js';
import { createCluster, deleteCluster } from '../../src/targets/local/cluster.js';
import { nodeExecArgv } from '../../src/targets/local/node-exec.js';
import { startSlurmCluster, stopSlurmCluster } from '../../src/targets/slurm/cluster.js';
import type { SlurmClusterInfo } from '../../src/targets/slurm/cluster.js';
import { SlurmJobFailedError, slurmUp } from '../../src/app/slurm.js';
import type { SlurmJobRecord } from '../../src/targets/slurm/jobs.js';
import { readSpecFile } from '../../src/app/input.js';
import { planFor } from '../../src/app/plan-for.js';
import { kubernetesTarget } from '../../src/targets/kubernetes/target.js';
import { renderKubernetes } from '../../src/targets/kubernetes/index.js';
import type { ManifestObject } from '../../src/targets/kubernetes/index.js';
import { goldenKeys } from '../unit/helpers/k8s-plan-fixtures.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const MAIN = join(ROOT, 'src/cli/main.ts');

export interface RunResult {
  readonly exitCode: number;
  readonly output: string;
}

export interface EmulatedCluster {
  readonly name: string;
  readonly slurm: SlurmClusterInfo;
  teardown(): Promise<void>;
}

/** An emulated cluster (what `multinode cluster create --slurm` makes) that both runners share. */
export async function createEmulatedCluster(opts: {
  readonly name: string;
  readonly nodes: number;
  readonly cores: number;
  readonly gpusPerNode: number;
  readonly gpuModel: string;
  readonly memoryMb: number;
  /** Slurm's own state directory (removed by teardown). */
  readonly slurmDir: string;
}): Promise<EmulatedCluster> {
  let created = false;
  let slurm: SlurmClusterInfo | undefined;
  const teardown = async (): Promise<void> => {
    await stopSlurmCluster(opts.slurmDir).catch((e: unknown) => {
      process.stderr.write(`stopSlurmCluster: ${String(e)}\n`);
    });
    if (created)
      await deleteCluster(opts.name, { force: true }).catch((e: unknown) => {
        process.stderr.write(`deleteCluster: ${String(e)}\n`);
      });
  };
  try {
    const meta = await createCluster({
      name: opts.name,
      nodes: opts.nodes,
      cores: opts.cores,
      gpusPerNode: opts.gpusPerNode,
      gpuModel: opts.gpuModel,
      memoryBytes: opts.memoryMb * 1024 * 1024,
    });
    created = true;
    const nodes = meta.nodes.map((n) => ({
      name: n.name,
      address: n.address,
      execArgv: nodeExecArgv({ clusterName: opts.name, node: n.name }),
    }));
    const first = nodes[0];
    if (!first) throw new Error('cluster without nodes');
    slurm = await startSlurmCluster({
      name: opts.name,
      stateDir: opts.slurmDir,
      nodes,
      controller: first,
      cpus: opts.cores,
      memoryMb: opts.memoryMb,
      gpus: opts.gpusPerNode,
      gpuModel: opts.gpuModel,
    });
    return { name: opts.name, slurm, teardown };
  } catch (e) {
    await teardown();
    throw e;
  }
}

/** `multinode ARGS…`: exit code, stdout alone, and stdout then stderr. */
function cli(args: readonly string[], timeoutMs: number): RunResult & { readonly stdout: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1' },
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return { exitCode: r.status ?? -1, stdout: r.stdout, output: `${r.stdout}\n${r.stderr}` };
}

/** `multinode up --cluster CLUSTER FILE` in the foreground: rank 0's exit code and what `up` printed. */
export function upLocal(file: string, cluster: string, timeoutMs = 150_000): RunResult {
  const { exitCode, output } = cli(['up', '--cluster', cluster, file], timeoutMs);
  return { exitCode, output };
}

/** The part of one service's `multinode ps -o json` entry the conformance checks read. */
export interface ServiceRecord {
  readonly name: string;
  readonly status: string;
  readonly message?: string;
  readonly ranks: readonly {
    readonly rank: number;
    readonly status: string;
    readonly exitCode?: number;
    readonly restarts: number;
  }[];
  readonly restart: {
    readonly policy: string;
    readonly restartsAfterStart?: number;
    readonly restartsBeforeStart?: number;
    readonly history?: readonly {
      readonly trigger: string;
      readonly action: string;
      readonly ranks: readonly number[];
      readonly reason: string;
    }[];
  };
}

/**
 * `multinode up -d --cluster CLUSTER FILE`, then `multinode ps -o json` until the service (the file's only
 * one, `service`) has ended, then `multinode down FILE` (always). The exit code is 0 when the service
 * completed (every rank exited 0), else the exit code of its first failed rank (-1 when none is recorded),
 * or `up`'s own exit code when `up -d` failed. `service` is the last `ps` entry seen before `down`.
 */
export async function upLocalRecorded(
  file: string,
  cluster: string,
  service: string,
  timeoutMs = 60_000,
): Promise<RunResult & { readonly service?: ServiceRecord }> {
  type Outcome =
    | { readonly ok: true; readonly value: RunResult & { readonly service?: ServiceRecord } }
    | { readonly ok: false; readonly error: unknown };
  let outcome: Outcome;
  try {
    outcome = { ok: true, value: await upDetachedUntilEnded(file, cluster, service, timeoutMs) };
  } catch (error) {
    outcome = { ok: false, error };
  }
  // Always, even after a failure: the service must not outlive the test.
  const down = cli(['down', file], 60_000);
  if (down.exitCode !== 0) throw new Error(`multinode down ${file} failed:\n${down.output}`);
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

async function upDetachedUntilEnded(
  file: string,
  cluster: string,
  service: string,
  timeoutMs: number,
): Promise<RunResult & { readonly service?: ServiceRecord }> {
  const up = cli(['up', '-d', '--cluster', cluster, file], timeoutMs);
  if (up.exitCode !== 0) return { exitCode: up.exitCode, output: up.output };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ps = cli(['ps', '-o', 'json'], 30_000);
    if (ps.exitCode !== 0) throw new Error(`multinode ps failed:\n${ps.output}`);
    const record = (JSON.parse(ps.stdout) as ServiceRecord[]).find((s) => s.name === service);
    const shown = `${up.output}\n${JSON.stringify(record ?? null, null, 2)}`;
    if (record && (record.status === 'completed' || record.status === 'failed')) {
      const failed = record.ranks.find((r) => r.status === 'failed');
      const exitCode = record.status === 'completed' ? 0 : (failed?.exitCode ?? -1);
      return { exitCode, output: shown, service: record };
    }
    if (Date.now() > deadline)
      return {
        exitCode: -1,
        output: `${shown}\nnot ended after ${timeoutMs} ms`,
        ...(record ? { service: record } : {}),
      };
    await sleep(200);
  }
}

/** `slurmUp` (what `multinode up --target slurm` runs), followed to the end: the job's exit code and output. */
export async function upSlurm(file: string, clientArgv: readonly string[]): Promise<RunResult> {
  let records: readonly SlurmJobRecord[];
  try {
    records = await slurmUp(file, { clientArgv, pollMs: 200 });
  } catch (e) {
    if (!(e instanceof SlurmJobFailedError)) throw e;
    records = e.records;
  }
  // Several services (uses): every job's output; the first failing job's exit code (Slurm: `code:signal`).
  const output = records.map((rec) => `${readFileSync(rec.output, 'utf8')}\n${rec.failure ?? ''}`).join('\n');
  const codes = records.map((rec) => Number((rec.exitCode ?? '-1:0').split(':')[0]));
  return { exitCode: codes.length === 0 ? -1 : (codes.find((c) => c !== 0) ?? 0), output };
}

/** What `multinode render --target kubernetes FILE` renders (test SSH keys instead of fresh ones). */
export function renderForKubernetes(file: string): { plan: Plan; objects: readonly ManifestObject[] } {
  const { spec } = readSpecFile(file);
  const { plan } = planFor(kubernetesTarget, spec);
  return { plan, objects: renderKubernetes(plan, { spec, sshKeys: goldenKeys() }).objects };
}
