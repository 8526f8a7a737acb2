/**
 * Resolving the symbolic plan. One pure walk over a `Value`'s parts; a target supplies only the leaf answers
 * (`Leaves`): what host name, address, port, … a rank has, as text in the target's own syntax (plain text
 * locally, a bash expansion in a Slurm job script, a shell word in a Kubernetes shim). `S` is how the target
 * names "this rank": a number when it resolves one known rank, a shell expression when the rank is only
 * known at run time.
 *
 * `localLeaves` answers for the local target from the plan's placement (in degraded, non-root mode a rank's
 * host name is its address: nothing can resolve names there); `resolveRankEnv`, `resolveArgv` and
 * `resolveFiles` give a local rank's literal values. Lists resolve once per resolver (cached), so resolving
 * every rank's environment costs O(N) in total, with the list strings shared.
 */
import type { ListPlan, Part, PlanFile, RankPlan, RankRef, ServicePlan, Value } from '../api/plan.js';
import { PORT_REF, SSH_WRAPPER_FILE } from '../api/plan.js';
import { compressHostlist } from './hostlist.js';

export interface Leaves<S> {
  /** Literal text (escaped as the target's syntax needs). */
  text(s: string): string;
  host(r: number | S): string;
  addr(r: number | S): string;
  port(name: string, r: number | S): string;
  rank(self: S): string;
  /** `self`'s index within its role: its rank minus `from` (roles only). */
  index(self: S, from: number): string;
  gpus(self: S): string;
  iface(): string;
  file(name: string): string;
  list(name: string): string;
}

function ref<S>(r: RankRef, self: S): number | S {
  return r === 'self' ? self : r;
}

export function resolvePart<S>(p: Part, self: S, l: Leaves<S>): string {
  if (typeof p === 'string') return l.text(p);
  if ('host' in p) return l.host(ref(p.host, self));
  if ('addr' in p) return l.addr(ref(p.addr, self));
  if ('port' in p) return l.port(p.port, ref(p.of, self));
  if ('rank' in p) return l.rank(self);
  if ('index' in p) return l.index(self, p.from);
  if ('gpus' in p) return l.gpus(self);
  if ('list' in p) return l.list(p.list);
  if ('file' in p) return l.file(p.file);
  return l.iface();
}

export function resolveValue<S>(value: Value, self: S, l: Leaves<S>): string {
  let out = '';
  for (const p of value) out += resolvePart(p, self, l);
  return out;
}

/** A list with every member resolved (`self` = the member) and joined. */
export function resolveList<S>(list: ListPlan, members: Iterable<S>, l: Leaves<S>): string {
  const parts: string[] = [];
  for (const m of members) parts.push(resolveValue(list.each, m, l));
  return list.compress === 'hostlist' ? compressHostlist(parts) : parts.join(list.sep);
}

/** The ranks a list runs over: all `n`, or a role's range (`from`, `count`). */
export function listMembers(list: ListPlan, n: number): number[] {
  const from = list.from ?? 0;
  const to = list.count === undefined ? n : Math.min(n, from + list.count);
  const out: number[] = [];
  for (let r = from; r < to; r++) out.push(r);
  return out;
}

/** Whether a value names anything a target resolves (else it is literal text). */
export function isLiteral(value: Value): boolean {
  return value.every((p) => typeof p === 'string');
}

/** Literal text of a value whose parts are all strings (`undefined` otherwise). */
export function literalText(value: Value): string | undefined {
  return isLiteral(value) ? (value as readonly string[]).join('') : undefined;
}

/** Whether a value (or a list it names) refers to `self` or a port of some rank, i.e. may differ per rank. */
export function mentions(
  value: Value,
  svc: Pick<ServicePlan, 'lists'>,
  test: (p: Exclude<Part, string>) => boolean,
): boolean {
  for (const p of value) {
    if (typeof p === 'string') continue;
    if (test(p)) return true;
    if ('list' in p) {
      const list = svc.lists[p.list];
      if (list && mentions(list.each, svc, test)) return true;
    }
  }
  return false;
}

/** Every `list` name a value uses. */
export function listsOf(value: Value): string[] {
  const out: string[] = [];
  for (const p of value) if (typeof p !== 'string' && 'list' in p) out.push(p.list);
  return out;
}

/** Per rank: `self` parts other than inside lists (which resolve per member). */
export function namesSelf(value: Value): boolean {
  return value.some(
    (p) =>
      typeof p !== 'string' &&
      (('host' in p && p.host === 'self') ||
        ('addr' in p && p.addr === 'self') ||
        ('port' in p && p.of === 'self') ||
        'rank' in p ||
        'index' in p ||
        'gpus' in p),
  );
}

export interface LocalResolveOptions {
  /** Degraded (non-root) mode: host names do not resolve, so a rank's host name is its address. */
  readonly hostAsAddress?: boolean;
}

