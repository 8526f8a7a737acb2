/**
 * A replica set on the local target: N gangs of one service, each supervised as a service record of its own
 * (`<service>-<i>`, see src/plan/replicas.ts), plus one record for the set (`<state>/replicasets/<name>/`)
 * holding the members, the shared endpoints' host ports and the endpoint controller's pid.
 *
 * The endpoint controller (`runEndpointController`) is a small reconciler: every tick it reads the set and
 * each active member's service record, takes a member as ready when its supervisor says so (group ready,
 * its own endpoints published) and its rank 0 is still the same live process, and rewrites the set's nft
 * table (endpoints.ts, `numgen inc mod N`) when the ready list changed. It writes what is in rotation to
 * `rotation.json`, which `scale` and rolling updates wait on before they stop a drained member.
 * Ticks come every 100 ms and at once whenever an active member's record is written (fs.watch): a
 * supervisor records its rank 0's exit right away, so a dead replica leaves the map within milliseconds.
 * A member entering the rotation first gets its listen guard (endpoints.ts, `renderListenGuard`: SYNs to it
 * with no listener are dropped, not reset); one that fails is taken out and its not yet answered
 * connections are forgotten by conntrack, so their retransmitted SYNs go to the replicas left. The guard lives
 * in the member's own rank namespace and goes with it on down, scale and rolling updates.
 */
import { basename, join } from 'node:path';
import type { FSWatcher } from 'node:fs';
import { watch } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import type { Server as TlsServer } from 'node:tls';
import type { ServiceSpec, Spec } from '../../api/spec.js';
import type { RuntimePorts } from '../ports.js';
import { defaultPorts } from '../ports.js';
import { checkedName, requireInside, stateRoot } from '../state-root.js';
import { checkName } from '../../spec/names.js';
import type { ClusterMeta } from './cluster.js';
import { readClusterMeta } from './cluster.js';
import type { Backend, BalancedEndpoint } from './endpoints.js';
import {
  ENDPOINT_HOST,
  ensureCertificate,
  forgetPendingConnections,
  installListenGuard,
  listenGuardTable,
  pickHostPort,
  publishBalancedEndpoints,
  readForwardedPorts,
  startTlsProxy,
  withdrawEndpoints,
} from './endpoints.js';
import { serviceDir, withLock } from './paths.js';
import type { ServiceState } from './service-state.js';
import {
  isSameProcess,
  listServiceStates,
  readProcStartTime,
  readServiceState,
  serviceStatePath,
} from './service-state.js';
import { stopProcess } from './processes.js';
import { trace } from './trace.js';

/** Directory of replica-set records under the state root. */
export const REPLICA_SETS_DIR = 'replicasets';
const SET_FILE = 'set.json';
const ROTATION_FILE = 'rotation.json';

export interface ReplicaMember {
  readonly name: string;
  readonly index: number;
  /** serviceContentHash of the version this gang runs. */
  readonly contentHash: string;
  /** `draining`: out of the endpoint, about to be stopped. */
  state: 'active' | 'draining';
}

export interface SharedEndpoint {
  readonly name: string;
  readonly protocol: string;
  readonly hostAddress: string;
  readonly hostPort: number;
  /** The port the DNAT rule matches (differs from hostPort for https, whose TLS proxy owns hostPort). */
  readonly dnatPort: number;
  readonly tls?: boolean;
}

export interface ReplicaSetState {
  readonly name: string;
  readonly cluster: string;
  file: string;
  /** serviceContentHash of the version new gangs get. */
  contentHash: string;
  /** The service as last written in the file (its replicas are planned from it). */
  service: ServiceSpec;
  /** The spec's volumes (planning a replica needs them). */
  volumes: Spec['volumes'];
  /** The count asked for (by the file or `scale`). */
  replicas: number;
  members: ReplicaMember[];
  readonly endpoints: readonly SharedEndpoint[];
  controllerPid?: number;
  controllerStartTime?: string;
  readonly createdAt: string;
  /** A rollout in progress, or how the last one ended. */
  rollout?: { status: 'running' | 'done' | 'failed'; message: string; at: string };
}

export interface RotationState {
  /** Members whose rank 0 the endpoint reaches now, in map order. */
  readonly members: readonly string[];
  readonly at: string;
}

export function replicaSetsRoot(): string {
  return requireInside(join(stateRoot(), REPLICA_SETS_DIR));
}

export function replicaSetDir(name: string): string {
  return requireInside(join(replicaSetsRoot(), checkedName('service', name)));
}

