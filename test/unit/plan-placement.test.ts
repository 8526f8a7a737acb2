import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Inventory } from '../../src/api/inventory.js';
import type { Spec } from '../../src/api/spec.js';
import { defaultPlanOptions, generateInventory, planSpec } from '../../src/plan/index.js';
import { buildSpec, service } from './helpers/spec-builder.js';
import { mustFail, mustPlan, svcOf, withNode, withTaken } from './helpers/plan-helpers.js';

const gpuInv = (nodes: number, gpus = 2, extra = {}): Inventory =>
  generateInventory({ nodes, gpusPerNode: gpus, cores: 32, memoryBytes: 256e9, ...extra });

interface Placed {
  name: string;
  spec: Spec;
  inv: Inventory;
  nodes: string[];
}

const placedCases: Placed[] = [
  {
    name: 'spread (default) puts one rank per node, in inventory order',
    spec: buildSpec([service('a', { nodes: 2 })]),
    inv: gpuInv(3),
    nodes: ['node-1', 'node-2'],
  },
  {
    name: 'pack puts ranks on one node when it fits (seed 004 single-node cluster)',
    spec: buildSpec([service('a', { nodes: 4, resource: { gpus: 2 }, placement: { strategy: 'pack' } })]),
    inv: gpuInv(2, 8),
    nodes: ['node-1', 'node-1', 'node-1', 'node-1'],
  },
  {
    name: 'pack spills to the next node when the first is full',
    spec: buildSpec([service('a', { nodes: 3, resource: { gpus: 4 }, placement: { strategy: 'pack' } })]),
    inv: gpuInv(2, 8),
    nodes: ['node-1', 'node-1', 'node-2'],
  },
  {
    name: 'GPU model is a constraint (nvidia.com/gpu.model)',
    spec: buildSpec([service('a', { nodes: 2, resource: { gpus: 1, gpuModel: 'NVIDIA L4' } })]),
    inv: withNode(gpuInv(3), 'node-1', (n) => ({
      ...n,
      gpus: n.gpus.map((g) => ({ ...g, model: 'NVIDIA A100' })),
    })),
    nodes: ['node-2', 'node-3'],
  },
  {
    name: 'GPU model matches case-insensitively',
    spec: buildSpec([service('a', { nodes: 1, resource: { gpus: 1, gpuModel: 'nvidia l4' } })]),
    inv: gpuInv(1),
    nodes: ['node-1'],
  },
  {
    name: 'free memory is a constraint',
    spec: buildSpec([service('a', { nodes: 2, resource: { memoryBytes: 200e9, memoryText: '200GB' } })]),
    inv: withTaken(gpuInv(3), 'node-2', { memoryBytes: 100e9 }),
    nodes: ['node-1', 'node-3'],
  },
  {
    name: 'free cores are a constraint',
    spec: buildSpec([service('a', { nodes: 2, resource: { cpuCores: 20 } })]),
    inv: withTaken(gpuInv(3), 'node-1', { cpus: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13] }),
    nodes: ['node-2', 'node-3'],
  },
  {
    name: 'fabric NICs: a NIC in use elsewhere disqualifies the node',
    spec: buildSpec([service('a', { nodes: 2, resource: { fabricNics: ['fabric0', 'fabric1'] } })]),
    inv: withTaken(gpuInv(3, 0, { fabricNics: 2 }), 'node-1', { fabricNics: ['fabric1'] }),
    nodes: ['node-2', 'node-3'],
  },
  {
    name: 'host mode: a declared port taken on a node is a placement constraint',
    spec: buildSpec([
      service('a', { nodes: 2, hostNetwork: true, ports: [{ name: 'http', port: 8080, protocol: 'tcp' }] }),
    ]),
    inv: withTaken(gpuInv(3), 'node-1', { ports: [8080] }),
    nodes: ['node-2', 'node-3'],
  },
  {
    name: 'host mode: a port the runtime saw listening counts as taken',
    spec: buildSpec([
      service('a', { nodes: 2, hostNetwork: true, ports: [{ name: 'http', port: 8080, protocol: 'tcp' }] }),
    ]),
    inv: withNode(gpuInv(3), 'node-2', (n) => ({ ...n, listening: [8080] })),
    nodes: ['node-1', 'node-3'],
  },
  {
    name: 'overlay mode: host ports do not constrain placement',
    spec: buildSpec([service('a', { nodes: 2, ports: [{ name: 'http', port: 8080, protocol: 'tcp' }] })]),
    inv: withTaken(gpuInv(3), 'node-1', { ports: [8080] }),
    nodes: ['node-1', 'node-2'],
  },
  {
    name: 'exclusive skips nodes that run other services',
    spec: buildSpec([service('a', { nodes: 2, placement: { exclusive: true } })]),
    inv: withTaken(gpuInv(3), 'node-1', { services: ['other'] }),
    nodes: ['node-2', 'node-3'],
  },
  {
    name: 'a node held exclusively takes nothing else',
    spec: buildSpec([service('a', { nodes: 2 })]),
    inv: withTaken(gpuInv(3), 'node-2', { services: ['other'], exclusive: true }),
    nodes: ['node-1', 'node-3'],
  },
  {
    name: 'topology preferred: the first block with room for every rank',
    spec: buildSpec([service('a', { nodes: 2, resource: { gpus: 2 }, placement: { topologyKey: 'block' } })]),
    // block-0 = node-1,node-2 (node-1 full); block-1 = node-3,node-4
    inv: withTaken(gpuInv(4, 2, { blocks: 2 }), 'node-1', { gpus: [0, 1] }),
    nodes: ['node-3', 'node-4'],
  },
  {
    name: 'topology preferred: spans blocks (largest first) when no block fits',
    spec: buildSpec([service('a', { nodes: 3, placement: { topologyKey: 'block' } })]),
    inv: generateInventory({ nodes: 4, blocks: 2 }),
    nodes: ['node-1', 'node-2', 'node-3'],
  },
];

