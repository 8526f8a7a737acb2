/**
 * The Slurm target: Slurm picks the nodes, so the plan is made against nodes shaped like the request (N
 * identical nodes with exactly what one rank asks for) and the batch script resolves host names and
 * addresses from the allocation at run time. `render` writes the sbatch script; `up`, `ps` and `down`
 * submit, follow and cancel jobs (jobs.ts), composed by the application layer.
 */
import type { Inventory } from '../../api/inventory.js';
import type { PlanOptions } from '../../api/plan.js';
import type { Spec } from '../../api/spec.js';
import { defaultPlanOptions, generateInventoryForSpec } from '../../plan/index.js';
import type { RenderOutcome, Target } from '../target.js';
import { renderSlurm } from './index.js';
import type { SlurmRenderOptions } from './index.js';

/**
 * Enough identical nodes for every rank of every service (services are planned one after another against one
 * inventory, so each gets its own nodes), each with the largest per-rank request: one NUMA domain, no fabric
 * NICs, and memory exactly the largest request, a role's included (Slurm's nodes decide the rest).
 */
export function slurmInventory(spec: Spec): Inventory {
  return generateInventoryForSpec(spec, {
    name: 'slurm',
    numaDomains: 1,
    fabricNics: 0,
    memoryBytes: Math.max(
      1,
      ...spec.services.flatMap((s) => [
        s.resource.memoryBytes,
        ...(s.roles ?? []).map((r) => r.resource?.memoryBytes ?? 0),
      ]),
    ),
  });
}

export function slurmPlanOptions(seed: number): PlanOptions {
  return defaultPlanOptions({ target: 'slurm', seed });
}

export const slurmTarget: Target<SlurmRenderOptions> = {
  name: 'slurm',
  planOptions: slurmPlanOptions,
  inventoryFor: slurmInventory,
  render(plan, _spec, options): Promise<RenderOutcome> {
    return Promise.resolve({ ok: true, text: renderSlurm(plan, options), issues: [] });
  },
  verbs: ['up', 'ps', 'down'],
};
