/**
 * Whole-process time of `multinode validate examples/seed-000-vllm.yaml` as users run it (`./multinode`:
 * the launcher's up-to-date checks, then the code-cached single-file bundle in dist/fast/), interleaved with
 * a `node -e 0` baseline so every case sees the same machine load. Also shows the pieces: the fast bundle
 * without the launcher, the full ESM CLI (`node dist/multinode.mjs`, e.g. an npm-installed bin) with and
 * without source maps (what `./multinode` ran before), and `--version`. Prints medians, p90s, the ratio to
 * node and the median CPU time (user + sys, from wait4's rusage via GNU time when present).
 * Target: validate median < 150 ms.
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

const node = process.execPath;
const cases = {
  'node -e 0': [node, '-e', '0'],
  './multinode validate (users run this)': ['./multinode', 'validate', seed],
  'node dist/fast/run.cjs validate': [node, 'dist/fast/run.cjs', 'validate', seed],
  'node dist/multinode.mjs validate': [node, 'dist/multinode.mjs', 'validate', seed],
  '  … with --enable-source-maps (old)': [
    node,
    '--enable-source-maps',
    'dist/multinode.mjs',
    'validate',
    seed,
  ],
  './multinode --version': ['./multinode', '--version'],
} as const;
type Name = keyof typeof cases;

// CPU time (user + sys) is steadier than wall time on a loaded machine; GNU time reports it when present.
const gnuTime = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
const tmp = mkdtempSync(join(tmpdir(), 'mn-bench-'));
const cpuFile = join(tmp, 'cpu.txt');

function time(argv: readonly string[]): { wall: number; cpu: number } {
  const [cmd, ...args] = gnuTime ? [gnuTime, '-q', '-f', '%U %S', '-o', cpuFile, ...argv] : argv;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd ?? '', args, { cwd: root, stdio: 'ignore' });
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}`);
  const [user = NaN, sys = NaN] = gnuTime
    ? readFileSync(cpuFile, 'utf8').trim().split(/\s+/).map(Number)
    : [];
  return { wall, cpu: (user + sys) * 1000 };
}

const series = (): Record<Name, number[]> =>
  Object.fromEntries(Object.keys(cases).map((k) => [k, [] as number[]])) as Record<Name, number[]>;
const samples = series();
const cpu = series();
for (const name of Object.keys(cases) as Name[]) time(cases[name]); // warm the page cache
for (let i = 0; i < runs; i++) {
  for (const name of Object.keys(cases) as Name[]) {
    const t = time(cases[name]);
    samples[name].push(t.wall);
    cpu[name].push(t.cpu);
  }
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))] ?? NaN;
};
const base = quantile(samples['node -e 0'], 0.5);
console.log(`runs per case: ${runs} (interleaved)`);
console.log(
  `${'case'.padEnd(40)} ${'median'.padStart(9)} ${'p90'.padStart(9)} ${'vs node'.padStart(9)} ${'cpu med'.padStart(9)}`,
);
for (const name of Object.keys(cases) as Name[]) {
  const med = quantile(samples[name], 0.5);
  const p90 = quantile(samples[name], 0.9);
  console.log(
    `${name.padEnd(40)} ${`${med.toFixed(1)} ms`.padStart(9)} ${`${p90.toFixed(1)} ms`.padStart(9)} ${`${(med / base).toFixed(2)}x`.padStart(9)} ${`${quantile(cpu[name], 0.5).toFixed(0)} ms`.padStart(9)}`,
  );
}
console.log(`load average: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
rmSync(tmp, { recursive: true, force: true });
const med = quantile(samples['./multinode validate (users run this)'], 0.5);
console.log(`validate median ${med.toFixed(1)} ms; target < 150 ms: ${med < 150 ? 'met' : 'NOT met'}`);
