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
    .description(
      'Stop a service (or every service of a file) and remove its namespaces, links, rules, processes and state.',
    )
    .action(async (target: string, opts: { target?: string; grace: string }) => {
      if (opts.target === 'slurm') {
        await printSlurmDown(target);
        return;
      }
      const graceMs = Math.max(0, Number(opts.grace) * 1000 || 0);
      for (const { name, result: r } of await downLocal(target, { graceMs, reporter: cliReporter }))
        console.log(
          r.existed
            ? `${paint('green', 'removed', process.stdout)} ${name} (${r.ms} ms)`
            : `${name}: nothing to remove`,
        );
    });
}
