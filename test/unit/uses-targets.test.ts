/**
 * Services that use each other, per target (docs/guides/roles-and-dependencies.md): the local grant (which
 * nodes, which marks, which routes; the root proof is the conformance row cf-uses-dynamo) and the Kubernetes
 * objects (ready-only Service, init container, NetworkPolicy), schema-validated for every orchestrator.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSpec } from '../../src/spec/index.js';
import type { Spec } from '../../src/api/spec.js';
import type { ServicePlan } from '../../src/api/plan.js';
import { generateInventory, planSpec, defaultPlanOptions } from '../../src/plan/index.js';
import { renderKubernetes, validateManifests } from '../../src/targets/kubernetes/index.js';
import type { ManifestObject, Orchestrator } from '../../src/targets/kubernetes/index.js';
import { planGrant, renderUsesTable, usesMetric } from '../../src/targets/local/uses-fence.js';
import type { ClusterMeta } from '../../src/targets/local/cluster.js';
import { goldenKeys } from './helpers/k8s-plan-fixtures.js';

const SPEC = `
services:
  front:
    image: { uri: docker://example.invalid/front:1 }
    script: serve-front
    uses:
      - { service: prefill, ports: [http] }
      - decode
  prefill:
    image: { uri: docker://example.invalid/prefill:1 }
    script: serve
    multinode: { nodes: 2, launch: all }
    ports:
      - { name: http, port: 9000 }
      - { name: admin, port: 9100 }
    readiness-probe: { tcp-socket: { port: 9000 } }
  decode:
    image: { uri: docker://example.invalid/decode:1 }
    script: serve
    multinode: { nodes: 2, launch: all }
    ports:
      - { name: http, port: 9200 }
      - { name: metrics, port: 9201, protocol: udp }
`;

function spec(text: string): Spec {
  const r = parseSpec(text, 'uses.yaml');
  if (!r.ok) assert.fail(JSON.stringify(r.issues, null, 2));
  return r.value;
}

function plan(target: 'local' | 'kubernetes', text = SPEC) {
  const inv = generateInventory({ nodes: 4, cores: 8 });
  const r = planSpec(spec(text), inv, defaultPlanOptions({ target }));
  if (!r.ok) assert.fail(JSON.stringify(r.issues, null, 2));
  return r.plan;
}

function svc(services: readonly ServicePlan[], name: string): ServicePlan {
  const s = services.find((x) => x.name === name);
  assert.ok(s, name);
  return s;
}

const CLUSTER = {
  name: 'u',
  nodes: ['node-1', 'node-2', 'node-3', 'node-4'].map((name, index) => ({
    name,
    index,
    address: `198.18.0.${index + 1}`,
    netns: `ns-${name}`,
  })),
} as unknown as ClusterMeta;

test('local grant: the using ranks to the used leader’s declared ports only; routes where nodes differ', () => {
  const p = plan('local');
  const front = svc(p.services, 'front');
  const prefill = svc(p.services, 'prefill');
  const use = front.uses?.find((u) => u.service === 'prefill');
  assert.ok(use);
  assert.deepEqual(
    use.ports.map((x) => x.name),
    ['http'],
  );
  const g = planGrant(CLUSTER, front, use, prefill);
  assert.ok(g);
  const leader = prefill.ranks[0];
  const user = front.ranks[0];
  assert.ok(leader && user);
  assert.equal(g.leader.address, leader.address);
  assert.match(
    g.nft,
    new RegExp(`ip saddr \\{ ${user.address} \\} ip daddr ${leader.address} tcp dport \\{ 9000 \\}`),
  );
  assert.doesNotMatch(g.nft, /9100/, 'the admin port is not granted');
  assert.equal((g.nft.match(/meta mark set/g) ?? []).length, 3, 'forward, input and output');
  const metric = usesMetric('u', 'front', 'prefill');
  assert.notEqual(metric, usesMetric('u', 'front', 'decode'), 'grants route the same address independently');
  if (user.node !== leader.node) {
    assert.deepEqual(
      [...g.routes].sort((a, b) => a.netns.localeCompare(b.netns)),
      [
        { netns: `ns-${leader.node}`, dst: user.address, via: addrOf(user.node), metric },
        { netns: `ns-${user.node}`, dst: leader.address, via: addrOf(leader.node), metric },
      ].sort((a, b) => a.netns.localeCompare(b.netns)),
    );
  } else assert.deepEqual(g.routes, []);
  assert.deepEqual([...g.nodes].sort(), [...new Set([`ns-${user.node}`, `ns-${leader.node}`])].sort());
});

function addrOf(node: string): string {
  return CLUSTER.nodes.find((n) => n.name === node)?.address ?? '';
}

test('local grant: udp ports get a udp rule; host networking on both sides needs no grant', () => {
  const t = renderUsesTable('t', ['10.0.0.2', '10.0.0.2'], '10.0.1.2', [
    { name: 'a', port: 80, protocol: 'tcp' },
    { name: 'b', port: 53, protocol: 'udp' },
  ]);
  assert.match(t, /ip saddr \{ 10\.0\.0\.2 \} ip daddr 10\.0\.1\.2 tcp dport \{ 80 \}/);
  assert.match(t, /udp dport \{ 53 \}/);
  const hostSpec = SPEC.replace(
    / {4}script: serve\n/g,
    '    script: serve\n    network: { host: true }\n',
  ).replace('    script: serve-front\n', '    script: serve-front\n    network: { host: true }\n');
  const p = plan('local', hostSpec);
  const front = svc(p.services, 'front');
  const use = front.uses?.[0];
  assert.ok(use);
  assert.equal(planGrant(CLUSTER, front, use, svc(p.services, use.service)), undefined);
});

const json = (o: unknown): Record<string, unknown> => o as Record<string, unknown>;

for (const orchestrator of ['lws', 'grove', 'jobset'] as readonly Orchestrator[]) {
  test(`kubernetes (${orchestrator}): ready-only Service, init container, NetworkPolicy; schema-valid`, async () => {
    const s = spec(SPEC);
    const p = plan('kubernetes');
    const { objects } = renderKubernetes(p, { spec: s, sshKeys: goldenKeys(), orchestrator });
    assert.deepEqual(await validateManifests(objects), []);
    const byName = (kind: string, name: string): ManifestObject | undefined =>
      objects.find((o) => o.kind === kind && o.metadata.name === name);
    for (const u of ['prefill', 'decode']) {
      const ready = byName('Service', `${u}-ready`);
      assert.ok(ready, `${u}-ready`);
      assert.deepEqual(json(ready['spec'])['publishNotReadyAddresses'], false);
    }
    const pol = byName('NetworkPolicy', 'front-uses-prefill');
    assert.ok(pol);
    assert.deepEqual(json(pol['spec'])['ingress'], [
      {
        from: [{ podSelector: { matchLabels: { 'multinode.dev/service': 'front' } } }],
        ports: [{ port: 9000, protocol: 'TCP' }],
      },
    ]);
    const dec = byName('NetworkPolicy', 'front-uses-decode');
    assert.ok(dec);
    assert.deepEqual((json(dec['spec'])['ingress'] as unknown[])[0], {
      from: [{ podSelector: { matchLabels: { 'multinode.dev/service': 'front' } } }],
      ports: [
        { port: 9200, protocol: 'TCP' },
        { port: 9201, protocol: 'UDP' },
      ],
    });
    // The front's pods (and only its pods) wait for both.
    const text = (name: string) => JSON.stringify(objects.filter((o) => o.metadata.name === name));
    assert.match(text('front'), /"name":"wait-uses"/);
    assert.match(text('front'), /"prefill-ready","decode-ready"/);
    assert.doesNotMatch(text('prefill'), /wait-uses/);
    assert.match(text('front'), /"name":"MULTINODE_USES_PREFILL_ADDR","value":"prefill-0"/);
  });
}
