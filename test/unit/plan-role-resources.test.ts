/**
 * Per-role resources (docs/guides/roles-and-dependencies.md "Roles"): a role's own `resource` is validated
 * with located errors, carried in the plan per role, and honoured by local placement — each role's members
 * land on nodes that fit the role's own request, the scarcest role placed first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSpec } from '../../src/spec/index.js';
import type { Spec } from '../../src/api/spec.js';
import type { Inventory } from '../../src/api/inventory.js';
import { generateInventory, generateInventoryForSpec } from '../../src/plan/index.js';
import { litOf, mustFail, mustPlan, svcOf } from './helpers/plan-helpers.js';

function spec(text: string): Spec {
  const r = parseSpec(text, 'roles.yaml');
  if (!r.ok) assert.fail(JSON.stringify(r.issues, null, 2));
  return r.value;
}

/** Three GPU nodes first in inventory order, then three CPU-only nodes. */
function mixedInventory(): Inventory {
  const gpu = generateInventory({ nodes: 3, cores: 8, gpusPerNode: 2, namePrefix: 'gpu-' });
  const cpu = generateInventory({ nodes: 3, cores: 8, namePrefix: 'cpu-', addressBase: '198.18.0.101' });
  return { name: 'mixed', nodes: [...gpu.nodes, ...cpu.nodes], services: [] };
}

const DISAGG = `
services:
  app:
    script: serve
    resource:
      cpu: {cores: 2}
      memory: {size: 2Gi}
    roles:
      - name: frontend
        nodes: 2
      - name: decode
        nodes: 3
        resource:
          cpu: {cores: 4}
          memory: {size: 8Gi}
          devices: {nvidia.com/gpu: 2}
`;

test('role resources: carried per role in the plan; each role placed on nodes that fit it', () => {
  const s = svcOf(mustPlan(spec(DISAGG), mixedInventory()));
  assert.deepEqual(
    s.roles?.map((r) => [r.name, r.resource?.gpus, r.resource?.cpuCores, r.resource?.memoryText]),
    [
      ['frontend', undefined, undefined, undefined],
      ['decode', 2, 4, '8Gi'],
    ],
  );
  // The decode role (GPUs) is placed first, on the GPU nodes, though the frontend's ranks come first.
  assert.deepEqual(
    s.ranks.map((r) => [r.rank, r.roleName, r.node, r.gpus.length, r.cpus.length, r.memoryBytes]),
    [
      [0, 'frontend', 'cpu-1', 0, 2, 2 * 2 ** 30],
      [1, 'frontend', 'cpu-2', 0, 2, 2 * 2 ** 30],
      [2, 'decode', 'gpu-1', 2, 4, 8 * 2 ** 30],
      [3, 'decode', 'gpu-2', 2, 4, 8 * 2 ** 30],
      [4, 'decode', 'gpu-3', 2, 4, 8 * 2 ** 30],
    ],
  );
});

