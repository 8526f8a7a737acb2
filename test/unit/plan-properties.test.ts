/**
 * Properties over generated specs and inventories: every rank placed exactly once, nothing double-booked
 * (CPUs, GPUs, NICs, host ports — against the inventory and between ranks), env consistent across ranks,
 * deterministic output and hash, and infeasible plans that explain themselves.
 */
import { test } from 'node:test';
import { literal } from './helpers/plan-helpers.js';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { GpuDevice, Inventory, InventoryNode } from '../../src/api/inventory.js';
import type { Plan } from '../../src/api/plan.js';
import type { EnvCompatFamily, Implementation, ServiceSpec, Spec } from '../../src/api/spec.js';
import {
  canonicalJson,
  computePlanHash,
  defaultPlanOptions,
  generateInventory,
  planSpec,
} from '../../src/plan/index.js';
import { buildSpec, service } from './helpers/spec-builder.js';
import { contentHash, contentHashStreamed } from '../../src/lib/canonical.js';

const MODELS = ['NVIDIA L4', 'NVIDIA H100'];

/** True one time in four. */
const rarely = fc.integer({ min: 0, max: 3 }).map((x) => x === 0);

const inventoryArb: fc.Arbitrary<Inventory> = fc
  .record({
    nodes: fc.integer({ min: 2, max: 12 }),
    gpus: fc.integer({ min: 0, max: 8 }),
    cores: fc.integer({ min: 4, max: 32 }),
    numa: fc.integer({ min: 1, max: 4 }),
    nics: fc.integer({ min: 0, max: 3 }),
    blocks: fc.integer({ min: 1, max: 3 }),
    model: fc.constantFrom(...MODELS),
    memGi: fc.integer({ min: 4, max: 64 }),
    taken: fc.array(
      fc.record({
        node: fc.nat(),
        cpus: fc.array(fc.nat({ max: 31 }), { maxLength: 6 }),
        gpus: fc.array(fc.nat({ max: 7 }), { maxLength: 3 }),
        ports: fc.array(fc.constantFrom(8080, 2222, 29500, 20000, 20001), { maxLength: 3 }),
        listening: fc.array(fc.constantFrom(8080, 9000, 2222), { maxLength: 2 }),
        nic: fc.boolean(),
        exclusive: rarely,
      }),
      { maxLength: 4 },
    ),
  })
  .map((o) => {
    const inv = generateInventory({
      nodes: o.nodes,
      gpusPerNode: o.gpus,
      cores: o.cores,
      numaDomains: o.numa,
      fabricNics: o.nics,
      blocks: o.blocks,
      gpuModel: o.model,
      memoryBytes: o.memGi * 2 ** 30,
    });
    const nodes = inv.nodes.map((n): InventoryNode => n);
    for (const t of o.taken) {
      const k = t.node % nodes.length;
      const n = nodes[k];
      if (!n) continue;
      nodes[k] = {
        ...n,
        // Half of the nodes get the other GPU model, so model constraints bite.
        gpus:
          k % 2 === 1
            ? n.gpus.map((g) => ({
                ...g,
                model: MODELS[0] === g.model ? (MODELS[1] ?? '') : (MODELS[0] ?? ''),
              }))
            : n.gpus,
        taken: {
          cpus: [...new Set(t.cpus)].filter((c) => c < o.cores),
          memoryBytes: 2 ** 29,
          gpus: [...new Set(t.gpus)].filter((g) => g < o.gpus),
          fabricNics: t.nic && o.nics > 0 ? ['fabric0'] : [],
          ports: t.ports,
          services: ['old'],
          ...(t.exclusive ? { exclusive: true } : {}),
        },
        listening: t.listening,
      };
    }
    return { ...inv, nodes, services: [{ name: 'old', subnet: '198.18.130.0/24', vni: 5000 }] };
  });

