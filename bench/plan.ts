/**
 * Planner throughput: plan 1,000 services × 8 ranks onto a 10,000-node inventory with topology labels
 * (100 blocks, racks of 8) in one `planSpec` call, services placed in file order (each sees what the previous
 * took). Target ≥ 20,000 ranks placed per second.
 *
 * Reported side by side, interleaved round-robin over several rounds, median per row:
 * - `plan/<scenario>`: the whole `planSpec` (placement, addresses, ports, env, files, canonical hash);
 * - `place/<scenario>`: placement and resource allocation alone (gang placement, cores/GPUs/NICs taken),
 *   i.e. ranks placed per second;
 * Both as wall time and as this process's CPU time (the machine is shared; CPU time is steadier).
 *
 * Then one service of 10,000 host-mode ranks (ompi, launch all, auto ports, env-compat slurm/skypilot), plan +
 * render per target, each row in a fresh process so its peak RSS is its own (aim ≤ 1 s per row):
 * - `big/plan`: planSpec + the canonical JSON (`plan -o json`);
 * - `big/local`: planSpec + every rank's env and argv and the files resolved as the supervisor does;
 * - `big/kubernetes`: planSpec (Kubernetes paths) + renderKubernetes (objects and YAML);
 * - `big/slurm`: planSpec with the Slurm target's inventory and options + renderSlurm.
 *
 *   node --import tsx bench/plan.ts [rounds]
 */
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { Inventory } from '../src/api/inventory.js';
import type { PlanOptions } from '../src/api/plan.js';
import type { Spec } from '../src/api/spec.js';
import { defaultPlanOptions, generateInventory, planSpec } from '../src/plan/index.js';
import { allocateRank } from '../src/plan/allocate.js';
import { ClusterState, rankNeedFor } from '../src/plan/cluster-state.js';
import { placeGang } from '../src/plan/placement.js';
import { buildSpec, service } from '../test/unit/helpers/spec-builder.js';

const SERVICES = 1000;
const RANKS = 8;
const NODES = 10_000;
const TARGET = 20_000;
const rounds = Number(process.argv[2] ?? 5);
const BIG = 10_000;

/** One row of the 10,000-rank table, in this (fresh) process: prints `{ms, rssMiB}`. */
async function bigRow(row: string): Promise<void> {
  const { serializePlan, localLeaves, resolveArgv, resolveFiles, resolveRankEnv } =
    await import('../src/plan/index.js');
  const { renderKubernetes } = await import('../src/targets/kubernetes/index.js');
  const { K8S_FILES_DIR, K8S_SSH_WRAPPER } = await import('../src/targets/kubernetes/options.js');
  const { slurmInventory, slurmPlanOptions } = await import('../src/targets/slurm/target.js');
  const { renderSlurm } = await import('../src/targets/slurm/index.js');
  const work = (n: number): number => {
    const spec = buildSpec([
      service('big', {
        nodes: n,
        implementation: 'ompi',
        launch: 'all',
        hostNetwork: true,
        envCompat: ['slurm', 'skypilot'],
        imageUri: 'docker://example/trainer:1',
        ports: [{ name: 'http', port: 8000, protocol: 'tcp', hostPort: 'auto' }],
        resource: {
          cpuCores: 8,
          memoryBytes: 64 * 2 ** 30,
          memoryText: '64Gi',
          gpus: 1,
          gpuModel: 'NVIDIA H100',
        },
      }),
    ]);
    const inv = generateInventory({ nodes: n, gpusPerNode: 8, gpuModel: 'NVIDIA H100', cores: 64 });
    let bytes = 0;
    const plan = (o: Partial<PlanOptions>) => {
      const r = planSpec(spec, inv, defaultPlanOptions({ seed: 1, ...o }));
      if (!r.ok) throw new Error(JSON.stringify(r.reasons.slice(0, 1)));
      return r.plan;
    };
    if (row === 'plan') bytes = serializePlan(plan({})).length;
    else if (row === 'local') {
      const p = plan({});
      const svc = p.services[0];
      if (!svc) throw new Error('no service');
      const l = localLeaves(svc);
      for (const r of svc.ranks) {
        bytes += Object.keys(resolveRankEnv(svc, r.rank, l)).length;
        bytes += resolveArgv(svc, r.rank, l).length;
      }
      for (const f of resolveFiles(svc.files, l)) bytes += f.content.length;
    } else if (row === 'kubernetes') {
      const p = plan({
        target: 'kubernetes',
        filesDir: K8S_FILES_DIR,
        sshWrapperPath: K8S_SSH_WRAPPER,
        runAsRoot: true,
      });
      bytes = renderKubernetes(p, { spec }).yaml.length;
    } else if (row === 'slurm') {
      const r = planSpec(spec, slurmInventory(spec), slurmPlanOptions(1));
      if (!r.ok) throw new Error(JSON.stringify(r.reasons.slice(0, 1)));
      bytes = renderSlurm(r.plan).length;
    }
    return bytes;
  };
  work(200); // JIT warm-up, not timed
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  const bytes = work(BIG);
  const ms = performance.now() - t0;
  const rssMiB = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ ms, rssMiB, baseMiB: rss0 / 2 ** 20, bytes }));
}

if (process.argv[2] === '--big-row') {
  await bigRow(process.argv[3] ?? 'plan');
  process.exit(0);
}

const inventory: Inventory = generateInventory({
  nodes: NODES,
  gpusPerNode: 8,
  gpuModel: 'NVIDIA H100',
  cores: 64,
  numaDomains: 2,
  memoryBytes: 1024 * 2 ** 30,
  fabricNics: 4,
  blocks: 100,
});
const options: PlanOptions = defaultPlanOptions({ seed: 42, overlayPool: '10.0.0.0/8' });

