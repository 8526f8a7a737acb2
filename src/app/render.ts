/**
 * `render`: parse → plan for the target → the target's artefact. Every problem (spec, plan, render, and with
 * `check` the schema validation) is collected, located, before anything is returned.
 */
import type { Issue } from '../api/issues.js';
import { EXIT, MultinodeError } from '../api/issues.js';
import type { KubernetesTargetRenderOptions } from '../targets/kubernetes/target.js';
import type { SlurmRenderOptions } from '../targets/slurm/index.js';
import { readInventoryFile, readSpecFile } from './input.js';
import { planFor } from './plan-for.js';
import { expandReplicas } from '../plan/replicas.js';
import { checkSlurmOptions } from './slurm-options.js';
import { sshKeysFor } from './ssh-keys.js';

/** Error codes of `multinode render` (`area.name`), documented in docs/guides/kubernetes.md. */
export const RENDER_ERRORS = {
  /** Any error in the spec, plan, rendering or `--check` validation; the issues say which. Exit 2. */
  failed: 'render.failed',
  /** `--seed` is not a non-negative integer. Exit 2. */
  badSeed: 'render.bad-seed',
  /** `--ssh-secret` and `--ssh-key-dir` together (one says where keys come from, the other contradicts it). Exit 2. */
  sshConflict: 'render.ssh-conflict',
  /** Issue code: a service cannot be placed on the (given or generated) inventory. */
  planInfeasible: 'render.plan-infeasible',
} as const;

export type RenderRequest =
  | {
      readonly target: 'kubernetes';
      readonly options: Omit<KubernetesTargetRenderOptions, 'spec' | 'sshKeys'>;
      /** Reuse (or create) the keys in this directory; without it and without `options.sshSecret`, fresh keys. */
      readonly sshKeyDir?: string;
      readonly check?: boolean;
    }
  | { readonly target: 'slurm'; readonly options: SlurmRenderOptions };

export interface RenderFileOptions {
  readonly inventory?: string;
  readonly seed?: number;
}

export interface Rendered {
  readonly text: string;
  /** Located warnings: the spec's, the planner's and what the target could not express. */
  readonly warnings: readonly Issue[];
  /** With `check`: how many objects were validated. */
  readonly checked?: number;
}

function fail(issues: readonly Issue[], message: string): never {
  throw new MultinodeError(RENDER_ERRORS.failed, message, { issues, exitCode: EXIT.badInput });
}

function rethrowAsRender(err: unknown, message: string): never {
  if (err instanceof MultinodeError && err.issues.length > 0) fail(err.issues, message);
  throw err;
}

export async function renderFile(
  file: string,
  request: RenderRequest,
  opts: RenderFileOptions = {},
): Promise<Rendered> {
  const seed = opts.seed ?? 0;
  if (request.target === 'slurm') checkSlurmOptions(request.options);
  if (
    request.target === 'kubernetes' &&
    request.options.sshSecret !== undefined &&
    request.sshKeyDir !== undefined
  )
    throw new MultinodeError(
      RENDER_ERRORS.sshConflict,
      '--ssh-secret and --ssh-key-dir cannot be used together: with --ssh-secret the pods use the keys of that existing Secret and no key material is read or printed',
      { exitCode: EXIT.badInput },
    );
  if (!Number.isInteger(seed) || seed < 0)
    throw new MultinodeError(RENDER_ERRORS.badSeed, `--seed must be a non-negative integer, got ${seed}`, {
      exitCode: EXIT.badInput,
    });
  let spec;
  let specWarnings: readonly Issue[];
  try {
    ({ spec, warnings: specWarnings } = readSpecFile(file));
    // Replicas: one gang per replica (src/plan/replicas.ts); the renderers see the replicas' specs.
    spec = expandReplicas(spec);
  } catch (err) {
    rethrowAsRender(err, `${file}: invalid spec`);
  }
  let inventory;
  try {
    inventory = opts.inventory === undefined ? undefined : readInventoryFile(opts.inventory);
  } catch (err) {
    rethrowAsRender(err, `${opts.inventory ?? ''}: invalid inventory`);
  }
  if (request.target === 'slurm') {
    const { slurmTarget } = await import('../targets/slurm/target.js');
    let planned;
    try {
      planned = planFor(slurmTarget, spec, {
        seed,
        ...(inventory ? { inventory } : {}),
        errorCode: RENDER_ERRORS.failed,
      });
    } catch (err) {
      rethrowAsRender(err, `${file}: cannot plan for slurm`);
    }
    const out = await slurmTarget.render?.(planned.plan, spec, request.options);
    if (!out?.ok) fail(out?.issues ?? [], `${file}: cannot render for Slurm`);
    return { text: out.text, warnings: [...specWarnings, ...planned.warnings, ...out.issues] };
  }
  const { kubernetesTarget } = await import('../targets/kubernetes/target.js');
  let planned;
  try {
    planned = planFor(kubernetesTarget, spec, { seed, ...(inventory ? { inventory } : {}) });
  } catch (err) {
    rethrowAsRender(err, `${file}: cannot plan for kubernetes`);
  }
  // With an existing Secret no key material is generated, read or printed.
  const sshKeys =
    request.options.sshSecret !== undefined
      ? undefined
      : await sshKeysFor(planned.plan.services.map((s) => s.name).join('-'), request.sshKeyDir);
  const out = await kubernetesTarget.render?.(planned.plan, spec, {
    ...request.options,
    ...(sshKeys ? { sshKeys } : {}),
  });
  if (!out?.ok) fail(out?.issues ?? [], `${file}: cannot render for Kubernetes`);
  const warnings = [...specWarnings, ...planned.warnings, ...out.issues];
  if (request.check === true) {
    const { validateManifests } = await import('../targets/kubernetes/index.js');
    const objects = (out.objects ?? []) as Parameters<typeof validateManifests>[0];
    const issues = await validateManifests(objects);
    if (issues.length > 0) fail(issues, `${file}: rendered manifests fail schema validation`);
    return { text: out.text, warnings, checked: objects.length };
  }
  return { text: out.text, warnings };
}
