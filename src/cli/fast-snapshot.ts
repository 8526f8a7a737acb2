/**
 * The V8 startup snapshot of the fast path (`dist/fast/validate.blob`): scripts/build.mjs runs this file,
 * bundled as `dist/fast/snapshot.cjs`, under `node --build-snapshot` with spec files as arguments. It
 * validates them (the build discards the output), so the saved heap holds the initialised modules (zod's
 * schemas, commander, yaml) and the bytecode of the functions a run calls; then `./multinode` starts
 * `node --snapshot-blob validate.blob -- ARGS` for `validate` and `--version`, which reads, compiles and runs
 * no JavaScript before the command itself. Same program and error boundary as fast.ts (program.ts).
 */
import { startupSnapshot } from 'node:v8';
import { registerValidate } from './commands/validate.js';
import { forgetSourceLines } from './output.js';
import { runProgram } from './program.js';
import type { CommandEntry } from './program.js';

const commands: readonly CommandEntry[] = [['validate', () => Promise.resolve(registerValidate)]];

startupSnapshot.setDeserializeMainFunction(() => {
  // A snapshot's process.argv is the node binary, then the arguments (after `--`): there is no script.
  void runProgram(process.argv.slice(1), commands).then((code) => {
    process.exitCode = code;
  });
});

/** Runs the commands users run on `files`, then drops what the runs left behind (files read, exit code). */
async function warmUp(files: readonly string[]): Promise<void> {
  for (const argv of [['validate', ...files], ['validate', '--output', 'json', ...files], ['--version']]) {
    await runProgram(argv, commands);
  }
  forgetSourceLines();
  process.exitCode = undefined;
}

void warmUp(process.argv.slice(2));
