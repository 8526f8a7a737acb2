/**
 * Planning a spec for the Slurm target. Slurm picks the nodes, so the plan is made against a generated
 * inventory shaped like the request (N identical nodes with exactly what one rank asks for); the planned
 * host names and addresses are placeholders the sbatch script replaces at run time (see index.ts). Pure.
 *
 *   slurmInventory(spec): Inventory
 *   planForSlurm(spec, partial?): PlanResult      planSpec with target 'slurm' and that inventory.
 */
import type { Inventory } from '../../api/inventory.js';
import type { PlanOptions, PlanResult } from '../../api/plan.js';
import type { Spec } from '../../api/spec.js';
import { defaultPlanOptions, generateInventoryForSpec, planSpec } from '../../plan/index.js';

/**
 * Enough identical nodes for every rank of every service (services are planned one after another against one
 * inventory, so each gets its own nodes), each with the largest per-rank request: one NUMA domain, no fabric
 * NICs, and memory exactly the largest request (Slurm's nodes decide the rest).
 */
export function slurmInventory(spec: Spec): Inventory {
  return generateInventoryForSpec(spec, {
    name: 'slurm',
    numaDomains: 1,
    fabricNics: 0,
    memoryBytes: Math.max(1, ...spec.services.map((s) => s.resource.memoryBytes)),
  });
}

export function planForSlurm(spec: Spec, partial: Partial<PlanOptions> = {}): PlanResult {
  return planSpec(spec, slurmInventory(spec), defaultPlanOptions({ ...partial, target: 'slurm' }));
}
