/**
 * Every command as ONE CommonJS file (`dist/fast/cli.cjs`, bundled by scripts/build.mjs), started through
 * `dist/fast/cli-run.cjs` (code-cache.ts) with a V8 code cache. The ESM bundle (dist/multinode.mjs and its
 * chunks) costs ~160 ms to start on the test machine, this one ~60 ms: `./multinode` runs every command
 * here, and a detached supervisor starts the same way (it re-runs this program's argv). Same program and
 * error boundary as main.ts.
 */
import { main } from './main.js';

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
