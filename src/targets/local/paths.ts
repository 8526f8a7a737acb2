/**
 * Where the local runtime keeps things, and how it names kernel objects. Every namespace and link name
 * carries a short stable hash of the cluster (and service) name, so clusters and services never collide
 * and teardown can find exactly what it created. Link names stay within the kernel's 15 characters.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { STATE } from '../../api/names.js';
import { withFileLock } from '../file-lock.js';
import { checkedName, ensureStateRoot, requireInside, stateRoot } from '../state-root.js';

export { stateRoot } from '../state-root.js';

/** `<state>/clusters/<cluster>`; the name is checked (exit 2) before it becomes a path. */
export function clusterDir(cluster: string): string {
  return requireInside(join(stateRoot(), STATE.clustersDir, checkedName('cluster', cluster)));
}

/** `<state>/services/<service>`; the name is checked (exit 2) before it becomes a path. */
export function serviceDir(service: string): string {
  return requireInside(join(stateRoot(), STATE.servicesDir, checkedName('service', service)));
}

/** 6 hex characters of sha256: enough to keep names apart, short enough for IFNAMSIZ. */
export function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 6);
}

/** Kernel object names for one cluster. */
export function clusterNames(cluster: string) {
  // The state root is part of the hash: two state directories never share kernel object names.
  const h = shortHash(`${stateRoot()}/cluster/${cluster}`);
  return {
    hash: h,
    switchNs: `mn-${h}-sw`,
    nodeNs: (index: number) => `mn-${h}-n${index}`,
    /** The one root-namespace link (endpoints only), and its peer on the switch bridge. */
    rootLink: `mn${h}h`,
    rootPeer: 'uhost',
    underBridge: 'ubr0',
    fabricBridge: (k: number) => `fbr${k}`,
    nodePort: (index: number) => `u${index}`,
    fabricPort: (index: number, k: number) => `f${index}k${k}`,
    /** nft table in the root namespace that keeps the host away from everything but endpoints. */
    guardTable: `mn_${h}_guard`,
  };
}

/** Kernel object names for one service inside a cluster. */
export function serviceNames(cluster: string, service: string) {
  const h = shortHash(`${stateRoot()}/service/${cluster}/${service}`);
  return {
    hash: h,
    bridge: `mb${h}`,
    vxlan: `mx${h}`,
    rankNs: (rank: number) => `mn-${h}-r${rank}`,
    containerId: (rank: number) => `mn-${h}-r${rank}`,
    cniNetwork: `mn-${h}`,
    /** nft table (root ns) with the endpoint DNAT. */
    endpointTable: `mn_${h}_ep`,
    /** nft table (node ns) that forwards endpoint traffic to an overlay rank and fences the service. */
    nodeTable: `mn_${h}_node`,
  };
}

/** The pseudo cluster of degraded (no root) services: ranks on loopback addresses, no cluster to lock. */
export const LOOPBACK_CLUSTER = '(loopback)';

function lockPath(file: string): string {
  return join(stateRoot(), STATE.locksDir, file);
}

/** Lock file of one service: held around every read–modify–write of its record. */
export function serviceLockPath(service: string): string {
  return lockPath(`service.${checkedName('service', service)}.lock`);
}

/**
 * Lock file of one cluster: held from reading its inventory to recording the plan (`up`), while a service
 * on it is torn down (`down`) and while it is deleted.
 */
export function clusterLockPath(cluster: string): string {
  return lockPath(
    cluster === LOOPBACK_CLUSTER ? 'loopback.lock' : `cluster.${checkedName('cluster', cluster)}.lock`,
  );
}

/** Lock file of the set of clusters (name and index claims on create). */
export function clustersLockPath(): string {
  return lockPath('clusters.lock');
}

/** Runs `fn` holding the exclusive lock file `path` (flock(2); see ../file-lock.ts). */
export async function withLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  await ensureStateRoot();
  return withFileLock(path, fn, { timeoutMs });
}

export function withServiceLock<T>(service: string, fn: () => Promise<T>, timeoutMs?: number): Promise<T> {
  return withLock(serviceLockPath(service), fn, timeoutMs);
}

export function withClusterLock<T>(cluster: string, fn: () => Promise<T>, timeoutMs?: number): Promise<T> {
  return withLock(clusterLockPath(cluster), fn, timeoutMs);
}
