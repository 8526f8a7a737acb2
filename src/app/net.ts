/**
 * Network conditions on an emulated cluster (`multinode net …`): set a rate/loss/delay on nodes, a link or a
 * rail, partition the nodes into two groups, heal, show, and run a fault schedule over time. The kernel
 * work is in targets/local/netcond; this layer checks the names against the cluster and sequences faults.
 */
import { readFile } from 'node:fs/promises';
import type { LinkProfile, LinkShape } from '../api/inventory.js';
import { EXIT, MultinodeError } from '../api/issues.js';
import type { ConditionTarget, Direction, FaultStep } from '../spec/netcond.js';
import { formatDuration, parseLinksFile, parseSchedule } from '../spec/netcond.js';
import type { ClusterMeta } from '../targets/local/cluster.js';
import { readClusterMeta } from '../targets/local/cluster.js';
import type { NetChange, NetState, NewCondition } from '../targets/local/netcond/apply.js';
import { changeConditions, logChange, readNetState } from '../targets/local/netcond/apply.js';
import type { NetCondition } from '../targets/local/netcond/render.js';
import { describeCondition, describeShape, describeTarget } from '../targets/local/netcond/render.js';
import { checkedName } from '../targets/state-root.js';

export type { NetCondition, NetState, NetChange };
export { describeCondition, describeShape, describeTarget };

function bad(message: string): MultinodeError {
  return new MultinodeError('net.bad-input', message, { exitCode: EXIT.badInput });
}

async function clusterMeta(cluster: string): Promise<ClusterMeta> {
  checkedName('cluster', cluster);
  const meta = await readClusterMeta(cluster);
  if (!meta)
    throw new MultinodeError('cluster.not-found', `no cluster named "${cluster}"`, {
      exitCode: EXIT.badInput,
    });
  return meta;
}

function checkNodes(meta: ClusterMeta, names: readonly string[], what: string): void {
  for (const n of names)
    if (!meta.nodes.some((x) => x.name === n)) {
      const known = meta.nodes.map((x) => x.name);
      throw bad(
        `${what}: node "${n}" is not in cluster ${meta.name} (nodes: ${known.slice(0, 8).join(', ')}${known.length > 8 ? ', …' : ''})`,
      );
    }
}

function checkTarget(meta: ClusterMeta, target: ConditionTarget): void {
  if (target.nodes && target.link) throw bad('give --node or --link, not both');
  if (target.nodes) checkNodes(meta, target.nodes, '--node');
  if (target.link) {
    checkNodes(meta, target.link, '--link');
    if (target.link[0] === target.link[1]) throw bad('--link names two different nodes, e.g. node-1,node-2');
  }
  if (target.rail !== undefined && (target.rail < 0 || target.rail >= meta.fabricNics))
    throw bad(
      meta.fabricNics === 0
        ? `--rail ${target.rail}: cluster ${meta.name} has no fabric NICs (create it with --fabric-nics K)`
        : `--rail ${target.rail}: cluster ${meta.name} has rails 0…${meta.fabricNics - 1}`,
    );
}

function sameTarget(a: NetCondition, target: ConditionTarget, direction: Direction): boolean {
  return (
    a.kind === 'shape' &&
    a.source !== 'profile' &&
    a.direction === direction &&
    a.target.betweenBlocks !== true &&
    JSON.stringify(a.target.nodes ?? null) === JSON.stringify(target.nodes ?? null) &&
    JSON.stringify(a.target.link ?? null) === JSON.stringify(target.link ?? null) &&
    a.target.rail === target.rail
  );
}

export interface SetRequest {
  readonly target: ConditionTarget;
  readonly shape: LinkShape;
  readonly direction?: Direction;
  readonly source?: 'cli' | 'schedule';
  readonly note?: string;
}

/** Sets a condition; one set earlier on the same target and direction is replaced (like `tc qdisc replace`). */
export async function netSet(cluster: string, req: SetRequest): Promise<NetChange> {
  const meta = await clusterMeta(cluster);
  checkTarget(meta, req.target);
  if (req.shape.rate === undefined && req.shape.loss === undefined && req.shape.delayMs === undefined)
    throw bad('say what to set: --rate, --loss and/or --delay');
  const direction = req.direction ?? 'both';
  return changeConditions(cluster, (current) => ({
    remove: current.filter((c) => sameTarget(c, req.target, direction)).map((c) => c.id),
    add: [shapeCondition(req, direction)],
  }));
}