const serviceArb = (name: string): fc.Arbitrary<ServiceSpec> =>
  fc
    .record({
      nodes: fc.integer({ min: 1, max: 4 }),
      cores: fc.integer({ min: 1, max: 4 }),
      gpus: fc.integer({ min: 0, max: 2 }),
      model: fc.option(fc.constantFrom(...MODELS), { nil: undefined }),
      memGi: fc.integer({ min: 0, max: 4 }),
      nics: fc.integer({ min: 0, max: 1 }),
      host: fc.boolean(),
      ports: fc.array(fc.oneof(fc.constant<'auto'>('auto'), fc.constantFrom(8080, 9000, 9001)), {
        maxLength: 2,
      }),
      strategy: fc.constantFrom('spread' as const, 'pack' as const),
      topo: fc.option(fc.constantFrom('block', 'rack'), { nil: undefined }),
      required: rarely,
      exclusive: rarely,
      numa: fc.boolean(),
      impl: fc.constantFrom<Implementation>('ompi', 'mpich', 'gasnet', 'generic'),
      compat: fc.subarray<EnvCompatFamily>(['slurm', 'skypilot', 'lws', 'volcano', 'backendai', 'dstack']),
      launch: fc.constantFrom('leader' as const, 'all' as const),
    })
    .map((o) =>
      service(name, {
        nodes: o.nodes,
        implementation: o.impl,
        launch: o.launch,
        hostNetwork: o.host,
        envCompat: o.compat,
        ports: o.ports.map((p, k) =>
          p === 'auto'
            ? { name: `p${k}`, port: 7000 + k, protocol: 'tcp' as const, hostPort: 'auto' as const }
            : { name: `p${k}`, port: p + k * 1000, protocol: 'tcp' as const },
        ),
        resource: {
          cpuCores: o.cores,
          cpuAffinity: o.numa ? 'NUMA' : 'none',
          memoryBytes: o.memGi * 2 ** 30,
          memoryText: `${o.memGi}Gi`,
          gpus: o.gpus,
          ...(o.model === undefined ? {} : { gpuModel: o.model }),
          fabricNics: Array.from({ length: o.nics }, (_, k) => `fabric${k}`),
        },
        placement: {
          strategy: o.strategy,
          ...(o.topo === undefined ? {} : { topologyKey: o.topo }),
          topologyMode: o.required ? 'required' : 'preferred',
          exclusive: o.exclusive,
        },
      }),
    );

const specArb: fc.Arbitrary<Spec> = fc
  .integer({ min: 1, max: 3 })
  .chain((count) => fc.tuple(...Array.from({ length: count }, (_, k) => serviceArb(`s${k}`))))
  .map((services) => buildSpec(services));

const seedArb = fc.integer({ min: 0, max: 2 ** 31 - 1 });

function checkNoDoubleBooking(plan: Plan, inv: Inventory): void {
  const byName = new Map(inv.nodes.map((n) => [n.name, n]));
  const used = new Map<string, Set<string>>();
  const claim = (node: string, what: string): void => {
    let s = used.get(node);
    if (!s) {
      s = new Set();
      used.set(node, s);
    }
    assert.ok(!s.has(what), `${what} double-booked on ${node}`);
    s.add(what);
  };
  for (const svc of plan.services) {
    const rankIds = svc.ranks.map((r) => r.rank);
    assert.deepEqual(
      rankIds,
      Array.from({ length: svc.nodes }, (_, k) => k),
      'every rank placed exactly once',
    );
    if (svc.ranks.length > 0 && svc.ranks.every((r) => r.node === svc.ranks[0]?.node) && svc.nodes > 1) {
      // only legal when packing
    }
    for (const r of svc.ranks) {
      const node = byName.get(r.node);
      assert.ok(node, `rank on a known node ${r.node}`);
      assert.equal(r.nodeAddress, node.address);
      for (const c of r.cpus) {
        assert.ok(!node.taken.cpus.includes(c), `cpu ${c} was already taken on ${r.node}`);
        assert.ok(
          node.numa.some((d) => d.cpus.includes(c)),
          `cpu ${c} exists`,
        );
        claim(r.node, `cpu${c}`);
      }
      assert.equal(r.gpus.length, svc.gpusPerNode);
      for (const g of r.gpus) {
        assert.ok(!node.taken.gpus.includes(g), `gpu ${g} was already taken on ${r.node}`);
        const dev: GpuDevice | undefined = node.gpus.find((x) => x.index === g);
        if (dev === undefined) assert.fail(`gpu ${g} exists`);
        if (svc.gpuModel !== undefined) assert.equal(dev.model.toLowerCase(), svc.gpuModel.toLowerCase());
        claim(r.node, `gpu${g}`);
      }
      for (const f of r.fabricNics) {
        assert.ok(!node.taken.fabricNics.includes(f.device));
        claim(r.node, `nic:${f.device}`);
      }
      if (svc.network.mode === 'host') {
        const ports = [...r.ports.map((p) => p.hostPort), r.sshPort];
        if (r.tfPort !== undefined) ports.push(r.tfPort);
        if (r.rank === 0 && svc.masterPort !== undefined) ports.push(svc.masterPort);
        for (const p of ports) {
          assert.ok(
            !node.taken.ports.includes(p) && !node.listening.includes(p),
            `port ${p} in use on ${r.node}`,
          );
          claim(r.node, `port${p}`);
        }
      }
      assert.ok(!(node.taken.exclusive ?? false), `node ${r.node} is held exclusively`);
    }
  }
}

