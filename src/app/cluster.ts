/**
 * Emulated clusters on this machine: create (optionally with Slurm on its nodes), list with the services on
 * each, delete (stopping its Slurm first). The CLI's `cluster` command calls these.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createCluster, deleteCluster, listClusters } from '../targets/local/cluster.js';
import type { ClusterMeta, CreateClusterOptions } from '../targets/local/cluster.js';
import { clusterDir } from '../targets/local/paths.js';
import { checkedName, requireInside } from '../targets/state-root.js';
import { nodeExecArgv } from '../targets/local/node-exec.js';
import { listServiceStates } from '../targets/local/service-state.js';
import { startSlurmCluster, stopSlurmCluster } from '../targets/slurm/cluster.js';
import type { SlurmClusterInfo } from '../targets/slurm/cluster.js';

/** Where `cluster create --slurm` keeps the Slurm cluster of an emulated cluster. */
export function slurmStateDir(cluster: string): string {
  return join(clusterDir(cluster), 'slurm');
}

export interface CreatedCluster {
  readonly meta: ClusterMeta;
  readonly slurm?: SlurmClusterInfo;
}

/** Creates a cluster; with `slurm`, also slurmctld on the first node and a slurmd on every node. */
export async function createEmulatedCluster(
  opts: CreateClusterOptions & { readonly slurm?: boolean },
): Promise<CreatedCluster> {
  const { slurm, ...create } = opts;
  checkedName('cluster', create.name);
  const meta = await createCluster(create);
  if (slurm !== true) return { meta };
  const nodes = meta.nodes.map((n) => ({
    name: n.name,
    address: n.address,
    execArgv: nodeExecArgv({ clusterName: meta.name, node: n.name }),
  }));
  const controller = nodes[0];
  if (!controller) return { meta };
  try {
    const info = await startSlurmCluster({
      name: meta.name,
      stateDir: slurmStateDir(meta.name),
      nodes,
      controller,
      cpus: meta.cores,
      memoryMb: Math.floor(meta.memoryBytes / 2 ** 20),
      ...(meta.gpusPerNode > 0 ? { gpus: meta.gpusPerNode, gpuModel: meta.gpuModel } : {}),
    });
    return { meta, slurm: info };
  } catch (e) {
    await deleteCluster(meta.name, { force: true });
    throw e;
  }
}

export interface ClusterListing extends ClusterMeta {
  /** Names of the services recorded on this cluster. */
  readonly services: readonly string[];
}

export async function listEmulatedClusters(): Promise<ClusterListing[]> {
  const clusters = await listClusters();
  const services = await listServiceStates();
  return clusters.map((c) => ({
    ...c,
    services: services.filter((s) => s.cluster === c.name).map((s) => s.name),
  }));
}

/** Deletes a cluster and its Slurm (if any); `existed` is false when there was nothing to delete. */
export async function deleteEmulatedCluster(
  name: string,
  opts: { readonly force?: boolean } = {},
): Promise<{ readonly existed: boolean }> {
  checkedName('cluster', name);
  if (existsSync(slurmStateDir(name))) await stopSlurmCluster(requireInside(slurmStateDir(name)));
  return deleteCluster(name, { force: opts.force === true });
}
