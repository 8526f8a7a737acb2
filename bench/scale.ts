/**
 * How `up -d` and `down` grow with the nodes of one service (run as root:
 * `node --import tsx bench/scale.ts [sizes=8,32,64,128,200] [rounds=1] [--trace] [--trace-down]`).
 * One cluster of 250 nodes; for each size, a no-op service (`sleep infinity`, one rank per node, overlay) is
 * brought up with the bundled CLI (`node dist/fast/cli-run.cjs up -d`, as `./multinode` runs it) until every rank
 * runs and the group is ready, then taken down. Rows: wall ms of `up -d` and `down`, ms per node, the
 * slope from the previous size (ms per added node: constant when growth is linear, rising when a step is
 * quadratic), the recorded phases, and the load average when the row was taken. The ratio column is ms per
 * node against the 15 ms/node target. `--trace` also counts the processes each `up` started (strace -f
 * -e execve; slows that run down, so it is a separate run, not timed) to show which grow with the nodes.
 * `--trace-down` prints where each size's `down` spent its time (its MULTINODE_TRACE steps).
 * `--baseline=DIR`: a second checkout with its bundle built (say the commit before a change): each round
 * runs its `up -d` / `down` too, on the same cluster, the two interleaved (which goes first alternates), and
 * each size gets a row for it and the ratio of the two.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CLI_BUNDLE, cliEnv, median } from './stats.js';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const TRACE = process.argv.includes('--trace');
/** `--trace-down`: each size's (last) `down` runs with MULTINODE_TRACE=1; its steps are printed after the rows. */
const TRACE_DOWN = process.argv.includes('--trace-down');
const downSteps = new Map<number, string>();
const BASELINE = process.argv.find((a) => a.startsWith('--baseline='))?.slice('--baseline='.length);

/** A CLI's `multinode-trace <epoch ms> <pid> <label>` lines as `label +ms` (ms since the step before). */
function traceSteps(out: string, t0: number): string {
  let last = t0;
  const steps: string[] = [];
  for (const m of out.matchAll(/^multinode-trace ([\d.]+) \d+ (.*)$/gm)) {
    const at = Number(m[1]);
    steps.push(
      `${(m[2] ?? '').replace(/^down: /, '').replace(/ \(\+\d+\)$/, '')} +${(at - last).toFixed(0)}`,
    );
    last = at;
  }
  return steps.join(', ');
}
const SIZES = (args[0] ?? '8,32,64,128,200').split(',').map(Number);
const ROUNDS = Number(args[1] ?? 1);
const CLUSTER_NODES = 250;
const TARGET_MS_PER_NODE = 15;

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, CLI_BUNDLE);
// A short path: a service's ssh control directory (`<state>/services/<name>/ssh/cm`) then fits a socket path
// and stays inside the state directory.
const STATE = mkdtempSync(join(tmpdir(), 'mn-sc-'));
process.env['MULTINODE_STATE_DIR'] = STATE;
const C = `scale${process.pid % 10000}`;

const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function cli(
  argv: readonly string[],
  env: Readonly<Record<string, string>> = {},
  program: string = CLI,
): { code: number; out: string; ms: number } {
  const t = performance.now();
  const r = spawnSync(process.execPath, [program, ...argv], {
    cwd: ROOT,
    env: cliEnv(env),
    encoding: 'utf8',
    timeout: 600_000,
  });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}`, ms: performance.now() - t };
}

function specFile(nodes: number): string {
  const f = join(STATE, `noop${nodes}.yaml`);
  writeFileSync(
    f,
    `version: v1
services:
  sc${nodes}:
    script: |
      #!/bin/sh
      exec sleep infinity
    multinode:
      nodes: ${nodes}
      launch: all
    resource:
      cpu:
        cores: 1
      memory:
        size: 16MB
