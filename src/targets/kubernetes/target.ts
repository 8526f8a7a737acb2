/**
 * The Kubernetes target: plans against nodes shaped like the request (the cluster's scheduler picks the real
 * ones), ranks find their files under `/etc/multinode` and run as the container's user (root by default),
 * and `render` builds the manifests. No lifecycle verbs: the output is applied with `kubectl apply -f -`.
 */
import type { Inventory } from '../../api/inventory.js';
import type { PlanOptions } from '../../api/plan.js';
import type { Spec } from '../../api/spec.js';
import { defaultPlanOptions, generateInventoryForSpec } from '../../plan/index.js';
import type { RenderOutcome, Target } from '../target.js';
import { buildKubernetes, canonicalJsonList } from './index.js';
import type { KubernetesRenderOptions } from './options.js';
import { K8S_FILES_DIR, K8S_SSH_WRAPPER } from './options.js';

export interface KubernetesTargetRenderOptions extends KubernetesRenderOptions {
  readonly output?: 'yaml' | 'json';
}

/**
 * An inventory big enough for the spec: one node per rank, the largest per-node request, one NUMA domain
 * and no fabric NICs (the cluster's own nodes decide those).
 */
export function kubernetesInventory(spec: Spec): Inventory {
  return generateInventoryForSpec(spec, { name: 'generated-for-render', numaDomains: 1, fabricNics: 0 });
}

export function kubernetesPlanOptions(seed: number): PlanOptions {
  return defaultPlanOptions({
    target: 'kubernetes',
    seed,
    filesDir: K8S_FILES_DIR,
    sshWrapperPath: K8S_SSH_WRAPPER,
    runAsRoot: true,
  });
}

export const kubernetesTarget: Target<KubernetesTargetRenderOptions> = {
  name: 'kubernetes',
  planOptions: kubernetesPlanOptions,
  inventoryFor: kubernetesInventory,
  render(plan, spec, options): Promise<RenderOutcome> {
    const { output, ...rest } = options;
    const r = buildKubernetes(plan, { ...rest, spec });
    if (!r.ok) return Promise.resolve({ ok: false, text: '', issues: r.issues });
    const text = output === 'json' ? canonicalJsonList(r.value.objects) : r.value.yaml;
    return Promise.resolve({ ok: true, text, issues: r.value.warnings, objects: r.value.objects });
  },
  verbs: [],
};
