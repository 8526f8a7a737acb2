/** `multinode exec SERVICE [--rank R] -- CMD…`: run a command inside a rank's namespaces with its environment. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { EXIT, MultinodeError } from '../../api/issues.js';
import { rankEnv, rankExecPrefix } from '../../targets/local/supervisor.js';
import { serviceDir } from '../../targets/local/paths.js';
import { dirname } from 'node:path';
import { requireServiceState } from './runtime-common.js';
import { execArgv, podmanEnv, readRankRuntime } from '../../targets/local/container.js';

export function registerExec(program: Command): void {
  program
    .command('exec')
    .argument('<service>', 'service name')
    .argument('<command...>', 'command and arguments (put them after --)')
    .option('--rank <r>', 'rank to run in', '0')
    .description("Run a command inside one rank's namespaces, with that rank's environment and cwd.")
    .action(async (service: string, command: string[], opts: { rank: string }) => {
      const state = await requireServiceState(service);
      const rank = state.plan.ranks.find((r) => String(r.rank) === opts.rank);
      const rs = state.ranks.find((r) => String(r.rank) === opts.rank);
      if (!rank || !rs)
        throw new MultinodeError(
          'cli.bad-option',
          `${service} has no rank ${opts.rank} (0…${state.ranks.length - 1})`,
          { exitCode: EXIT.badInput },
        );
      if (!rs.netns && !state.degraded)
        throw new MultinodeError(
          'runtime.not-ready',
          `${service} rank ${opts.rank} has no network yet (still starting; \`multinode ps\` shows when it runs)`,
        );
      const overlay = state.plan.network.mode === 'overlay';
      // A rank in its image: enter its container (podman exec), which has the rank's env and cwd already.
      const inImage = (await readRankRuntime(serviceDir(service))).kind === 'container';
      const argv = inImage
        ? execArgv(state.cluster, service, rank.rank, command, process.stdin.isTTY && process.stdout.isTTY)
        : state.degraded
          ? command
          : [
              ...rankExecPrefix(
                state.cluster,
                serviceDir(service),
                rank,
                overlay ? rs.netns : undefined,
                state.plan.cwd,
              ),
              ...command,
            ];
      const cwd = state.plan.cwd ?? dirname(state.file);
      const code = await new Promise<number>((resolve) => {
        const child = spawn(argv[0] as string, argv.slice(1), {
          stdio: 'inherit',
          env: inImage
            ? { ...process.env, ...podmanEnv() }
            : rankEnv(state.plan, rank, serviceDir(service), state.degraded === true),
          cwd: existsSync(cwd) ? cwd : '/',
        });
        child.on('error', () => resolve(127));
        child.on('exit', (c, sig) => resolve(c ?? (sig ? 128 : 1)));
      });
      process.exitCode = code;
    });
}
