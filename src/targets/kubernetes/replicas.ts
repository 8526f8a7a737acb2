/**
 * Replicas on Kubernetes: a service with `replicas: K` is planned as K gangs `<service>-0 … <service>-(K-1)`
 * (src/plan/replicas.ts). When one pod template can mean what the K planned gangs mean, it renders as ONE
 * workload with `replicas: K` (a LeaderWorkerSet's groups, a Grove PodCliqueSet's replicas), so the controller
 * rolls updates across the gangs; otherwise as K workloads of their own (`<service>-<i>`, `replicas: 1`).
 *
 * One workload (docs/guides/replicas-and-updates.md, "Kubernetes"):
 * - every replica keeps its own ConfigMap `<service>-<i>-multinode` with exactly its planned files and
 *   scripts; the pod template projects all of them into one volume, replica `i` under directory `i/`, and
 *   mounts it at SHIM_DIR with `subPathExpr: $(MULTINODE_K8S_GROUP)`, the pod's group index read from its
 *   controller's label through the Downward API. A pod of group g thus sees replica g's files, and the
 *   per-replica entrypoint runs unchanged;
 * - the container command is a guard (pod-entrypoint.ts, `replicaGuardScript`): a group index ≥ K (the workload
 *   scaled by hand) has no planned files and fails with a message saying to re-render with `replicas:`;
 * - a variable whose literal differs between replicas (a host name, the service name) leaves the container's
 *   `env` for the replica's `rank-env.sh`, as does an argv that differs;
 * - per-rank Services `<service>-<i>-<rank>` select group i, rank r by labels, so every host name of the plan
 *   resolves to its own pod; `<service>-endpoints` spreads over rank 0 of every group, as before.
 *
 * K workloads instead, with the reason as the warning `k8s-replicas-split` (LWS and Grove only):
 * - JobSet (a batch service): `replicatedJobs[].replicas` replicates each Job on its own and the failure and
 *   success policies cover the whole JobSet, so one replica's failure would restart or end every replica —
 *   not K independent gangs (documented, no warning);
 * - Volcano gang scheduling: the PodGroup is named in the pod template, one per gang;
 * - a persisted `data` volume: its claim `<service>-<i>-data` is named in the pod template;
 * - any other difference between the replicas' templates (host-mode ports the planner picked per replica,
 *   `host-port: auto`), found by comparing the templates rendered for each replica.
 */
import type { ServicePlan } from '../../api/plan.js';
import { K8S_WELL_KNOWN as W } from '../../api/names.js';
import type { Orchestrator } from './options.js';

/** Grove pod label: the PodCliqueSet replica the pod belongs to (grove `LabelPodCliqueSetReplicaIndex`). */
export const GROVE_REPLICA_INDEX = 'grove.io/podcliqueset-replica-index';

/** Warning code: a replicated service renders as one workload per replica, and why. */
export const SPLIT_CODE = 'k8s-replicas-split';

/** The pod label carrying the group (replica) index under `orchestrator`. */
export function groupIndexLabel(orchestrator: Orchestrator): string {
  return orchestrator === 'grove' ? GROVE_REPLICA_INDEX : W.lwsGroupIndex;
}

/** One replica of a set rendered as one workload. */
export interface ReplicaSetContext {
  /** The replicated service's name (`web`): the workload's name. */
  readonly name: string;
  /** This replica's index (its group index in the workload). */
  readonly index: number;
  /** The replicas, in index order (`web-0`, `web-1`, …). */
  readonly members: readonly ServicePlan[];
  /** Variables the container's `env` may carry: static with the same literal in every replica. */
  readonly sharedStatic: ReadonlySet<string>;
  /** Templates (by name) whose argv differs between replicas: set by `rank-env.sh`. */
  readonly argvPerRank: ReadonlySet<string>;
}

/**
 * The plan's services grouped by replicated service, in plan order: a replica set (`of` set) holds its
 * replicas in index order; any other service is a group of one. `replicaOf` maps a plan service's name to the
 * replicated service it is a replica of.
 */
export function serviceGroups(
  services: readonly ServicePlan[],
  replicaOf: (name: string) => string | undefined,
): { readonly of?: string; readonly members: ServicePlan[] }[] {
  const out: { of?: string; members: ServicePlan[] }[] = [];
  const sets = new Map<string, ServicePlan[]>();
  for (const svc of services) {
    const of = replicaOf(svc.name);
    if (of === undefined) {
      out.push({ members: [svc] });
      continue;
    }
    const members = sets.get(of);
    if (members) {
      members.push(svc);
      continue;
    }
    const fresh = [svc];
    sets.set(of, fresh);
    out.push({ of, members: fresh });
  }
  for (const g of out) {
    const of = g.of;
    if (of === undefined) continue;
    const index = (s: ServicePlan): number => Number(s.name.slice(of.length + 1));
    g.members.sort((a, b) => index(a) - index(b));
  }
  return out;
}

/** The first JSON path where `a` and `b` differ, or undefined when they are equal. */
export function firstDifference(a: unknown, b: unknown, at = ''): string | undefined {
  if (a === b) return undefined;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return at === '' ? '.' : at;
  if (Array.isArray(a) !== Array.isArray(b)) return at;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(ra), ...Object.keys(rb)])].sort();
  for (const k of keys) {
    const d = firstDifference(ra[k], rb[k], Array.isArray(a) ? `${at}[${k}]` : `${at}.${k}`);
    if (d !== undefined) return d;
  }
  return undefined;
}
