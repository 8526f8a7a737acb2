/** `multinode cluster create|ls|delete`: emulated clusters on this machine (or a Slurm one with --slurm). */
import type { Command } from 'commander';
import { EXIT, MultinodeError } from '../../api/issues.js';
import { parseMemorySize, formatBytes } from '../../spec/units.js';
import { createEmulatedCluster, deleteEmulatedCluster, listEmulatedClusters } from '../../app/cluster.js';
import { paint, printJson, table } from '../output.js';
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
    .action(async (name: string, opts: CreateOpts) => {
      requireRoot('cluster create');
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
      });
      console.log(
        `${paint('green', 'created')} cluster ${meta.name}: ${meta.nodes.length} nodes on ${meta.underlaySubnet} in ${meta.createMs ?? 0} ms`,
      );
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
      const clusters = await listEmulatedClusters();
      if (opts.output === 'json') {
        printJson(clusters);
        return;
      }
      if (clusters.length === 0) {
        console.log('no clusters (create one with `multinode cluster create`)');
        return;
      }
      const rows = [['NAME', 'NODES', 'UNDERLAY', 'CORES', 'MEMORY', 'GPUS', 'FABRIC', 'SERVICES']];
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
        ]);
      console.log(table(rows));
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
