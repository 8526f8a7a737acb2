/**
 * Roles within a service and services that use each other (docs/guides/roles-and-dependencies.md): rank
 * numbering across roles, host names, TF_CONFIG per role with real host ports (and after a failover re-plan),
 * the Backend.AI family, role commands and ports, and the `uses` environment and start order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSpec } from '../../src/spec/index.js';
import type { Spec } from '../../src/api/spec.js';
import { generateInventory, planSpec, defaultPlanOptions, serializePlan } from '../../src/plan/index.js';
import { litOf, mustPlan, svcOf } from './helpers/plan-helpers.js';

const inv = generateInventory({ nodes: 6, cores: 8 });

function spec(text: string): Spec {
  const r = parseSpec(text, 'roles.yaml');
  if (!r.ok) assert.fail(JSON.stringify(r.issues, null, 2));
  return r.value;
}

const TF = `
services:
  tf:
    script: |
      run-ps
    network:
      host: true
    ports:
      - name: grpc
        port: 2222
        host-port: auto
    env-compat: [backendai]
    roles:
      - name: ps
        nodes: 2
        restart: {policy: never}
      - name: worker
        nodes: 3
        script: run-worker
        restart: {policy: exit-code}
`;

interface TfConfig {
  cluster: Record<string, string[]>;
  task: { type: string; index: number };
}

test('roles: ranks numbered across roles in declaration order, stable names, role restart policies', () => {
  const plan = mustPlan(spec(TF), inv);
  const s = svcOf(plan);
  assert.equal(s.nodes, 5);
  assert.deepEqual(
    s.ranks.map((r) => [r.rank, r.roleName, r.hostname]),
    [
      [0, 'ps', 'tf-ps-0'],
      [1, 'ps', 'tf-ps-1'],
      [2, 'worker', 'tf-worker-0'],
      [3, 'worker', 'tf-worker-1'],
      [4, 'worker', 'tf-worker-2'],
    ],
  );
  assert.deepEqual(
    s.roles?.map((r) => [r.name, r.first, r.nodes, r.restart.policy]),
    [
      ['ps', 0, 2, 'never'],
      ['worker', 2, 3, 'exit-code'],
    ],
  );
  assert.equal(s.launch, 'all');
});

test('roles: TF_CONFIG lists every role with its real host ports; task = own role and index', () => {
  const s = litOf(mustPlan(spec(TF), inv));
  const want: Record<string, string[]> = { ps: [], worker: [] };
  for (const r of s.ranks) want[r.roleName ?? '']?.push(`${r.hostname}:${r.tfPort ?? 0}`);
  s.ranks.forEach((r) => {
    const tf = JSON.parse(r.env['TF_CONFIG'] ?? '{}') as TfConfig;
    assert.deepEqual(Object.keys(tf.cluster), ['ps', 'worker']);
    assert.deepEqual(tf.cluster, want);
    assert.deepEqual(tf.task, { type: r.roleName, index: r.rank < 2 ? r.rank : r.rank - 2 });
    assert.equal(r.env['MULTINODE_ROLE'], r.roleName);
    assert.equal(r.env['MULTINODE_ROLE_INDEX'], String(tf.task.index));
    assert.equal(r.env['MULTINODE_ROLES'], 'ps:2,worker:3');
  });
  // Host mode with auto ports: the TF ports are allocated, not base + rank.
  const ports = s.ranks.map((r) => r.tfPort ?? 0);
  assert.ok(
    ports.every((p) => p >= 20000 && p <= 29999),
    ports.join(','),
  );
});

test('roles: a failover re-plan that cools a PS port moves it, and every TF_CONFIG follows', () => {
  const before = litOf(mustPlan(spec(TF), inv));
  const ps1 = before.ranks[1];
  assert.ok(ps1?.tfPort);
  const after = litOf(mustPlan(spec(TF), inv, { coolingPorts: { [ps1.node]: [ps1.tfPort] } }));
  const moved = after.ranks[1];
  assert.ok(moved?.tfPort);
  assert.notEqual(moved.tfPort, ps1.tfPort);
  for (const r of after.ranks) {
    const tf = JSON.parse(r.env['TF_CONFIG'] ?? '{}') as TfConfig;
    assert.equal(tf.cluster['ps']?.[1], `tf-ps-1:${moved.tfPort}`);
  }
});

test('roles: Backend.AI reports the real roles, 1-based index within the role', () => {
  const s = litOf(mustPlan(spec(TF), inv));
  assert.deepEqual(
    s.ranks.map((r) => [
      r.env['BACKENDAI_CLUSTER_ROLE'],
      r.env['BACKENDAI_CLUSTER_IDX'],
      r.env['BACKENDAI_CLUSTER_LOCAL_RANK'],
    ]),
    [
      ['ps', '1', '0'],
      ['ps', '2', '1'],
      ['worker', '1', '2'],
      ['worker', '2', '3'],
      ['worker', '3', '4'],
    ],
  );
  for (const r of s.ranks) {
    assert.equal(r.env['BACKENDAI_CLUSTER_REPLICAS'], 'ps:2,worker:3');
    assert.equal(r.env['BACKENDAI_CLUSTER_HOSTS'], 'tf-ps-0,tf-ps-1,tf-worker-0,tf-worker-1,tf-worker-2');
  }
});

test('roles: each member runs its role command; role ports restrict what a member binds', () => {
  const text = `
services:
  app:
    script: run-main
    ports:
      - {name: api, port: 8000}
      - {name: rpc, port: 9000}
    roles:
      - {name: main, nodes: 1, ports: [api, rpc]}
      - {name: sub, nodes: 2, script: run-sub, ports: [rpc]}
`;
  const s = litOf(mustPlan(spec(text), inv));
  const files = new Map(s.files.map((f) => [f.name, f]));
  assert.equal(files.get('script')?.content, 'run-main');
  assert.equal(files.get('script.sub')?.content, 'run-sub');
  assert.deepEqual(
    s.ranks.map((r) => r.command.argv.map((a) => a.slice(a.lastIndexOf('/') + 1))),
    [['script'], ['script.sub'], ['script.sub']],
  );
  assert.deepEqual(
    s.ranks.map((r) => r.ports.map((p) => p.name)),
    [['api', 'rpc'], ['rpc'], ['rpc']],
  );
  // A rank whose role does not bind a port has no variable for it (Kubernetes and Slurm rendered `0`
  // where local gave an empty string before; now no target sets it).
  assert.equal(s.ranks[1]?.env['MULTINODE_PORT_API'], undefined);
  assert.equal(s.ranks[0]?.env['MULTINODE_PORT_API'], '8000');
});

test('roles: a role backend is led by its own first member', () => {
  const text = `
services:
  infer:
    script: frontend
    roles:
      - {name: frontend, nodes: 1}
      - name: decode
        nodes: 2
        backend: {kind: vllm, command: vllm serve m --tensor-parallel-size 2}
`;
  const s = litOf(mustPlan(spec(text), inv));
  const argv = s.ranks.map((r) => r.command.argv.join(' '));
  assert.match(argv[1] ?? '', /ray start --head/);
  assert.match(argv[2] ?? '', /ray start --address=infer-decode-0:/);
});

test('uses: env names the used leader and its declared ports; planned after what it uses', () => {
  const text = `
services:
  client:
    script: run
    uses:
      - service: db
        ports: [pg]
  db:
    script: serve
    ports:
      - {name: pg, port: 5432}
      - {name: admin, port: 9000}
`;
  const plan = mustPlan(spec(text), inv);
  assert.deepEqual(
    plan.services.map((s) => s.name),
    ['client', 'db'],
    'file order kept in the plan',
  );
  const db = litOf(plan, 'db');
  const client = litOf(plan, 'client');
  const env = client.ranks[0]?.env ?? {};
  assert.equal(env['MULTINODE_USES_DB_HOST'], 'db-0');
  assert.equal(env['MULTINODE_USES_DB_ADDR'], db.ranks[0]?.address);
  assert.equal(env['MULTINODE_USES_DB_PORT_PG'], '5432');
  assert.equal(env['MULTINODE_USES_DB_PORT_ADMIN'], undefined);
  assert.deepEqual(svcOf(plan, 'client').uses, [
    { ports: [{ name: 'pg', port: 5432, protocol: 'tcp' }], service: 'db' },
  ]);
  // Kubernetes and Slurm never see an invented address: the leader's stable name stands in.
  const k8s = mustPlan(spec(text), inv, { target: 'kubernetes' });
  assert.equal(litOf(k8s, 'client').ranks[0]?.env['MULTINODE_USES_DB_ADDR'], 'db-0');
});

test('roles and uses: plans are deterministic', () => {
  const a = planSpec(spec(TF), inv, defaultPlanOptions({ seed: 7 }));
  const b = planSpec(spec(TF), inv, defaultPlanOptions({ seed: 7 }));
  assert.ok(a.ok && b.ok);
  assert.equal(serializePlan(a.plan), serializePlan(b.plan));
});
