import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseInventory } from '../../src/spec/inventory.js';
import { generateInventory, generateInventoryForSpec } from '../../src/plan/index.js';
import { applyPlanToInventory } from '../../src/plan/apply.js';
import { buildSpec, service } from './helpers/spec-builder.js';
import { mustPlan } from './helpers/plan-helpers.js';

const LAB = 'test/fixtures/inventory/lab.yaml';

test('inventory file: shorthands, defaults, explicit NUMA, taken and listening', () => {
  const r = parseInventory(readFileSync(LAB, 'utf8'), LAB);
  assert.ok(r.ok, JSON.stringify(r.ok ? [] : r.issues));
  const inv = r.value;
  assert.equal(inv.name, 'lab');
  assert.deepEqual(
    inv.nodes.map((n) => n.name),
    ['gpu-1', 'gpu-2', 'big-1'],
  );
  const [a, b, big] = inv.nodes;
  assert.ok(a && b && big);
  assert.deepEqual(
    a.numa.map((d) => [d.id, d.cpus.length, d.cpus[0]]),
    [
      [0, 16, 0],
      [1, 16, 16],
    ],
  );
  assert.equal(a.memoryBytes, 256e9);
  assert.deepEqual(a.gpus, [
    { index: 0, model: 'NVIDIA L4', numa: 0 },
    { index: 1, model: 'NVIDIA L4', numa: 1 },
  ]);
  assert.deepEqual(
    a.fabricNics.map((f) => f.name),
    ['fabric0', 'fabric1'],
  );
  assert.deepEqual(a.labels, { zone: 'z1', block: 'block-a', rack: 'r1' });
  assert.deepEqual(b.taken, {
    cpus: [0, 1, 2, 3],
    memoryBytes: 16e9,
    gpus: [0],
    fabricNics: ['fabric0'],
    ports: [8080],
    services: ['old'],
  });
  assert.deepEqual(b.listening, [22]);
  assert.equal(big.memoryBytes, 2 ** 40);
  assert.deepEqual(big.numa[1], { id: 1, cpus: [8, 9, 10, 11, 12, 13, 14, 15] });
  assert.deepEqual(big.fabricNics, [{ name: 'fabric0', address: '198.19.0.3/24', numa: 0 }]);
  assert.deepEqual(inv.services, [{ name: 'old', subnet: '198.18.130.0/24', vni: 5000 }]);
});

test('inventory file: the planner uses it (model, taken GPUs, old subnet)', () => {
  const r = parseInventory(readFileSync(LAB, 'utf8'), LAB);
  assert.ok(r.ok);
  const plan = mustPlan(
    buildSpec([service('l4', { nodes: 2, resource: { gpus: 1, gpuModel: 'NVIDIA L4' } })]),
    r.value,
  );
  const s = plan.services[0];
  assert.ok(s);
  assert.deepEqual(
    s.ranks.map((x) => [x.node, x.gpus]),
    [
      ['gpu-1', [0]],
      ['gpu-2', [1]],
    ],
  );
  assert.notEqual(s.network.subnet, '198.18.130.0/24');
});

interface Bad {
  name: string;
  yaml: string;
  code: string;
  path: string;
  line: number;
  message?: RegExp;
}

const badCases: Bad[] = [
  {
    name: 'unknown key with a hint',
    yaml: 'nodes:\n  - name: a\n    address: 10.0.0.1\n    gpu: 2\n',
    code: 'unknown-key',
    path: 'nodes[0].gpu',
    line: 4,
  },
  {
    name: 'missing nodes',
    yaml: 'name: x\n',
    code: 'required',
    path: 'nodes',
    line: 1,
  },
  {
    name: 'bad address',
    yaml: 'nodes:\n  - name: a\n    address: 10.0.0.300\n',
    code: 'inventory-address',
    path: 'nodes[0].address',
    line: 3,
    message: /not an IPv4 address/,
  },
  {
    name: 'duplicate node name',
    yaml: 'nodes:\n  - name: a\n    address: 10.0.0.1\n  - name: a\n    address: 10.0.0.2\n',
    code: 'inventory-duplicate-node',
    path: 'nodes[1].name',
    line: 4,
  },
  {
    name: 'duplicate address',
    yaml: 'nodes:\n  - name: a\n    address: 10.0.0.1\n  - name: b\n    address: 10.0.0.1\n',
    code: 'inventory-duplicate-address',
    path: 'nodes[1].address',
    line: 5,
  },
  {
    name: 'malformed CPU list',
    yaml: 'nodes:\n  - name: a\n    address: 10.0.0.1\n    numa:\n      - { id: 0, cpus: "3-1" }\n',
    code: 'inventory-cpu-list',
    path: 'nodes[0].numa[0].cpus',
    line: 5,
  },
  {
    name: 'taken GPU that does not exist',
    yaml: 'nodes:\n  - name: a\n    address: 10.0.0.1\n    gpus: { count: 1, model: X }\n    taken:\n      gpus: [3]\n',
    code: 'inventory-taken',
    path: 'nodes[0].taken.gpus',
    line: 6,
  },
  {
    name: 'bad memory size',
    yaml: 'nodes:\n  - name: a\n    address: 10.0.0.1\n    memory: lots\n',
    code: 'format',
    path: 'nodes[0].memory',
    line: 4,
  },
];

