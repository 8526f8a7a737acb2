/**
 * `down`: idempotent teardown of one service, from any shell, also after the supervisor crashed. Order:
 * mark stopping → stop the supervisor → stop every rank's process group → undo every recorded resource in
 * reverse order (endpoint table, CNI attachments, rank namespaces, node tables, links, files) → remove the
 * service's state. Whatever is already gone counts as done. The work is done once: a live supervisor, told
 * its record is closed, stops its processes and undoes only what it made but could not record (`unrecorded`);
 * everything the record lists is undone here, after the supervisor is gone.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { ENV, PLAN_FILES } from '../../api/names.js';
import type { RuntimePorts } from '../ports.js';
import { defaultPorts } from '../ports.js';
import { undoResource } from './network.js';
import { removeServiceContainers } from './container.js';
import { teardownServiceSsh } from './ssh/index.js';
import { requireInside } from '../state-root.js';
import { serviceDir, withClusterLock, withServiceLock } from './paths.js';
import { stopGroup, stopProcess } from './processes.js';
import { trace } from './trace.js';
import { removeServiceVolumes } from './volumes.js';
import type { Resource, ServiceState } from './service-state.js';
import { readProcStartTime, readServiceState, resourceKey, updateServiceState } from './service-state.js';

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
  // Synchronous reads: one pass over every process's small environ file takes milliseconds this way (through
  // the thread pool, four hops per file, it grew to seconds with the processes of a large service).
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const env = `\0${readFileSync(`/proc/${d}/environ`, 'utf8')}`;
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

/**
 * What is undone together: a node's tables and devices go in one step (network.ts undoes them with one
 * process per node namespace, tables first); any other kind in a step of its own.
 */
function undoStepOf(r: Resource): string {
  return r.kind === 'link' || (r.kind === 'nft' && r.netns !== undefined) ? 'node' : r.kind;
}

/**
 * The steps of a teardown: the resources in reverse order of recording, cut into runs that are undone at once
 * (a run of one kind, or of node tables and links together: see `undoStepOf`). Order inside a run is kept.
 */
export function undoSteps(resources: readonly Resource[]): Resource[][] {
  const steps: Resource[][] = [];
  let last: string | undefined;
  for (const r of [...resources].reverse()) {
    const step = undoStepOf(r);
    const current = steps.at(-1);
    if (current !== undefined && step === last) current.push(r);
    else steps.push([r]);
    last = step;
  }
  return steps;
}

/** A step's trace label: its count per kind, in order of first appearance (`128 nft, 256 link`). */
export function undoStepLabel(step: readonly Resource[]): string {
  const counts = new Map<string, number>();
  for (const r of step) counts.set(r.kind, (counts.get(r.kind) ?? 0) + 1);
  return [...counts].map(([kind, n]) => `${n} ${kind}`).join(', ');
}

/**
 * Undoes recorded resources in reverse order of recording, one step (`undoSteps`) at a time; what a step
 * holds is independent, so it is undone at once (network.ts batches it into a few processes). With
 * `onError`, a failure is handed to it and the rest goes on; without, the first failure rejects (the rest of
 * its step goes on).
 */
export async function undoInReverse(
  resources: readonly Resource[],
  ports: RuntimePorts,
  onError?: (e: unknown) => void,
): Promise<void> {
  // Rank namespaces this pass deletes: what lives only in them (a CNI bridge attachment) goes with them.
  const going = new Set(resources.flatMap((r) => (r.kind === 'netns' ? [r.name] : [])));
  for (const step of undoSteps(resources)) {
    const undone = step.map((r) => undoResource(r, ports, going));
    await Promise.all(onError === undefined ? undone : undone.map((p) => p.catch(onError)));
    trace(`down: ${undoStepLabel(step)} undone`);
  }
}

/**
 * Of what a supervisor made (`mine`), what the record does not list: a supervisor whose record `down` closed
 * undoes only these (it was refused the write that would have recorded them); `down` undoes everything the
 * record lists, once, after the supervisor is gone.
 */
export function unrecorded(mine: readonly Resource[], recorded: readonly Resource[]): Resource[] {
  const keys = new Set(recorded.map(resourceKey));
  return mine.filter((r) => !keys.has(resourceKey(r)));
}

export async function downService(
  name: string,
  options: { graceMs?: number; onProgress?: (msg: string) => void; self?: boolean } = {},
  ports: RuntimePorts = defaultPorts(),
): Promise<DownResult> {
  const started = ports.clock.now();
  const dir = serviceDir(name);
  const first = await readServiceState(name, ports);
  if (!first) {
    // No record: remove what is left of the directory, unless an `up` records the service meanwhile.
    const existed = await withServiceLock(name, async () => {
      if (await readServiceState(name, ports)) return true;
      await rm(requireInside(dir), { recursive: true, force: true });
      return false;
    });
    if (!existed) return { existed: false, ms: ports.clock.now() - started };
  }
  // Under the cluster's lock (as `up` plans under it): a concurrent `up` either recorded its service before
  // we read it, or plans after it is gone; a second `down` waits here and then finds nothing to do.
  const cluster = first?.cluster ?? (await readServiceState(name, ports))?.cluster;
  if (cluster === undefined) return downService(name, options, ports);
  return withClusterLock(cluster, async () => {
    const state = await readServiceState(name, ports);
    if (!state) return { existed: false, ms: ports.clock.now() - started };
    await teardownRecorded(state, options, ports);
    return { existed: true, ms: ports.clock.now() - started };
  });
}

async function teardownRecorded(
  state: ServiceState,
  options: { graceMs?: number; onProgress?: (msg: string) => void; self?: boolean },
  ports: RuntimePorts,
): Promise<void> {
  const name = state.name;
  // `stopping` closes the record: from now on a supervisor records nothing new, and one that tries stops
  // and removes what it made itself (a supervisor still starting, whose pid is not recorded yet).
  const marked =
    (await updateServiceState(
      name,
      (s) => {
        s.status = 'stopping';
      },
      ports,
    ).catch(() => undefined)) ?? state;
  trace('down: record closed');
  if (!options.self && marked.supervisorPid !== undefined && marked.supervisorStartTime !== undefined) {
    options.onProgress?.('stopping the supervisor');
    await stopProcess(marked.supervisorPid, marked.supervisorStartTime, 5000);
  }
  trace('down: supervisor stopped');
  // Re-read: the supervisor may have recorded more before it stopped.
  const latest = (await readServiceState(name, ports)) ?? state;
  options.onProgress?.(`stopping ${latest.ranks.length} rank(s)`);
  await stopRanks(latest, options.graceMs ?? 3000);
  trace('down: ranks stopped');
  await sweepServiceProcesses(latest, Math.min(options.graceMs ?? 3000, 1000));
  trace('down: swept');
  // Ranks in their image: their containers (by label, recorded or not) and cgroups; the image cache stays.
  await removeServiceContainers(latest.cluster, name, serviceDir(name));
  // SSH sessions, shared connections and the control directory (which may lie outside the state), also
  // when the supervisor died before recording them.
  await teardownServiceSsh(serviceDir(name)).catch(() => undefined);
  trace('down: containers and ssh');
  options.onProgress?.(`removing ${latest.resources.length} network object(s)`);
  await undoInReverse(latest.resources, ports);
  await rm(requireInside(serviceDir(name)), { recursive: true, force: true });
  // The built-in `data` volume lives as long as the service unless it persists (`down --volumes`: app/down.ts).
  if (!latest.plan.persist) await removeServiceVolumes(name, { persist: false, volumes: false });
}