for (const c of placedCases) {
  test(`placement: ${c.name}`, () => {
    const plan = mustPlan(c.spec, c.inv);
    assert.deepEqual(
      svcOf(plan).ranks.map((r) => r.node),
      c.nodes,
    );
  });
}

interface Failing {
  name: string;
  spec: Spec;
  inv: Inventory;
  summary: RegExp;
  node?: RegExp;
}

const failingCases: Failing[] = [
  {
    name: 'gang: all ranks or none',
    spec: buildSpec([service('a', { nodes: 3, resource: { gpus: 1 } })]),
    inv: gpuInv(2),
    summary: /needs 3 nodes with 1 GPU, 1 core and 1Gi memory free; 2 of 2 qualify/,
  },
  {
    name: 'the seed-style summary names the model, memory and the nodes that fail',
    spec: buildSpec([
      service('vllm', {
        nodes: 4,
        resource: { gpus: 2, gpuModel: 'NVIDIA L4', memoryBytes: 120e9, memoryText: '120GB' },
      }),
    ]),
    inv: withTaken(
      withNode(gpuInv(4), 'node-3', (n) => ({
        ...n,
        gpus: n.gpus.map((g) => ({ ...g, model: 'NVIDIA T4' })),
      })),
      'node-4',
      { memoryBytes: 192e9 },
    ),
    summary:
      /^needs 4 nodes with 2× NVIDIA L4, 1 core and 120GB memory free; 2 of 4 qualify: node-3: lacks GPU model NVIDIA L4 \(has NVIDIA T4\), node-4: has 64GB free memory, needs 120GB$/,
    node: /^node-4: has 64GB free memory, needs 120GB$/,
  },
  {
    name: 'GPU count',
    spec: buildSpec([service('a', { nodes: 1, resource: { gpus: 4 } })]),
    inv: gpuInv(1, 2),
    summary: /needs 1 node with 4 GPUs/,
    node: /node-1: has 2 GPUs of that model, needs 4/,
  },
  {
    name: 'no GPUs at all',
    spec: buildSpec([service('a', { nodes: 1, resource: { gpus: 1 } })]),
    inv: gpuInv(1, 0),
    summary: /0 of 1 qualify/,
    node: /node-1: has no GPUs/,
  },
  {
    name: 'missing fabric NIC',
    spec: buildSpec([service('a', { nodes: 1, resource: { fabricNics: ['fabric2'] } })]),
    inv: gpuInv(1, 0, { fabricNics: 2 }),
    summary: /fabric NICs fabric2/,
    node: /lacks fabric NIC fabric2/,
  },
  {
    name: 'host port conflict on every node',
    spec: buildSpec([
      service('a', { nodes: 1, hostNetwork: true, ports: [{ name: 'http', port: 8080, protocol: 'tcp' }] }),
    ]),
    inv: withTaken(gpuInv(1), 'node-1', { ports: [8080] }),
    summary: /host ports 8080/,
    node: /node-1: host port 8080 is in use/,
  },
  {
    name: 'exclusive with every node busy',
    spec: buildSpec([service('a', { nodes: 1, placement: { exclusive: true } })]),
    inv: withTaken(gpuInv(1), 'node-1', { services: ['b'] }),
    summary: /exclusive/,
    node: /already runs b \(exclusive placement asked\)/,
  },
  {
    name: 'topology required: no single block has room',
    spec: buildSpec([
      service('a', { nodes: 3, placement: { topologyKey: 'block', topologyMode: 'required' } }),
    ]),
    inv: generateInventory({ nodes: 4, blocks: 2 }),
    summary: /no single block has room for all of them \(block-0: 2, block-1: 2\)/,
  },
  {
    name: 'pack: not enough room in total',
    spec: buildSpec([service('a', { nodes: 5, resource: { gpus: 4 }, placement: { strategy: 'pack' } })]),
    inv: gpuInv(2, 8),
    summary: /needs room for 5 ranks, each with 4 GPUs.*the nodes that qualify hold 4/,
  },
];

