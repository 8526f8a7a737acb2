/**
 * `multinode validate` on 4 MiB worst-case YAML files of each shape (test/unit/helpers/spec-bounds-shapes.ts)
 * next to an ordinary 4 KB spec: wall time, CPU time and peak memory (max RSS, from wait4's rusage via GNU
 * time), each run in its own process, interleaved so every case sees the same machine load. Prints medians
 * and the ratio to the 4 KB file. Targets (issue 12): ≤ 2 s and ≤ 256 MB per file.
 *   node --import tsx bench/validate-bounds.ts [runs=5]
 * The billion-laughs shape is small by nature (its blow-up is in the expansion); it is written at 4 KB.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHAPES, SHAPE_NAMES, ordinarySpec } from '../test/unit/helpers/spec-bounds-shapes.js';

const root = join(import.meta.dirname, '..');
const runs = Math.max(3, Number(process.argv[2] ?? 5));
const FOUR_MIB = 4 * 1024 * 1024;

const build = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) throw new Error('build failed');
if (!existsSync('/usr/bin/time')) throw new Error('needs GNU time (/usr/bin/time) for max RSS');

const tmp = mkdtempSync(join(tmpdir(), 'mn-bench-bounds-'));
try {
  const files: Record<string, string> = { 'ordinary 4 KB': join(tmp, 'ordinary.yaml') };
  writeFileSync(files['ordinary 4 KB'] ?? '', ordinarySpec());
  for (const name of SHAPE_NAMES) {
    const f = join(tmp, `${name}.yaml`);
    writeFileSync(f, SHAPES[name](name === 'nested-aliases' ? 4096 : FOUR_MIB));
    files[name] = f;
  }
  const usage = join(tmp, 'usage.txt');
  interface Sample {
    wall: number;
    cpu: number;
    rssMB: number;
    exit: number;
  }
  const measure = (file: string): Sample => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(
      '/usr/bin/time',
      ['-q', '-f', '%U %S %M', '-o', usage, process.execPath, 'dist/multinode.mjs', 'validate', file],
      { cwd: root, stdio: 'ignore' },
    );
    const wall = Number(process.hrtime.bigint() - t0) / 1e6;
    const [user = NaN, sys = NaN, rssKB = NaN] = readFileSync(usage, 'utf8').trim().split(/\s+/).map(Number);
    return { wall, cpu: (user + sys) * 1000, rssMB: rssKB / 1024, exit: r.status ?? -1 };
  };
  const samples: Record<string, Sample[]> = Object.fromEntries(Object.keys(files).map((k) => [k, []]));
  for (let i = 0; i < runs; i++) {
    for (const [name, file] of Object.entries(files)) samples[name]?.push(measure(file));
  }
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  const stat = (name: string, k: keyof Sample): number => med((samples[name] ?? []).map((s) => s[k]));
  const base = 'ordinary 4 KB';
  console.log(`runs per case: ${runs} (interleaved); medians; ratios to the ordinary 4 KB file`);
  console.log(
    `${'case'.padEnd(22)} ${'bytes'.padStart(8)} ${'exit'.padStart(4)} ${'wall'.padStart(9)} ${'×'.padStart(6)} ${'cpu'.padStart(9)} ${'×'.padStart(6)} ${'max RSS'.padStart(9)} ${'×'.padStart(6)}`,
  );
  let met = true;
  for (const [name, file] of Object.entries(files)) {
    const wall = stat(name, 'wall');
    const cpu = stat(name, 'cpu');
    const rss = stat(name, 'rssMB');
    if (wall > 2000 || rss > 256) met = false;
    console.log(
      `${name.padEnd(22)} ${String(readFileSync(file).length).padStart(8)} ${String(stat(name, 'exit')).padStart(4)} ${`${wall.toFixed(0)} ms`.padStart(9)} ${(wall / stat(base, 'wall')).toFixed(2).padStart(6)} ${`${cpu.toFixed(0)} ms`.padStart(9)} ${(cpu / stat(base, 'cpu')).toFixed(2).padStart(6)} ${`${rss.toFixed(0)} MB`.padStart(9)} ${(rss / stat(base, 'rssMB')).toFixed(2).padStart(6)}`,
    );
  }
  console.log(`load average: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  console.log(`targets ≤ 2 s and ≤ 256 MB per file: ${met ? 'met' : 'NOT met'}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