function checkEnvConsistent(plan: Plan): void {
  const shared = [
    'MULTINODE_SERVICE',
    'MULTINODE_NUM_NODES',
    'MULTINODE_LEADER_HOST',
    'MULTINODE_LEADER_IP',
    'MULTINODE_GPUS_PER_NODE',
    'MULTINODE_HOSTLIST',
    'MULTINODE_HOSTLIST_NOSLOTS',
    'MULTINODE_HOSTFILE',
    'MULTINODE_CLUSTER_FILE',
    'MASTER_ADDR',
    'MASTER_PORT',
    'SLURM_JOB_NODELIST',
    'SKYPILOT_NODE_IPS',
    'LWS_LEADER_ADDRESS',
    'BACKENDAI_CLUSTER_HOSTS',
  ];
  for (const svc of plan.services.map(literal)) {
    const r0 = svc.ranks[0];
    assert.ok(r0);
    for (const r of svc.ranks) {
      for (const k of shared) assert.equal(r.env[k], r0.env[k], `${k} agrees across ranks`);
      assert.equal(r.env['MULTINODE_NODE_RANK'], String(r.rank));
      assert.equal(r.env['MULTINODE_NODE_IP'], r.address);
      assert.equal(r.env['MULTINODE_LEADER_IP'], r0.address);
      for (const k of ['WORLD_SIZE', 'RANK', 'LOCAL_RANK']) assert.ok(!(k in r.env));
      assert.equal('MASTER_ADDR' in r.env, svc.nodes > 1);
      if (svc.nodes > 1) {
        const tf = JSON.parse(r.env['TF_CONFIG'] ?? '{}') as {
          task: { index: number };
          cluster: { worker: string[] };
        };
        assert.equal(tf.task.index, r.rank);
        assert.equal(tf.cluster.worker.length, svc.nodes);
      }
    }
    assert.equal(new Set(svc.ranks.map((r) => r.hostname)).size, svc.nodes);
    if (svc.network.mode === 'overlay')
      assert.equal(new Set(svc.ranks.map((r) => r.address)).size, svc.nodes);
  }
  const overlays = plan.services.filter((s) => s.network.mode === 'overlay');
  assert.equal(new Set(overlays.map((s) => s.network.subnet)).size, overlays.length, 'distinct subnets');
  assert.equal(new Set(overlays.map((s) => s.network.vni)).size, overlays.length, 'distinct VNIs');
  assert.ok(overlays.every((s) => s.network.subnet !== '198.18.130.0/24' && s.network.vni !== 5000));
}

test('property: feasible plans place every rank once and double-book nothing; env agrees', () => {
  fc.assert(
    fc.property(specArb, inventoryArb, seedArb, (spec, inv, seed) => {
      const r = planSpec(spec, inv, defaultPlanOptions({ seed }));
      if (!r.ok) return;
      checkNoDoubleBooking(r.plan, inv);
      checkEnvConsistent(r.plan);
      for (const svc of r.plan.services) {
        const s = spec.services.find((x) => x.name === svc.name);
        assert.ok(s);
        if (s.placement.strategy === 'spread')
          assert.equal(new Set(svc.ranks.map((x) => x.node)).size, svc.nodes, 'spread: one rank per node');
      }
    }),
    { numRuns: 300 },
  );
});

