/**
 * The local target's resolution of the symbolic plan: every value gets the plan's own placement (host names,
 * overlay or node addresses, bound ports, the service subnet). In degraded (non-root) mode a rank's host name
 * is its loopback address, since nothing there can resolve names. One resolver per plan object, so lists are
 * joined once however many ranks are spawned.
 */
import type { RankPlan, ServicePlan } from '../../api/plan.js';
import type { Leaves, ResolvedFile } from '../../plan/index.js';
import { localLeaves, resolveArgv, resolveFiles, resolveRankEnv } from '../../plan/index.js';

const cache = new WeakMap<ServicePlan, { readonly degraded: boolean; readonly leaves: Leaves<number> }>();

export function leavesFor(plan: ServicePlan, degraded = false): Leaves<number> {
  const hit = cache.get(plan);
  if (hit && hit.degraded === degraded) return hit.leaves;
  const leaves = localLeaves(plan, { hostAsAddress: degraded });
  cache.set(plan, { degraded, leaves });
  return leaves;
}

/** Every variable the planned rank sees, literal. */
export function plannedEnv(plan: ServicePlan, rank: RankPlan, degraded = false): Record<string, string> {
  return resolveRankEnv(plan, rank.rank, leavesFor(plan, degraded));
}

/** The rank's planned command, literal (empty for a rank that waits). */
export function plannedArgv(plan: ServicePlan, rank: RankPlan, degraded = false): string[] {
  return resolveArgv(plan, rank.rank, leavesFor(plan, degraded));
}

export function plannedFiles(plan: ServicePlan, degraded = false): ResolvedFile[] {
  return resolveFiles(plan.files, leavesFor(plan, degraded));
}
