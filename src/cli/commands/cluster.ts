/** `multinode cluster create|ls|delete`: emulated clusters on this machine (or a Slurm one with --slurm). */
import type { Command } from 'commander';
import { EXIT, MultinodeError } from '../../api/issues.js';
import { parseMemorySize, formatBytes } from '../../spec/units.js';
import { createEmulatedCluster, deleteEmulatedCluster, listEmulatedClusters } from '../../app/cluster.js';
import { paint, printJson, table } from '../output.js';
import type { LinkProfile, LinkShape } from '../../api/inventory.js';
import { RATE_HELP, parseRate } from '../../spec/netcond.js';
import { conditionsOf, describeCondition, readLinksFile } from '../../app/net.js';
import { requireRoot } from './runtime-common.js';

function int(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0)
      throw new MultinodeError('cli.bad-option', `${name} must be a whole number, got "${v}"`, {
        exitCode: EXIT.badInput,
      });
    return n;
  };
}

interface CreateOpts {
  nodes: number;
  gpusPerNode?: number;
  gpuModel?: string;
  cores?: number;
  memory?: string;
  fabricNics?: number;
  blocks?: number;
  slurm?: boolean;
  links?: string;
  underlayRate?: string;
  fabricRate?: string;
  blockRate?: string;
}

/** The link profile of `cluster create`: a `--links` file, with the rate flags laid over it. */
async function linkProfile(opts: CreateOpts): Promise<LinkProfile | undefined> {
  const base: LinkProfile = opts.links !== undefined ? await readLinksFile(opts.links) : {};
  const rate = (flag: string, v: string | undefined, shape: LinkShape | undefined): LinkShape | undefined => {
    if (v === undefined) return shape;
    const r = parseRate(v);
    if (r === undefined)
      throw new MultinodeError('cli.bad-option', `${flag}: cannot read "${v}"; ${RATE_HELP}`, {
        exitCode: EXIT.badInput,
      });
    return { ...shape, rate: r };
  };
  const underlay = rate('--underlay-rate', opts.underlayRate, base.underlay);
  const fabric = rate('--fabric-rate', opts.fabricRate, base.fabric);
  const betweenBlocks = rate('--block-rate', opts.blockRate, base.betweenBlocks);
  const p: LinkProfile = {
    ...(underlay ? { underlay } : {}),
    ...(fabric ? { fabric } : {}),
    ...(betweenBlocks ? { betweenBlocks } : {}),
  };
  return Object.keys(p).length > 0 ? p : undefined;
}

