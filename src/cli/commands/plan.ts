/**
 * `multinode plan FILE`: parse the spec, take an inventory (a file, or one generated to fit the spec, sized
 * by flags), run the pure planner and show the result — a rank table (rank, node, host, IP, GPUs, cpuset,
 * ports), the network, endpoints and per-rank commands; `--env` adds every variable per rank; `--output json`
 * prints the canonical plan. Exit 0 with a plan, 2 for bad input, 1 when no placement fits.
 */
import type { Command } from 'commander';
import { EXIT, MultinodeError } from '../../api/issues.js';
import type { Issue } from '../../api/issues.js';
import type { Inventory } from '../../api/inventory.js';
import type { InfeasibleReason, Plan, PlanOptions, RankPlan, ServicePlan } from '../../api/plan.js';
import type { Spec } from '../../api/spec.js';
import { compressCpuList } from '../../plan/format.js';
import type { Leaves } from '../../plan/index.js';
import { describeLeaves, localLeaves, resolveArgv, resolveRankEnv } from '../../plan/index.js';
import { paint, printIssues, printJson, readInputText, table } from '../output.js';

interface PlanFlags {
  inventory?: string;
  nodes?: string;
  gpusPerNode?: string;
  gpuModel?: string;
  fabricNics?: string;
  blocks?: string;
  cores?: string;
  memory?: string;
  output: string;
  env?: boolean;
  seed: string;
  target: string;
}

function badInput(message: string, issues: readonly Issue[] = []): MultinodeError {
  return new MultinodeError('plan.bad-input', message, { exitCode: EXIT.badInput, issues });
}

function intFlag(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min)
    throw badInput(`--${name} must be a whole number ≥ ${min}, got "${value}"`);
  return Number(value);
}

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description(
      'Show where every rank of a spec would run: placement, addresses, ports, environment and commands.',
    )
    .argument('<file>', 'spec file (`-` reads standard input)')
    .option('--inventory <file>', 'inventory YAML file (default: an emulated inventory that fits the spec)')
    .option('--nodes <n>', 'emulated inventory: number of nodes (default: one per rank)')
    .option('--gpus-per-node <g>', 'emulated inventory: GPUs per node')
    .option('--gpu-model <model>', 'emulated inventory: GPU model')
    .option('--fabric-nics <k>', 'emulated inventory: fabric NICs per node (fabric0…)')
    .option('--blocks <b>', 'emulated inventory: topology blocks')
    .option('--cores <c>', 'emulated inventory: CPU cores per node')
    .option('--memory <size>', 'emulated inventory: memory per node (e.g. 256GB)')
    .option('-o, --output <format>', 'table or json', 'table')
    .option('--env', 'show every environment variable of every rank')
    .option('--seed <n>', 'seed for subnet, VXLAN id and host-port choices', '0')
    .option(
      '-t, --target <target>',
      'plan as this target would: local (default), kubernetes or slurm (their inventory and file paths; host names and addresses stay symbolic)',
      'local',
    )
    .action(async (file: string, flags: PlanFlags) => {
      if (flags.output !== 'table' && flags.output !== 'json')
        throw badInput(`--output must be table or json, got "${flags.output}"`);
      if (!['local', 'kubernetes', 'slurm'].includes(flags.target))
        throw badInput(`--target must be local, kubernetes or slurm, got "${flags.target}"`);
      const seed = intFlag('seed', flags.seed, 0) ?? 0;
      const { parseSpec, parseMemorySize } = await import('../../spec/index.js');
      const parsed = parseSpec(readInputText(file, 'spec'), file === '-' ? '<stdin>' : file);
      if (!parsed.ok) throw badInput(`${file}: invalid spec`, parsed.issues);
      // Replicas: one gang per replica, as `up` and `render` plan them (src/plan/replicas.ts).
      const { expandReplicas } = await import('../../plan/replicas.js');
      const spec = expandReplicas(parsed.value);
      if (flags.output === 'table') printIssues(parsed.warnings);

      const remote =
        flags.target === 'kubernetes' || flags.target === 'slurm'
          ? await remoteTarget(flags.target)
          : undefined;
      const inventory =
        remote?.inventoryFor && !hasInventoryFlags(flags)
          ? remote.inventoryFor(spec)
          : await loadInventory(spec, flags, parseMemorySize);
      const { defaultPlanOptions, planSpec, serializePlan } = await import('../../plan/index.js');
      const result = planSpec(
        spec,
        inventory,
        remote ? remote.planOptions(seed) : defaultPlanOptions({ seed }),
      );
      if (!result.ok) {
        const inputErrors = result.issues.filter((i) => i.severity === 'error');
        if (flags.output === 'json') {
          printJson({ ok: false, issues: result.issues, reasons: result.reasons });
        } else {
          printIssues(result.issues);
          printReasons(result.reasons);
        }
        if (inputErrors.length > 0)
          throw new MultinodeError('plan.invalid', `${file}: cannot be planned`, { exitCode: EXIT.badInput });
        throw new MultinodeError(
          'plan.infeasible',
          `${result.reasons.length} service${result.reasons.length === 1 ? '' : 's'} cannot be placed on inventory ${inventory.name} (${inventory.nodes.length} node${inventory.nodes.length === 1 ? '' : 's'})`,
          { exitCode: EXIT.failure },
        );
      }
      if (flags.output === 'json') {
        process.stdout.write(serializePlan(result.plan));
        return;
      }
      printIssues(result.warnings);
      process.stdout.write(formatPlan(result.plan, inventory, flags.env === true));
    });
}

