/** `multinode down SERVICE|FILE`: stop a service and remove everything it created; idempotent, works after a crash. */
import { existsSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { downService } from '../../targets/local/teardown.js';
import { paint } from '../output.js';
import { readSpecFile } from './runtime-common.js';
import { slurmDown } from './slurm-target.js';

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
        await slurmDown(target);
        return;
      }
      let names = [target];
      if (existsSync(target) && statSync(target).isFile())
        names = readSpecFile(target).services.map((s) => s.name);
      const graceMs = Math.max(0, Number(opts.grace) * 1000 || 0);
      for (const name of names) {
        const r = await downService(name, {
          graceMs,
          onProgress: (m) => {
            if (process.stderr.isTTY) process.stderr.write(`${paint('cyan', '▸')} ${name}: ${m}\n`);
          },
        });
        console.log(
          r.existed
            ? `${paint('green', 'removed', process.stdout)} ${name} (${r.ms} ms)`
            : `${name}: nothing to remove`,
        );
      }
    });
}
