/**
 * Planning a spec for a target: the target's inventory (or the one given), the target's plan options, the
 * pure planner, and one error shape for "cannot plan" (located issues plus placement reasons as issues).
 *
 *   planFor(target, spec, { inventory?, seed?, runAsRoot? }): { plan, warnings }   throws plan errors
 */
import type { Inventory } from '../api/inventory.js';
import type { Issue } from '../api/issues.js';
import { EXIT, MultinodeError } from '../api/issues.js';
import type { InfeasibleReason, Plan, PlanOptions } from '../api/plan.js';
import type { Spec } from '../api/spec.js';
import { joinPath } from '../spec/paths.js';
import { expandReplicas } from '../plan/replicas.js';
import { planSpec } from '../plan/index.js';
import type { Target } from '../targets/target.js';

export const PLAN_ERRORS = {
  /** The spec cannot be planned for the target; the issues say why. Exit 2. */
  failed: 'plan.infeasible',
  /** Issue code: a service cannot be placed on the (given or generated) inventory. */
  infeasible: 'render.plan-infeasible',
} as const;

export interface PlanForOptions {
  /** Nodes to plan against instead of the target's own. */
  readonly inventory?: Inventory;
  readonly seed?: number;
  /** Overrides the target's choice (e.g. Slurm jobs submitted by root). */
  readonly runAsRoot?: boolean;
  /** Error code of the thrown MultinodeError (commands keep their documented codes). */
  readonly errorCode?: string;
}

export interface Planned {
  readonly plan: Plan;
  readonly warnings: readonly Issue[];
}

export function planOptionsFor<R>(target: Target<R>, opts: PlanForOptions): PlanOptions {
  const base = target.planOptions(opts.seed ?? 0);
  return opts.runAsRoot === undefined ? base : { ...base, runAsRoot: opts.runAsRoot };
}

export function planFor<R>(target: Target<R>, fileSpec: Spec, opts: PlanForOptions = {}): Planned {
  // Replicas: one gang per replica on every target (src/plan/replicas.ts); idempotent.
  const spec = expandReplicas(fileSpec);
  const inventory = opts.inventory ?? target.inventoryFor?.(spec);
  if (inventory === undefined)
    throw new MultinodeError('plan.no-inventory', `the ${target.name} target needs an inventory to plan`);
  const result = planSpec(spec, inventory, planOptionsFor(target, opts));
  if (result.ok) return { plan: result.plan, warnings: result.warnings };
  const reasons: Issue[] = result.reasons.map((r) => {
    const path = joinPath('services', r.service);
    const pos = spec.positions[path];
    return {
      code: PLAN_ERRORS.infeasible,
      severity: 'error',
      path,
      message: reasonLines(r).join('\n  '),
      ...(pos ? { pos } : {}),
      ...(opts.inventory === undefined && target.name !== 'local'
        ? { hint: 'without --inventory, nodes are generated from the spec with no fabric NICs' }
        : {}),
    };
  });
  const why = result.reasons.map((r) => `${r.service}: ${r.summary}`).join('; ');
  throw new MultinodeError(
    opts.errorCode ?? PLAN_ERRORS.failed,
    `cannot plan for ${target.name}${why ? `: ${why}` : ''}`,
    { issues: [...result.issues, ...reasons], exitCode: EXIT.badInput },
  );
}

/**
 * An infeasible service in lines a person reads: the summary, then the nodes that do not qualify which the
 * summary does not already name (it names the first few inline).
 */
export function reasonLines(r: InfeasibleReason): string[] {
  return [r.summary, ...r.nodes.filter((n) => !r.summary.includes(n))];
}
