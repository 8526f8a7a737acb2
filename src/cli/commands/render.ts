/**
 * `multinode render FILE --target kubernetes|slurm`: parse → plan (for the target) → render, printing the
 * rendered text on stdout. Every problem (spec, plan, render, and with `--check` the schema validation) is
 * reported, located, before anything is printed.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import type { Inventory } from '../../api/inventory.js';
import type { Issue } from '../../api/issues.js';
import { EXIT, MultinodeError } from '../../api/issues.js';
import type { Plan, Target } from '../../api/plan.js';
import type { Spec } from '../../api/spec.js';
import { parseSpec } from '../../spec/index.js';
import { joinPath } from '../../spec/paths.js';
import { parseInventory } from '../../spec/inventory.js';
import { defaultPlanOptions, generateInventoryForSpec, planSpec } from '../../plan/index.js';
import type { GangScheduler, OrchestratorOption, StartupPolicy } from '../../targets/kubernetes/index.js';
import { K8S_FILES_DIR, K8S_SSH_WRAPPER } from '../../targets/kubernetes/options.js';
import { slurmInventory } from '../../targets/slurm/plan-for-slurm.js';
import { sshKeysFor } from '../../app/ssh-keys.js';
import { paint, printIssues, readInputText } from '../output.js';

// The Kubernetes paths live with the renderer; exported here too for the tests that plan like `render`.
export { K8S_FILES_DIR, K8S_SSH_WRAPPER };

/**
 * Error codes of `multinode render` (`area.name`, like `cli.*` and `spec.*`), documented in docs/kubernetes.md.
 * An unreadable spec or inventory is `spec.unreadable` / `inventory.unreadable` (output.ts).
 */
export const RENDER_ERRORS = {
  /** Any error in the spec, plan, rendering or `--check` validation; the issues say which. Exit 2. */
  failed: 'render.failed',
  /** `--seed` is not a non-negative integer. Exit 2. */
  badSeed: 'render.bad-seed',
  /** Issue code: a service cannot be placed on the (given or generated) inventory. */
  planInfeasible: 'render.plan-infeasible',
} as const;

interface RenderFlags {
  target: string;
  namespace?: string;
  orchestrator?: OrchestratorOption;
  gang?: GangScheduler;
  kaiQueue?: string;
  volcanoQueue?: string;
  inventory?: string;
  check?: boolean;
  output: 'yaml' | 'json';
  startupPolicy?: StartupPolicy;
  ingressDomain?: string;
  ingressClass?: string;
  dataSize?: string;
  storageClass?: string;
  sshKeyDir?: string;
  seed: string;
  partition?: string;
  exclusive?: boolean;
  time?: string;
  account?: string;
}

export function registerRender(program: Command): void {
  program
    .command('render')
    .description('Render a spec for another executor: Kubernetes manifests or a Slurm batch script (stdout).')
    .argument('<file>', 'the service spec (YAML)')
    .addOption(
      new Option('-t, --target <target>', 'what to render for')
        .choices(['kubernetes', 'slurm'])
        .makeOptionMandatory(),
    )
    .option('-n, --namespace <ns>', 'Kubernetes namespace written on every object')
    .addOption(
      new Option(
        '--orchestrator <kind>',
        'kubernetes: workload controller; auto = JobSet for a service meant to finish (no endpoints, restart never/exit-code/on-failure), else LWS (Grove when annotated)',
      )
        .choices(['auto', 'lws', 'grove', 'jobset'])
        .default('auto'),
    )
    .addOption(
      new Option(
        '--gang <scheduler>',
        'gang scheduler (default: volcano with lws and jobset, kai with grove)',
      ).choices(['volcano', 'kai', 'none']),
    )
    .option('--kai-queue <queue>', 'KAI queue when the service names none (default dynamo)')
    .option('--volcano-queue <queue>', 'Volcano queue (default "default")')
    .option('--inventory <file>', 'nodes to plan against (default: generated from the spec, no fabric NICs)')
    .option(
      '--ingress-domain <domain>',
      'kubernetes: domain of public HTTP endpoints, host <endpoint>.<service>.<domain> (default example.com, a placeholder)',
    )
    .option(
      '--ingress-class <class>',
      'kubernetes: ingressClassName of rendered Ingresses (default: the cluster default)',
    )
    .option(
      '--data-size <quantity>',
      'kubernetes: size of the `data` volume claim with persist: true (default 10Gi)',
    )
    .option('--storage-class <class>', 'kubernetes: storageClassName of the `data` volume claim')
    .option('--ssh-key-dir <dir>', 'reuse (or create) the SSH keypair and host key in this directory')
    .option('--seed <n>', 'planner seed', '0')
    .option('--check', 'validate the output against the Kubernetes and CRD schemas before printing it')
    .option('--partition <name>', 'slurm: partition (#SBATCH --partition)')
    .option('--exclusive', 'slurm: whole nodes only (#SBATCH --exclusive)')
    .option('--time <limit>', 'slurm: time limit (#SBATCH --time), e.g. 01:00:00')
    .option('--account <name>', 'slurm: account to charge (#SBATCH --account)')
    .addOption(
      new Option('-o, --output <format>', 'kubernetes: a YAML stream, or one JSON List')
        .choices(['yaml', 'json'])
        .default('yaml'),
    )
    .addOption(
      new Option(
        '--startup-policy <policy>',
        'LWS startupPolicy (default: LeaderReady, LeaderCreated when the leader has a readiness probe)',
      ).choices(['LeaderCreated', 'LeaderReady']),
    )
    .action(async (file: string, flags: RenderFlags) => {
      process.stdout.write(await runRender(file, flags));
    });
}

