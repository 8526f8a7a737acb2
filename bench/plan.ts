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
 *   node --import tsx bench/plan.ts [rounds]
 */
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