function shapeCondition(req: SetRequest, direction: Direction): NewCondition {
  return {
    source: req.source ?? 'cli',
    kind: 'shape',
    target: req.target,
    direction,
    shape: req.shape,
    ...(req.note !== undefined ? { note: req.note } : {}),
  };
}

function partitionCondition(
  meta: ClusterMeta,
  a: readonly string[],
  b: readonly string[] | undefined,
  source: 'cli' | 'schedule',
  note?: string,
): NewCondition {
  if (a.length === 0) throw bad('a partition needs at least one node in its first group');
  checkNodes(meta, a, 'partition');
  const other = b ?? meta.nodes.map((n) => n.name).filter((n) => !a.includes(n));
  checkNodes(meta, other, 'partition');
  const both = a.filter((n) => other.includes(n));
  if (both.length > 0) throw bad(`partition: ${both.join(', ')} cannot be on both sides`);
  if (other.length === 0) throw bad('partition: the other group is empty (the first group holds every node)');
  return {
    source,
    kind: 'partition',
    target: {},
    direction: 'both',
    shape: {},
    groups: [[...a], [...other]],
    ...(note !== undefined ? { note } : {}),
  };
}

/** Cuts group A from group B (default: from every other node) on the underlay and every rail. */
export async function netPartition(
  cluster: string,
  a: readonly string[],
  b?: readonly string[],
): Promise<NetChange> {
  const meta = await clusterMeta(cluster);
  const cond = partitionCondition(meta, a, b, 'cli');
  return changeConditions(cluster, () => ({ remove: [], add: [cond] }));
}

/**
 * Removes conditions: the given ids, or every condition set by `net set`/`partition`/a schedule; `all`
 * also removes the link profile the cluster was created with.
 */
export async function netHeal(
  cluster: string,
  opts: { readonly ids?: readonly number[]; readonly all?: boolean } = {},
): Promise<NetChange> {
  await clusterMeta(cluster);
  return changeConditions(cluster, (current) => {
    if (opts.ids && opts.ids.length > 0) {
      const missing = opts.ids.filter((id) => !current.some((c) => c.id === id));
      if (missing.length > 0)
        throw bad(
          `no condition #${missing.join(', #')} on ${cluster} (see \`multinode net show ${cluster}\`)`,
        );
      return { remove: opts.ids, add: [] };
    }
    return {
      remove: current.filter((c) => opts.all === true || c.source !== 'profile').map((c) => c.id),
      add: [],
    };
  });
}

export interface NetShow {
  readonly cluster: string;
  readonly conditions: readonly NetCondition[];
  readonly applied: NetState['applied'];
  readonly updatedAt: string;
}

export async function netShow(cluster: string): Promise<NetShow> {
  await clusterMeta(cluster);
  const s = await readNetState(cluster);
  return { cluster, conditions: s.conditions, applied: s.applied, updatedAt: s.updatedAt };
}