for (const c of badCases) {
  test(`inventory file error: ${c.name}`, () => {
    const r = parseInventory(c.yaml, 'inv.yaml');
    assert.equal(r.ok, false);
    if (r.ok) return;
    const issue = r.issues.find((i) => i.path === c.path);
    assert.ok(issue, `an issue at ${c.path} in ${JSON.stringify(r.issues)}`);
    assert.equal(issue.pos?.line, c.line);
    assert.equal(issue.pos?.file, 'inv.yaml');
    if (c.message) assert.match(issue.message, c.message);
    if (c.code !== 'format') assert.equal(issue.code, c.code);
  });
}

test('generated inventory: NUMA split, GPUs and NICs spread, blocks and racks', () => {
  const inv = generateInventory({
    nodes: 20,
    gpusPerNode: 4,
    cores: 10,
    numaDomains: 3,
    fabricNics: 2,
    blocks: 2,
    namePrefix: 'gpu',
  });
  const n = inv.nodes[0];
  assert.ok(n);
  assert.equal(n.name, 'gpu1');
  assert.deepEqual(
    n.numa.map((d) => d.cpus),
    [
      [0, 1, 2, 3],
      [4, 5, 6],
      [7, 8, 9],
    ],
  );
  assert.deepEqual(
    n.gpus.map((g) => g.numa),
    [0, 0, 1, 2],
  );
  assert.deepEqual(
    n.fabricNics.map((f) => [f.name, f.numa]),
    [
      ['fabric0', 0],
      ['fabric1', 1],
    ],
  );
  assert.deepEqual(
    inv.nodes.map((x) => x.labels['block']),
    [...Array<string>(10).fill('block-0'), ...Array<string>(10).fill('block-1')],
  );
  assert.equal(inv.nodes[8]?.labels['rack'], 'rack-0-1');
  assert.equal(inv.nodes[10]?.labels['rack'], 'rack-1-0');
});

test('applyPlanToInventory: the next plan sees what the last one took', () => {
  const inv = generateInventory({ nodes: 2, gpusPerNode: 2 });
  const spec = buildSpec([
    service('h', {
      nodes: 2,
      resource: { gpus: 2 },
      hostNetwork: true,
      ports: [{ name: 'p', port: 9000, protocol: 'tcp' }],
    }),
  ]);
  const after = applyPlanToInventory(inv, mustPlan(spec, inv));
  assert.deepEqual(after.nodes[0]?.taken.gpus, [0, 1]);
  assert.ok(after.nodes[0]?.taken.ports.includes(9000));
  assert.ok(after.nodes[0]?.taken.ports.includes(2222));
  assert.deepEqual(after.nodes[1]?.taken.services, ['h']);
  assert.equal(after.services.length, 1);
  const r = mustPlan(buildSpec([service('o', { nodes: 1 })]), after);
  assert.ok(r.services[0]?.ranks[0]?.gpus.length === 0);
});

test('generateInventoryForSpec: one node per rank, the largest request, NUMA doubled, NICs up to the highest fabricN', () => {
  const spec = buildSpec([
    service('a', {
      nodes: 2,
      resource: { cpuCores: 12, cpuAffinity: 'NUMA', gpus: 2, gpuModel: 'NVIDIA H100' },
    }),
    service('b', {
      nodes: 3,
      resource: { fabricNics: ['fabric0', 'fabric2'], memoryBytes: 64e9, memoryText: '64GB' },
    }),
  ]);
  const inv = generateInventoryForSpec(spec);
  assert.equal(inv.nodes.length, 5);
  const n = inv.nodes[0];
  assert.ok(n);
  assert.deepEqual(
    n.numa.map((d) => d.cpus.length),
    [12, 12],
  );
  assert.equal(n.gpus.length, 2);
  assert.equal(n.gpus[0]?.model, 'NVIDIA H100');
  assert.deepEqual(
    n.fabricNics.map((f) => f.name),
    ['fabric0', 'fabric1', 'fabric2'],
  );
  assert.equal(n.memoryBytes, 64e9);
  mustPlan(spec, inv);
  assert.equal(generateInventoryForSpec(spec, { nodes: 1 }).nodes.length, 1);
});

test('generateInventory rejects impossible shapes', () => {
  assert.throws(() => generateInventory({ nodes: 0 }), RangeError);
  assert.throws(() => generateInventory({ nodes: 2, addressBase: 'x' }), RangeError);
  assert.throws(() => generateInventory({ nodes: 70_000 }), RangeError);
});

test('applyPlanToInventory keeps exclusive holdings exclusive', () => {
  const inv = generateInventory({ nodes: 2 });
  const after = applyPlanToInventory(
    inv,
    mustPlan(buildSpec([service('x', { nodes: 1, placement: { exclusive: true } })]), inv),
  );
  assert.equal(after.nodes[0]?.taken.exclusive, true);
  const next = mustPlan(buildSpec([service('y', { nodes: 1 })]), after);
  assert.equal(next.services[0]?.ranks[0]?.node, 'node-2');
});
