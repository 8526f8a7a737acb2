/**
 * The on-disk record of one running service (`<state>/services/<name>/state.json`): its plan, every kernel
 * object and process acquired (in acquisition order, so teardown runs in reverse), rank status, probe and
 * endpoint status and phase timings. Always read and written under the service lock, atomically.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PlanOptions, ServicePlan } from '../../api/plan.js';
import type { Spec } from '../../api/spec.js';
import type { RestartLedger } from '../../plan/failover/policy.js';
import type { CoolingEntry } from '../../plan/failover/port-pool.js';
import { STATE } from '../../api/names.js';
import type { RuntimePorts } from '../ports.js';
import { defaultPorts } from '../ports.js';
import { checkName } from '../../spec/names.js';
import { serviceDir, stateRoot, withServiceLock } from './paths.js';

/** One thing to undo on teardown. */
export type Resource =
  | { readonly kind: 'netns'; readonly name: string }
  /**
   * A device in a node namespace. `group`: its link group (network.ts `linkGroup`), shared by the service's
   * devices on that node only; absent in records made before groups were given (undone by name).
   */
  | { readonly kind: 'link'; readonly netns: string; readonly name: string; readonly group?: number }
  | {
      readonly kind: 'cni';
      readonly plugin: string;
      readonly config: Readonly<Record<string, unknown>>;
      readonly containerId: string;
      readonly netns: string;
      readonly ifname: string;
      readonly hostNetns: string;
      readonly args?: string;
      readonly result?: unknown;
      /** host-device: address and state to restore on the node once the NIC is given back. */
      readonly restore?: { readonly device: string; readonly address?: string };
    }
  | { readonly kind: 'nft'; readonly netns?: string; readonly table: string }
  | { readonly kind: 'dir'; readonly path: string }
  | { readonly kind: 'mount'; readonly path: string }
  /** ssh ControlMaster sockets of the service's wrapper: closed (their masters outlive the ranks' groups). */
  | { readonly kind: 'ssh-control'; readonly path: string }
  /** A host route of a `uses` grant (uses-fence.ts). */
  | {
      readonly kind: 'route';
      readonly netns: string;
      readonly dst: string;
      readonly via: string;
      readonly metric: number;
    }
  | { readonly kind: 'process'; readonly rank: number; readonly pid: number; readonly startTime: string };

/**
 * What identifies a recorded resource, whatever was added to it later (a CNI attachment's `result`): the
 * same object made by the same supervisor has the same key.
 */
export function resourceKey(r: Resource): string {
  switch (r.kind) {
    case 'netns':
      return `netns ${r.name}`;
    case 'link':
      return `link ${r.netns} ${r.name}`;
    case 'cni':
      return `cni ${r.plugin} ${r.hostNetns} ${r.containerId} ${r.ifname}`;
    case 'nft':
      return `nft ${r.netns ?? ''} ${r.table}`;
    case 'dir':
    case 'mount':
    case 'ssh-control':
      return `${r.kind} ${r.path}`;
    case 'route':
      return `route ${r.netns} ${r.dst} ${r.via} ${r.metric}`;
    case 'process':
      return `process ${r.pid} ${r.startTime}`;
  }
}

export type RankStatus = 'pending' | 'running' | 'exited' | 'failed' | 'stopped';

export interface RankState {
  readonly rank: number;
  readonly node: string;
  readonly hostname: string;
  readonly address: string;
  readonly netns: string;
  readonly logFile: string;
  pid?: number;
  startTime?: string;
  status: RankStatus;
  exitCode?: number;
  signal?: string;
  startedAt?: string;
  endedAt?: string;
  /** Times this rank was started again (alone or with its group). */
  restarts?: number;
  /** Since when the rank has been missing (not alive and not finished with 0). */
  missingSince?: string;
}

/** One (re)start of ranks after a failure, with its per-phase timings (ms). */
export interface RestartRecord {
  /** When the failure was seen (ISO). */
  readonly at: string;
  readonly trigger: string;
  readonly action: 'restart-rank' | 'recreate-group' | 'fail';
  readonly ranks: readonly number[];
  readonly reason: string;
  /** detect (exit → decision), backoff, stop, replan, spawn, ready (exit → group ready again). */
  timings: Record<string, number>;
  /** Host ports that moved, `rank/name old→new`. */
  moved?: string[];
}

