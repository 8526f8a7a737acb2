/**
 * The CLI entry: argv → options → one call into a layer. The only place that prints or exits; one error
 * boundary maps failures to exit codes (2 bad input, 1 failure, 70 a bug).
 */
import { Command, CommanderError } from 'commander';
import { EXIT, MultinodeError } from '../api/issues.js';
import { printIssues } from './output.js';

type Register = (program: Command) => void;

/**
 * Every command, loaded on demand: a run imports only the module of the command it names, so `validate`
 * does not pay for the runtime, the renderers or their schemas. `--help` and the README load them all.
 */
const COMMANDS: readonly (readonly [string, () => Promise<Register>])[] = [
  ['validate', async () => (await import('./commands/validate.js')).registerValidate],
  ['schema', async () => (await import('./commands/schema.js')).registerSchema],
  ['plan', async () => (await import('./commands/plan.js')).registerPlan],
  ['render', async () => (await import('./commands/render.js')).registerRender],
  ['up', async () => (await import('./commands/up.js')).registerUp],
  ['ps', async () => (await import('./commands/ps.js')).registerPs],
  ['logs', async () => (await import('./commands/logs.js')).registerLogs],
  ['exec', async () => (await import('./commands/exec.js')).registerExec],
  ['down', async () => (await import('./commands/down.js')).registerDown],
  ['cluster', async () => (await import('./commands/cluster.js')).registerCluster],
];

declare const MULTINODE_VERSION: string | undefined;
const version = typeof MULTINODE_VERSION === 'string' ? MULTINODE_VERSION : '0.0.0-dev';

/** The program with every command, or only `only` when it names one (the fast path for a run). */
export async function buildProgram(only?: string): Promise<Command> {
  const program = new Command('multinode')
    .description('Run one YAML-described multinode service on an emulated cluster, Kubernetes or Slurm.')
    .version(version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const selected = COMMANDS.filter(([name]) => only === undefined || name === only);
  for (const [, load] of selected.length > 0 ? selected : COMMANDS) (await load())(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    const first = argv[0];
    const program = await buildProgram(first !== undefined && !first.startsWith('-') ? first : undefined);
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
