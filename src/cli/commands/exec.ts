/** `multinode exec SERVICE [--rank R] -- CMD…`: run a command inside a rank's namespaces with its environment. */
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { rankCommand } from '../../app/exec.js';

export function registerExec(program: Command): void {
  program
    .command('exec')
    .argument('<service>', 'service name')
    .argument('<command...>', 'command and arguments (put them after --)')
    .option('--rank <r>', 'rank to run in', '0')
    .description("Run a command inside one rank's namespaces, with that rank's environment and cwd.")
    .action(async (service: string, command: string[], opts: { rank: string }) => {
      const run = await rankCommand(service, opts.rank, command, process.stdin.isTTY && process.stdout.isTTY);
      const code = await new Promise<number>((resolve) => {
        const child = spawn(run.argv[0] as string, run.argv.slice(1), {
          stdio: 'inherit',
          env: run.env,
          cwd: run.cwd,
        });
        child.on('error', () => resolve(127));
        child.on('exit', (c, sig) => resolve(c ?? (sig ? 128 : 1)));
      });
      process.exitCode = code;
    });
}
