/**
 * `multinode scale SERVICE --replicas N`: argv → `scaleLocal` (src/app/scale.ts), or `slurmScale` with
 * `--target slurm`. Also registers the hidden `__replica-endpoints SET` command the detached endpoint
 * controller of a replica set runs as.
 */
import type { Command } from 'commander';
import { EXIT, MultinodeError } from '../../api/issues.js';
import { scaleLocal } from '../../app/scale.js';
import { DEFAULT_WAIT_TIMEOUT_S } from '../../app/up.js';
import { readReplicaSet, runEndpointController } from '../../targets/local/replica-set.js';
import { checkedName } from '../../targets/state-root.js';
import { cliReporter, paint } from '../output.js';

/** How to start this CLI again (detached supervisors and the endpoint controller). */
function selfArgv(): string[] {
  const entry = process.argv[1];
  if (!entry) throw new MultinodeError('cli.no-entry', 'cannot tell how this CLI was started');
  return [process.execPath, ...process.execArgv, entry];
}

export function registerScale(program: Command): void {
  program
    .command('scale')
    .argument('<service>', 'a running replicated service (its file declares `replicas:`)')
    .requiredOption('--replicas <n>', 'the number of gangs to run (0–1000)')
    .option(
      '--wait-timeout <seconds>',
      `how long to wait for each new gang to be ready (default ${DEFAULT_WAIT_TIMEOUT_S})`,
    )
    .option('--target <target>', 'local (default) or slurm')
    .description(
      'Change the number of gangs of a running service: new ones start at the lowest free index, removed ones are drained from the endpoint first.',
    )
    .action(async (service: string, opts: { replicas: string; waitTimeout?: string; target?: string }) => {
      const n = Number(opts.replicas);
      if (!/^\d+$/.test(opts.replicas) || n > 1000)
        throw new MultinodeError(
          'cli.bad-option',
          `--replicas must be a whole number 0–1000, got ${opts.replicas}`,
          {
            exitCode: EXIT.badInput,
          },
        );
      if (opts.target === 'slurm') {
        const { slurmScale } = await import('../../app/slurm.js');
        const r = await slurmScale(service, n, { reporter: cliReporter });
        console.log(
          `${paint('green', 'scaled', process.stdout)} ${service}: ${r.from} → ${r.to} job(s) ${r.jobs.join(', ')}`,
        );
        return;
      }
      if (opts.target !== undefined && opts.target !== 'local')
        throw new MultinodeError('cli.bad-option', `--target must be local or slurm, got ${opts.target}`, {
          exitCode: EXIT.badInput,
        });
      const wait = opts.waitTimeout === undefined ? DEFAULT_WAIT_TIMEOUT_S : Number(opts.waitTimeout);
      if (!Number.isFinite(wait) || wait < 0)
        throw new MultinodeError(
          'cli.bad-option',
          `--wait-timeout must be a number of seconds ≥ 0, got ${opts.waitTimeout}`,
          {
            exitCode: EXIT.badInput,
          },
        );
      const t0 = Date.now();
      const r = await scaleLocal(service, n, {
        selfArgv: selfArgv(),
        waitTimeoutS: wait,
        reporter: cliReporter,
      });
      console.log(
        `${paint('green', 'scaled', process.stdout)} ${r.service}: ${r.from} → ${r.to} replica(s) (${r.members.join(', ') || 'none'}) in ${Date.now() - t0} ms`,
      );
    });
  program
    .command('__replica-endpoints', { hidden: true })
    .argument('<set>')
    .action(async (name: string) => {
      checkedName('service', name);
      const stop = new AbortController();
      process.on('SIGTERM', () => stop.abort());
      process.on('SIGINT', () => stop.abort());
      process.on('SIGHUP', () => undefined);
      if (!(await readReplicaSet(name)))
        throw new MultinodeError('runtime.no-service', `no replica set ${name}`);
      await runEndpointController(name, {
        stop: stop.signal,
        onChange: (rot) =>
          console.log(
            `${new Date().toISOString()} ${name}: endpoint → ${rot.length > 0 ? rot.join(', ') : 'no ready replica'}`,
          ),
      });
    });
}
