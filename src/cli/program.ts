/**
 * The program and the CLI's one error boundary, shared by the full entry (main.ts) and the fast one
 * (fast.ts). Kept apart from main.ts's command table so the fast bundle does not pull in every command.
 */
import { Command, CommanderError } from 'commander';
import { EXIT, MultinodeError } from '../api/issues.js';
import { printIssues } from './output.js';

export type Register = (program: Command) => void;
/** A command's name and how to load its `register<Cmd>`. */
export type CommandEntry = readonly [string, () => Promise<Register>];

declare const MULTINODE_VERSION: string | undefined;
const version = typeof MULTINODE_VERSION === 'string' ? MULTINODE_VERSION : '0.0.0-dev';

/**
 * The program with every command of `commands`, or only `only` when it names one (the fast path for a run);
 * `only: null` registers none (enough for `--version`).
 */
export async function createProgram(
  only: string | null | undefined,
  commands: readonly CommandEntry[],
): Promise<Command> {
  const program = new Command('multinode')
    .description('Run one YAML-described multinode service on an emulated cluster, Kubernetes or Slurm.')
    .version(version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  if (only === null) return program;
  const selected = commands.filter(([name]) => only === undefined || name === only);
  for (const [, load] of selected.length > 0 ? selected : commands) (await load())(program);
  return program;
}

/** Runs the CLI on `argv` (without node and script) and returns the exit code. */
export async function runProgram(
  argv: readonly string[],
  commands: readonly CommandEntry[],
): Promise<number> {
  try {
    const first = argv[0];
    const only =
      first === '-V' || first === '--version'
        ? null
        : first !== undefined && !first.startsWith('-')
          ? first
          : undefined;
    const program = await createProgram(only, commands);
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