test("role resources: each rank's GPU and core variables and its hostfile slots follow its role", () => {
  const withCompat = DISAGG.replace(
    '    script: serve\n',
    '    script: serve\n    env-compat: [slurm, dstack]\n    multinode: {implementation: ompi}\n',
  );
  const s = litOf(mustPlan(spec(withCompat), mixedInventory()));
  const row = (r: (typeof s.ranks)[number]): (string | undefined)[] => [
    r.roleName,
    r.env['MULTINODE_GPUS_PER_NODE'],
    r.env['CUDA_VISIBLE_DEVICES'],
    r.env['SLURM_CPUS_ON_NODE'],
    r.env['SLURM_GPUS_ON_NODE'],
    r.env['DSTACK_GPUS_PER_NODE'],
    r.env['DSTACK_GPUS_NUM'],
  ];
  assert.deepEqual(s.ranks.map(row), [
    ['frontend', '0', undefined, '2', undefined, '0', '6'],
    ['frontend', '0', undefined, '2', undefined, '0', '6'],
    ['decode', '2', '0,1', '4', '2', '2', '6'],
    ['decode', '2', '0,1', '4', '2', '2', '6'],
    ['decode', '2', '0,1', '4', '2', '2', '6'],
  ]);
  // One process per GPU on a GPU role's hosts, one per core elsewhere (ompi's `slots=`).
  const hostfile = s.files.find((f) => f.name === 'hostfile')?.content;
  assert.equal(
    hostfile,
    'app-frontend-0 slots=2\napp-frontend-1 slots=2\napp-decode-0 slots=2\napp-decode-1 slots=2\napp-decode-2 slots=2\n',
  );
  assert.equal(
    s.ranks[0]?.env['MULTINODE_HOSTLIST'],
    'app-frontend-0:2,app-frontend-1:2,app-decode-0:2,app-decode-1:2,app-decode-2:2',
  );
  const cpuHeavy = litOf(
    mustPlan(spec(DISAGG.replace('cpu: {cores: 2}', 'cpu: {cores: 3}')), mixedInventory()),
  );
  assert.equal(
    cpuHeavy.ranks[4]?.env['MULTINODE_HOSTLIST'],
    'app-frontend-0:3,app-frontend-1:3,app-decode-0:2,app-decode-1:2,app-decode-2:2',
  );
});

test('role resources: a role that fits nowhere makes the service infeasible, naming the role', () => {
  const text = DISAGG.replace('nvidia.com/gpu: 2', 'nvidia.com/gpu: 4');
  const { reasons } = mustFail(spec(text), mixedInventory());
  assert.match(reasons[0]?.summary ?? '', /^role decode: needs 3 nodes with 4 GPUs/);
});

test('role resources: spread keeps one rank of the service per node across roles', () => {
  const inv = generateInventory({ nodes: 5, cores: 16, gpusPerNode: 4 });
  const s = svcOf(mustPlan(spec(DISAGG), inv));
  assert.equal(new Set(s.ranks.map((r) => r.node)).size, 5);
});

test('role resources: a spec without role resources plans exactly as before (one gang)', () => {
  const text = DISAGG.replace(/ {8}resource:\n( {10}.*\n)+/, '');
  const s = svcOf(mustPlan(spec(text), mixedInventory()));
  assert.deepEqual(
    s.ranks.map((r) => r.node),
    ['gpu-1', 'gpu-2', 'gpu-3', 'cpu-1', 'cpu-2'],
  );
  assert.equal(
    s.roles?.some((r) => 'resource' in r),
    false,
  );
});

test('role resources: the generated inventory (Kubernetes, Slurm) is sized for the largest role', () => {
  const inv = generateInventoryForSpec(spec(DISAGG));
  assert.equal(inv.nodes[0]?.gpus.length, 2);
  assert.ok((inv.nodes[0]?.memoryBytes ?? 0) >= 8 * 2 ** 30);
});

test('role resources: bad devices in a role are located inside the role', () => {
  const text = DISAGG.replace('nvidia.com/gpu: 2', 'gpu: 2, rdma/fabric0: 2');
  const r = parseSpec(text, 'roles.yaml');
  assert.equal(r.ok, false);
  const issues = r.ok ? [] : r.issues;
  const at = issues.map((i) => [i.code, i.path, i.pos?.line]);
  assert.deepEqual(at, [
    ['device-name', 'services.app.roles[1].resource.devices.gpu', 16],
    ['fabric-count', 'services.app.roles[1].resource.devices["rdma/fabric0"]', 16],
  ]);
});

test('role resources: a role memory size that does not parse is a schema error at the role', () => {
  const r = parseSpec(DISAGG.replace('size: 8Gi', 'size: 8 apples'), 'roles.yaml');
  assert.equal(r.ok, false);
  const issue = r.ok ? undefined : r.issues[0];
  assert.equal(issue?.path, 'services.app.roles[1].resource.memory.size');
  assert.equal(issue?.pos?.line, 15);
});