/** What the supervisor spends and remembers across restarts. */
export interface FailoverState {
  ledger: RestartLedger;
  cooling: CoolingEntry[];
  /** Version of `cluster.json` (bumped on every re-publication). */
  clusterVersion: number;
  history: RestartRecord[];
}

/** Group readiness: rank 0's probe passes and every rank is alive. */
export interface GroupState {
  ready: boolean;
  missing: { rank: number; since: string; why: string }[];
}

export interface EndpointState {
  readonly name: string;
  readonly protocol: string;
  readonly hostAddress: string;
  readonly hostPort: number;
  /** Where the host-side DNAT points (the node address and port). */
  readonly viaAddress: string;
  readonly viaPort: number;
  readonly targetAddress: string;
  readonly targetPort: number;
  /** Port the DNAT rule matches on 127.0.0.1 (= hostPort, except for https, where the TLS proxy owns hostPort). */
  readonly dnatPort?: number;
  /** https: TLS is terminated on the host by the supervisor (certificate in `<service>/tls/`). */
  readonly tls?: boolean;
  published: boolean;
}

export interface ProbeState {
  status: 'none' | 'waiting' | 'ready' | 'not-ready';
  successes: number;
  failures: number;
  last?: string;
  lastAt?: string;
}

export type ServiceStatus =
  'starting' | 'running' | 'ready' | 'restarting' | 'completed' | 'failed' | 'stopping';

export interface ServiceState {
  readonly name: string;
  readonly cluster: string;
  readonly file: string;
  readonly planHash: string;
  /** The current plan (re-planned on failover: new host ports). */
  plan: ServicePlan;
  /** The spec (this service only) and options it was planned with, to re-plan on failover. */
  spec?: Spec;
  planOptions?: PlanOptions;
  failover?: FailoverState;
  group?: GroupState;
  readonly createdAt: string;
  status: ServiceStatus;
  message?: string;
  supervisorPid?: number;
  supervisorStartTime?: string;
  /** The `up` that recorded the service: while no supervisor is recorded, the record is its (pid + start time). */
  starterPid?: number;
  starterStartTime?: string;
  /** Degraded mode (no root): loopback addresses and host networking. */
  degraded?: boolean;
  resources: Resource[];
  ranks: RankState[];
  endpoints: EndpointState[];
  probe: ProbeState;
  /** Milliseconds per phase: place, network, spawn, ready. */
  timings: Record<string, number>;
}

export function serviceStatePath(name: string): string {
  return join(serviceDir(name), STATE.stateFile);
}

export async function readServiceState(
  name: string,
  ports: RuntimePorts = defaultPorts(),
): Promise<ServiceState | undefined> {
  return ports.store.read<ServiceState>(serviceStatePath(name));
}

export async function listServiceStates(ports: RuntimePorts = defaultPorts()): Promise<ServiceState[]> {
  let names: string[];
  try {
    names = await readdir(join(stateRoot(), STATE.servicesDir));
  } catch {
    return [];
  }
  const out: ServiceState[] = [];
  for (const n of names.sort()) {
    if (!checkName('service', n).ok) continue; // not ours (a stray entry): never becomes a path
    const s = await readServiceState(n, ports);
    if (s) out.push(s);
  }
  return out;
}

/** Read–modify–write of a service's state under its lock. Returns the state written. */
export async function updateServiceState(
  name: string,
  mutate: (s: ServiceState) => void,
  ports: RuntimePorts = defaultPorts(),
): Promise<ServiceState | undefined> {
  return withServiceLock(name, async () => {
    const s = await readServiceState(name, ports);
    if (!s) return undefined;
    mutate(s);
    await ports.store.write(serviceStatePath(name), s);
    return s;
  });
}

export async function writeServiceState(
  state: ServiceState,
  ports: RuntimePorts = defaultPorts(),
): Promise<void> {
  await withServiceLock(state.name, () => ports.store.write(serviceStatePath(state.name), state));
}

/** `starttime` field of /proc/PID/stat (undefined when gone or a zombie): identifies a process beyond its pid. */
export async function readProcStartTime(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // A zombie has exited (it only waits for its parent to reap it): not a live process any more.
    if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
    return rest[19];
  } catch {
    return undefined;
  }
}

export async function isSameProcess(
  pid: number | undefined,
  startTime: string | undefined,
): Promise<boolean> {
  if (pid === undefined || startTime === undefined) return false;
  return (await readProcStartTime(pid)) === startTime;
}
