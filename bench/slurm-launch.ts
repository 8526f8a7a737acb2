/**
 * Time to all ranks running for an 8-node no-op service, side by side and interleaved:
 *   hand    a hand-written sbatch (`srun` one task per node) submitted with sbatch
 *   up-api  slurmUp(file, { detach }) in-process: parse → plan → render → sbatch
 *   up-cli  `multinode up --target slurm --cluster C -d FILE` as a process (adds CLI start-up)
 *   local   `multinode up -d --cluster C FILE` on the same emulated nodes (the local runtime)
 * The CLI runs as users run it (`./multinode` → the code-cached bundle `node dist/fast/cli-run.cjs`, built first), so the
 * detached supervisor starts from the bundle too; MN_BENCH_TSX=1 runs it through tsx instead. The local
 * variant's recorded phases (place/network/spawn) and the load average are printed with each round.
 * "Running" = every rank has written its start time (date +%s%N) to a marker file; the figure is the
 * latest marker minus the moment the command was started. Needs root; uses `cluster create --slurm`.
 *
 *   node --import tsx bench/slurm-launch.ts [rounds=5]
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { slurmUp } from '../src/app/slurm.js';
import { readSlurmCluster } from '../src/targets/slurm/cluster.js';
import { clusterDir, serviceDir } from '../src/targets/local/paths.js';
import { readSlurmJobRecords, runSlurm, slurmJobRecordPath } from '../src/targets/slurm/jobs.js';
import type { SlurmClient } from '../src/targets/slurm/jobs.js';
import { CLI_BUNDLE, cliEnv } from './stats.js';

const ROOT = resolve(import.meta.dirname, '..');
const MAIN = join(ROOT, 'src/cli/main.ts');
const NODES = 8;
const rounds = Number(process.argv[2] ?? 5);
const cluster = `slb-${process.pid % 100000}`;
const scratch = mkdtempSync(join(tmpdir(), 'mn-bench-slurm-'));
chmodSync(scratch, 0o755);

const TSX = process.env['MN_BENCH_TSX'] === '1';
const CLI = TSX ? ['--import', 'tsx', MAIN] : [join(ROOT, CLI_BUNDLE)];
if (!TSX && spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' }).status !== 0)
  throw new Error('build failed');
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function cli(args: readonly string[], check = true): { code: number; out: string } {
  const r = spawnSync(process.execPath, [...CLI, ...args], {
    cwd: ROOT,
    // The supervisor's start-up trace (src/targets/local/trace.ts) goes to its log: shown per round.
    env: TSX ? { ...process.env, NO_COLOR: '1', MULTINODE_TRACE: '1' } : cliEnv({ MULTINODE_TRACE: '1' }),
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (check && r.status !== 0) throw new Error(`multinode ${args.join(' ')} failed: ${r.stderr}${r.stdout}`);
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

function outDir(variant: string): string {
  const d = join(scratch, variant);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });
  chmodSync(d, 0o777);
  return d;
}

function specFile(variant: string, service: string, out: string): string {
  const f = join(scratch, `${variant}.yaml`);
  writeFileSync(
    f,
    `version: v1
services:
  ${service}:
    env:
      - MN_BENCH_OUT=${out}
    script: |
      #!/bin/sh
      date +%s%N > "$MN_BENCH_OUT/rank-$MULTINODE_NODE_RANK"
    multinode:
      nodes: ${NODES}
      launch: all
    restart:
      policy: never
`,
  );
  return f;
}

async function allRunning(out: string, t0ns: bigint, timeoutMs = 90_000): Promise<number> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const files = readdirSync(out).filter((f) => f.startsWith('rank-'));
    if (files.length === NODES) {
      let last = 0n;
      for (const f of files) {
        const t = BigInt(readFileSync(join(out, f), 'utf8').trim() || '0');
        if (t > last) last = t;
      }
      if (last > 0n) return Number(last - t0ns) / 1e6;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`ranks did not all start within ${timeoutMs} ms (${out})`);
}

async function drain(client: SlurmClient): Promise<void> {
  for (let i = 0; i < 300; i++) {
    // No job left, and every node idle again (not still completing the last one).
    const q = await runSlurm(client, ['squeue', '-h', '-o', '%i'], undefined, { check: false });
    const n = await runSlurm(client, ['sinfo', '-h', '-N', '-o', '%t'], undefined, { check: false });
    const states = n.stdout.trim().split(/\s+/);
    if (q.stdout.trim() === '' && states.length === NODES && states.every((x) => x === 'idle')) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The supervisor's trace lines (`multinode-trace <epoch ms> <pid> <label>`) as `ms label` after t0. */
function traceSince(log: string, t0ns: bigint): string {
  let text = '';
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return '';
  }
  const t0 = Number(t0ns / 1_000_000n);
  return text
    .split('\n')
    .map((l) => /^multinode-trace (\S+) \d+ (.*)$/.exec(l))
    .filter((m) => m !== null)
    .map((m) => `${(Number(m[1]) - t0).toFixed(0)} ${m[2] ?? ''}`)
    .join('; ');
}

