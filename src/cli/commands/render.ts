/**
 * `multinode render FILE --target kubernetes|slurm`: parse → plan (for the target) → render, printing the
 * rendered text on stdout. Every problem (spec, plan, render, and with `--check` the schema validation) is
 * reported, located, before anything is printed.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import type { GangScheduler, OrchestratorOption, StartupPolicy } from '../../targets/kubernetes/index.js';
import { EXIT, MultinodeError } from '../../api/issues.js';
import { RENDER_ERRORS, renderFile } from '../../app/render.js';
import type { RenderRequest } from '../../app/render.js';
import { paint, printIssues } from '../output.js';

export { RENDER_ERRORS } from '../../app/render.js';

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
  sshSecret?: string;
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
    .option(
      '--ssh-secret <name>',
      'kubernetes: mount this existing Secret as the SSH keys; no key is generated or printed (keys it must hold: docs/guides/kubernetes.md)',
    )
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

async function runRender(file: string, flags: RenderFlags): Promise<string> {
  const request: RenderRequest =
    flags.target === 'slurm'
      ? {
          target: 'slurm',
          options: {
            ...(flags.partition === undefined ? {} : { partition: flags.partition }),
            ...(flags.exclusive === true ? { exclusive: true } : {}),
            ...(flags.time === undefined ? {} : { time: flags.time }),
            ...(flags.account === undefined ? {} : { account: flags.account }),
          },
        }
      : {
          target: 'kubernetes',
          ...(flags.sshKeyDir !== undefined ? { sshKeyDir: flags.sshKeyDir } : {}),
          ...(flags.check === true ? { check: true } : {}),
          options: {
            output: flags.output,
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
            ...(flags.sshSecret !== undefined ? { sshSecret: flags.sshSecret } : {}),
          },
        };
  if (!/^\d+$/.test(flags.seed))
    throw new MultinodeError(
      RENDER_ERRORS.badSeed,
      `--seed must be a non-negative integer, got ${flags.seed}`,
      { exitCode: EXIT.badInput },
    );
  const r = await renderFile(file, request, {
    seed: Number(flags.seed),
    ...(flags.inventory !== undefined ? { inventory: flags.inventory } : {}),
  });
  printIssues(r.warnings);
  if (r.checked !== undefined)
    process.stderr.write(
      `${paint('green', 'ok')}: ${r.checked} objects valid against the Kubernetes and CRD schemas\n`,
    );
  return r.text;
}
