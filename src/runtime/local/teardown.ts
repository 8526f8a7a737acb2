/**
 * `down`: idempotent teardown of one service, from any shell, also after the supervisor crashed. Order:
 * mark stopping → stop the supervisor → stop every rank's process group → undo every recorded resource in
 * reverse order (endpoint table, CNI attachments, rank namespaces, node tables, links, files) → remove the
 * service's state. Whatever is already gone counts as done.
 */
import { rm } from 'node:fs/promises';
import type { RuntimePorts } from '../ports.js';
import { defaultPorts } from '../ports.js';
import { undoResource } from './network.js';
import { serviceDir } from './paths.js';
import { stopGroup, stopProcess } from './processes.js';
import type { ServiceState } from './service-state.js';
import { readServiceState, updateServiceState } from './service-state.js';

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
