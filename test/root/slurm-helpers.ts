/**
 * Root-test fixture for the Slurm target: an emulated cluster from the local runtime (`createCluster`,
 * `nodeExecArgv`) with a real Slurm on it (`startSlurmCluster`), torn down by PID and name in `teardown()`
 * even after a partial set-up. Also the skip reason when something needed is missing.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createCluster, deleteCluster } from '../../src/targets/local/cluster.js';
import { nodeExecArgv } from '../../src/targets/local/node-exec.js';
import { startSlurmCluster, stopSlurmCluster } from '../../src/targets/slurm/cluster.js';
import type { SlurmClusterInfo } from '../../src/targets/slurm/cluster.js';
import { readSlurmJobRecords, slurmJobRecordPath } from '../../src/targets/slurm/jobs.js';

// Every cluster, job record and script of these tests lives under a temporary state directory (removed when
// the test process exits), never in /var/lib/multinode. The CLI children inherit it through the environment.
if (process.env['MULTINODE_STATE_DIR'] === undefined) {
  const state = mkdtempSync(join(tmpdir(), 'mn-slurm-state-'));
  chmodSync(state, 0o755); // munged runs as user munge and must reach the cluster's munge directory
  process.env['MULTINODE_STATE_DIR'] = state;
  process.once('exit', () => rmSync(state, { recursive: true, force: true }));
}

const BINARIES = [
  '/usr/sbin/slurmctld',
  '/usr/sbin/slurmd',
  '/usr/sbin/munged',
  '/usr/sbin/mungekey',
  '/usr/bin/sbatch',
  '/usr/bin/srun',
  '/usr/bin/nsenter',
  '/usr/bin/unshare',
];

export function slurmSkipReason(extra: readonly string[] = []): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, slurmd)';
  for (const b of [...BINARIES, ...extra])
    if (!existsSync(b)) return `${b} is missing (Debian slurm-wlm, munge, util-linux)`;
  if (spawnSync('id', ['-u', 'munge']).status !== 0) return 'user munge is missing (Debian munge)';
  return undefined;
}

export interface SlurmTestCluster {
  readonly name: string;
  readonly slurm: SlurmClusterInfo;
  readonly nodes: readonly string[];
  /** Scratch directory (world-readable) for outputs. */
  readonly scratch: string;
  teardown(): Promise<void>;
}

/** Creates `nodes` emulated nodes (node-1 is also the controller) and starts Slurm on them. */
export async function startTestCluster(opts: {
  nodes: number;
  cpus?: number;
  memoryMb?: number;
  gpus?: number;
  gpuModel?: string;
}): Promise<SlurmTestCluster> {
  const name = `slt-${process.pid % 100000}-${Math.floor(Math.random() * 1e4)}`;
  const scratch = mkdtempSync(join(tmpdir(), 'mn-slurm-test-'));
  await chmod(scratch, 0o755);
  const stateDir = join(scratch, 'slurm');
  const jobsBefore = new Set((await readSlurmJobRecords()).map((r) => r.id));
  let created = false;
  const teardown = async (): Promise<void> => {
    await stopSlurmCluster(stateDir).catch((e: unknown) => console.error('stopSlurmCluster:', e));
    if (created)
      await deleteCluster(name, { force: true }).catch((e: unknown) => console.error('deleteCluster:', e));
    // Our job records, scripts and outputs only.
    for (const r of await readSlurmJobRecords()) {
      if (jobsBefore.has(r.id) || !r.client.argv.some((a) => a.includes(stateDir))) continue;
      for (const f of [slurmJobRecordPath(r), r.scriptPath, r.output]) rmSync(f, { force: true });
    }
    rmSync(scratch, { recursive: true, force: true });
  };
  try {
    const meta = await createCluster({ name, nodes: opts.nodes, cores: opts.cpus ?? 16 });
    created = true;
    const nodes = meta.nodes.map((n) => ({
      name: n.name,
      address: n.address,
      execArgv: nodeExecArgv({ clusterName: name, node: n.name }),
    }));
    const first = nodes[0];
    if (!first) throw new Error('cluster without nodes');
    const slurm = await startSlurmCluster({
      name,
      stateDir,
      nodes,
      controller: first,
      cpus: opts.cpus ?? 16,
      memoryMb: opts.memoryMb ?? 200_000,
      ...(opts.gpus !== undefined ? { gpus: opts.gpus } : {}),
      ...(opts.gpuModel !== undefined ? { gpuModel: opts.gpuModel } : {}),
    });
    return { name, slurm, nodes: nodes.map((n) => n.name), scratch, teardown };
  } catch (e) {
    await teardown();
    throw e;
  }
}
