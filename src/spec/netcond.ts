/**
 * Network conditions as the user writes them: rates (tc's units: `10gbit`, `500mbit`, `100kbit`, `1mbps` =
 * megabytes per second, plain numbers = bit/s), loss (`5%`, `0.5`), durations (`500ms`, `10s`, `1m30s`),
 * link profiles (the `links:` section of an inventory or a `cluster create --links` file) and fault
 * schedules (`multinode net schedule`). Pure: text in, values or located issues out.
 */
import * as z from 'zod';
import type { LinkProfile, LinkShape } from '../api/inventory.js';
import type { Issue, Result, SourcePos } from '../api/issues.js';
import { locate } from './locate.js';
import { notAMapping, parseYamlWithPositions } from './yaml-source.js';
import { zodIssuesToIssues } from './zod-issues.js';

export const NETCOND_CODES = {
  rate: 'net-rate',
  loss: 'net-loss',
  duration: 'net-duration',
  node: 'net-node',
  rail: 'net-rail',
  fault: 'net-fault',
} as const;

const RATE_UNITS: Readonly<Record<string, number>> = {
  bit: 1,
  kbit: 1e3,
  mbit: 1e6,
  gbit: 1e9,
  tbit: 1e12,
  kibit: 1024,
  mibit: 1024 ** 2,
  gibit: 1024 ** 3,
  tibit: 1024 ** 4,
  bps: 8,
  kbps: 8e3,
  mbps: 8e6,
  gbps: 8e9,
  tbps: 8e12,
  kibps: 8 * 1024,
  mibps: 8 * 1024 ** 2,
  gibps: 8 * 1024 ** 3,
  tibps: 8 * 1024 ** 4,
};

/** Smallest and largest rate we shape to (htb's 64-bit rates go far beyond; 1 kbit/s is a useful floor). */
export const MIN_RATE = 1000;
export const MAX_RATE = 4e12;

export const RATE_HELP =
  'a number with a tc unit: bit, kbit, mbit, gbit, tbit (bits per second, powers of 1000; kibit… powers of 1024) or bps, kbps, mbps, gbps (bytes per second), e.g. 10gbit, 500mbit';

/** `10gbit` → 1e10 (bit/s); undefined when malformed or outside MIN_RATE…MAX_RATE. */
export function parseRate(text: string | number): number | undefined {
  if (typeof text === 'number')
    return Number.isFinite(text) && text >= MIN_RATE && text <= MAX_RATE ? text : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) return undefined;
  const unit = (m[2] ?? '').toLowerCase();
  const factor = unit === '' ? 1 : RATE_UNITS[unit];
  if (factor === undefined) return undefined;
  const v = Math.round(Number(m[1]) * factor);
  return v >= MIN_RATE && v <= MAX_RATE ? v : undefined;
}

/** 1e10 → `10gbit`, 1.5e9 → `1500mbit` (the largest unit that keeps a whole number, as tc prints). */
export function formatRate(bits: number): string {
  for (const [unit, f] of [
    ['tbit', 1e12],
    ['gbit', 1e9],
    ['mbit', 1e6],
    ['kbit', 1e3],
  ] as const)
    if (bits >= f && Number.isInteger(bits / f)) return `${bits / f}${unit}`;
  return `${bits}bit`;
}

/** `5%`, `5`, `0.25%` → percent 0…100 with at most two decimals; undefined when malformed or out of range. */
export function parsePercent(text: string | number): number | undefined {
  const s = typeof text === 'number' ? String(text) : text;
  const m = /^\s*(\d+(?:\.\d{1,2})?)\s*%?\s*$/.exec(s);
  if (!m) return undefined;
  const v = Number(m[1]);
  return v >= 0 && v <= 100 ? v : undefined;
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `1m30s`, `500ms`, `10s`, `2h` (Go/Chaos Mesh style; a bare number is seconds) → milliseconds. */
export function parseDuration(text: string | number): number | undefined {
  if (typeof text === 'number')
    return Number.isFinite(text) && text >= 0 ? Math.round(text * 1000) : undefined;
  const s = text.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  if (s === '' || !/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g))
    total += Number(m[1]) * (DURATION_UNITS[m[2] ?? ''] ?? 0);
  return Math.round(total);
}

