/**
 * Applies a cluster's network conditions in its switch namespace and records them in
 * `<state>/clusters/<name>/net.json` (the conditions and exactly which qdiscs, ifbs and nft table exist), so
 * `net show`, `cluster ls` and `ps` can say what is active and every change can clear precisely what the
 * last one made. Every change re-renders all conditions: clear (one `tc -batch`), ifbs (one `ip -batch`),
 * install (one `tc -batch`), nft (one atomic `nft -f`) — four commands whatever the number of nodes.
 * A failed change puts the previous conditions back. Deleting the cluster's switch namespace removes all.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { LinkProfile } from '../../../api/inventory.js';
import { EXIT, MultinodeError } from '../../../api/issues.js';
import type { RuntimePorts } from '../../ports.js';
import { defaultPorts } from '../../ports.js';
import type { ClusterMeta } from '../cluster.js';
import { readClusterMeta } from '../cluster.js';
import { netnsExecArgv } from '../node-exec.js';
import { clusterDir, clusterNames, serviceDir, withClusterLock } from '../paths.js';
import { listServiceStates } from '../service-state.js';
import type { Applied, NetCondition, Rendered, Topology } from './render.js';
import {
  NOTHING_APPLIED,
  clearLines,
  describeCondition,
  ifbLines,
  nftReplace,
  renderConditions,
} from './render.js';

export interface NetState {
  readonly version: 1;
  readonly nextId: number;
  readonly conditions: readonly NetCondition[];
  readonly applied: Applied;
  readonly updatedAt: string;
}

export const EMPTY_NET_STATE: NetState = {
  version: 1,
  nextId: 1,
  conditions: [],
  applied: NOTHING_APPLIED,
  updatedAt: '',
};

export function netStatePath(cluster: string): string {
  return join(clusterDir(cluster), 'net.json');
}

/** Name of the cluster's conditions table (bridge family, switch namespace). */
export function netTableName(cluster: string): string {
  return `mn_${clusterNames(cluster).hash}_net`;
}

export async function readNetState(cluster: string, ports: RuntimePorts = defaultPorts()): Promise<NetState> {
  return (await ports.store.read<NetState>(netStatePath(cluster))) ?? EMPTY_NET_STATE;
}

export function topologyOf(meta: ClusterMeta): Topology {
  return {
    nodes: meta.nodes.map((n) => ({
      name: n.name,
      index: n.index,
      ...(n.block !== undefined ? { block: n.block } : {}),
    })),
    fabricNics: meta.fabricNics,
    table: netTableName(meta.name),
  };
}

export const NETEM_MISSING =
  "delay needs the kernel's netem qdisc (sch_netem), which this kernel does not have (tc: Specified qdisc kind is unknown); rate, loss and partitions work without it";

/** Whether the kernel has netem: a throw-away netem qdisc on the switch namespace's loopback. */
export async function hasNetem(switchNs: string, ports: RuntimePorts = defaultPorts()): Promise<boolean> {
  const r = await ports.spawner.run(
    ['tc', '-n', switchNs, 'qdisc', 'add', 'dev', 'lo', 'root', 'handle', '1:', 'netem', 'delay', '1ms'],
    { check: false },
  );
  if (r.code !== 0) return false;
  await ports.spawner.run(['tc', '-n', switchNs, 'qdisc', 'del', 'dev', 'lo', 'root'], { check: false });
  return true;
}

function lines(ls: readonly string[]): string {
  return ls.map((l) => `${l}\n`).join('');
}

/** Renders `conditions` for the cluster; bad names and a missing netem fail here, before anything is touched. */
async function renderChecked(
  meta: ClusterMeta,
  conditions: readonly NetCondition[],
  ports: RuntimePorts,
): Promise<Rendered> {
  let r: Rendered;
  try {
    r = renderConditions(topologyOf(meta), conditions);
  } catch (e) {
    throw new MultinodeError('net.bad-input', e instanceof Error ? e.message : String(e), {
      exitCode: EXIT.badInput,
    });
  }
  if (r.needsNetem && !(await hasNetem(meta.switchNs, ports)))
    throw new MultinodeError('net.no-netem', NETEM_MISSING, { exitCode: EXIT.failure });
  return r;
}

