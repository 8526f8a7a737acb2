/**
 * The CLI entry: argv → options → one call into a layer. The only place that prints or exits; one error
 * boundary maps failures to exit codes (2 bad input, 1 failure, 70 a bug).
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { restoreCaEnv } from '../app/self-env.js';
import { createProgram, runProgram } from './program.js';
import type { CommandEntry } from './program.js';

/**
 * Every command, loaded on demand: a run imports only the module of the command it names, so `validate`
 * does not pay for the runtime, the renderers or their schemas. `--help` and the README load them all.
 */
const COMMANDS: readonly CommandEntry[] = [
  ['validate', async () => (await import('./commands/validate.js')).registerValidate],
  ['schema', async () => (await import('./commands/schema.js')).registerSchema],
  ['plan', async () => (await import('./commands/plan.js')).registerPlan],
  ['render', async () => (await import('./commands/render.js')).registerRender],
  ['up', async () => (await import('./commands/up.js')).registerUp],
  ['ps', async () => (await import('./commands/ps.js')).registerPs],
  ['logs', async () => (await import('./commands/logs.js')).registerLogs],
  ['exec', async () => (await import('./commands/exec.js')).registerExec],
  ['down', async () => (await import('./commands/down.js')).registerDown],
  ['scale', async () => (await import('./commands/scale.js')).registerScale],
  ['cluster', async () => (await import('./commands/cluster.js')).registerCluster],
  ['net', async () => (await import('./commands/net.js')).registerNet],
  ['dashboard', async () => (await import('./commands/dashboard.js')).registerDashboard],
];

/** The program with every command, or only `only` when it names one (the fast path for a run). */
export async function buildProgram(only?: string): Promise<Command> {
  return createProgram(only, COMMANDS);
}

/** Runs the CLI on `argv` (without node and script); the error boundary is in program.ts. */
export async function main(argv: readonly string[]): Promise<number> {
  restoreCaEnv();
  return runProgram(argv, COMMANDS);
}

/** Whether the program was started as this module's file (through any symlink, e.g. an npm bin). */
function startedAsThisFile(): boolean {
  try {
    return realpathSync(process.argv[1] ?? '') === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

// Run when executed (bundled as dist/multinode.mjs, or main.ts through tsx), not when imported: by tests, or
// by full.ts, the CommonJS bundle's entry, which runs main itself.
if (startedAsThisFile()) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
