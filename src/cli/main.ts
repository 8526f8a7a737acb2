/**
 * The CLI entry: argv → options → one call into a layer. The only place that prints or exits; one error
 * boundary maps failures to exit codes (2 bad input, 1 failure, 70 a bug).
 */
import { Command, CommanderError } from 'commander';
import { EXIT, MultinodeError } from '../api/issues.js';
import { printIssues } from './output.js';
import { registerValidate } from './commands/validate.js';
import { registerSchema } from './commands/schema.js';
import { registerPlan } from './commands/plan.js';
import { registerRender } from './commands/render.js';
import { registerUp } from './commands/up.js';
import { registerPs } from './commands/ps.js';
import { registerLogs } from './commands/logs.js';
import { registerExec } from './commands/exec.js';
import { registerDown } from './commands/down.js';
import { registerCluster } from './commands/cluster.js';

declare const MULTINODE_VERSION: string | undefined;
const version = typeof MULTINODE_VERSION === 'string' ? MULTINODE_VERSION : '0.0.0-dev';

export function buildProgram(): Command {
  const program = new Command('multinode')
    .description('Run one YAML-described multinode service on an emulated cluster, Kubernetes or Slurm.')
    .version(version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerValidate(program);
  registerSchema(program);
  registerPlan(program);
  registerRender(program);
  registerUp(program);
  registerPs(program);
  registerLogs(program);
  registerExec(program);
  registerDown(program);
  registerCluster(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    return reportError(err);
  }
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // Help and version are "errors" to commander; its message was already printed.
    if (
      err.code === 'commander.helpDisplayed' ||
      err.code === 'commander.version' ||
      err.code === 'commander.help'
    )
      return EXIT.ok;
    return EXIT.badInput;
  }
  if (err instanceof MultinodeError) {
    if (err.issues.length > 0) printIssues(err.issues);
    process.stderr.write(`multinode: ${err.message}\n`);
    return err.exitCode;
  }
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(
    `multinode: internal error (this is a bug; please report it with the output below)\n${detail}\n`,
  );
  return EXIT.bug;
}

// Run when executed (bundled as dist/multinode.mjs), not when imported by tests.
const entry = process.argv[1] ?? '';
if (/multinode(\.mjs)?$|main\.ts$/.test(entry)) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