for (const c of failingCases) {
  test(`infeasible: ${c.name}`, () => {
    const { reasons, issues } = mustFail(c.spec, c.inv);
    assert.deepEqual(issues, []);
    assert.equal(reasons.length, 1);
    const r = reasons[0];
    assert.ok(r);
    assert.match(r.summary, c.summary);
    if (c.node) {
      const re = c.node;
      assert.ok(
        r.nodes.some((l) => re.test(l)),
        `a node line matching ${String(re)} in ${JSON.stringify(r.nodes)}`,
      );
    }
  });
}

test('placement: topology preferred that spans blocks warns', () => {
  const spec = buildSpec([service('a', { nodes: 3, placement: { topologyKey: 'block' } })]);
  const r = planSpec(spec, generateInventory({ nodes: 4, blocks: 2 }), defaultPlanOptions());
  assert.ok(r.ok);
  assert.equal(r.warnings.length, 1);
  assert.match(
    r.warnings[0]?.message ?? '',
    /no single block has room for all 3 ranks of a; the ranks span block-0 \(2\), block-1 \(1\)/,
  );
});

test('placement: services are placed in file order, each seeing what the previous took', () => {
  const spec = buildSpec([
    service('first', { nodes: 2, resource: { gpus: 8 } }),
    service('second', { nodes: 2, resource: { gpus: 8 } }),
  ]);
  const plan = mustPlan(spec, gpuInv(4, 8));
  assert.deepEqual(
    svcOf(plan, 'first').ranks.map((r) => r.node),
    ['node-1', 'node-2'],
  );
  assert.deepEqual(
    svcOf(plan, 'second').ranks.map((r) => r.node),
    ['node-3', 'node-4'],
  );
});

test('placement: two services share a node without double-booking GPUs or cores', () => {
  const spec = buildSpec([
    service('a', { nodes: 1, resource: { gpus: 2, cpuCores: 4 } }),
    service('b', { nodes: 1, resource: { gpus: 2, cpuCores: 4 } }),
  ]);
  const plan = mustPlan(spec, gpuInv(1, 4));
  const a = svcOf(plan, 'a').ranks[0];
  const b = svcOf(plan, 'b').ranks[0];
  assert.ok(a && b);
  assert.deepEqual(a.gpus, [0, 1]);
  assert.deepEqual(b.gpus, [2, 3]);
  assert.equal(a.cpus.filter((c) => b.cpus.includes(c)).length, 0);
});

