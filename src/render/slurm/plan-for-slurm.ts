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
import { defaultPlanOptions, generateInventory, planSpec } from '../../plan/index.js';

/** Enough identical nodes for the largest service, each with the largest per-rank request. */
export function slurmInventory(spec: Spec): Inventory {
  const nodes = Math.max(1, ...spec.services.map((s) => s.nodes));
  const gpus = Math.max(0, ...spec.services.map((s) => s.resource.gpus));
  const cores = Math.max(1, ...spec.services.map((s) => s.resource.cpuCores));
  const memoryBytes = Math.max(1, ...spec.services.map((s) => s.resource.memoryBytes));
  const model = spec.services.find((s) => s.resource.gpuModel !== undefined)?.resource.gpuModel;
  // Services are planned one after another against one inventory: give each its own set of nodes.
  const total = spec.services.reduce((a, s) => a + s.nodes, 0);
  return generateInventory({
    name: 'slurm',
    nodes: Math.max(nodes, total),
    gpusPerNode: gpus,
    cores,
    memoryBytes,
    numaDomains: 1,
    ...(model !== undefined ? { gpuModel: model } : {}),
  });
}

export function planForSlurm(spec: Spec, partial: Partial<PlanOptions> = {}): PlanResult {
  return planSpec(spec, slurmInventory(spec), defaultPlanOptions({ ...partial, target: 'slurm' }));
}
