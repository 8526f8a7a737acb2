/**
 * Files a new user writes that the other tests never saw (a session of trying odd-but-plausible specs):
 * each case here failed before its fix — a misleading message, a file `validate` called valid that `plan`
 * refused, or a variable the targets disagreed on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSpec } from '../../src/spec/index.js';
import type { Spec } from '../../src/api/spec.js';
import { generateInventory } from '../../src/plan/index.js';
import { litOf, mustPlan, svcOf } from './helpers/plan-helpers.js';

function issuesOf(text: string): { code: string; path: string; message: string; hint?: string }[] {
  const r = parseSpec(text, 'new-user.yaml');
  assert.equal(r.ok, false, 'expected the spec to be rejected');
  return r.ok ? [] : r.issues.map((i) => ({ ...i }));
}

function spec(text: string): Spec {
  const r = parseSpec(text, 'new-user.yaml');
  if (!r.ok) assert.fail(JSON.stringify(r.issues, null, 2));
  return r.value;
}

test('an empty list where at least one item is needed says so (not "found a list; allowed: a number")', () => {
  const issues = issuesOf(`
services:
  web:
    script: run
    roles: []
`);
  const hit = issues.find((i) => i.path === 'services.web.roles');
  assert.ok(hit, JSON.stringify(issues));
  assert.equal(hit.code, 'range');
  assert.match(hit.message, /found an empty list; allowed: a list of at least 1 item/);
  assert.doesNotMatch(hit.message, /a number/);
  assert.match(hit.hint ?? '', /roles: \[\]/);
});

const ROLE_PORTS = `
services:
  svc:
    script: run
    ports:
      - { name: http, port: 8080 }
      - { name: grpc, port: 9000 }
    roles:
      - { name: main, nodes: 1, ports: [grpc] }
      - { name: sub, nodes: 2 }
`;

test('an endpoint or probe on a port the first role (rank 0) does not bind is an error, located', () => {
  const issues = issuesOf(`${ROLE_PORTS}
    endpoints: [{ name: web, port-name: http }]
    readiness-probe: { tcp-socket: { port: 8080 } }
`);
  const ep = issues.find((i) => i.path === 'services.svc.endpoints[0].port-name');
  assert.ok(ep, JSON.stringify(issues));
  assert.equal(ep.code, 'unknown-port-name');
  assert.match(ep.message, /rank 0 \(role "main"\), which does not bind port "http"; role main binds: grpc/);
  const probe = issues.find((i) => i.path === 'services.svc.readiness-probe.tcp-socket.port');
  assert.ok(probe, JSON.stringify(issues));
  assert.equal(probe.code, 'probe-port');
  // The same file with the port bound by the first role is valid.
  spec(
    `${ROLE_PORTS.replace('ports: [grpc]', 'ports: [grpc, http]')}
    endpoints: [{ name: web, port-name: http }]
    readiness-probe: { tcp-socket: { port: 8080 } }
`,
  );
});

test('a use naming a port the used leader role does not bind is an error', () => {
  const issues = issuesOf(`${ROLE_PORTS}
  client:
    script: run
    uses: [{ service: svc, ports: [http] }]
`);
  const hit = issues.find((i) => i.path === 'services.client.uses[0].ports[0]');
  assert.ok(hit, JSON.stringify(issues));
  assert.equal(hit.code, 'unknown-port-name');
  assert.match(hit.message, /leader of "svc" \(role "main"\), which does not bind port "http"/);
});

test('TRT-LLM inside a role is refused by validate, as plan refuses it', () => {
  const issues = issuesOf(`
services:
  x:
    roles:
      - { name: leader, nodes: 1, backend: { kind: trtllm, command: "trtllm-serve m" } }
      - { name: worker, nodes: 1, script: "sleep 60" }
`);
  const hit = issues.find((i) => i.path === 'services.x.roles[0].backend.kind');
  assert.ok(hit, JSON.stringify(issues));
  assert.equal(hit.code, 'enum');
});

test('MULTINODE_PORT_<NAME> is set only on ranks whose role binds the port (not empty on the others)', () => {
  const plan = mustPlan(spec(ROLE_PORTS), generateInventory({ nodes: 3, cores: 4 }));
  const s = svcOf(plan);
  assert.equal(s.env.MULTINODE_PORT_GRPC !== undefined, true, 'every role binds grpc');
  assert.equal(s.env.MULTINODE_PORT_HTTP, undefined, 'main does not bind http');
  assert.equal(s.roleEnv?.main?.MULTINODE_PORT_HTTP, undefined);
  assert.deepEqual(s.roleEnv?.sub?.MULTINODE_PORT_HTTP, [{ of: 'self', port: 'http' }]);
  // Without narrowed role ports the variables stay service-wide, as before.
  const wide = svcOf(
    mustPlan(spec(ROLE_PORTS.replace(', ports: [grpc]', '')), generateInventory({ nodes: 3, cores: 4 })),
  );
  assert.deepEqual(wide.env.MULTINODE_PORT_HTTP, [{ of: 'self', port: 'http' }]);
  assert.equal(wide.roleEnv?.sub?.MULTINODE_PORT_HTTP, undefined);
});

test('a service that does not fit says which services hold the nodes, and lists each node once', async () => {
  const { planSpec, defaultPlanOptions } = await import('../../src/plan/index.js');
  const { reasonLines } = await import('../../src/app/plan-for.js');
  const r = planSpec(
    spec(`
services:
  front:
    uses: [back]
    script: run
  back:
    script: run
    multinode: { nodes: 2 }
`),
    generateInventory({ nodes: 2, cores: 1 }),
    defaultPlanOptions({}),
  );
  assert.equal(r.ok, false);
  if (r.ok) return;
  const reason = r.reasons.find((x) => x.service === 'front');
  assert.ok(reason, JSON.stringify(r.reasons));
  assert.match(reason.summary, /needs 1 node with 1 core and 1Gi memory free/);
  assert.match(reason.summary, /node-1: has 0 free cores, needs 1; held by back/);
  const lines = reasonLines(reason);
  for (const node of ['node-1', 'node-2'])
    assert.equal(lines.join('\n').split(`${node}:`).length - 1, 1, `${node} once in:\n${lines.join('\n')}`);
});

test('compose extension fields (x-…) are ignored at the top level and in a service; a merge key gets a hint', () => {
  const ok = parseSpec(
    `
x-resource: &res
  cpu: { cores: 2 }
  memory: { size: 1Gi }
services:
  alpha:
    x-owner: team-a
    script: run
    resource: *res
`,
    'x.yaml',
  );
  assert.ok(ok.ok, JSON.stringify(ok));
  assert.equal(ok.value.services[0]?.resource.cpuCores, 2);
  const issues = issuesOf(`
x-common: &common
  script: run
services:
  alpha:
    <<: *common
`);
  assert.equal(
    issues.find((i) => i.path === 'x-common'),
    undefined,
    JSON.stringify(issues),
  );
  const merge = issues.find((i) => i.path === 'services.alpha["<<"]');
  assert.ok(merge, JSON.stringify(issues));
  assert.equal(merge.code, 'unknown-key');
  assert.match(merge.hint ?? '', /merge keys .* not supported/);
});

test('setting a per-rank variable such as MULTINODE_NODE_RANK in env warns (one value on every rank)', () => {
  const r = parseSpec(
    `
services:
  w:
    script: run
    multinode: { nodes: 2 }
    env: [MULTINODE_NODE_RANK=7, MULTINODE_WRAPPER_FORWARD_STREAMS=1, MASTER_PORT=29600]
`,
    'new-user.yaml',
  );
  assert.ok(r.ok);
  if (!r.ok) return;
  const warned = r.warnings.filter((w) => w.code === 'env-per-rank');
  assert.deepEqual(
    warned.map((w) => w.path),
    ['services.w.env[0]'],
  );
  // One rank: nothing differs.
  const one = parseSpec('services:\n  w:\n    script: run\n    env: [MULTINODE_NODE_RANK=0]\n', 'one.yaml');
  assert.ok(one.ok && one.warnings.every((w) => w.code !== 'env-per-rank'));
});

test('the cluster file is valid JSON when a role narrows its ports (each rank lists the ports it binds)', () => {
  const s = litOf(mustPlan(spec(ROLE_PORTS), generateInventory({ nodes: 3, cores: 4 })));
  const file = s.files.find((f) => f.name === 'cluster.json');
  assert.ok(file);
  const parsed = JSON.parse(file.content) as { ranks: { rank: number; ports: Record<string, number> }[] };
  assert.deepEqual(
    parsed.ranks.map((r) => [r.rank, Object.keys(r.ports)]),
    [
      [0, ['grpc']],
      [1, ['grpc', 'http']],
      [2, ['grpc', 'http']],
    ],
  );
});

test('the DNS-label hint drops accents and never ends in a dash after trimming to 63', () => {
  const hints = issuesOf(`
services:
  wéb:
    script: run
  ${'a'.repeat(62)}-bcd:
    script: run
`).map((i) => i.hint);
  assert.ok(hints.includes('try "web"'), JSON.stringify(hints));
  assert.ok(hints.includes(`try "${'a'.repeat(62)}"`), JSON.stringify(hints));
});