/** 90_000 → `1m30s`, 1500 → `1.5s`, 250 → `250ms`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(3))}s`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Number(((ms % 60_000) / 1000).toFixed(3));
  return `${h > 0 ? `${h}h` : ''}${m > 0 ? `${m}m` : ''}${s > 0 ? `${s}s` : ''}`;
}

const num = z.union([z.string(), z.number()]);
const ShapeSchema = z.strictObject({ rate: num.optional(), loss: num.optional(), delay: num.optional() });

/** The `links:` section (inventory or `cluster create --links` file). */
export const LinksSchema = z.strictObject({
  underlay: ShapeSchema.optional(),
  fabric: ShapeSchema.optional(),
  'between-blocks': ShapeSchema.optional(),
});

type RawShape = z.infer<typeof ShapeSchema>;
type Err = (code: string, path: string, message: string, hint?: string) => void;

/** Checks one shape (`{rate, loss, delay}`) at `base`; reports through `err`. */
export function buildShape(raw: RawShape, base: string, err: Err): LinkShape {
  const out: { rate?: number; loss?: number; delayMs?: number } = {};
  if (raw.rate !== undefined) {
    const r = parseRate(raw.rate);
    if (r === undefined)
      err(NETCOND_CODES.rate, `${base}.rate`, `rate ${JSON.stringify(raw.rate)} is not a rate`, RATE_HELP);
    else out.rate = r;
  }
  if (raw.loss !== undefined) {
    const l = parsePercent(raw.loss);
    if (l === undefined)
      err(
        NETCOND_CODES.loss,
        `${base}.loss`,
        `loss ${JSON.stringify(raw.loss)} is not a percentage 0–100`,
        'e.g. 5% or 0.5%',
      );
    else out.loss = l;
  }
  if (raw.delay !== undefined) {
    const d = parseDuration(raw.delay);
    if (d === undefined)
      err(
        NETCOND_CODES.duration,
        `${base}.delay`,
        `delay ${JSON.stringify(raw.delay)} is not a duration`,
        'e.g. 5ms or 1s',
      );
    else out.delayMs = d;
  }
  if (raw.rate === undefined && raw.loss === undefined && raw.delay === undefined)
    err(NETCOND_CODES.rate, base, 'a link shape needs at least one of rate, loss, delay');
  return out;
}

/** `links:` → LinkProfile (kebab keys to the API's). */
export function buildLinks(raw: z.infer<typeof LinksSchema>, base: string, err: Err): LinkProfile {
  const out: { underlay?: LinkShape; fabric?: LinkShape; betweenBlocks?: LinkShape } = {};
  if (raw.underlay) out.underlay = buildShape(raw.underlay, `${base}.underlay`, err);
  if (raw.fabric) out.fabric = buildShape(raw.fabric, `${base}.fabric`, err);
  if (raw['between-blocks'])
    out.betweenBlocks = buildShape(raw['between-blocks'], `${base}["between-blocks"]`, err);
  return out;
}

interface Located<T> {
  readonly data: unknown;
  readonly positions: Readonly<Record<string, SourcePos>>;
  readonly issues: Issue[];
  readonly parsed?: T;
}

function readDoc<S extends z.ZodType>(
  schema: S,
  text: string,
  file: string,
  what: string,
): Located<z.infer<S>> {
  const src = parseYamlWithPositions(text, file);
  const issues: Issue[] = [...src.issues];
  if (issues.some((i) => i.severity === 'error'))
    return { data: undefined, positions: src.positions, issues };
  const shape = notAMapping(src, file, what);
  if (shape) return { data: src.data, positions: src.positions, issues: [...issues, shape] };
  const parsed = schema.safeParse(src.data, { reportInput: true, jitless: true });
  if (!parsed.success) {
    issues.push(
      ...zodIssuesToIssues(schema, parsed.error.issues, {
        file,
        positions: src.positions,
        keyPositions: src.keyPositions,
      }),
    );
    return { data: src.data, positions: src.positions, issues };
  }
  return { data: src.data, positions: src.positions, issues, parsed: parsed.data };
}

function sortIssues(issues: Issue[]): Issue[] {
  return issues.sort(
    (a, b) => (a.pos?.line ?? 0) - (b.pos?.line ?? 0) || (a.pos?.col ?? 0) - (b.pos?.col ?? 0),
  );
}

const LinksFileSchema = z.strictObject({ links: LinksSchema });

