/**
 * The status of every local service as `ps` shows it: its record, whether its supervisor and each rank
 * still run (pid and start time), and the JSON shape `ps --output json` prints. The dashboard reads the same.
 */
import { listServiceStates, readProcStartTime } from '../targets/local/service-state.js';
import type { RankState, ServiceState } from '../targets/local/service-state.js';

export type { ServiceState } from '../targets/local/service-state.js';

export interface RankStatusRow extends RankState {
  readonly alive: boolean;
}

export interface ServiceStatusRow {
  readonly state: ServiceState;
  readonly supervisorAlive: boolean;
  readonly ranks: readonly RankStatusRow[];
}

async function sameProcess(pid: number | undefined, startTime: string | undefined): Promise<boolean> {
  if (pid === undefined || startTime === undefined) return false;
  return (await readProcStartTime(pid)) === startTime;
}

/** One service's record with liveness of its supervisor and ranks. */
export async function serviceStatus(s: ServiceState): Promise<ServiceStatusRow> {
  const supervisorAlive = await sameProcess(s.supervisorPid, s.supervisorStartTime);
  const ranks: RankStatusRow[] = [];
  for (const r of s.ranks) ranks.push({ ...r, alive: await sameProcess(r.pid, r.startTime) });
  return { state: s, supervisorAlive, ranks };
}

/** Every service recorded on this machine, sorted by name. */
export async function listServiceStatus(): Promise<ServiceStatusRow[]> {
  const rows: ServiceStatusRow[] = [];
  for (const s of await listServiceStates()) rows.push(await serviceStatus(s));
  return rows;
}

/** The object `ps --output json` prints for one service (key order is part of the output). */
export function serviceStatusJson({ state: s, supervisorAlive, ranks }: ServiceStatusRow) {
  return {
    name: s.name,
    cluster: s.cluster,
    file: s.file,
    status: s.status,
    supervisor: { pid: s.supervisorPid, alive: supervisorAlive },
    network: s.plan.network,
    ranks: ranks.map((r) => ({
      rank: r.rank,
      hostname: r.hostname,
      node: r.node,
      address: r.address,
      pid: r.pid,
      status: r.status,
      alive: r.alive,
      exitCode: r.exitCode,
      signal: r.signal,
      restarts: r.restarts ?? 0,
      missingSince: r.missingSince,
      ports: s.plan.ranks[r.rank]?.ports.map((p) => ({ name: p.name, hostPort: p.hostPort })),
    })),
    endpoints: s.endpoints,
    probe: s.probe,
    group: s.group,
    restart: {
      policy: s.plan.restart.policy,
      ...(s.failover
        ? {
            restartsAfterStart: s.failover.ledger.restartsAfterStart,
            restartsBeforeStart: s.failover.ledger.restartsBeforeStart,
            clusterFileVersion: s.failover.clusterVersion,
            history: s.failover.history,
          }
        : {}),
    },
    timings: s.timings,
    message: s.message,
  };
}

export type ServiceStatusJson = ReturnType<typeof serviceStatusJson>;

/** Statuses that mean "should be running": shown with a warning when the supervisor is gone. */
export const LIVE_STATUSES: readonly string[] = ['starting', 'running', 'ready', 'restarting'];