`,
  );
  return f;
}

interface Ps {
  name: string;
  status: string;
  ranks: { alive: boolean }[];
  timings: Record<string, number>;
}
function ps(name: string): Ps | undefined {
  const r = cli(['ps', '--output', 'json']);
  return (JSON.parse(r.out.slice(r.out.indexOf('['))) as Ps[]).find((s) => s.name === name);
}

/** Processes started during one `up -d` (by binary), via strace; stops tracing once the service is ready. */
async function traceUp(nodes: number): Promise<Map<string, number>> {
  const out = join(STATE, `trace-${nodes}.txt`);
  const st = spawn(
    'strace',
    [
      '-f',
      '-e',
      'trace=execve',
      '-e',
      'signal=none',
      '-o',
      out,
      process.execPath,
      CLI,
      'up',
      '-d',
      '--cluster',
      C,
      specFile(nodes),
    ],
    {
      stdio: 'ignore',
      env: { ...process.env, NO_COLOR: '1' },
    },
  );
  const name = `sc${nodes}`;
  for (let i = 0; i < 6000; i++) {
    await new Promise((r) => setTimeout(r, 100));
    if (ps(name)?.status === 'ready') break;
  }
  st.kill('SIGTERM'); // detaches from the (detached) supervisor, which keeps running
  await new Promise((r) => st.once('exit', r));
  const counts = new Map<string, number>();
  for (const line of readFileSync(out, 'utf8').split('\n')) {
    const m = /execve\("([^"]+)"/.exec(line);
    if (!m?.[1] || /ENOENT/.test(line)) continue;
    const bin = m[1].split('/').at(-1) ?? m[1];
    counts.set(bin, (counts.get(bin) ?? 0) + 1);
  }
  cli(['down', name]);
  return counts;
}

if (process.getuid?.() !== 0) {
  console.log('scale bench: needs root');
  process.exit(0);
}
if (
  spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' }).status !== 0 ||
  !existsSync(CLI)
)
  throw new Error('build failed');
try {
  let t = performance.now();
  const made = cli(['cluster', 'create', C, '--nodes', String(CLUSTER_NODES)]);
  if (made.code !== 0) throw new Error(made.out);
  console.log(
    `cluster ${C}: ${CLUSTER_NODES} nodes in ${(performance.now() - t).toFixed(0)} ms (load ${load()})`,
  );
  console.log(
    `\`up -d\` / \`down\` of one no-op service, one rank per node (median of ${ROUNDS}); target ≤ ${TARGET_MS_PER_NODE} ms/node, linear`,
  );
  console.log(
    `${'nodes'.padStart(5)} ${'up ms'.padStart(7)} ${'ms/node'.padStart(7)} ${'ratio'.padStart(6)} ${'slope'.padStart(6)}   ${'down ms'.padStart(7)} ${'ms/node'.padStart(7)} ${'ratio'.padStart(6)} ${'slope'.padStart(6)}   phases place/network/spawn/ready        load`,
  );
  const programs = [
    { label: '', path: CLI },
    ...(BASELINE !== undefined
      ? [
          {
            label: 'base',
            // As its `./multinode` runs it: the code-cached bundle where that checkout has one.
            path: [CLI_BUNDLE, 'dist/multinode.mjs']
              .map((f) => join(resolve(BASELINE), f))
              .find((f) => existsSync(f)) as string,
          },
        ]
      : []),
  ];
  const prev = new Map<string, { n: number; up: number; down: number }>();
  for (const n of SIZES) {
    const ups = programs.map((): number[] => []);
    const downs = programs.map((): number[] => []);
    const phases = programs.map((): Record<string, number> => ({}));
    const l0 = load();
    for (let i = 0; i < ROUNDS; i++) {
      const order = programs.map((_, k) => k);
      if (i % 2 === 1) order.reverse();
      for (const k of order) {
        const program = programs[k]?.path ?? CLI;
        const file = specFile(n);
        const up = cli(['up', '-d', '--cluster', C, file], {}, program);
        if (up.code !== 0) throw new Error(`up of ${n} nodes: ${up.out}`);
        const s = ps(`sc${n}`);
        if (!s || s.ranks.length !== n || !s.ranks.every((r) => r.alive))
          throw new Error(`not all ${n} ranks run`);
        phases[k] = s.timings;
        ups[k]?.push(up.ms);
        t = performance.now();
        const t0 = Date.now();
        const down = cli(['down', `sc${n}`], TRACE_DOWN ? { MULTINODE_TRACE: '1' } : {}, program);
        if (down.code !== 0) throw new Error(`down of ${n} nodes: ${down.out}`);
        downs[k]?.push(performance.now() - t);
        if (TRACE_DOWN && k === 0 && i === ROUNDS - 1) downSteps.set(n, traceSteps(down.out, t0));
        spawnSync('sleep', ['2']); // the kernel frees namespaces asynchronously
      }
    }
    programs.forEach((p, k) => {
      const up = median(ups[k] ?? []);
      const down = median(downs[k] ?? []);
      const before = prev.get(p.label);
      const slope = (a: number, b: number) => (before ? ((a - b) / (n - before.n)).toFixed(1) : '-');
      const ph = phases[k] ?? {};
      console.log(
        `${`${p.label} ${n}`.padStart(5)} ${up.toFixed(0).padStart(7)} ${(up / n).toFixed(1).padStart(7)} ${`${(up / n / TARGET_MS_PER_NODE).toFixed(2)}×`.padStart(6)} ${slope(up, before?.up ?? 0).padStart(6)}   ${down.toFixed(0).padStart(7)} ${(down / n).toFixed(1).padStart(7)} ${`${(down / n / TARGET_MS_PER_NODE).toFixed(2)}×`.padStart(6)} ${slope(down, before?.down ?? 0).padStart(6)}   ${`${ph['place']}/${ph['network']}/${ph['spawn']}/${ph['ready']}`.padEnd(32)} ${l0}`,
      );
      prev.set(p.label, { n, up, down });
    });
    if (programs.length > 1)
      console.log(
        `      up this / base ${(median(ups[0] ?? []) / median(ups[1] ?? [])).toFixed(2)}, down ${(median(downs[0] ?? []) / median(downs[1] ?? [])).toFixed(2)} (load now ${load()})`,
      );
  }
  for (const [n, steps] of downSteps)
    console.log(`down of ${n} nodes, steps (ms since the one before): ${steps}`);
  if (TRACE) {
    const small = SIZES[0] ?? 8;
    const big = SIZES.at(-1) ?? 200;
    const a = await traceUp(small);
    const b = await traceUp(big);
    console.log(`processes started by one \`up -d\` (strace): ${small} vs ${big} nodes, per node`);
    for (const bin of [...new Set([...a.keys(), ...b.keys()])].sort(
      (x, y) => (b.get(y) ?? 0) - (b.get(x) ?? 0),
    ))
      console.log(
        `  ${bin.padEnd(14)} ${String(a.get(bin) ?? 0).padStart(5)} ${String(b.get(bin) ?? 0).padStart(6)}   ${((a.get(bin) ?? 0) / small).toFixed(2)} ${((b.get(bin) ?? 0) / big).toFixed(2)}`,
      );
  }
} finally {
  const left = cli(['ps', '--output', 'json']);
  for (const m of left.out.matchAll(/"name":\s*"(sc\d+)"/g)) if (m[1]) cli(['down', m[1]]);
  cli(['cluster', 'delete', '--force', C]);
  rmSync(STATE, { recursive: true, force: true });
}