/** A `cluster create --links FILE` file: a mapping with one key, `links` (the inventory's section). */
export function parseLinksFile(text: string, file: string): Result<LinkProfile> {
  const doc = readDoc(
    LinksFileSchema,
    text,
    file,
    'a links file is a mapping with one key, `links` (underlay, fabric, between-blocks)',
  );
  if (!doc.parsed) return { ok: false, issues: sortIssues(doc.issues) };
  const issues = doc.issues;
  const err: Err = (code, path, message, hint) =>
    issues.push({
      code,
      severity: 'error',
      path,
      pos: locate(doc.positions, path, file),
      message,
      ...(hint ? { hint } : {}),
    });
  const links = buildLinks(doc.parsed.links, 'links', err);
  if (issues.some((i) => i.severity === 'error')) return { ok: false, issues: sortIssues(issues) };
  return { ok: true, value: links, warnings: issues };
}

// ---------------------------------------------------------------------------------------------------------
// Fault schedules

export const FAULT_ACTIONS = ['partition', 'bandwidth', 'loss', 'delay', 'heal'] as const;
export type FaultAction = (typeof FAULT_ACTIONS)[number];
export type Direction = 'to' | 'from' | 'both';

const nodeList = z.union([z.string(), z.array(z.string())]);
const FaultSchema = z.strictObject({
  at: num,
  action: z.enum(FAULT_ACTIONS),
  duration: num.optional(),
  node: nodeList.optional(),
  link: z.array(z.string()).optional(),
  rail: z.number().int().nonnegative().optional(),
  direction: z.enum(['to', 'from', 'both']).optional(),
  rate: num.optional(),
  loss: num.optional(),
  delay: num.optional(),
  groups: z.array(z.array(z.string())).optional(),
});
export const ScheduleSchema = z.strictObject({ faults: z.array(FaultSchema) });

/** Where a condition applies; every field optional (no node, link = every node; no rail = the underlay). */
export interface ConditionTarget {
  readonly nodes?: readonly string[];
  readonly link?: readonly [string, string];
  readonly rail?: number;
}

export interface FaultStep {
  /** Index in the file (`faults[i]`). */
  readonly index: number;
  readonly atMs: number;
  readonly durationMs?: number;
  readonly action: FaultAction;
  readonly target: ConditionTarget;
  readonly direction?: Direction;
  readonly shape: LinkShape;
  /** partition: the groups cut apart (one group: cut from every other node). */
  readonly groups?: readonly (readonly string[])[];
  readonly pos: SourcePos;
}

export interface ScheduleContext {
  /** Node names of the cluster: every name must be one of them. */
  readonly nodes?: readonly string[];
  /** Fabric rails of the cluster (`rail` must be below). */
  readonly rails?: number;
}

