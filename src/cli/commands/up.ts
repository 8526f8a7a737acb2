/**
 * `multinode up FILE [-d] [--cluster NAME] [--target local|slurm]`: argv → options → `upLocal` or
 * `slurmUp` (src/app). Foreground by default with rank-prefixed logs (Ctrl-C stops and tears down); `-d`
 * leaves a detached supervisor per service running. Also registers the hidden `__supervise` command the
 * detached supervisor runs as.
 */
import { existsSync } from 'node:fs';
import { Option } from 'commander';
import type { Command } from 'commander';
import { EXIT, MultinodeError } from '../../api/issues.js';
import { DEFAULT_WAIT_TIMEOUT_S, describeEvent, upLocal } from '../../app/up.js';
import { awaitGo } from '../../app/standby.js';
import { slurmUp } from '../../app/slurm.js';
import { serviceDir } from '../../targets/local/paths.js';
import { checkedName } from '../../targets/state-root.js';
import { superviseService } from '../../targets/local/supervisor.js';
import { PULL_POLICIES } from '../../targets/local/container.js';
import type { PullPolicy } from '../../targets/local/container.js';
import { readSlurmCluster } from '../../targets/slurm/cluster.js';
import { cliReporter, paint } from '../output.js';
import type { Reporter } from '../../app/reporter.js';
import { slurmStateDir } from './runtime-common.js';
import { rankColor } from './logs.js';

interface UpOpts {
  detach?: boolean;
  waitTimeout?: string;
  cluster?: string;
  target?: string;
  pull?: string;
  hostFs?: boolean;
}

/** How to start this CLI again (the detached supervisor runs `<self> __supervise SERVICE`). */
function selfArgv(): string[] {
  const entry = process.argv[1];
  if (!entry) throw new MultinodeError('cli.no-entry', 'cannot tell how this CLI was started');
  return [process.execPath, ...process.execArgv, entry];
}

/** Rank lines as `host |` in the rank's colour, then the line. */
const rankLines: Reporter = {
  ...cliReporter,
  output: (line, source) => {
    if (source?.rank === undefined) return cliReporter.output(line);
    const host = source.host ?? `${source.service}-${source.rank}`;
    process.stdout.write(`${paint(rankColor(source.rank), `${host} |`, process.stdout)} ${line}\n`);
  },
};

async function runUp(file: string, opts: UpOpts): Promise<void> {
  if (opts.target === 'slurm') {
    // A Slurm cluster emulated on one of our clusters (`cluster create --slurm`), else the system's Slurm.
    const info = opts.cluster !== undefined ? await readSlurmCluster(slurmStateDir(opts.cluster)) : undefined;
    await slurmUp(file, {
      ...(opts.detach ? { detach: true } : {}),
      ...(info ? { clientArgv: info.clientArgv } : {}),
      reporter: cliReporter,
    });
    return;
  }
  if (opts.target !== undefined && opts.target !== 'local')
    throw new MultinodeError('cli.bad-option', `--target must be local or slurm, got ${opts.target}`, {
      exitCode: EXIT.badInput,
    });
  if (opts.pull !== undefined && !(PULL_POLICIES as readonly string[]).includes(opts.pull))
    throw new MultinodeError('cli.bad-option', `--pull must be always, missing or never, got ${opts.pull}`, {
      exitCode: EXIT.badInput,
    });
  const image = {
    ...(opts.pull !== undefined ? { pull: opts.pull as PullPolicy } : {}),
    ...(opts.hostFs ? { hostFs: true } : {}),
  };
  const waitTimeout = opts.waitTimeout === undefined ? DEFAULT_WAIT_TIMEOUT_S : Number(opts.waitTimeout);
  if (!Number.isFinite(waitTimeout) || waitTimeout < 0)
    throw new MultinodeError(
      'cli.bad-option',
      `--wait-timeout must be a number of seconds ≥ 0, got ${opts.waitTimeout}`,
      { exitCode: EXIT.badInput },
    );
  if (opts.detach) {
    await upLocal(file, {
      detach: true,
      waitTimeoutS: waitTimeout,
      selfArgv: selfArgv(),
      reporter: cliReporter,
      ...image,
      ...(opts.cluster !== undefined ? { cluster: opts.cluster } : {}),
    });
    return;
  }
  const stop = new AbortController();
  let interrupted = 0;
  const onSignal = () => {
    interrupted++;
    if (interrupted === 1) cliReporter.note('stopping… (Ctrl-C again to stop without waiting)');
    else process.exit(EXIT.failure);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const code = await upLocal(file, {
      stop: stop.signal,
      reporter: rankLines,
      ...image,
      ...(opts.cluster !== undefined ? { cluster: opts.cluster } : {}),
    });
    if (code !== 0) process.exitCode = code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .argument('<file>', 'spec file')
    .description('Run the services of FILE on the local emulated cluster (foreground, or detached with -d).')
    .option(
      '-d, --detach',
      'run in the background: a supervisor per service keeps running after this returns',
    )
    .option('--cluster <name>', 'emulated cluster to run on (default: "default", created when none exists)')
    .option(
      '--wait-timeout <seconds>',
      `with -d: how long to wait for every service to be ready (0 = no limit; default ${DEFAULT_WAIT_TIMEOUT_S})`,
    )
    .option('--target <target>', 'local (default) or slurm')
    .option(
      '--pull <policy>',
      'images of services that name one: always, missing (default: pull only what the image store lacks) or never',
    )
    .option('--host-fs', "run ranks on this machine's file system even when their service names an image")
    .action(async (file: string, opts: UpOpts) => {
      await runUp(file, opts);
    });
  program
    .command('__supervise', { hidden: true })
    .argument('<service>')
    // Started by `up -d` before the service is recorded: wait for `go` on stdin (app/standby.ts).
    .addOption(new Option('--standby <log>').hideHelp())
    .action(async (service: string, opts: { standby?: string }) => {
      // Before the signal handlers: a standby nobody hands a service to ends at once on SIGTERM too.
      if (opts.standby !== undefined && !(await awaitGo(opts.standby))) return;
      const stop = new AbortController();
      process.on('SIGTERM', () => stop.abort());
      process.on('SIGINT', () => stop.abort());
      process.on('SIGHUP', () => undefined);
      if (!existsSync(serviceDir(checkedName('service', service))))
        throw new MultinodeError('runtime.no-service', `no service ${service}`);
      const code = await superviseService(service, {
        stop: stop.signal,
        onEvent: (e) => {
          const m = describeEvent(service, e);
          if (m) console.log(`${new Date().toISOString()} ${m}`);
        },
      });
      process.exitCode = code;
    });
}
