/** Small helpers for planner tests: plan or fail loudly, and inventory tweaks. */
import assert from 'node:assert/strict';
import type { Issue } from '../../../src/api/issues.js';
import type { Inventory, InventoryNode, TakenResources } from '../../../src/api/inventory.js';
import type { InfeasibleReason, Plan, PlanOptions, ServicePlan } from '../../../src/api/plan.js';
import type { Spec } from '../../../src/api/spec.js';
import { defaultPlanOptions, planSpec } from '../../../src/plan/index.js';

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