/** A fault schedule file. Steps come back sorted by `at` (file order among equal times). */
export function parseSchedule(text: string, file: string, ctx: ScheduleContext = {}): Result<FaultStep[]> {
  const doc = readDoc(
    ScheduleSchema,
    text,
    file,
    'a schedule is a mapping with `faults`: a list of {at, action, …}',
  );
  if (!doc.parsed) return { ok: false, issues: sortIssues(doc.issues) };
  const issues = doc.issues;
  const at = (path: string): SourcePos => locate(doc.positions, path, file);
  const err: Err = (code, path, message, hint) =>
    issues.push({ code, severity: 'error', path, pos: at(path), message, ...(hint ? { hint } : {}) });
  const known = ctx.nodes ? new Set(ctx.nodes) : undefined;
  const checkNodes = (names: readonly string[], path: string): void => {
    if (!known) return;
    for (const n of names)
      if (!known.has(n))
        err(
          NETCOND_CODES.node,
          path,
          `node ${n} is not in the cluster`,
          `nodes: ${[...known].slice(0, 8).join(', ')}${known.size > 8 ? ', …' : ''}`,
        );
  };
  const steps: FaultStep[] = [];
  if (doc.parsed.faults.length === 0) err(NETCOND_CODES.fault, 'faults', 'the schedule lists no faults');
  doc.parsed.faults.forEach((f, i) => {
    const base = `faults[${i}]`;
    const atMs = parseDuration(f.at);
    if (atMs === undefined)
      err(
        NETCOND_CODES.duration,
        `${base}.at`,
        `at ${JSON.stringify(f.at)} is not a duration`,
        'e.g. 0s, 10s, 1m30s',
      );
    let durationMs: number | undefined;
    if (f.duration !== undefined) {
      durationMs = parseDuration(f.duration);
      if (durationMs === undefined || durationMs === 0)
        err(
          NETCOND_CODES.duration,
          `${base}.duration`,
          `duration ${JSON.stringify(f.duration)} is not a positive duration`,
          'e.g. 30s',
        );
    }
    const nodes =
      f.node === undefined
        ? undefined
        : typeof f.node === 'string'
          ? f.node.split(',').map((s) => s.trim())
          : f.node;
    if (nodes) checkNodes(nodes, `${base}.node`);
    if (f.link !== undefined) {
      if (f.link.length !== 2 || f.link[0] === f.link[1])
        err(NETCOND_CODES.node, `${base}.link`, 'a link names two different nodes, e.g. [node-1, node-2]');
      checkNodes(f.link, `${base}.link`);
      if (nodes) err(NETCOND_CODES.fault, `${base}.link`, 'give `node` or `link`, not both');
    }
    if (f.rail !== undefined && ctx.rails !== undefined && f.rail >= ctx.rails)
      err(
        NETCOND_CODES.rail,
        `${base}.rail`,
        `rail ${f.rail} does not exist: the cluster has ${ctx.rails} fabric rail(s)`,
      );
    const raw: RawShape = {
      ...(f.rate !== undefined ? { rate: f.rate } : {}),
      ...(f.loss !== undefined ? { loss: f.loss } : {}),
      ...(f.delay !== undefined ? { delay: f.delay } : {}),
    };
    const shape = Object.keys(raw).length > 0 ? buildShape(raw, base, err) : {};
    const need = (field: 'rate' | 'loss' | 'delay' | 'groups'): void => {
      if (f[field] === undefined) err(NETCOND_CODES.fault, base, `action ${f.action} needs \`${field}\``);
    };
    const only = (allowed: readonly string[]): void => {
      for (const k of [
        'rate',
        'loss',
        'delay',
        'groups',
        'node',
        'link',
        'rail',
        'direction',
        'duration',
      ] as const)
        if (f[k] !== undefined && !allowed.includes(k))
          err(
            NETCOND_CODES.fault,
            `${base}.${k}`,
            `action ${f.action} takes no \`${k}\``,
            `it takes: at, action${allowed.length ? `, ${allowed.join(', ')}` : ''}`,
          );
    };
    const target = ['node', 'link', 'rail', 'direction', 'duration'];
    const field = { bandwidth: 'rate', loss: 'loss', delay: 'delay' } as const;
    if (f.action === 'bandwidth' || f.action === 'loss' || f.action === 'delay') {
      need(field[f.action]);
      only([field[f.action], ...target]);
    } else if (f.action === 'partition') {
      need('groups');
      only(['groups', 'duration']);
      const groups = f.groups ?? [];
      if (groups.length < 1 || groups.length > 2 || groups.some((g) => g.length === 0))
        err(
          NETCOND_CODES.fault,
          `${base}.groups`,
          'a partition has one group (cut from every other node) or two non-empty groups',
        );
      const seen = new Set<string>();
      groups.forEach((g, j) => {
        checkNodes(g, `${base}.groups[${j}]`);
        for (const n of g) {
          if (seen.has(n)) err(NETCOND_CODES.node, `${base}.groups[${j}]`, `node ${n} is in both groups`);
          seen.add(n);
        }
      });
    } else only([]);
    steps.push({
      index: i,
      atMs: atMs ?? 0,
      ...(durationMs !== undefined ? { durationMs } : {}),
      action: f.action,
      target: {
        ...(nodes ? { nodes } : {}),
        ...(f.link?.length === 2 ? { link: [f.link[0] ?? '', f.link[1] ?? ''] as const } : {}),
        ...(f.rail !== undefined ? { rail: f.rail } : {}),
      },
      ...(f.direction ? { direction: f.direction } : {}),
      shape,
      ...(f.groups ? { groups: f.groups } : {}),
      pos: at(base),
    });
  });
  if (issues.some((i) => i.severity === 'error')) return { ok: false, issues: sortIssues(issues) };
  return { ok: true, value: steps.sort((a, b) => a.atMs - b.atMs || a.index - b.index), warnings: issues };
}