export function registerCluster(program: Command): void {
  const cluster = program
    .command('cluster')
    .description('Create, list and delete emulated clusters on this machine.');
  cluster
    .command('create')
    .argument('[name]', 'cluster name', 'default')
    .description(
      'Create an emulated cluster: one network namespace + host name per node, joined by an underlay.',
    )
    .option('--nodes <n>', 'number of nodes', int('--nodes'), 3)
    .option(
      '--gpus-per-node <g>',
      'declared GPUs per node (capacity only, no devices)',
      int('--gpus-per-node'),
    )
    .option('--gpu-model <m>', 'declared GPU model')
    .option('--cores <c>', 'declared CPU cores per node', int('--cores'))
    .option('--memory <size>', 'declared memory per node (e.g. 64GB)')
    .option('--fabric-nics <k>', 'fabric NICs fabric0… per node', int('--fabric-nics'))
    .option('--blocks <b>', 'topology blocks the nodes are split into (label `block`)', int('--blocks'))
    .option('--slurm', 'also run Slurm on the nodes (slurmctld + slurmd)')
    .option(
      '--links <file>',
      'link profile file (`links:` underlay, fabric, between-blocks: rate, loss, delay)',
    )
    .option('--underlay-rate <rate>', 'rate of every node underlay NIC, e.g. 10gbit')
    .option('--fabric-rate <rate>', 'rate of every fabric NIC (all rails), e.g. 100gbit')
    .option('--block-rate <rate>', 'rate of traffic between topology blocks, per receiving node, e.g. 1gbit')
    .action(async (name: string, opts: CreateOpts) => {
      requireRoot('cluster create');
      const links = await linkProfile(opts);
      let memoryBytes: number | undefined;
      if (opts.memory !== undefined) {
        memoryBytes = parseMemorySize(opts.memory);
        if (memoryBytes === undefined)
          throw new MultinodeError('cli.bad-option', `--memory: cannot read "${opts.memory}" (e.g. 64GB)`, {
            exitCode: EXIT.badInput,
          });
      }
      const { meta, slurm } = await createEmulatedCluster({
        name,
        nodes: opts.nodes,
        ...(opts.gpusPerNode !== undefined ? { gpusPerNode: opts.gpusPerNode } : {}),
        ...(opts.gpuModel !== undefined ? { gpuModel: opts.gpuModel } : {}),
        ...(opts.cores !== undefined ? { cores: opts.cores } : {}),
        ...(memoryBytes !== undefined ? { memoryBytes } : {}),
        ...(opts.fabricNics !== undefined ? { fabricNics: opts.fabricNics } : {}),
        ...(opts.blocks !== undefined ? { blocks: opts.blocks } : {}),
        ...(opts.slurm === true ? { slurm: true } : {}),
        ...(links ? { links } : {}),
      });
      console.log(
        `${paint('green', 'created')} cluster ${meta.name}: ${meta.nodes.length} nodes on ${meta.underlaySubnet} in ${meta.createMs ?? 0} ms`,
      );
      if (links)
        for (const c of (await conditionsOf([meta.name])).get(meta.name) ?? [])
          console.log(`  link profile ${describeCondition(c)}`);
      if (slurm)
        console.log(
          `${paint('green', 'started')} Slurm on ${meta.name}: slurmctld on ${slurm.controller}, slurmd on ${slurm.nodes.length} node(s); run jobs with \`multinode up --target slurm --cluster ${meta.name} FILE\``,
        );
    });
  cluster
    .command('ls')
    .description('List emulated clusters.')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (opts: { output: string }) => {
      const listed = await listEmulatedClusters();
      const net = await conditionsOf(listed.map((c) => c.name));
      const clusters = listed.map((c) => ({ ...c, netConditions: net.get(c.name) ?? [] }));
      if (opts.output === 'json') {
        printJson(clusters);
        return;
      }
      if (clusters.length === 0) {
        console.log('no clusters (create one with `multinode cluster create`)');
        return;
      }
      const rows = [['NAME', 'NODES', 'UNDERLAY', 'CORES', 'MEMORY', 'GPUS', 'FABRIC', 'SERVICES', 'NET']];
      for (const c of clusters)
        rows.push([
          c.name,
          String(c.nodes.length),
          c.underlaySubnet,
          String(c.cores),
          formatBytes(c.memoryBytes),
          c.gpusPerNode > 0 ? `${c.gpusPerNode}× ${c.gpuModel}` : '0',
          String(c.fabricNics),
          c.services.join(',') || '-',
          c.netConditions.length === 0 ? '-' : `${c.netConditions.length} condition(s)`,
        ]);
      console.log(table(rows));
      for (const c of clusters)
        for (const cond of c.netConditions) console.log(`${c.name}: ${describeCondition(cond)}`);
    });
  cluster
    .command('delete')
    .argument('<name>', 'cluster name')
    .option('--force', 'delete even if services still run on it (their ranks lose their network)')
    .description('Delete an emulated cluster and everything it created.')
    .action(async (name: string, opts: { force?: boolean }) => {
      requireRoot('cluster delete');
      const r = await deleteEmulatedCluster(name, { force: opts.force === true });
      console.log(
        r.existed ? `${paint('green', 'deleted')} cluster ${name}` : `cluster ${name} did not exist`,
      );
    });
}

/** Kept here too: `ps` imports it from this module. */
export { table };
