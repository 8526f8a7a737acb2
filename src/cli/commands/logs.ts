/** `multinode logs SERVICE [--rank R] [-f]`: the stored per-rank logs, rank-prefixed like `up` shows them. */
import type { Command } from 'commander';
import type { styleText } from 'node:util';
import { followServiceLogs, selectRanks } from '../../app/logs.js';
import { paint } from '../output.js';
import { quietOnClosedStdout, requireServiceState } from './runtime-common.js';

const COLORS = ['cyan', 'yellow', 'green', 'magenta', 'blue', 'red'] as const;

export function rankColor(rank: number): Parameters<typeof styleText>[0] {
  return COLORS[rank % COLORS.length] ?? 'cyan';
}

export function registerLogs(program: Command): void {
  program
    .command('logs')
    .argument('<service>', 'service name')
    .option('--rank <r>', 'only this rank')
    .option('-f, --follow', 'keep printing new lines until the service is removed (or Ctrl-C)')
    .option('--no-prefix', 'print lines without the rank prefix')
    .description('Show the logs of a service, all ranks rank-prefixed (or one rank).')
    .action(async (service: string, opts: { rank?: string; follow?: boolean; prefix: boolean }) => {
      quietOnClosedStdout();
      const state = await requireServiceState(service);
      const ranks = selectRanks(state, opts.rank);
      const width = Math.max(...ranks.map((r) => r.hostname.length));
      const stop = new AbortController();
      process.on('SIGINT', () => stop.abort());
      await followServiceLogs(
        service,
        ranks,
        (rank, line) => {
          if (!opts.prefix) {
            process.stdout.write(`${line}\n`);
            return;
          }
          const host = state.ranks.find((r) => r.rank === rank)?.hostname ?? String(rank);
          process.stdout.write(
            `${paint(rankColor(rank), `${host.padEnd(width)} |`, process.stdout)} ${line}\n`,
          );
        },
        { follow: opts.follow === true, signal: stop.signal },
      );
    });
}
