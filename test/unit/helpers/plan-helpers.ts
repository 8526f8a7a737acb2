/** Small helpers for planner tests: plan or fail loudly, and inventory tweaks. */
import assert from 'node:assert/strict';
import type { Issue } from '../../../src/api/issues.js';
import type { Inventory, InventoryNode, TakenResources } from '../../../src/api/inventory.js';
import type {
  InfeasibleReason,
  Plan,
  PlanOptions,
  RankCommand,
  RankPlan,
  ServicePlan,
} from '../../../src/api/plan.js';
import type { Spec } from '../../../src/api/spec.js';
import type { ResolvedFile } from '../../../src/plan/index.js';
import {
  defaultPlanOptions,
  localLeaves,
  planSpec,
  resolveArgv,
  resolveFiles,
  resolveRankEnv,
} from '../../../src/plan/index.js';

export function mustPlan(spec: Spec, inventory: Inventory, options: Partial<PlanOptions> = {}): Plan {
  const r = planSpec(spec, inventory, defaultPlanOptions(options));
  if (!r.ok)
    assert.fail(`expected a plan, got ${JSON.stringify({ issues: r.issues, reasons: r.reasons }, null, 2)}`);
  return r.plan;
}

export function mustFail(
  spec: Spec,
  inventory: Inventory,
  options: Partial<PlanOptions> = {},
): { issues: readonly Issue[]; reasons: readonly InfeasibleReason[] } {
  const r = planSpec(spec, inventory, defaultPlanOptions(options));
  if (r.ok) assert.fail(`expected no plan, got one placing ${r.plan.services.map((s) => s.name).join(', ')}`);
  return { issues: r.issues, reasons: r.reasons };
}

export function svcOf(plan: Plan, name?: string): ServicePlan {
  const s = name === undefined ? plan.services[0] : plan.services.find((x) => x.name === name);
  assert.ok(s, `service ${name ?? '#0'} in plan`);
  return s;
}

/** Returns a copy of the inventory with node `name` changed. */
export function withNode(
  inv: Inventory,
  name: string,
  change: (n: InventoryNode) => InventoryNode,
): Inventory {
  let found = false;
  const nodes = inv.nodes.map((n) => {
    if (n.name !== name) return n;
    found = true;
    return change(n);
  });
  assert.ok(found, `node ${name} exists`);
  return { ...inv, nodes };
}

export function withTaken(inv: Inventory, name: string, taken: Partial<TakenResources>): Inventory {
  return withNode(inv, name, (n) => ({ ...n, taken: { ...n.taken, ...taken } }));
}

/** A rank with its values resolved for the local target (what the process sees). */
export type LiteralRank = Omit<RankPlan, 'command'> & {
  readonly env: Record<string, string>;
  readonly command: { readonly kind: RankCommand['kind']; readonly argv: string[] };
};
export type LiteralService = Omit<ServicePlan, 'ranks' | 'files'> & {
  readonly ranks: LiteralRank[];
  readonly files: ResolvedFile[];
};

/** The service with every rank's env, command and the files resolved as the local target resolves them. */
export function literal(svc: ServicePlan): LiteralService {
  const l = localLeaves(svc);
  return {
    ...svc,
    ranks: svc.ranks.map((r) => ({
      ...r,
      env: resolveRankEnv(svc, r.rank, l),
      command: { kind: r.command.kind, argv: resolveArgv(svc, r.rank, l) },
    })),
    files: resolveFiles(svc.files, l),
  };
}

export function litOf(plan: Plan, name?: string): LiteralService {
  return literal(svcOf(plan, name));
}