function fail(issues: readonly Issue[], message: string): never {
  throw new MultinodeError(RENDER_ERRORS.failed, message, { issues, exitCode: EXIT.badInput });
}

/**
 * An inventory big enough for the spec: one node per rank, the largest per-node request, one NUMA domain
 * and no fabric NICs (the cluster's own nodes decide those).
 */
export function inventoryForSpec(spec: Spec): Inventory {
  return generateInventoryForSpec(spec, { name: 'generated-for-render', numaDomains: 1, fabricNics: 0 });
}

function loadInventory(file: string): Inventory {
  const text = readInputText(file, 'inventory');
  const r = parseInventory(text, file);
  if (!r.ok) fail(r.issues, `${file}: invalid inventory`);
  return r.value;
}

export function planForTarget(
  file: string,
  target: Target,
  flags: Pick<RenderFlags, 'inventory' | 'seed'>,
): { spec: Spec; plan: Plan; warnings: readonly Issue[] } {
  const parsed = parseSpec(readInputText(file, 'spec'), file);
  if (!parsed.ok) fail(parsed.issues, `${file}: invalid spec`);
  const spec = parsed.value;
  const inventory =
    flags.inventory !== undefined
      ? loadInventory(flags.inventory)
      : target === 'slurm'
        ? slurmInventory(spec)
        : inventoryForSpec(spec);
  const seed = Number(flags.seed);
  if (!Number.isInteger(seed) || seed < 0) {
    throw new MultinodeError(
      RENDER_ERRORS.badSeed,
      `--seed must be a non-negative integer, got ${flags.seed}`,
      {
        exitCode: EXIT.badInput,
      },
    );
  }
  const options = defaultPlanOptions({
    target,
    seed,
    ...(target === 'kubernetes'
      ? { filesDir: K8S_FILES_DIR, sshWrapperPath: K8S_SSH_WRAPPER, runAsRoot: true }
      : {}),
  });
  const result = planSpec(spec, inventory, options);
  if (!result.ok) {
    const reasons: Issue[] = result.reasons.map((r) => ({
      code: RENDER_ERRORS.planInfeasible,
      severity: 'error',
      path: joinPath('services', r.service),
      message: r.nodes.every((n) => r.summary.includes(n))
        ? r.summary
        : [r.summary, ...r.nodes.map((n) => `  ${n}`)].join('\n'),
      ...(spec.positions[joinPath('services', r.service)]
        ? { pos: spec.positions[joinPath('services', r.service)] }
        : {}),
      ...(flags.inventory === undefined
        ? { hint: 'without --inventory, nodes are generated from the spec with no fabric NICs' }
        : {}),
    }));
    fail([...result.issues, ...reasons], `${file}: cannot plan for ${target}`);
  }
  return { spec, plan: result.plan, warnings: [...parsed.warnings, ...result.warnings] };
}

async function runRender(file: string, flags: RenderFlags): Promise<string> {
  if (flags.target === 'slurm') return renderSlurmTarget(file, flags);
  const { spec, plan, warnings } = planForTarget(file, 'kubernetes', flags);
  const { buildKubernetes, validateManifests } = await import('../../targets/kubernetes/index.js');
  const sshKeys = await sshKeysFor(plan.services.map((s) => s.name).join('-'), flags.sshKeyDir);
  const r = buildKubernetes(plan, {
    spec,
    sshKeys,
    ...(flags.namespace !== undefined ? { namespace: flags.namespace } : {}),
    ...(flags.orchestrator !== undefined ? { orchestrator: flags.orchestrator } : {}),
    ...(flags.gang !== undefined ? { gang: flags.gang } : {}),
    ...(flags.kaiQueue !== undefined ? { kaiQueue: flags.kaiQueue } : {}),
    ...(flags.volcanoQueue !== undefined ? { volcanoQueue: flags.volcanoQueue } : {}),
    ...(flags.startupPolicy !== undefined ? { startupPolicy: flags.startupPolicy } : {}),
    ...(flags.ingressDomain !== undefined ? { ingressDomain: flags.ingressDomain } : {}),
    ...(flags.ingressClass !== undefined ? { ingressClass: flags.ingressClass } : {}),
    ...(flags.dataSize !== undefined ? { dataVolumeSize: flags.dataSize } : {}),
    ...(flags.storageClass !== undefined ? { storageClass: flags.storageClass } : {}),
  });
  if (!r.ok) fail(r.issues, `${file}: cannot render for Kubernetes`);
  printIssues([...warnings, ...r.value.warnings]);
  if (flags.check === true) {
    const issues = await validateManifests(r.value.objects);
    if (issues.length > 0) fail(issues, `${file}: rendered manifests fail schema validation`);
    process.stderr.write(
      `${paint('green', 'ok')}: ${r.value.objects.length} objects valid against the Kubernetes and CRD schemas\n`,
    );
  }
  if (flags.output === 'json') {
    const { canonicalJsonList } = await import('../../targets/kubernetes/index.js');
    return canonicalJsonList(r.value.objects);
  }
  return r.value.yaml;
}

async function renderSlurmTarget(file: string, flags: RenderFlags): Promise<string> {
  const { plan, warnings } = planForTarget(file, 'slurm', flags);
  const { renderSlurm } = await import('../../targets/slurm/index.js');
  printIssues(warnings);
  return renderSlurm(plan, {
    ...(flags.partition === undefined ? {} : { partition: flags.partition }),
    ...(flags.exclusive === true ? { exclusive: true } : {}),
    ...(flags.time === undefined ? {} : { time: flags.time }),
    ...(flags.account === undefined ? {} : { account: flags.account }),
  });
}
