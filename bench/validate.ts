/**
 * Whole-process time of `multinode validate examples/seed-000-vllm.yaml` as users run it (`./multinode`:
 * the launcher's up-to-date checks, then the V8 startup snapshot dist/fast/validate.blob), interleaved with a
 * `node -e 0` baseline so every case sees the same machine load. Also shows the pieces: the snapshot without
 * the launcher, the code-cached single-file bundle it falls back to (dist/fast/run.cjs), the full ESM CLI
 * (`node dist/multinode.mjs`, e.g. an npm-installed bin) with and without source maps, and `--version`.
 * Prints medians, p90s, the ratio to node and the median CPU time (perf's task-clock, or GNU time's user +
 * sys).
 * NODE_EXTRA_CA_CERTS (a CA bundle node parses at every start, ~20 ms) is dropped by the launcher for
 * `validate`; when it is set, `node -e 0` pays for it and the ratio flatters the launcher, so the cases run a
 * second time with it unset on both sides (a machine without it): that ratio is the one to quote.
 * Target (issue 15): validate ≤ 1.3× node -e 0.
 *   node --import tsx bench/validate.ts [runs=30]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const runs = Math.max(20, Number(process.argv[2] ?? 30));
const seed = 'examples/seed-000-vllm.yaml';

const build = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) throw new Error('build failed');
if (!existsSync(join(root, 'dist/fast/validate.blob'))) throw new Error('the build made no snapshot');

const node = process.execPath;
const withCerts = process.env['NODE_EXTRA_CA_CERTS'] !== undefined;
const noCerts = ' (no NODE_EXTRA_CA_CERTS)';
const user = './multinode validate (users run this)';
const nodeZero = [node, '-e', '0'];
const userValidate = ['./multinode', 'validate', seed];
const fromSnapshot = [node, '--snapshot-blob', 'dist/fast/validate.blob', '--', 'validate', seed];
const fastBundle = [node, 'dist/fast/run.cjs', 'validate', seed];
const cases: Record<string, readonly string[]> = {
  'node -e 0': nodeZero,
  [user]: userValidate,
  'node --snapshot-blob validate.blob': fromSnapshot,
  'node dist/fast/run.cjs validate': fastBundle,
  'node dist/multinode.mjs validate': [node, 'dist/multinode.mjs', 'validate', seed],
  '  … with --enable-source-maps (old)': [
    node,
    '--enable-source-maps',
    'dist/multinode.mjs',
    'validate',
    seed,
  ],
  './multinode --version': ['./multinode', '--version'],
  ...(withCerts
    ? {
        [`node -e 0${noCerts}`]: nodeZero,
        [`./multinode validate${noCerts}`]: userValidate,
        [`node --snapshot-blob validate.blob${noCerts}`]: fromSnapshot,
        [`node dist/fast/run.cjs${noCerts}`]: fastBundle,
      }
    : {}),
};
type Name = string;

// CPU time is steadier than wall time on a loaded machine: `perf stat`'s task-clock (all threads, in
// microseconds) when perf works here, else user + sys from GNU time (10 ms steps), else none.
const tmp = mkdtempSync(join(tmpdir(), 'mn-bench-'));
const cpuFile = join(tmp, 'cpu.txt');
const perfArgs = ['stat', '-x,', '-e', 'task-clock', '-o', cpuFile, '--'];
const meter: 'perf' | 'time' | undefined =
  spawnSync('perf', [...perfArgs, 'true'], { stdio: 'ignore' }).status === 0
    ? 'perf'
    : existsSync('/usr/bin/time')
      ? 'time'
      : undefined;

function time(name: Name): { wall: number; cpu: number } {
  const argv = cases[name] ?? [];
  const [cmd, ...args] =
    meter === 'perf'
      ? ['perf', ...perfArgs, ...argv]
      : meter === 'time'
        ? ['/usr/bin/time', '-q', '-f', '%U %S', '-o', cpuFile, ...argv]
        : argv;
  const env = { ...process.env };
  if (name.endsWith(noCerts)) delete env['NODE_EXTRA_CA_CERTS'];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd ?? '', args, { cwd: root, stdio: 'ignore', env });
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}`);
  if (meter === 'perf') {
    const line = readFileSync(cpuFile, 'utf8')
      .split('\n')
      .find((l) => l.includes('task-clock'));
    return { wall, cpu: Number(line?.split(',')[0] ?? NaN) };
  }
  const [user = NaN, sys = NaN] =
    meter === 'time' ? readFileSync(cpuFile, 'utf8').trim().split(/\s+/).map(Number) : [];
  return { wall, cpu: (user + sys) * 1000 };
}

const series = (): Record<Name, number[]> =>
  Object.fromEntries(Object.keys(cases).map((k) => [k, [] as number[]]));
const samples = series();
const cpu = series();
for (const name of Object.keys(cases)) time(name); // warm the page cache
for (let i = 0; i < runs; i++) {
  for (const name of Object.keys(cases)) {
    const t = time(name);
    samples[name]?.push(t.wall);
    cpu[name]?.push(t.cpu);
  }
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))] ?? NaN;
};
const median = (name: Name): number => quantile(samples[name] ?? [], 0.5);
console.log(`runs per case: ${runs} (interleaved)`);
console.log(
  `${'case'.padEnd(60)} ${'median'.padStart(9)} ${'p90'.padStart(9)} ${'vs node'.padStart(9)} ${'cpu med'.padStart(9)}`,
);
for (const name of Object.keys(cases)) {
  // Each case against the node of its own environment.
  const base = median(name.endsWith(noCerts) ? `node -e 0${noCerts}` : 'node -e 0');
  const med = median(name);
  const p90 = quantile(samples[name] ?? [], 0.9);
  console.log(
    `${name.padEnd(60)} ${`${med.toFixed(1)} ms`.padStart(9)} ${`${p90.toFixed(1)} ms`.padStart(9)} ${`${(med / base).toFixed(2)}x`.padStart(9)} ${`${quantile(cpu[name] ?? [], 0.5).toFixed(1)} ms`.padStart(9)}`,
  );
}
console.log(`load average: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
rmSync(tmp, { recursive: true, force: true });
const [ratioName, baseName] = withCerts
  ? [`./multinode validate${noCerts}`, `node -e 0${noCerts}`]
  : [user, 'node -e 0'];
const ratio = median(ratioName) / median(baseName);
const cpuRatio = quantile(cpu[ratioName] ?? [], 0.5) / quantile(cpu[baseName] ?? [], 0.5);
console.log(
  `validate ${ratio.toFixed(2)}x node -e 0${withCerts ? noCerts : ''} (CPU ${cpuRatio.toFixed(2)}x); target ≤ 1.3x: ${ratio <= 1.3 ? 'met' : 'NOT met'}`,
);
