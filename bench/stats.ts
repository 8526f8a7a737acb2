import { selfSpawnEnv } from '../src/app/self-env.js';

/** The median the benches report: the middle sample (the upper one of two for an even count); NaN for none. */
export const median = (xs: readonly number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/**
 * The CLI as `./multinode` runs it (relative to the project root): every command but validate starts from
 * this code-cached CommonJS bundle (scripts/build.mjs), and a detached supervisor re-runs the same argv.
 */
export const CLI_BUNDLE = 'dist/fast/cli-run.cjs';

/** The environment `./multinode` starts node with: the CA bundle handed over (src/app/self-env.ts). */
export const cliEnv = (extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv =>
  selfSpawnEnv({ ...process.env, NO_COLOR: '1', ...extra });
