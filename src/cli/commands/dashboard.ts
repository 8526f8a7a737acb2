/**
 * `multinode dashboard [FILE] [--port P] [--listen ADDR] [--allow-actions]`: a live web page of the clusters
 * and services on this machine (and the plan of FILE), served until Ctrl-C. Prints the URL with its token.
 */
import type { Command } from 'commander';
import { EXIT, MultinodeError } from '../../api/issues.js';
import { readSpecFile } from '../../app/input.js';
import { startDashboard } from '../../app/dashboard/server.js';
import { paint, printIssues } from '../output.js';

function portFlag(value: string | undefined): number {
  if (value === undefined) return 0;
  if (!/^\d+$/.test(value) || Number(value) > 65535)
    throw new MultinodeError('cli.bad-option', `--port must be 0…65535 (0: any free port), got "${value}"`, {
      exitCode: EXIT.badInput,
    });
  return Number(value);
}

export function registerDashboard(program: Command): void {
  program
    .command('dashboard')
    .argument('[file]', 'a spec file whose plan the page also draws (placement, addresses, env per rank)')
    .option('--port <port>', 'port to listen on (default: a free one)')
    .option('--listen <address>', 'address to listen on', '127.0.0.1')
    .option('--allow-actions', 'let the page stop services (read-only without it)')
    .description('Serve a live web page of clusters, services, their network, restarts and logs.')
    .action(
      async (file: string | undefined, opts: { port?: string; listen: string; allowActions?: boolean }) => {
        const port = portFlag(opts.port);
        if (file !== undefined) printIssues(readSpecFile(file).warnings); // bad file: exit 2 before serving
        const dash = await startDashboard({
          listen: opts.listen,
          port,
          allowActions: opts.allowActions === true,
          ...(file !== undefined ? { planFile: file } : {}),
        });
        process.stdout.write(`${dash.url}\n`);
        const notes = [
          `dashboard on ${dash.origin} (${opts.allowActions === true ? 'actions allowed' : 'read-only'}); Ctrl-C stops it`,
        ];
        if (!['127.0.0.1', '::1'].includes(opts.listen) && !opts.listen.startsWith('127.'))
          notes.push(
            `listening on ${opts.listen}: anyone who reaches it and has the token sees the page (plain HTTP, no TLS)`,
          );
        for (const n of notes) process.stderr.write(`${paint('cyan', '▸')} ${n}\n`);
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await dash.close();
      },
    );
}