function lockFile(name: string): string {
  return requireInside(join(stateRoot(), 'locks', `replicaset.${checkedName('service', name)}.lock`));
}

export function withReplicaSetLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  return withLock(lockFile(name), fn);
}

export async function readReplicaSet(
  name: string,
  ports: RuntimePorts = defaultPorts(),
): Promise<ReplicaSetState | undefined> {
  return ports.store.read<ReplicaSetState>(join(replicaSetDir(name), SET_FILE));
}

export async function readRotation(
  name: string,
  ports: RuntimePorts = defaultPorts(),
): Promise<RotationState | undefined> {
  return ports.store.read<RotationState>(join(replicaSetDir(name), ROTATION_FILE));
}

export async function listReplicaSets(ports: RuntimePorts = defaultPorts()): Promise<ReplicaSetState[]> {
  let names: string[];
  try {
    names = await readdir(replicaSetsRoot());
  } catch {
    return [];
  }
  const out: ReplicaSetState[] = [];
  for (const n of names.sort()) {
    if (!checkName('service', n).ok) continue;
    const s = await readReplicaSet(n, ports);
    if (s) out.push(s);
  }
  return out;
}

/** Writes a new set record; fails when one exists. */
export async function createReplicaSet(
  state: ReplicaSetState,
  ports: RuntimePorts = defaultPorts(),
): Promise<void> {
  await withReplicaSetLock(state.name, async () => {
    if (await readReplicaSet(state.name, ports)) throw new Error(`replica set ${state.name} already exists`);
    await ports.store.write(join(replicaSetDir(state.name), SET_FILE), state);
  });
}

export async function updateReplicaSet(
  name: string,
  mutate: (s: ReplicaSetState) => void,
  ports: RuntimePorts = defaultPorts(),
): Promise<ReplicaSetState | undefined> {
  return withReplicaSetLock(name, async () => {
    const s = await readReplicaSet(name, ports);
    if (!s) return undefined;
    mutate(s);
    await ports.store.write(join(replicaSetDir(name), SET_FILE), s);
    return s;
  });
}

/**
 * Host ports for the set's endpoints: the declared port when free (on the host and among every endpoint of
 * every state directory), else the next free one — as a single service's endpoints get them.
 */
export async function pickSharedEndpoints(
  svc: ServiceSpec,
  ports: RuntimePorts = defaultPorts(),
): Promise<SharedEndpoint[]> {
  const taken = await readForwardedPorts(ports);
  for (const o of await listServiceStates(ports))
    for (const e of o.endpoints) {
      taken.add(e.hostPort);
      if (e.dnatPort !== undefined) taken.add(e.dnatPort);
    }
  for (const o of await listReplicaSets(ports))
    for (const e of o.endpoints) {
      taken.add(e.hostPort);
      taken.add(e.dnatPort);
    }
  const out: SharedEndpoint[] = [];
  for (const e of svc.endpoints) {
    const port = svc.ports.find((p) => p.name === e.portName)?.port ?? 0;
    const hostPort = await pickHostPort(port, taken);
    taken.add(hostPort);
    const tls = e.protocol === 'https';
    const dnatPort = tls
      ? await pickHostPort(hostPort + 10000 > 65535 ? 20000 : hostPort + 10000, taken)
      : hostPort;
    taken.add(dnatPort);
    out.push({
      name: e.name,
      protocol: e.protocol,
      hostAddress: ENDPOINT_HOST,
      hostPort,
      dnatPort,
      ...(tls ? { tls: true } : {}),
    });
  }
  return out;
}

/** One member's backends by endpoint name when it is ready (group ready, own endpoints published, rank 0 alive). */
export async function memberBackends(s: ServiceState | undefined): Promise<Map<string, Backend> | undefined> {
  if (!s || s.status !== 'ready' || s.group?.ready === false) return undefined;
  if (s.endpoints.length === 0 || !s.endpoints.every((e) => e.published)) return undefined;
  const r0 = s.ranks.find((r) => r.rank === 0);
  if (!r0 || !(await isSameProcess(r0.pid, r0.startTime))) return undefined;
  return new Map(s.endpoints.map((e) => [e.name, { address: e.viaAddress, port: e.viaPort }]));
}