/** The Kubernetes or Slurm target (loaded only when asked for). */
async function remoteTarget(
  name: 'kubernetes' | 'slurm',
): Promise<{ inventoryFor?(spec: Spec): Inventory; planOptions(seed: number): PlanOptions }> {
  return name === 'kubernetes'
    ? (await import('../../targets/kubernetes/target.js')).kubernetesTarget
    : (await import('../../targets/slurm/target.js')).slurmTarget;
}

/** Whether any flag sizes the emulated inventory (`--nodes`, `--gpus-per-node`, …). */
function hasSizingFlags(flags: PlanFlags): boolean {
  return [
    flags.nodes,
    flags.gpusPerNode,
    flags.gpuModel,
    flags.fabricNics,
    flags.blocks,
    flags.cores,
    flags.memory,
  ].some((v) => v !== undefined);
}

function hasInventoryFlags(flags: PlanFlags): boolean {
  return flags.inventory !== undefined || hasSizingFlags(flags);
}

async function loadInventory(
  spec: Spec,
  flags: PlanFlags,
  parseMemorySize: (s: string) => number | undefined,
): Promise<Inventory> {
  if (flags.inventory !== undefined) {
    if (hasSizingFlags(flags))
      throw badInput(
        '--inventory cannot be combined with --nodes/--gpus-per-node/--gpu-model/--fabric-nics/--blocks/--cores/--memory',
      );
    const { parseInventory } = await import('../../spec/inventory.js');
    const r = parseInventory(readInputText(flags.inventory, 'inventory'), flags.inventory);
    if (!r.ok) throw badInput(`${flags.inventory}: invalid inventory`, r.issues);
    printIssues(r.warnings);
    return r.value;
  }
  let memoryBytes: number | undefined;
  if (flags.memory !== undefined) {
    memoryBytes = parseMemorySize(flags.memory);
    if (memoryBytes === undefined)
      throw badInput(`--memory must be a size such as 256GB or 512Gi, got "${flags.memory}"`);
  }
  const overrides = {
    ...opt('nodes', intFlag('nodes', flags.nodes, 1)),
    ...opt('gpusPerNode', intFlag('gpus-per-node', flags.gpusPerNode, 0)),
    ...opt('gpuModel', flags.gpuModel),
    ...opt('fabricNics', intFlag('fabric-nics', flags.fabricNics, 0)),
    ...opt('blocks', intFlag('blocks', flags.blocks, 1)),
    ...opt('cores', intFlag('cores', flags.cores, 1)),
    ...opt('memoryBytes', memoryBytes),
  };
  const { generateInventoryForSpec } = await import('../../plan/index.js');
  try {
    return generateInventoryForSpec(spec, overrides);
  } catch (err) {
    throw badInput(err instanceof Error ? err.message : String(err));
  }
}

function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function printReasons(reasons: readonly InfeasibleReason[]): void {
  for (const r of reasons) {
    process.stderr.write(`${paint('red', 'cannot place')} ${paint('bold', r.service)}: ${r.summary}\n`);
    // The summary already names the first nodes that do not qualify: list only the others.
    for (const line of r.nodes.filter((n) => !r.summary.includes(n))) process.stderr.write(`  ${line}\n`);
  }
}

/** The human view of a plan. Exported for tests. */
export function formatPlan(plan: Plan, inventory: Inventory, withEnv: boolean): string {
  const out: string[] = [];
  const bold = (s: string): string => paint('bold', s, process.stdout);
  out.push(
    `${bold('plan')} ${plan.hash}  seed ${plan.seed}  inventory ${inventory.name} (${inventory.nodes.length} node${inventory.nodes.length === 1 ? '' : 's'})`,
  );
  for (const svc of plan.services) out.push('', ...formatService(svc, withEnv, bold, plan.target));
  return `${out.join('\n')}\n`;
}