type Scenario = 'overlay-block' | 'overlay-flat' | 'host-auto' | 'pack';
const scenarios: readonly Scenario[] = ['overlay-block', 'overlay-flat', 'host-auto', 'pack'];

function specFor(kind: Scenario): Spec {
  const services = Array.from({ length: SERVICES }, (_, k) =>
    service(`svc-${k}`, {
      nodes: RANKS,
      implementation: 'ompi',
      envCompat: ['slurm'],
      hostNetwork: kind === 'host-auto',
      ports:
        kind === 'host-auto'
          ? [{ name: 'http', port: 8000, protocol: 'tcp', hostPort: 'auto' }]
          : [{ name: 'http', port: 8000, protocol: 'tcp' }],
      resource: {
        cpuCores: 16,
        cpuAffinity: 'NUMA',
        memoryBytes: 128 * 2 ** 30,
        memoryText: '128Gi',
        gpus: kind === 'pack' ? 2 : 4,
        gpuModel: 'NVIDIA H100',
      },
      placement: {
        strategy: kind === 'pack' ? 'pack' : 'spread',
        ...(kind === 'overlay-flat' ? {} : { topologyKey: 'block' }),
        topologyMode: 'preferred',
      },
    }),
  );
  return buildSpec(services);
}

/** Placement and allocation only, as planSpec does them. */
function placeOnly(spec: Spec): number {
  const cluster = new ClusterState(inventory);
  let placed = 0;
  for (const svc of spec.services) {
    const need = rankNeedFor(svc);
    const r = placeGang(cluster, {
      need,
      ranks: svc.nodes,
      strategy: svc.placement.strategy,
      ...(svc.placement.topologyKey === undefined ? {} : { topologyKey: svc.placement.topologyKey }),
      topologyMode: svc.placement.topologyMode,
      formatBytes: String,
    });
    if (!r.ok) throw new Error(r.reason.summary);
    for (const i of r.nodes) {
      const res = allocateRank(cluster, i, need, svc.resource.cpuAffinity === 'NUMA');
      cluster.take(i, svc.name, res.cpus, need.memoryBytes, res.gpus, res.nics, need.exclusive);
      placed++;
    }
  }
  return placed;
}

const specs = new Map(scenarios.map((s) => [s, specFor(s)]));
const wall = new Map<string, number[]>();
const cpu = new Map<string, number[]>();
const record = (key: string, w: number, c: number): void => {
  wall.set(key, [...(wall.get(key) ?? []), w]);
  cpu.set(key, [...(cpu.get(key) ?? []), c]);
};
let counting = false;
const timed = (key: string, fn: () => void): void => {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  fn();
  const w = performance.now() - t0;
  const c = process.cpuUsage(c0);
  if (counting) record(key, w, (c.user + c.system) / 1000);
};

// Round -1 warms the JIT up and is not counted.
for (let round = -1; round < rounds; round++) {
  counting = round >= 0;
  for (const s of scenarios) {
    const spec = specs.get(s);
    if (!spec) continue;
    timed(`plan/${s}`, () => {
      const r = planSpec(spec, inventory, options);
      if (!r.ok)
        throw new Error(
          `${s}: ${JSON.stringify(r.reasons.slice(0, 1))} ${JSON.stringify(r.issues.slice(0, 1))}`,
        );
    });
    timed(`place/${s}`, () => {
      if (placeOnly(spec) !== SERVICES * RANKS) throw new Error('not all ranks placed');
    });
  }
}

const median = (xs: readonly number[]): number => {
  const a = [...xs].sort((x, y) => x - y);
  return a[Math.floor(a.length / 2)] ?? NaN;
};
const ranks = SERVICES * RANKS;
console.log(
  `planner: ${SERVICES} services × ${RANKS} ranks (${ranks}) onto ${NODES} nodes, 100 blocks; median of ${rounds} interleaved rounds after a warm-up round`,
);
console.log(
  `${'row'.padEnd(22)}${'wall ms'.padStart(9)}${'ranks/s'.padStart(10)}${'cpu ms'.padStart(9)}${'ranks/s'.padStart(10)}${'cpu vs 20k'.padStart(12)}`,
);
for (const kind of ['plan', 'place']) {
  for (const s of scenarios) {
    const key = `${kind}/${s}`;
    const w = median(wall.get(key) ?? []);
    const c = median(cpu.get(key) ?? []);
    const rw = ranks / (w / 1000);
    const rc = ranks / (c / 1000);
    console.log(
      `${key.padEnd(22)}${w.toFixed(0).padStart(9)}${Math.round(rw).toString().padStart(10)}${c.toFixed(0).padStart(9)}${Math.round(rc).toString().padStart(10)}${`${(rc / TARGET).toFixed(2)}×`.padStart(12)}`,
    );
  }
}

console.log('');
console.log(`one service of ${BIG} host-mode ranks (plan + render), each row in a fresh process; aim ≤ 1 s`);
console.log(
  `${'row'.padEnd(18)}${'wall ms'.padStart(9)}${'peak RSS MiB'.padStart(14)}${'(start)'.padStart(9)}${'output bytes'.padStart(14)}`,
);
for (const row of ['plan', 'local', 'kubernetes', 'slurm']) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', import.meta.filename, '--big-row', row], {
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    console.log(`big/${row}: failed: ${r.stderr.slice(0, 400)}`);
    continue;
  }
  const o = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as {
    ms: number;
    rssMiB: number;
    baseMiB: number;
    bytes: number;
  };
  console.log(
    `${`big/${row}`.padEnd(18)}${o.ms.toFixed(0).padStart(9)}${o.rssMiB.toFixed(0).padStart(14)}${o.baseMiB.toFixed(0).padStart(9)}${String(o.bytes).padStart(14)}`,
  );
}
