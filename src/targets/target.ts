/**
 * The Target contract: what differs between running a spec on the local emulated cluster, on Slurm and on
 * Kubernetes. The pure core (`spec → plan`) is the same for all; a target contributes
 *
 * - `inventoryFor(spec)`: the nodes to plan against. The local target reads its live cluster (an async port
 *   of its own, see targets/local/target.ts); Slurm and Kubernetes pick real nodes themselves, so they plan
 *   against nodes shaped like the request and never print what the planner invented for them (host names
 *   and addresses stay symbolic until the job runs).
 * - `planOptions(seed)`: where a rank finds its files and the SSH wrapper, and whether ranks run as root.
 * - `render`: the target's own artefacts (manifests, a batch script), for targets that have them.
 * - `verbs`: the lifecycle verbs the target implements (`up`, `ps`, `logs`, `down`, `exec`).
 *
 * The application layer (src/app) composes these; no target imports another.
 */
import type { Inventory } from '../api/inventory.js';
import type { Issue } from '../api/issues.js';
import type { Plan, PlanOptions, Target as TargetName } from '../api/plan.js';
import type { Spec } from '../api/spec.js';

export type { TargetName };

export type LifecycleVerb = 'up' | 'ps' | 'logs' | 'down' | 'exec';

/** A rendered artefact and the located warnings about what the target could not express. */
export interface RenderOutcome {
  readonly ok: boolean;
  /** The text to print (a YAML stream, JSON, or a batch script). Empty when not ok. */
  readonly text: string;
  readonly issues: readonly Issue[];
  /** Machine-readable objects where the target has them (Kubernetes manifests), for `--check`. */
  readonly objects?: readonly unknown[];
}

export interface Target<RenderOptions = undefined> {
  readonly name: TargetName;
  /** Plan options for this target with the given seed. */
  planOptions(seed: number): PlanOptions;
  /** Nodes shaped like the request, for targets whose scheduler picks the real nodes. */
  inventoryFor?(spec: Spec): Inventory;
  /** The target's artefacts for a plan. */
  render?(plan: Plan, spec: Spec, options: RenderOptions): Promise<RenderOutcome>;
  readonly verbs: readonly LifecycleVerb[];
}