/** Clears `before` and installs `r`; returns what is now there. */
async function install(
  meta: ClusterMeta,
  before: Applied,
  r: Rendered,
  ports: RuntimePorts,
): Promise<Applied> {
  const run = ports.spawner;
  const sw = meta.switchNs;
  const clear = clearLines(before);
  // Removing what is there may meet something already gone (a half-done earlier change): keep going.
  if (clear.length > 0)
    await run.run(['tc', '-n', sw, '-force', '-batch', '-'], { input: lines(clear), check: false });
  const ifb = ifbLines(before.ifbs, r.ifbs);
  if (ifb.del.length > 0)
    await run.run(['ip', '-n', sw, '-force', '-batch', '-'], { input: lines(ifb.del), check: false });
  const partial: Applied = { ...NOTHING_APPLIED, ifbs: r.ifbs, table: before.table };
  try {
    if (ifb.add.length > 0) await run.run(['ip', '-n', sw, '-batch', '-'], { input: lines(ifb.add) });
    if (r.tc.length > 0) await run.run(['tc', '-n', sw, '-batch', '-'], { input: lines(r.tc) });
    if (r.nft !== '' || before.table)
      await run.run([...netnsExecArgv(sw), 'nft', '-f', '-'], {
        input: nftReplace(topologyOf(meta).table, r.nft),
      });
  } catch (e) {
    // Leave nothing half-installed: everything this render may have made goes.
    await clearAll(
      meta,
      { ...r.applied, ifbs: [...new Set([...partial.ifbs, ...before.ifbs])], table: true },
      ports,
    );
    throw e;
  }
  return r.applied;
}

/** Removes every qdisc, ifb and the table `applied` names (best effort: what is gone is skipped). */
async function clearAll(meta: ClusterMeta, applied: Applied, ports: RuntimePorts): Promise<void> {
  const run = ports.spawner;
  const sw = meta.switchNs;
  const clear = clearLines(applied);
  if (clear.length > 0)
    await run.run(['tc', '-n', sw, '-force', '-batch', '-'], { input: lines(clear), check: false });
  if (applied.ifbs.length > 0)
    await run.run(['ip', '-n', sw, '-force', '-batch', '-'], {
      input: lines(ifbLines(applied.ifbs, []).del),
      check: false,
    });
  if (applied.table)
    await run.run([...netnsExecArgv(sw), 'nft', '-f', '-'], {
      input: nftReplace(topologyOf(meta).table, ''),
      check: false,
    });
}

export interface NetChange {
  readonly added: readonly NetCondition[];
  readonly removed: readonly NetCondition[];
  readonly state: NetState;
}

/** A new condition, before it has an id and a time. */
export type NewCondition = Omit<NetCondition, 'id' | 'since'>;

/**
 * The one way conditions change: under the cluster's lock, `edit` gets the current conditions and returns
 * which to remove and which to add; the result is applied (or the old state restored) and recorded, and
 * the change is logged to `net.log` of the cluster and of every service on it.
 */
