/**
 * `down`: idempotent teardown of one service, from any shell, also after the supervisor crashed. Order:
 * mark stopping → stop the supervisor → stop every rank's process group → undo every recorded resource in
 * reverse order (endpoint table, CNI attachments, rank namespaces, node tables, links, files) → remove the
 * service's state. Whatever is already gone counts as done.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { ENV, PLAN_FILES } from '../../api/names.js';
import type { RuntimePorts } from '../ports.js';
import { defaultPorts } from '../ports.js';
import { undoResource } from './network.js';
import { serviceDir } from './paths.js';
import { stopGroup, stopProcess } from './processes.js';
import type { ServiceState } from './service-state.js';
import { readProcStartTime, readServiceState, updateServiceState } from './service-state.js';

export interface DownResult {
  readonly existed: boolean;
  readonly ms: number;
}

/** Stops every rank process group recorded in the state (in parallel). */
export async function stopRanks(state: ServiceState, graceMs = 3000): Promise<void> {
  const groups = new Map<number, string>();
  for (const r of state.ranks)
    if (r.pid !== undefined && r.startTime !== undefined) groups.set(r.pid, r.startTime);
  for (const res of state.resources) if (res.kind === 'process') groups.set(res.pid, res.startTime);
  await Promise.all([...groups].map(([pid, st]) => stopGroup(pid, st, graceMs)));
}

/**
 * Processes of this service that no record names (a supervisor killed between spawning a rank and recording
 * it): found by their environment, which names this service's own cluster file (a path under this state
 * directory), and stopped. Returns how many were found.
 */
export async function sweepServiceProcesses(state: ServiceState, graceMs = 1000): Promise<number> {
  const clusterFile = state.plan.files.find((f) => f.name === PLAN_FILES.clusterFile)?.path;
  if (!clusterFile) return 0;
  const needle = `\0${ENV.clusterFile}=${clusterFile}\0`;
  const found: { pid: number; startTime: string }[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const env = `\0${await readFile(`/proc/${d}/environ`, 'utf8')}`;
      if (!env.includes(needle)) continue;
      const st = await readProcStartTime(Number(d));
      if (st !== undefined) found.push({ pid: Number(d), startTime: st });
    } catch {
      /* gone, or not ours to read */
    }
  }
  await Promise.all(found.map((p) => stopProcess(p.pid, p.startTime, graceMs)));
  return found.length;
}

export async function downService(
  name: string,
  options: { graceMs?: number; onProgress?: (msg: string) => void; self?: boolean } = {},
  ports: RuntimePorts = defaultPorts(),
): Promise<DownResult> {
  const started = ports.clock.now();
  const state = await readServiceState(name, ports);
  if (!state) {
    await rm(serviceDir(name), { recursive: true, force: true });
    return { existed: false, ms: ports.clock.now() - started };
  }
  await updateServiceState(
    name,
    (s) => {
      s.status = 'stopping';
    },
    ports,
  ).catch(() => undefined);
  if (!options.self && state.supervisorPid !== undefined && state.supervisorStartTime !== undefined) {
    options.onProgress?.('stopping the supervisor');
    await stopProcess(state.supervisorPid, state.supervisorStartTime, 5000);
  }
  // Re-read: the supervisor may have recorded more before it stopped.
  const latest = (await readServiceState(name, ports)) ?? state;
  options.onProgress?.(`stopping ${latest.ranks.length} rank(s)`);
  await stopRanks(latest, options.graceMs ?? 3000);
  await sweepServiceProcesses(latest, Math.min(options.graceMs ?? 3000, 1000));
  options.onProgress?.(`removing ${latest.resources.length} network object(s)`);
  // Reverse order; a run of resources of the same kind is independent, so undo it in parallel.
  const reversed = [...latest.resources].reverse();
  for (let i = 0; i < reversed.length;) {
    let j = i + 1;
    while (j < reversed.length && reversed[j]?.kind === reversed[i]?.kind) j++;
    await Promise.all(reversed.slice(i, j).map((r) => undoResource(r, ports)));
    i = j;
  }
  await rm(serviceDir(name), { recursive: true, force: true });
  return { existed: true, ms: ports.clock.now() - started };
}