test('property: same input → byte-identical canonical JSON and a hash that matches', () => {
  fc.assert(
    fc.property(specArb, inventoryArb, seedArb, (spec, inv, seed) => {
      const a = planSpec(spec, inv, defaultPlanOptions({ seed }));
      const b = planSpec(structuredClone(spec), structuredClone(inv), defaultPlanOptions({ seed }));
      assert.equal(canonicalJson(a), canonicalJson(b));
      if (a.ok) {
        assert.match(a.plan.hash, /^[0-9a-f]{16}$/);
        assert.equal(a.plan.hash, computePlanHash(a.plan));
      }
    }),
    { numRuns: 150 },
  );
});

test('property: infeasible plans explain themselves', () => {
  fc.assert(
    fc.property(specArb, inventoryArb, seedArb, (spec, inv, seed) => {
      const r = planSpec(spec, inv, defaultPlanOptions({ seed }));
      if (r.ok) return;
      assert.ok(r.issues.length + r.reasons.length > 0);
      const names = new Set(inv.nodes.map((n) => n.name));
      for (const reason of r.reasons) {
        assert.ok(spec.services.some((s) => s.name === reason.service));
        assert.match(reason.summary, /^(needs \d+ nodes? with|needs room for \d+ ranks|no free host port)/);
        assert.ok(reason.nodes.length <= 51);
        for (const line of reason.nodes) {
          const node = line.split(':')[0] ?? '';
          assert.ok(names.has(node) || line.startsWith('…'), `line names a node: ${line}`);
        }
      }
      for (const i of r.issues) assert.ok(i.message.length > 0 && i.code.startsWith('plan-'));
    }),
    { numRuns: 300 },
  );
});

test('property: a spec that fits a fresh generated inventory is always feasible', () => {
  fc.assert(
    fc.property(serviceArb('s'), seedArb, (svc, seed) => {
      const plain = { ...svc, placement: { ...svc.placement, exclusive: false } };
      const inv = generateInventory({
        nodes: svc.nodes,
        gpusPerNode: svc.resource.gpus,
        ...(svc.resource.gpuModel === undefined ? {} : { gpuModel: svc.resource.gpuModel }),
        cores: svc.resource.cpuCores,
        memoryBytes: svc.resource.memoryBytes,
        fabricNics: svc.resource.fabricNics.length,
      });
      const r = planSpec(buildSpec([plain]), inv, defaultPlanOptions({ seed }));
      assert.ok(r.ok, JSON.stringify(r.ok ? '' : r.reasons));
    }),
    { numRuns: 200 },
  );
});

test('property: the streamed hash equals sha256 of the whole canonical JSON', () => {
  fc.assert(
    fc.property(
      fc.dictionary(fc.string(), fc.jsonValue()),
      fc.array(fc.jsonValue(), { maxLength: 5 }),
      (head, items) => {
        const value = { ...head, items };
        assert.equal(contentHashStreamed(value, 'items'), contentHash(value));
      },
    ),
    { numRuns: 300 },
  );
});

test('property: canonicalJson equals JSON.stringify of a deep key-sorted copy', () => {
  const reference = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map((x: unknown) => (x === undefined ? null : reference(x)));
    if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      return Object.fromEntries(
        Object.keys(o)
          .sort()
          .filter((k) => o[k] !== undefined)
          .map((k) => [k, reference(o[k])]),
      );
    }
    return v;
  };
  const withUndefined = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.jsonValue({ maxDepth: 2 }),
      fc.constant(undefined),
      fc.array(tie('value'), { maxLength: 4 }),
      fc.dictionary(fc.string({ maxLength: 3 }), tie('value'), { maxKeys: 5 }),
    ),
  })).value;
  fc.assert(
    fc.property(withUndefined, (v) => {
      assert.equal(canonicalJson(v), JSON.stringify(reference(v)) ?? 'null');
    }),
    { numRuns: 500 },
  );
});
