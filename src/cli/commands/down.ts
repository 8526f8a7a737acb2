/** `multinode down SERVICE|FILE`: stop a service and remove everything it created; idempotent, works after a crash. */
import type { Command } from 'commander';
import { downLocal } from '../../app/down.js';
import { cliReporter, paint } from '../output.js';
import { printSlurmDown } from './slurm.js';

export function registerDown(program: Command): void {
  program
    .command('down')
    .argument('<target>', 'a service name, or the spec file whose services to stop')
    .option('--target <target>', 'local (default) or slurm')
    .option('--grace <seconds>', 'seconds between SIGTERM and SIGKILL for the ranks', '3')
    .option(
      '--volumes',
      "also remove the service's persisted data volume and the named volumes only it mounts",
    )
    .description(
      'Stop a service (or every service of a file) and remove its namespaces, links, rules, processes and state.',
    )
    .action(async (target: string, opts: { target?: string; grace: string; volumes?: boolean }) => {
      if (opts.target === 'slurm') {
        await printSlurmDown(target);
        return;
      }
      const graceMs = Math.max(0, Number(opts.grace) * 1000 || 0);
      const results = await downLocal(target, {
        graceMs,
        reporter: cliReporter,
        ...(opts.volumes === true ? { volumes: true } : {}),
      });
      for (const { name, result: r, volumes: v } of results) {
        console.log(
          r.existed
            ? `${paint('green', 'removed', process.stdout)} ${name} (${r.ms} ms)`
            : `${name}: nothing to remove`,
        );
        for (const path of v.removed)
          console.log(`${paint('green', 'removed', process.stdout)} volume ${path}`);
      }
    });
}