const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('slurm-launch bench: needs root (emulated cluster + Slurm); skipped');
    return;
  }
  const before = new Set((await readSlurmJobRecords()).map((r) => r.id));
  const results: Record<string, number[]> = { hand: [], 'up-api': [], 'up-cli': [], local: [] };
  let localOk = true;
  let localPhases = '';
  let localTrace = '';
  try {
    const t = Date.now();
    cli(['cluster', 'create', cluster, '--nodes', String(NODES), '--cores', '2', '--slurm']);
    console.log(`cluster ${cluster}: ${NODES} nodes + Slurm in ${Date.now() - t} ms`);
    const info = await readSlurmCluster(join(clusterDir(cluster), 'slurm'));
    if (!info) throw new Error('no Slurm cluster info');
    const client: SlurmClient = { argv: info.clientArgv };
    const hand = join(scratch, 'hand.sbatch');
    writeFileSync(
      hand,
      `#!/bin/bash
#SBATCH --job-name=hand
#SBATCH --nodes=${NODES}
#SBATCH --ntasks-per-node=1
srun bash -c 'date +%s%N > "$OUT/rank-$SLURM_NODEID"'
`,
    );
    const variants: [string, () => Promise<number | undefined>][] = [
      [
        'hand',
        async () => {
          const out = outDir('hand');
          const t0 = nowNs();
          await runSlurm(client, ['sbatch', '--output=/dev/null', hand], undefined, { env: { OUT: out } });
          return allRunning(out, t0);
        },
      ],
      [
        'up-api',
        async () => {
          const out = outDir('up-api');
          const file = specFile('up-api', 'bench-api', out);
          const t0 = nowNs();
          await slurmUp(file, { clientArgv: info.clientArgv, detach: true });
          return allRunning(out, t0);
        },
      ],
      [
        'up-cli',
        async () => {
          const out = outDir('up-cli');
          const file = specFile('up-cli', 'bench-cli', out);
          const t0 = nowNs();
          cli(['up', '--target', 'slurm', '--cluster', cluster, '-d', file]);
          return allRunning(out, t0);
        },
      ],
      [
        'local',
        async () => {
          if (!localOk) return undefined;
          const out = outDir('local');
          const file = specFile('local', 'bench-local', out);
          const t0 = nowNs();
          const r = cli(['up', '-d', '--cluster', cluster, file], false);
          if (r.code !== 0) {
            localOk = false;
            const dir = serviceDir('bench-local');
            for (const f of ['supervisor.log', 'logs/rank-0.log', `logs/rank-${NODES - 1}.log`]) {
              let text = '';
              try {
                text = readFileSync(join(dir, f), 'utf8');
              } catch {
                continue;
              }
              console.log(`--- ${f} (last lines)\n${text.trim().split('\n').slice(-6).join('\n')}`);
            }
            if (process.env['MN_BENCH_KEEP'] === '1') {
              console.log('MN_BENCH_KEEP=1: stopping here with the cluster and service left for inspection');
              process.exit(1);
            }
            console.log(
              `local runtime \`up -d\` unavailable: ${r.out.trim().split('\n').slice(-2).join(' ')}`,
            );
            return undefined;
          }
          try {
            return await allRunning(out, t0, 60_000);
          } finally {
            const ps = cli(['ps', '--output', 'json'], false).out;
            const m = /"timings":\s*(\{[^}]*\})/.exec(ps);
            if (m?.[1]) localPhases = m[1].replace(/\s+/g, '');
            localTrace = traceSince(join(serviceDir('bench-local'), 'supervisor.log'), t0);
            cli(['down', 'bench-local'], false);
          }
        },
      ],
    ];
    for (let round = 1; round <= rounds; round++) {
      const line: string[] = [];
      // Rotate the order each round so no variant always follows the same one.
      for (let k = 0; k < variants.length; k++) {
        const v = variants[(k + round - 1) % variants.length];
        if (!v) continue;
        await drain(client);
        const ms = await v[1]();
        if (ms !== undefined) results[v[0]]?.push(ms);
        line.push(`${v[0]} ${ms?.toFixed(0) ?? '-'} ms`);
      }
      await drain(client);
      console.log(`round ${round}: ${line.join(', ')}  (local phases ${localPhases}; load ${load()})`);
      if (localTrace !== '') console.log(`  local trace (ms after the command started): ${localTrace}`);
    }
  } finally {
    cli(['down', 'bench-local'], false);
    cli(['cluster', 'delete', '--force', cluster], false);
    for (const r of await readSlurmJobRecords()) {
      if (
        before.has(r.id) ||
        !r.client.argv.some((a) => a.includes(cluster) || a.includes(clusterDir(cluster)))
      )
        continue;
      for (const f of [slurmJobRecordPath(r), r.scriptPath, r.output]) rmSync(f, { force: true });
    }
    rmSync(scratch, { recursive: true, force: true });
  }
  const hand = median(results['hand'] ?? []);
  console.log(
    `\ntime to all ${NODES} ranks running (median of ${rounds}, interleaved; CLI ${TSX ? 'through tsx' : 'bundled'}; load ${load()}):`,
  );
  console.log('variant  median_ms  min_ms  max_ms  ratio_vs_hand_sbatch');
  for (const [k, v] of Object.entries(results)) {
    if (v.length === 0) {
      console.log(`${k.padEnd(7)}  -`);
      continue;
    }
    const m = median(v);
    console.log(
      `${k.padEnd(7)}  ${m.toFixed(0).padStart(9)}  ${Math.min(...v)
        .toFixed(0)
        .padStart(6)}  ${Math.max(...v)
        .toFixed(0)
        .padStart(6)}  ${(m / hand).toFixed(2)}x`,
    );
  }
}

await main();
