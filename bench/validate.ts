/**
 * Whole-process time of `multinode validate examples/seed-000-vllm.yaml` (the bundled CLI, spawned with
 * node), interleaved with a `node -e 0` baseline so both see the same machine load. Prints medians, p90s and
 * the ratio. Target: validate median < 150 ms.
 *   node --import tsx bench/validate.ts [runs=30]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build as esbuild } from 'esbuild';

const root = join(import.meta.dirname, '..');
const runs = Math.max(20, Number(process.argv[2] ?? 30));

const build = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) throw new Error('build failed');

// The validate path alone (commander + the validate command + the spec layer), bundled the way
// scripts/build.mjs bundles the CLI: separates the cost of the spec layer from the rest of the CLI's startup.
const tmp = mkdtempSync(join(tmpdir(), 'mn-bench-'));
await esbuild({
  stdin: {
    contents: [
      "import { Command } from 'commander';",
      "import { registerValidate } from './src/cli/commands/validate.ts';",
      "const p = new Command('multinode').exitOverride();",
      'registerValidate(p);',
      "await p.parseAsync(process.argv.slice(2), { from: 'user' });",
    ].join('\n'),
    resolveDir: root,
    loader: 'ts',
    sourcefile: 'validate-only.ts',
  },
  outdir: tmp,
  entryNames: 'validate-only',
  outExtension: { '.js': '.mjs' },
  splitting: true,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  banner: {
    js: "import { createRequire as __mnCreateRequire } from 'node:module'; const require = __mnCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});

const cases = {
  'node -e 0': [process.execPath, '-e', '0'],
  'multinode validate seed-000-vllm': [
    process.execPath,
    'dist/multinode.mjs',
    'validate',
    'examples/seed-000-vllm.yaml',
  ],
  'multinode --version': [process.execPath, 'dist/multinode.mjs', '--version'],
  'validate path only (bundle)': [
    process.execPath,
    join(tmp, 'validate-only.mjs'),
    'validate',
    'examples/seed-000-vllm.yaml',
  ],
} as const;
type Name = keyof typeof cases;

// CPU time (user + sys) is steadier than wall time on a loaded machine; GNU time reports it when present.
const gnuTime = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
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
  `${'case'.padEnd(36)} ${'median'.padStart(9)} ${'p90'.padStart(9)} ${'vs node'.padStart(9)} ${'cpu med'.padStart(9)}`,
);
for (const name of Object.keys(cases) as Name[]) {
  const med = quantile(samples[name], 0.5);
  const p90 = quantile(samples[name], 0.9);
  console.log(
    `${name.padEnd(36)} ${`${med.toFixed(1)} ms`.padStart(9)} ${`${p90.toFixed(1)} ms`.padStart(9)} ${`${(med / base).toFixed(2)}x`.padStart(9)} ${`${quantile(cpu[name], 0.5).toFixed(0)} ms`.padStart(9)}`,
  );
}
console.log(`load average: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
rmSync(tmp, { recursive: true, force: true });
const med = quantile(samples['multinode validate seed-000-vllm'], 0.5);
console.log(`validate median ${med.toFixed(1)} ms; target < 150 ms: ${med < 150 ? 'met' : 'NOT met'}`);
