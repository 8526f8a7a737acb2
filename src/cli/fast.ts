/**
 * The fast entry for the commands users run most often (`validate`, `--version`): bundled by
 * scripts/build.mjs as ONE CommonJS file (`dist/fast/validate.cjs`, no chunks, no ESM loader) and started
 * through `dist/fast/run.cjs` (code-cache.ts), which reuses V8's compiled code across runs. Same program and
 * error boundary as main.ts (program.ts); `./multinode` sends only these commands here.
 */
import { runProgram } from './program.js';
import { registerValidate } from './commands/validate.js';

void runProgram(process.argv.slice(2), [['validate', () => Promise.resolve(registerValidate)]]).then(
  (code) => {
    process.exitCode = code;
  },
);
