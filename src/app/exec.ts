/**
 * `multinode exec`'s use case: what to run, with which environment and where, to enter one rank of a running
 * service — its container (`podman exec`, which has the rank's env and cwd already) for a rank in its image,
 * otherwise the rank's namespaces, mounts and cwd with its environment. The caller spawns it.
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { EXIT, MultinodeError } from '../api/issues.js';
import { rankEnv, rankExecPrefix } from '../targets/local/supervisor.js';
import { serviceDir } from '../targets/local/paths.js';
import { execArgv, podmanEnv, readRankRuntime } from '../targets/local/container.js';
import { requireServiceState } from './logs.js';

export interface RankCommand {
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

export async function rankCommand(
  service: string,
  rankText: string,
  command: readonly string[],
  tty: boolean,
): Promise<RankCommand> {
  const state = await requireServiceState(service);
  const rank = state.plan.ranks.find((r) => String(r.rank) === rankText);
  const rs = state.ranks.find((r) => String(r.rank) === rankText);
  if (!rank || !rs)
    throw new MultinodeError(
      'cli.bad-option',
      `${service} has no rank ${rankText} (0…${state.ranks.length - 1})`,
      {
        exitCode: EXIT.badInput,
      },
    );
  if (!rs.netns && !state.degraded)
    throw new MultinodeError(
      'runtime.not-ready',
      `${service} rank ${rankText} has no network yet (still starting; \`multinode ps\` shows when it runs)`,
    );
  const dir = serviceDir(service);
  const cwd = state.plan.cwd ?? dirname(state.file);
  const spawnCwd = existsSync(cwd) ? cwd : '/';
  if ((await readRankRuntime(dir)).kind === 'container')
    return {
      argv: execArgv(state.cluster, service, rank.rank, [...command], tty),
      env: { ...process.env, ...podmanEnv() },
      cwd: spawnCwd,
    };
  const overlay = state.plan.network.mode === 'overlay';
  return {
    argv: state.degraded
      ? command
      : [
          ...rankExecPrefix(state.cluster, dir, rank, overlay ? rs.netns : undefined, state.plan.cwd),
          ...command,
        ],
    env: rankEnv(state.plan, rank, dir, state.degraded === true),
    cwd: spawnCwd,
  };
}