test('placement: a failing service does not stop the others being reported', () => {
  const spec = buildSpec([service('big', { nodes: 9 }), service('gpu', { nodes: 1, resource: { gpus: 1 } })]);
  const { reasons } = mustFail(spec, generateInventory({ nodes: 2 }));
  assert.deepEqual(
    reasons.map((r) => r.service),
    ['big', 'gpu'],
  );
});

test('placement: a long list of failing nodes is capped', () => {
  const spec = buildSpec([service('a', { nodes: 1, resource: { gpus: 1 } })]);
  const { reasons } = mustFail(spec, generateInventory({ nodes: 80 }));
  const r = reasons[0];
  assert.ok(r);
  assert.equal(r.nodes.length, 51);
  assert.match(r.nodes[50] ?? '', /… and 30 more nodes/);
});

test('NUMA: cores from one domain and GPUs on that domain', () => {
  // 2 domains: cpus 0-15 (GPUs 0,1) and 16-31 (GPUs 2,3); domain 0 has only 4 free cores.
  const inv = withTaken(gpuInv(1, 4), 'node-1', {
    cpus: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
  });
  const spec = buildSpec([
    service('a', { nodes: 1, resource: { cpuCores: 8, gpus: 2, cpuAffinity: 'NUMA' } }),
  ]);
  const r = svcOf(mustPlan(spec, inv)).ranks[0];
  assert.ok(r);
  assert.equal(r.numaNode, 1);
  assert.deepEqual(r.cpus, [16, 17, 18, 19, 20, 21, 22, 23]);
  assert.deepEqual(r.gpus, [2, 3]);
});

test('NUMA: prefers the domain that also has the GPUs', () => {
  const inv = withTaken(gpuInv(1, 4), 'node-1', { gpus: [0, 1] });
  const spec = buildSpec([
    service('a', { nodes: 1, resource: { cpuCores: 4, gpus: 2, cpuAffinity: 'NUMA' } }),
  ]);
  const r = svcOf(mustPlan(spec, inv)).ranks[0];
  assert.ok(r);
  assert.equal(r.numaNode, 1);
  assert.deepEqual(r.gpus, [2, 3]);
  assert.deepEqual(r.cpus, [16, 17, 18, 19]);
});

test('NUMA: falls back to several domains when none has room, and says no domain', () => {
  const spec = buildSpec([service('a', { nodes: 1, resource: { cpuCores: 24, cpuAffinity: 'NUMA' } })]);
  const r = svcOf(mustPlan(spec, gpuInv(1, 0))).ranks[0];
  assert.ok(r);
  assert.equal(r.numaNode, undefined);
  assert.equal(r.cpus.length, 24);
});

test('pack: ranks on one node get distinct GPUs, cores and NUMA-matched GPUs', () => {
  const spec = buildSpec([
    service('a', {
      nodes: 2,
      resource: { gpus: 2, cpuCores: 8, cpuAffinity: 'NUMA' },
      placement: { strategy: 'pack' },
    }),
  ]);
  const ranks = svcOf(mustPlan(spec, gpuInv(1, 4))).ranks;
  assert.deepEqual(
    ranks.map((r) => [r.numaNode, r.gpus]),
    [
      [0, [0, 1]],
      [1, [2, 3]],
    ],
  );
});

test('pack with a fixed host port: one rank per node', () => {
  const spec = buildSpec([
    service('a', {
      nodes: 2,
      hostNetwork: true,
      ports: [{ name: 'http', port: 8080, protocol: 'tcp' }],
      placement: { strategy: 'pack' },
    }),
  ]);
  assert.deepEqual(
    svcOf(mustPlan(spec, gpuInv(2))).ranks.map((r) => r.node),
    ['node-1', 'node-2'],
  );
});
