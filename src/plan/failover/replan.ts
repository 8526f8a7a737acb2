/**
 * Re-planning a service on failover: the same spec, seed and options against the live inventory without the
 * service's own holdings, with the ports the restarted ranks released cooling down (`PlanOptions.coolingPorts`).
 * Placement, subnet and VXLAN id come out the same; the restarted ranks' `host-port: auto` and `TF_CONFIG`
 * ports move; every rank's env, the hostfile and `cluster.json` (version bumped) carry the new values.
 * Pure: the caller reads the inventory and writes the files.
 */
import type { Inventory } from '../../api/inventory.js';
import type { PlanFile, PlanOptions, RankPlan, ServicePlan } from '../../api/plan.js';
import type { Spec } from '../../api/spec.js';
import { PLAN_FILES } from '../../api/names.js';
import { planSpec } from '../index.js';

/** Host ports a rank gives back when it restarts (host mode): its auto-picked ports and its TF_CONFIG port. */
export function releasedPorts(plan: ServicePlan, rank: RankPlan): number[] {
  if (plan.network.mode !== 'host') return [];
  const out = rank.ports.filter((p) => p.auto).map((p) => p.hostPort);
  if (
    rank.tfPort !== undefined &&
    !out.includes(rank.tfPort) &&
    !rank.ports.some((p) => p.hostPort === rank.tfPort)
  )
    out.push(rank.tfPort);
  return out;
}

/** Whether a service has anything that moves on failover. */
export function hasMovablePorts(plan: ServicePlan): boolean {
  return plan.network.mode === 'host' && plan.ranks.some((r) => releasedPorts(plan, r).length > 0);
}

export type ReplanResult =
  | { readonly ok: true; readonly plan: ServicePlan; readonly moved: string[] }
  | { readonly ok: false; readonly reason: string };

function portsOf(r: RankPlan): string {
  return JSON.stringify([r.node, r.address, r.ports.map((p) => [p.name, p.hostPort]), r.sshPort, r.tfPort]);
}

/**
 * Re-plans `old` (same name) from `spec`. Ranks in `keep` are still running: their ports must come out the
 * same, else the result says so (the caller then recreates the whole group instead).
 */
export function replanService(
  spec: Spec,
  old: ServicePlan,
  inventory: Inventory,
  options: PlanOptions,
  cooling: Readonly<Record<string, readonly number[]>>,
  keep: readonly number[],
): ReplanResult {
  const svc = spec.services.find((s) => s.name === old.name);
  if (!svc) return { ok: false, reason: `service ${old.name} is not in its spec any more` };
  const r = planSpec({ ...spec, services: [svc] }, inventory, { ...options, coolingPorts: cooling });
  if (!r.ok)
    return {
      ok: false,
      reason:
        [...r.issues.map((i) => i.message), ...r.reasons.map((x) => x.summary)].join('; ') || 'infeasible',
    };
  const plan = r.plan.services[0];
  if (!plan) return { ok: false, reason: 'the re-plan has no service' };
  if (plan.ranks.length !== old.ranks.length)
    return { ok: false, reason: 'the re-plan has a different number of ranks' };
  const moved: string[] = [];
  for (const nr of plan.ranks) {
    const or = old.ranks[nr.rank];
    if (!or || or.node !== nr.node)
      return { ok: false, reason: `rank ${nr.rank} would move to another node` };
    if (keep.includes(nr.rank) && portsOf(or) !== portsOf(nr))
      return { ok: false, reason: `rank ${nr.rank} is running and its ports would change` };
    for (const p of nr.ports) {
      const op = or.ports.find((x) => x.name === p.name);
      if (op && op.hostPort !== p.hostPort) moved.push(`${nr.rank}/${p.name} ${op.hostPort}→${p.hostPort}`);
    }
    if (or.tfPort !== nr.tfPort) moved.push(`${nr.rank}/tf ${or.tfPort ?? '-'}→${nr.tfPort ?? '-'}`);
  }
  return { ok: true, plan, moved };
}

/** The plan's files with `cluster.json`'s version set to `version` (the planner writes it last, as 1). */
export function versionedFiles(files: readonly PlanFile[], version: number): PlanFile[] {
  const tail = '"version":1}\n';
  return files.map((f) => {
    const last = f.content[f.content.length - 1];
    if (f.name !== PLAN_FILES.clusterFile || typeof last !== 'string' || !last.endsWith(tail)) return f;
    return {
      ...f,
      content: [...f.content.slice(0, -1), `${last.slice(0, -tail.length)}"version":${version}}\n`],
    };
  });
}
