/**
 * Replicas and rolling updates, pure. A service with `replicas: N` runs N independent gangs; on the local
 * target each gang is planned and supervised as a service of its own, named `<service>-<i>` (its ranks are
 * `<service>-<i>-<rank>`), and one endpoint spreads connections over the ready gangs' rank 0.
 *
 * Names: a replica keeps its index for its life; a new replica takes the lowest free index. So a rolling
 * update of `web-0, web-1` with a surge ends as `web-2, web-0` — every name stable while its gang lives.
 *
 * Rollout (`planRollout`): every old gang is replaced, one gang at a time.
 *   - surge (max-surge ≥ 1 and the cluster has room for one more gang): add a new gang, wait until it is
 *     ready, then drain and remove an old one — never fewer than N ready gangs;
 *   - unavailable (no room, max-unavailable ≥ 1): drain and remove an old gang first, then add its
 *     replacement — never fewer than N − 1;
 *   - neither: no plan, with the reason.
 * A changed count in the same `up` is applied around it: removals first (they free room), additions last.
 * Invariant: the steps keep at most N + 1 (surge) or at least N − 1 (unavailable) gangs, and the last state
 * holds exactly `desired` gangs, all new.
 */
import type { SourcePos } from '../api/issues.js';
import type { ServiceSpec, Spec, UpdateSpec } from '../api/spec.js';
import { contentHash } from '../lib/canonical.js';

export const DEFAULT_UPDATE: UpdateSpec = { maxSurge: 1, maxUnavailable: 1 };

/** How many gangs the service asks for (1 when the file does not say). */
export function replicaCount(svc: ServiceSpec): number {
  return svc.replicas ?? 1;
}

/** Whether the service runs as a replica set (it declares `replicas`, even 1): it can be scaled and rolled. */
export function isReplicated(svc: ServiceSpec): boolean {
  return svc.replicas !== undefined;
}

export function updateStrategy(svc: ServiceSpec): UpdateSpec {
  return svc.update ?? DEFAULT_UPDATE;
}

export function replicaName(service: string, index: number): string {
  return `${service}-${index}`;
}

/** The index of a replica name of `service`, or undefined. */
export function replicaIndex(service: string, name: string): number | undefined {
  if (!name.startsWith(`${service}-`)) return undefined;
  const rest = name.slice(service.length + 1);
  return /^(0|[1-9]\d{0,5})$/.test(rest) ? Number(rest) : undefined;
}

/** One replica as a service of its own: no count; the update strategy kept (Kubernetes renders it). */
export function replicaService(svc: ServiceSpec, index: number): ServiceSpec {
  const { replicas: _r, ...rest } = svc;
  return { ...rest, name: replicaName(svc.name, index), replicaOf: svc.name };
}

/**
 * The spec with every replicated service replaced by its replicas `<service>-0 … <service>-(N-1)`; each
 * replica's fields are located where the service's are written. A spec without replicas comes back as is.
 */
export function expandReplicas(spec: Spec): Spec {
  if (!spec.services.some(isReplicated)) return spec;
  const positions: Record<string, SourcePos> = { ...spec.positions };
  const services = spec.services.flatMap((s) => {
    if (!isReplicated(s)) return [s];
    const prefix = `services.${s.name}`;
    const own = Object.entries(spec.positions).filter(
      ([k]) => k === prefix || k.startsWith(`${prefix}.`) || k.startsWith(`${prefix}[`),
    );
    return Array.from({ length: replicaCount(s) }, (_, i) => {
      const r = replicaService(s, i);
      for (const [k, v] of own) positions[`services.${r.name}${k.slice(prefix.length)}`] = v;
      return r;
    });
  });
  return { ...spec, services, positions };
}

/**
 * What makes two versions of a service different gangs: everything but the replica count and the update
 * strategy (changing those is a scale, or nothing).
 */
export function serviceContentHash(svc: ServiceSpec): string {
  const { replicas: _r, update: _u, replicaOf: _o, ...rest } = svc;
  return contentHash(rest);
}

/** The lowest index not in `taken`. */
export function lowestFreeIndex(taken: Iterable<number>): number {
  const t = new Set(taken);
  let i = 0;
  while (t.has(i)) i++;
  return i;
}

export interface ReplicaRef {
  readonly name: string;
  readonly index: number;
}

/** `add`: start a gang, wait until it is ready, put it into the endpoint. `remove`: drain it, then stop it. */
export type ReplicaStep =
  | { readonly kind: 'add'; readonly name: string; readonly index: number }
  | { readonly kind: 'remove'; readonly name: string; readonly index: number };

export interface RolloutInput {
  readonly service: string;
  /** Running gangs of the old version, all to be replaced. */
  readonly current: readonly ReplicaRef[];
  readonly desired: number;
  readonly update: UpdateSpec;
  /** Gangs the cluster can hold beyond the running ones now (what the planner found room for). */
  readonly room: number;
}

export type RolloutPlan =
  | { readonly ok: true; readonly mode: 'surge' | 'unavailable'; readonly steps: readonly ReplicaStep[] }
  | { readonly ok: false; readonly reason: string };

export function planRollout(input: RolloutInput): RolloutPlan {
  const { service, desired, update, room } = input;
  const mode: 'surge' | 'unavailable' | undefined =
    update.maxSurge >= 1 && room >= 1 ? 'surge' : update.maxUnavailable >= 1 ? 'unavailable' : undefined;
  if (mode === undefined)
    return {
      ok: false,
      reason:
        update.maxSurge >= 1
          ? `the cluster has no room for one more gang of ${service} (max-surge ${update.maxSurge}) and max-unavailable is 0; free capacity or allow max-unavailable: 1`
          : `max-surge and max-unavailable are both 0`,
    };
  const taken = new Set(input.current.map((r) => r.index));
  const steps: ReplicaStep[] = [];
  const old = [...input.current].sort((a, b) => a.index - b.index);
  // Fewer wanted: remove the highest old ones first (frees room, and they would be replaced for nothing).
  while (old.length > desired) {
    const r = old.pop() as ReplicaRef;
    taken.delete(r.index);
    steps.push({ kind: 'remove', name: r.name, index: r.index });
  }
  const add = () => {
    const index = lowestFreeIndex(taken);
    taken.add(index);
    steps.push({ kind: 'add', name: replicaName(service, index), index });
  };
  for (const r of old) {
    const remove = () => {
      taken.delete(r.index);
      steps.push({ kind: 'remove', name: r.name, index: r.index });
    };
    if (mode === 'surge') {
      add();
      remove();
    } else {
      remove();
      add();
    }
  }
  for (let n = old.length; n < desired; n++) add();
  return { ok: true, mode, steps };
}

/** `scale`: add gangs at the lowest free indices, or remove the highest ones (drained first). */
export function planScale(
  service: string,
  current: readonly ReplicaRef[],
  desired: number,
): readonly ReplicaStep[] {
  const steps: ReplicaStep[] = [];
  const taken = new Set(current.map((r) => r.index));
  const sorted = [...current].sort((a, b) => a.index - b.index);
  for (let i = sorted.length - 1; i >= desired; i--) {
    const r = sorted[i] as ReplicaRef;
    steps.push({ kind: 'remove', name: r.name, index: r.index });
  }
  for (let n = sorted.length; n < desired; n++) {
    const index = lowestFreeIndex(taken);
    taken.add(index);
    steps.push({ kind: 'add', name: replicaName(service, index), index });
  }
  return steps;
}
