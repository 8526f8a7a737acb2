/**
 * Salvage for reporting: when a service fails the schema, prune the offending fields (and any list that
 * holds one) until the rest passes, so the semantic rules can still run on what is left and one run
 * reports as much as possible. Rule findings that depend on a pruned field are dropped, because they would
 * describe the pruning rather than the file. Pure; used only on the error path.
 */
import type { core } from 'zod';
import type { Issue } from '../api/issues.js';
import { CODES } from './codes.js';
import type { SpecCode } from './codes.js';
import { ServiceSchema } from './schema.js';
import type { RawService } from './schema.js';

/** Which service fields (first path segment) each rule reads besides the one it reports on. */
const RULE_DEPENDS_ON: Partial<Record<SpecCode, readonly string[]>> = {
  [CODES.unknownPortName]: ['ports', 'endpoints'],
  [CODES.endpointProtocol]: ['ports', 'endpoints'],
  [CODES.probePort]: ['ports', 'readiness-probe'],
  [CODES.probeAction]: ['readiness-probe'],
  [CODES.noCommand]: ['script', 'backend'],
  [CODES.hostPortNeedsHostNetwork]: ['network', 'ports'],
  [CODES.dataNotPersisted]: ['persist', 'mounts'],
  [CODES.fabricConflict]: ['network', 'resource'],
  [CODES.gpuModelWithoutGpu]: ['resource'],
  [CODES.backoffRange]: ['restart'],
  [CODES.hostNetwork]: ['network'],
};

export interface Salvaged {
  readonly raw: RawService;
  /** First path segments (service fields) that were pruned. */
  readonly pruned: ReadonlySet<string>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deletes the field at `path` (or the list containing it); returns the first segment pruned. */
function prune(root: Record<string, unknown>, path: readonly PropertyKey[]): string | undefined {
  const firstIndex = path.findIndex((s) => typeof s === 'number');
  const target = firstIndex >= 0 ? path.slice(0, firstIndex) : path;
  if (target.length === 0) return undefined;
  let node: unknown = root;
  for (const seg of target.slice(0, -1)) {
    if (!isRecord(node)) return undefined;
    node = node[String(seg)];
  }
  const last = String(target[target.length - 1]);
  if (!isRecord(node) || !(last in node)) return undefined;
  delete node[last];
  return String(target[0]);
}

function pruneIssue(root: Record<string, unknown>, issue: core.$ZodIssue): string | undefined {
  if (issue.code === 'unrecognized_keys') {
    let first: string | undefined;
    for (const key of issue.keys) first = prune(root, [...issue.path, key]) ?? first;
    return first;
  }
  // When the field is absent (a missing required field), drop the object that lacks it.
  return prune(root, issue.path) ?? prune(root, issue.path.slice(0, -1));
}

export function salvageService(value: unknown, maxRounds = 6): Salvaged | undefined {
  if (!isRecord(value)) return undefined;
  const copy = structuredClone(value);
  const pruned = new Set<string>();
  for (let round = 0; round < maxRounds; round++) {
    const r = ServiceSchema.safeParse(copy, { jitless: true });
    if (r.success) return { raw: r.data, pruned };
    let progress = false;
    for (const issue of r.error.issues) {
      const seg = pruneIssue(copy, issue);
      if (seg !== undefined) {
        pruned.add(seg);
        progress = true;
      }
    }
    if (!progress) return undefined;
  }
  return undefined;
}

/** Drops rule findings that read a pruned field. */
export function keepTrustworthy(
  issues: readonly Issue[],
  pruned: ReadonlySet<string>,
  servicePath: string,
): Issue[] {
  if (pruned.size === 0) return [...issues];
  return issues.filter((i) => {
    const deps = RULE_DEPENDS_ON[i.code as SpecCode];
    if (deps?.some((d) => pruned.has(d))) return false;
    // A finding about a pruned field itself would repeat (or contradict) the schema error.
    const rel = i.path.startsWith(`${servicePath}.`) ? i.path.slice(servicePath.length + 1) : '';
    const first = /^[A-Za-z0-9_-]+/.exec(rel)?.[0];
    return first === undefined || !pruned.has(first);
  });
}