/** A rank's port under a `port` part's name (declared name → bound host port; `@tf`, `@ssh`). */
export function rankPort(rank: RankPlan | undefined, name: string): number | undefined {
  if (!rank) return undefined;
  if (name === PORT_REF.tf) return rank.tfPort;
  if (name === PORT_REF.ssh) return rank.sshPort;
  return rank.ports.find((p) => p.name === name)?.hostPort;
}

/** The local target's answers, from the plan's own placement. */
export function localLeaves(svc: ServicePlan, opts: LocalResolveOptions = {}): Leaves<number> {
  const lists = new Map<string, string>();
  const rank = (r: number): RankPlan => {
    const x = svc.ranks[r];
    if (!x) throw new RangeError(`service ${svc.name} has no rank ${r}`);
    return x;
  };
  const files = new Map<string, string>(svc.files.map((f) => [f.name, f.path]));
  files.set(SSH_WRAPPER_FILE, svc.sshWrapperPath);
  const leaves: Leaves<number> = {
    text: (s) => s,
    host: (r) => (opts.hostAsAddress === true ? rank(r).address : rank(r).hostname),
    addr: (r) => rank(r).address,
    port: (name, r) => String(rankPort(rank(r), name) ?? ''),
    rank: (r) => String(r),
    index: (r, from) => String(r - from),
    gpus: (r) => rank(r).gpus.join(','),
    iface: () => svc.network.subnet,
    file: (name) => files.get(name) ?? '',
    list: (name) => {
      let v = lists.get(name);
      if (v === undefined) {
        const list = svc.lists[name];
        v = list ? resolveList(list, listMembers(list, svc.ranks.length), leaves) : '';
        lists.set(name, v);
      }
      return v;
    },
  };
  return leaves;
}

/** The symbolic env of one rank: the service's, its role's own values, and the leader's own values on rank 0. */
export function rankEnvValues(svc: ServicePlan, rank: number): Readonly<Record<string, Value>> {
  const role = svc.roleEnv ? roleOfRank(svc, rank) : undefined;
  const own = role ? svc.roleEnv?.[role.name] : undefined;
  const base = own ? { ...svc.env, ...own } : svc.env;
  return rank === 0 && Object.keys(svc.leaderEnv).length > 0 ? { ...base, ...svc.leaderEnv } : base;
}

/** The role rank `rank` belongs to (undefined for a service without roles). */
export function roleOfRank(
  svc: Pick<ServicePlan, 'roles'>,
  rank: number,
): NonNullable<ServicePlan['roles']>[number] | undefined {
  return svc.roles?.find((r) => rank >= r.first && rank < r.first + r.nodes);
}

/** Every variable rank `rank` sees, literal, sorted by name. */
export function resolveRankEnv(svc: ServicePlan, rank: number, l: Leaves<number>): Record<string, string> {
  const values = rankEnvValues(svc, rank);
  const out: Record<string, string> = {};
  for (const k of Object.keys(values).sort()) {
    const v = resolveValue(values[k] ?? [], rank, l);
    if (k === '__proto__')
      Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    else out[k] = v;
  }
  return out;
}

export function resolveArgv(svc: ServicePlan, rank: number, l: Leaves<number>): string[] {
  return (svc.ranks[rank]?.command.argv ?? []).map((a) => resolveValue(a, rank, l));
}

export interface ResolvedFile {
  readonly name: string;
  readonly path: string;
  readonly content: string;
  readonly mode: number;
}

/** The plan's files with literal contents (rank 0 stands for `self`, which service files do not use). */
export function resolveFiles(files: readonly PlanFile[], l: Leaves<number>): ResolvedFile[] {
  return files.map((f) => ({
    name: f.name,
    path: f.path,
    mode: f.mode,
    content: resolveValue(f.content, 0, l),
  }));
}

/** Values built from text and parts, with adjacent strings merged (the canonical form). */
export function val(...parts: readonly (Part | Value)[]): Value {
  const out: Part[] = [];
  const push = (p: Part): void => {
    if (typeof p === 'string') {
      if (p === '') return;
      const last = out[out.length - 1];
      if (typeof last === 'string') out[out.length - 1] = last + p;
      else out.push(p);
    } else out.push(p);
  };
  for (const p of parts) {
    if (Array.isArray(p)) for (const q of p as Value) push(q);
    else push(p as Part);
  }
  return out;
}

/** A person's view of a symbolic value: parts in angle brackets (`<host 0>`, `<list hosts>`, `<iface>`). */
export const describeLeaves: Leaves<'self'> = {
  text: (s) => s,
  host: (r) => `<host ${r}>`,
  addr: (r) => `<addr ${r}>`,
  port: (name, r) => `<port ${name} of ${r}>`,
  rank: () => '<rank>',
  index: (_self, from) => `<rank - ${from}>`,
  gpus: () => '<gpus>',
  iface: () => '<iface>',
  file: (name) => `<file ${name}>`,
  list: (name) => `<list ${name}>`,
};