export async function changeConditions(
  cluster: string,
  edit: (
    current: readonly NetCondition[],
    meta: ClusterMeta,
  ) => {
    readonly remove: readonly number[];
    readonly add: readonly NewCondition[];
  },
  ports: RuntimePorts = defaultPorts(),
): Promise<NetChange> {
  return withClusterLock(cluster, async () => {
    const meta = await readClusterMeta(cluster, ports);
    if (!meta)
      throw new MultinodeError('cluster.not-found', `no cluster named "${cluster}"`, {
        exitCode: EXIT.badInput,
      });
    const state = await readNetState(cluster, ports);
    const { remove, add } = edit(state.conditions, meta);
    const since = new Date(ports.clock.now()).toISOString();
    let nextId = state.nextId;
    const added: NetCondition[] = add.map((c) => ({ ...c, id: nextId++, since }));
    const removed = state.conditions.filter((c) => remove.includes(c.id));
    const conditions = [...state.conditions.filter((c) => !remove.includes(c.id)), ...added];
    const rendered = await renderChecked(meta, conditions, ports);
    let applied: Applied;
    try {
      applied = await install(meta, state.applied, rendered, ports);
    } catch (e) {
      // Put the previous conditions back (install cleared what it made); then report the failure.
      const back = await renderChecked(meta, state.conditions, ports)
        .then((old) => install(meta, NOTHING_APPLIED, old, ports))
        .catch(() => NOTHING_APPLIED);
      await ports.store.write(netStatePath(cluster), { ...state, applied: back });
      throw e;
    }
    const next: NetState = { version: 1, nextId, conditions, applied, updatedAt: since };
    await ports.store.write(netStatePath(cluster), next);
    await logChange(cluster, since, added, removed, ports);
    return { added, removed, state: next };
  });
}

/** Appends one timestamped line per change to `net.log` of the cluster and of each service on it. */
export async function logChange(
  cluster: string,
  at: string,
  added: readonly NetCondition[],
  removed: readonly NetCondition[],
  ports: RuntimePorts = defaultPorts(),
  extra: readonly string[] = [],
): Promise<void> {
  const text = [
    ...removed.map((c) => `${at} net: cleared ${describeCondition(c)}`),
    ...added.map((c) => `${at} net: set ${describeCondition(c)}${c.note ? ` (${c.note})` : ''}`),
    ...extra.map((l) => `${at} net: ${l}`),
  ];
  if (text.length === 0) return;
  for (const path of await netLogPaths(cluster, ports)) {
    await mkdir(join(path, '..'), { recursive: true });
    await appendFile(path, lines(text));
  }
}

/** `<cluster>/net.log` and `<service>/logs/net.log` of every service on the cluster (beside rank-N.log). */
export async function netLogPaths(cluster: string, ports: RuntimePorts = defaultPorts()): Promise<string[]> {
  const services = (await listServiceStates(ports)).filter((s) => s.cluster === cluster);
  return [
    join(clusterDir(cluster), 'net.log'),
    ...services.map((s) => join(serviceDir(s.name), 'logs', 'net.log')),
  ];
}

/** The profile as conditions (source `profile`), for `cluster create`. */
export function profileConditions(profile: LinkProfile): NewCondition[] {
  const out: NewCondition[] = [];
  const base = { source: 'profile', kind: 'shape', direction: 'both' } as const;
  if (profile.underlay) out.push({ ...base, target: {}, shape: profile.underlay, note: 'links.underlay' });
  if (profile.fabric)
    out.push({ ...base, target: { rail: -1 }, shape: profile.fabric, note: 'links.fabric' });
  if (profile.betweenBlocks)
    out.push({
      ...base,
      target: { betweenBlocks: true },
      shape: profile.betweenBlocks,
      note: 'links.between-blocks',
    });
  return out;
}

/** Applies a link profile to a freshly created cluster (every rail for `fabric`). */
export async function applyProfile(
  meta: ClusterMeta,
  profile: LinkProfile,
  ports: RuntimePorts = defaultPorts(),
): Promise<NetState> {
  const r = await changeConditions(
    meta.name,
    (_, m) => ({
      remove: [],
      add: profileConditions(profile).flatMap((c) =>
        c.target.rail === -1
          ? Array.from({ length: m.fabricNics }, (_, k) => ({
              ...c,
              target: { rail: k },
              note: `links.fabric (rail ${k})`,
            }))
          : [c],
      ),
    }),
    ports,
  );
  return r.state;
}
