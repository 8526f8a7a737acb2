/**
 * Where the local runtime keeps things, and how it names kernel objects. Every namespace and link name
 * carries a short stable hash of the cluster (and service) name, so clusters and services never collide
 * and teardown can find exactly what it created. Link names stay within the kernel's 15 characters.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { STATE } from '../../api/names.js';
import { MultinodeError } from '../../api/issues.js';
import { stateRoot } from '../state-root.js';

export { stateRoot } from '../state-root.js';

export function clusterDir(cluster: string): string {
  return join(stateRoot(), STATE.clustersDir, cluster);
}

export function serviceDir(service: string): string {
  return join(stateRoot(), STATE.servicesDir, service);
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `fn` holding an exclusive lock (a `lock` directory created atomically, with the holder's pid).
 * A lock left by a dead process is broken.
 */
export async function withLock<T>(dir: string, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  await mkdir(dir, { recursive: true });
  const lock = join(dir, STATE.lockFile);
  const started = Date.now();
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(join(lock, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let holder = NaN;
      try {
        holder = Number(await readFile(join(lock, 'pid'), 'utf8'));
      } catch {
        /* being written or removed */
      }
      if (Number.isFinite(holder) && holder > 0 && !pidAlive(holder)) {
        await rm(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() - started > timeoutMs)
        throw new MultinodeError(
          'runtime.lock',
          `timed out waiting for the lock ${lock} (held by pid ${holder})`,
        );
      await sleep(20);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}