/** Pure: the set's endpoints over the ready members (in member order), and who is in rotation. */
export function computeBalanced(
  set: Pick<ReplicaSetState, 'endpoints' | 'members'>,
  ready: ReadonlyMap<string, ReadonlyMap<string, Backend>>,
): { endpoints: BalancedEndpoint[]; rotation: string[] } {
  const rotation = set.members
    .filter((m) => m.state === 'active' && ready.has(m.name))
    .sort((a, b) => a.index - b.index)
    .map((m) => m.name);
  const endpoints = set.endpoints.map((e) => ({
    name: e.name,
    hostAddress: e.hostAddress,
    dnatPort: e.dnatPort,
    backends: rotation.flatMap((m) => {
      const b = ready.get(m)?.get(e.name);
      return b ? [b] : [];
    }),
  }));
  return { endpoints, rotation };
}

/**
 * Pure: who enters the rotation (gets its listen guard before it is published), and who left it while still
 * active — it failed (a drained member leaves as `draining` and keeps serving what it was sent until stopped).
 */
export function rotationMoves(
  before: readonly string[],
  after: readonly string[],
  active: readonly string[],
): { entering: string[]; failed: string[] } {
  return {
    entering: after.filter((m) => !before.includes(m)),
    failed: before.filter((m) => !after.includes(m) && active.includes(m)),
  };
}

/** Publishes the set's table with no backend (each port resets): claims the ports before any replica starts. */
export async function publishEmpty(
  cluster: ClusterMeta,
  set: Pick<ReplicaSetState, 'name' | 'endpoints' | 'members'>,
  ports: RuntimePorts = defaultPorts(),
): Promise<void> {
  await publishBalancedEndpoints(cluster, set.name, computeBalanced(set, new Map()).endpoints, ports);
}

export interface EndpointControllerOptions {
  readonly stop?: AbortSignal;
  readonly intervalMs?: number;
  /** Told whenever the rotation changes. */
  readonly onChange?: (rotation: readonly string[]) => void;
}

/**
 * Watches the records (service state files) of the given members; `onChange` runs on every write of one.
 * A directory not there yet is tried again at the next `follow`; the controller's poll covers the gap.
 */
function watchMemberRecords(onChange: () => void): {
  follow: (members: readonly string[]) => void;
  close: () => void;
} {
  const watchers = new Map<string, FSWatcher>();
  const file = basename(serviceStatePath('x'));
  const drop = (m: string) => {
    watchers.get(m)?.close();
    watchers.delete(m);
  };
  return {
    follow(members) {
      for (const m of [...watchers.keys()]) if (!members.includes(m)) drop(m);
      for (const m of members) {
        if (watchers.has(m)) continue;
        try {
          const w = watch(serviceDir(m), { persistent: false }, (_event, f) => {
            if (f === null || f === file) onChange();
          });
          w.on('error', () => drop(m));
          watchers.set(m, w);
        } catch {
          // not created yet
        }
      }
    },
    close() {
      for (const m of [...watchers.keys()]) drop(m);
    },
  };
}

/** A member's listen guard in its rank 0's namespace (overlay: the rank's own; host mode has none to own). */
async function guardMember(cluster: ClusterMeta, s: ServiceState, ports: RuntimePorts): Promise<void> {
  const r0 = s.ranks.find((r) => r.rank === 0);
  if (s.plan.network.mode !== 'overlay' || !r0 || r0.netns === '') return;
  const targetPorts = s.endpoints.map((e) => e.targetPort);
  await installListenGuard(
    r0.netns,
    listenGuardTable(cluster.name, s.name),
    cluster.hostAddress,
    targetPorts,
    ports,
  ).catch(() => false);
}