function formatService(
  svc: ServicePlan,
  withEnv: boolean,
  bold: (s: string) => string,
  target: Plan['target'],
): string[] {
  const out: string[] = [];
  const backend = svc.backend ? `, backend ${svc.backend}` : '';
  out.push(
    `${bold(`service ${svc.name}`)}: ${svc.nodes} rank${svc.nodes === 1 ? '' : 's'}, implementation ${svc.implementation}, launch ${svc.launch}${backend}`,
  );
  const net = svc.network;
  // Other targets pick nodes and addresses themselves: what the planner invented for them is not shown.
  const local = target === 'local';
  const where = local
    ? `${net.mode} ${net.subnet}${net.gateway ? ` gateway ${net.gateway}` : ''}${net.vni !== undefined ? ` vxlan ${net.vni}` : ''} mtu ${net.mtu}`
    : `${net.mode === 'host' ? 'host' : 'the cluster network'} (nodes and addresses decided by ${target} at run time)`;
  out.push(`  network: ${where}${svc.masterPort !== undefined ? `  MASTER_PORT ${svc.masterPort}` : ''}`);
  out.push('');
  const rows: string[][] = [
    ['RANK', 'ROLE', 'NODE', 'HOST', 'IP', 'GPUS', local ? 'CPUSET' : 'CORES', 'PORTS', 'SSH'],
  ];
  for (const r of svc.ranks) rows.push(rankRow(r, local));
  out.push(
    ...table(rows)
      .split('\n')
      .map((l) => `  ${l}`),
  );
  if (svc.endpoints.length > 0) {
    out.push('', '  endpoints (rank 0 only):');
    for (const e of svc.endpoints) {
      const extra = [e.scope, e.type].filter((x): x is string => x !== undefined).join(', ');
      out.push(
        `    ${e.name}: ${e.protocol} port ${e.port} → ${svc.ranks[0]?.hostname ?? ''} ${local ? e.targetAddress : '<addr 0>'}:${e.targetPort}${extra ? ` (${extra})` : ''}`,
      );
    }
  }
  out.push('', '  commands:');
  // The local target shows literal values; others show the symbolic ones (their answers come at run time).
  const leaves: Leaves<number> =
    target === 'local'
      ? localLeaves(svc)
      : {
          ...describeLeaves,
          rank: () => '<rank>',
          index: (_r, from) => `<rank - ${from}>`,
          gpus: () => '<gpus>',
        };
  for (const r of svc.ranks) {
    const what =
      r.command.kind === 'wait'
        ? 'wait (reachable over $MULTINODE_SSH_WRAPPER / MPI)'
        : `${r.command.kind}: ${resolveArgv(svc, r.rank, leaves).join(' ')}`;
    const probe = r.probe ? `  [probe ${r.probe.action.kind} :${r.probe.action.port}]` : '';
    out.push(`    ${r.rank}  ${what}${probe}`);
  }
  out.push(`  files: ${svc.files.map((f) => f.path).join(', ')}`);
  if (withEnv) {
    for (const r of svc.ranks) {
      out.push('', `  env of rank ${r.rank} (${r.hostname}):`);
      for (const [k, v] of Object.entries(resolveRankEnv(svc, r.rank, leaves)))
        out.push(`    ${k}=${v.includes('\n') ? JSON.stringify(v) : v}`);
    }
  }
  return out;
}

function rankRow(r: RankPlan, local: boolean): string[] {
  const cpus = r.cpus.length === 0 ? '-' : compressCpuList(r.cpus);
  const ports = r.ports.map((p) =>
    p.hostPort === p.port ? `${p.name}=${p.port}` : `${p.name}=${p.hostPort}→${p.port}`,
  );
  return [
    String(r.rank),
    // A service with roles shows each rank's role (rank 0, its first member, also leads).
    r.roleName === undefined ? r.role : r.rank === 0 ? `${r.roleName} (leader)` : r.roleName,
    local ? r.node : '-',
    r.hostname,
    local ? r.address : `<addr ${r.rank}>`,
    !local ? String(r.gpus.length) : r.gpus.length === 0 ? '-' : r.gpus.join(','),
    !local ? String(r.cpus.length) : r.numaNode === undefined ? cpus : `${cpus} (numa${r.numaNode})`,
    ports.length === 0 ? '-' : ports.join(' '),
    String(r.sshPort),
  ];
}