/** Conditions of each cluster (for `cluster ls` and `ps`); a cluster without any maps to []. */
export async function conditionsOf(
  clusters: readonly string[],
): Promise<Map<string, readonly NetCondition[]>> {
  const out = new Map<string, readonly NetCondition[]>();
  for (const c of clusters) out.set(c, (await readNetState(c)).conditions);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Schedules

export interface ScheduleEvent {
  readonly atMs: number;
  readonly kind: 'start' | 'end';
  readonly step: FaultStep;
}

/** Start and end events of the steps, in time order (ends before starts at the same time, then file order). */
export function scheduleEvents(steps: readonly FaultStep[]): ScheduleEvent[] {
  const ev: ScheduleEvent[] = [];
  for (const s of steps) {
    ev.push({ atMs: s.atMs, kind: 'start', step: s });
    if (s.durationMs !== undefined) ev.push({ atMs: s.atMs + s.durationMs, kind: 'end', step: s });
  }
  return ev.sort(
    (a, b) =>
      a.atMs - b.atMs || (a.kind === b.kind ? 0 : a.kind === 'end' ? -1 : 1) || a.step.index - b.step.index,
  );
}

export interface ScheduleOptions {
  /** Called with each line as it is logged (the CLI prints it). */
  readonly print: (line: string) => void;
  readonly signal?: AbortSignal;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) {
      resolve();
      return;
    }
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Runs a fault schedule file against a cluster: each step at its time from the start, each `duration` ended
 * by removing what that step set. Every change is logged with its time (and offset) to `net.log` beside the
 * rank logs of each service on the cluster, and printed. Interrupted (signal), it removes what it set and
 * is still active. Conditions without a duration stay after the schedule ends.
 */
export async function runSchedule(cluster: string, file: string, opts: ScheduleOptions): Promise<void> {
  const meta = await clusterMeta(cluster);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw bad(`cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const parsed = parseSchedule(text, file, { nodes: meta.nodes.map((n) => n.name), rails: meta.fabricNics });
  if (!parsed.ok)
    throw new MultinodeError('net.bad-schedule', `${file}: the schedule has errors`, {
      exitCode: EXIT.badInput,
      issues: parsed.issues,
    });
  const events = scheduleEvents(parsed.value);
  const t0 = Date.now();
  const offset = () => `+${formatDuration(Date.now() - t0)}`;
  const say = async (line: string, change?: NetChange) => {
    const at = new Date().toISOString();
    opts.print(`${at} ${offset()} ${line}`);
    if (!change) await logChange(cluster, at, [], [], undefined, [`schedule ${file}: ${line}`]);
  };
  const mine = new Map<number, number[]>(); // step index → condition ids it set
  await say(
    `schedule ${file} started: ${parsed.value.length} fault(s), last event at +${formatDuration(events.at(-1)?.atMs ?? 0)}`,
  );
  try {
    for (const ev of events) {
      await sleep(t0 + ev.atMs - Date.now(), opts.signal);
      if (opts.signal?.aborted) break;
      const note = `${file} faults[${ev.step.index}] at +${formatDuration(ev.step.atMs)}`;
      let change: NetChange;
      if (ev.kind === 'end') {
        const ids = mine.get(ev.step.index) ?? [];
        mine.delete(ev.step.index);
        change = await changeConditions(cluster, (current) => ({
          remove: current.filter((c) => ids.includes(c.id)).map((c) => c.id),
          add: [],
        }));
        if (change.removed.length === 0) {
          await say(`faults[${ev.step.index}] ended (already cleared)`);
          continue;
        }
      } else if (ev.step.action === 'heal') {
        change = await netHeal(cluster);
        mine.clear();
      } else {
        const cond =
          ev.step.action === 'partition'
            ? partitionCondition(meta, ev.step.groups?.[0] ?? [], ev.step.groups?.[1], 'schedule', note)
            : shapeCondition(
                { target: ev.step.target, shape: ev.step.shape, source: 'schedule', note },
                ev.step.direction ?? 'both',
              );
        change = await changeConditions(cluster, () => ({ remove: [], add: [cond] }));
        mine.set(
          ev.step.index,
          change.added.map((c) => c.id),
        );
      }
      for (const c of change.removed)
        opts.print(`${change.state.updatedAt} ${offset()} cleared ${describeCondition(c)}`);
      for (const c of change.added)
        opts.print(`${change.state.updatedAt} ${offset()} set ${describeCondition(c)}`);
      if (change.removed.length === 0 && change.added.length === 0)
        await say(`faults[${ev.step.index}] ${ev.step.action}: nothing to change`);
    }
  } finally {
    if (opts.signal?.aborted) {
      const ids = [...mine.values()].flat();
      if (ids.length > 0) {
        const change = await changeConditions(cluster, (current) => ({
          remove: current.filter((c) => ids.includes(c.id)).map((c) => c.id),
          add: [],
        }));
        for (const c of change.removed)
          opts.print(`${change.state.updatedAt} ${offset()} cleared ${describeCondition(c)}`);
      }
      await say('schedule interrupted: what it set is cleared');
    } else await say('schedule done');
  }
}

/** Reads a `cluster create --links FILE` file (`links:` with underlay, fabric, between-blocks); located errors. */
export async function readLinksFile(file: string): Promise<LinkProfile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw bad(`cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const r = parseLinksFile(text, file);
  if (!r.ok)
    throw new MultinodeError('net.bad-links', `${file}: the link profile has errors`, {
      exitCode: EXIT.badInput,
      issues: r.issues,
    });
  return r.value;
}