/** Runs until the set record is gone or `stop` aborts (see the module comment). */
export async function runEndpointController(
  name: string,
  options: EndpointControllerOptions = {},
  ports: RuntimePorts = defaultPorts(),
): Promise<void> {
  const interval = options.intervalMs ?? 100;
  const first = await readReplicaSet(name, ports);
  if (!first) return;
  const cluster = await readClusterMeta(first.cluster, ports);
  if (!cluster) throw new Error(`cluster ${first.cluster} of replica set ${name} is gone`);
  const startTime = await readProcStartTime(process.pid);
  await updateReplicaSet(
    name,
    (s) => {
      s.controllerPid = process.pid;
      if (startTime !== undefined) s.controllerStartTime = startTime;
    },
    ports,
  );
  const tls: TlsServer[] = [];
  try {
    for (const e of first.endpoints.filter((x) => x.tls)) {
      const files = await ensureCertificate(join(replicaSetDir(name), 'tls'), ports);
      tls.push(
        await startTlsProxy(
          {
            name: e.name,
            protocol: e.protocol,
            hostAddress: e.hostAddress,
            hostPort: e.hostPort,
            dnatPort: e.dnatPort,
            viaAddress: '',
            viaPort: 0,
            targetAddress: '',
            targetPort: 0,
            published: true,
          },
          files,
        ),
      );
    }
    let last = '';
    /** What the previous tick put in rotation, and the backends it had. */
    let lastRotation: readonly string[] = [];
    let lastReady: ReadonlyMap<string, ReadonlyMap<string, Backend>> = new Map();
    // A member's supervisor records its rank 0's exit at once: a write of its record wakes this loop, so a
    // dead replica leaves the map within milliseconds; the poll stays as the fallback.
    let dirty = false;
    let wakeUp: (() => void) | undefined;
    const watcher = watchMemberRecords(() => {
      trace('replica-endpoints: a member record was written');
      dirty = true;
      wakeUp?.();
    });
    try {
      while (!options.stop?.aborted) {
        dirty = false;
        const set = await readReplicaSet(name, ports);
        if (!set) return;
        const active = set.members.filter((m) => m.state === 'active').map((m) => m.name);
        watcher.follow(active);
        const ready = new Map<string, Map<string, Backend>>();
        const states = new Map<string, ServiceState>();
        for (const m of active) {
          const st = await readServiceState(m, ports).catch(() => undefined);
          const b = await memberBackends(st);
          if (b && st) {
            ready.set(m, b);
            states.set(m, st);
          }
        }
        const { endpoints, rotation } = computeBalanced(set, ready);
        const moved = rotationMoves(lastRotation, rotation, active);
        // A member entering the rotation gets its listen guard first (endpoints.ts, `renderListenGuard`).
        for (const m of moved.entering) {
          const st = states.get(m);
          if (st) await guardMember(cluster, st, ports);
        }
        const key = JSON.stringify(endpoints);
        if (key !== last) {
          await publishBalancedEndpoints(cluster, name, endpoints, ports);
          trace(`replica-endpoints: published [${rotation.join(' ')}]`);
          last = key;
          // The SYNs already sent to a failed member were dropped by its guard: their retransmissions must
          // not follow the old conntrack entry back to it.
          for (const m of moved.failed)
            for (const e of endpoints) {
              const b = lastReady.get(m)?.get(e.name);
              if (b) await forgetPendingConnections(e, b, ports);
            }
          if (moved.failed.length > 0) trace('replica-endpoints: pending connections forgotten');
          await ports.store.write(join(replicaSetDir(name), ROTATION_FILE), {
            members: rotation,
            at: new Date(ports.clock.now()).toISOString(),
          } satisfies RotationState);
          options.onChange?.(rotation);
        }
        lastRotation = rotation;
        lastReady = ready;
        if (dirty) continue;
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(t);
            options.stop?.removeEventListener('abort', done);
            wakeUp = undefined;
            resolve();
          };
          const t = setTimeout(done, interval);
          wakeUp = done;
          options.stop?.addEventListener('abort', done, { once: true });
        });
      }
    } finally {
      watcher.close();
    }
  } finally {
    await Promise.all(tls.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

/** Waits until `member` is out of the rotation the controller published (or the set is gone). */
export async function waitDrained(
  name: string,
  member: string,
  timeoutMs = 10_000,
  ports: RuntimePorts = defaultPorts(),
): Promise<boolean> {
  const deadline = ports.clock.now() + timeoutMs;
  while (ports.clock.now() < deadline) {
    const rot = await readRotation(name, ports);
    if (!rot || !rot.members.includes(member)) return true;
    await ports.clock.sleep(50);
  }
  return false;
}

/** Stops the controller, withdraws the set's table and removes its record (members are downed by the caller). */
export async function removeReplicaSet(name: string, ports: RuntimePorts = defaultPorts()): Promise<void> {
  const set = await readReplicaSet(name, ports);
  if (
    set?.controllerPid !== undefined &&
    set.controllerStartTime !== undefined &&
    set.controllerPid !== process.pid
  )
    await stopProcess(set.controllerPid, set.controllerStartTime, 3000);
  if (set) await withdrawEndpoints(set.cluster, name, ports);
  await withReplicaSetLock(name, () => rm(replicaSetDir(name), { recursive: true, force: true }));
}

/** Whether the set's controller process is alive. */
export async function controllerAlive(set: ReplicaSetState): Promise<boolean> {
  return isSameProcess(set.controllerPid, set.controllerStartTime);
}
