import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateInventory } from '../../src/plan/index.js';
import { buildSpec, service } from './helpers/spec-builder.js';
import { mustFail, mustPlan, litOf, withNode, withTaken } from './helpers/plan-helpers.js';
import { cidrContains, parseCidr, parseIpv4 } from '../../src/lib/ipv4.js';

const inv3 = generateInventory({ nodes: 3 });
const http = { name: 'http', port: 8080, protocol: 'tcp' as const };

test('overlay: a /24 from the pool, gateway .1, ranks .2…, a VNI in range, hostnames <service>-<rank>', () => {
  const s = litOf(mustPlan(buildSpec([service('train', { nodes: 3 })]), inv3, { seed: 7 }));
  assert.equal(s.network.mode, 'overlay');
  const subnet = parseCidr(s.network.subnet);
  assert.ok(subnet);
  assert.equal(subnet.prefix, 24);
  const pool = parseCidr('198.18.128.0/17');
  assert.ok(pool && cidrContains(pool, subnet.base));
  const base = s.network.subnet.replace(/\.0\/24$/, '');
  assert.equal(s.network.gateway, `${base}.1`);
  assert.deepEqual(
    s.ranks.map((r) => [r.hostname, r.address]),
    [
      ['train-0', `${base}.2`],
      ['train-1', `${base}.3`],
      ['train-2', `${base}.4`],
    ],
  );
  assert.ok(s.network.vni !== undefined && s.network.vni >= 4096 && s.network.vni <= 16_777_215);
  assert.equal(s.network.mtu, 1450);
});

test('overlay: subnet and VNI never collide with placed services or each other', () => {
  const first = litOf(mustPlan(buildSpec([service('a')]), inv3, { seed: 3 }));
  const inv = {
    ...inv3,
    services: [{ name: 'a', subnet: first.network.subnet, vni: first.network.vni ?? 0 }],
  };
  // Same service name and seed would pick the same start; the collision check must move it.
  const again = litOf(mustPlan(buildSpec([service('a')]), inv, { seed: 3 }));
  assert.notEqual(again.network.subnet, first.network.subnet);
  assert.notEqual(again.network.vni, first.network.vni);
  const two = mustPlan(buildSpec([service('a'), service('b')]), inv3, {
    seed: 3,
    overlayPool: '10.9.0.0/23',
  });
  assert.notEqual(litOf(two, 'a').network.subnet, litOf(two, 'b').network.subnet);
});

test('overlay: exhausted pool is an error that says what to do', () => {
  const { issues } = mustFail(buildSpec([service('a'), service('b')]), inv3, { overlayPool: '10.9.0.0/24' });
  assert.equal(issues[0]?.code, 'plan-pool-exhausted');
  assert.match(issues[0]?.message ?? '', /no free \/24 left in the overlay pool 10\.9\.0\.0\/24/);
});

test('overlay: the seed picks the subnet, deterministically', () => {
  const pick = (seed: number): string =>
    litOf(mustPlan(buildSpec([service('a')]), inv3, { seed })).network.subnet;
  assert.equal(pick(1), pick(1));
  const seen = new Set([1, 2, 3, 4, 5, 6].map(pick));
  assert.ok(seen.size > 1, 'different seeds spread over the pool');
});

test('overlay: more than 253 ranks is an error', () => {
  const { issues } = mustFail(buildSpec([service('a', { nodes: 300 })]), generateInventory({ nodes: 300 }));
  assert.equal(issues[0]?.code, 'plan-overlay-too-large');
});

test('host mode: ranks use node addresses and the underlay subnet', () => {
  const s = litOf(mustPlan(buildSpec([service('h', { nodes: 2, hostNetwork: true })]), inv3));
  assert.equal(s.network.mode, 'host');
  assert.equal(s.network.subnet, '198.18.0.0/16');
  assert.deepEqual(
    s.ranks.map((r) => r.address),
    ['198.18.0.1', '198.18.0.2'],
  );
  assert.equal(s.network.vni, undefined);
});

test('host mode outside the underlay: the smallest CIDR covering the nodes', () => {
  const inv = generateInventory({ nodes: 2, addressBase: '10.1.2.3' });
  const s = litOf(mustPlan(buildSpec([service('h', { nodes: 2, hostNetwork: true })]), inv));
  assert.equal(s.network.subnet, '10.1.2.0/29');
});

interface PortCase {
  name: string;
  hostPort: number | 'auto' | undefined;
  taken?: number[];
  listening?: number[];
  cooling?: number[];
  check: (hostPort: number, auto: boolean) => void;
}

const portCases: PortCase[] = [
  {
    name: 'declared port is the bound port',
    hostPort: undefined,
    check: (p, a) => assert.deepEqual([p, a], [8080, false]),
  },
  { name: 'pinned host port', hostPort: 9090, check: (p) => assert.equal(p, 9090) },
  {
    name: 'auto picks from the safe range',
    hostPort: 'auto',
    check: (p, a) => {
      assert.ok(a);
      assert.ok(p >= 20000 && p <= 29999, `${p} in range`);
    },
  },
  {
    name: 'auto avoids taken, listening and cooling ports (tiny range)',
    hostPort: 'auto',
    taken: [20000],
    listening: [20001],
    cooling: [20002],
    check: (p) => assert.equal(p, 20003),
  },
];

for (const c of portCases) {
  test(`ports: ${c.name}`, () => {
    let inv = withTaken(inv3, 'node-1', { ports: c.taken ?? [] });
    inv = withNode(inv, 'node-1', (n) => ({ ...n, listening: c.listening ?? [] }));
    const spec = buildSpec([
      service('p', {
        nodes: 1,
        hostNetwork: true,
        ports: [{ ...http, ...(c.hostPort === undefined ? {} : { hostPort: c.hostPort }) }],
      }),
    ]);
    const small = c.taken ? { hostPortRange: { from: 20000, to: 20003 } } : {};
    const r = litOf(mustPlan(spec, inv, { ...small, coolingPorts: { 'node-1': c.cooling ?? [] } })).ranks[0];
    assert.ok(r);
    const p = r.ports[0];
    assert.ok(p);
    assert.equal(p.port, 8080);
    c.check(p.hostPort, p.auto);
    assert.equal(r.env['MULTINODE_PORT_HTTP'], String(p.hostPort));
  });
}

test('ports: auto is deterministic by seed and re-picks with another seed', () => {
  const spec = buildSpec([
    service('p', { nodes: 2, hostNetwork: true, ports: [{ ...http, hostPort: 'auto' }] }),
  ]);
  const ports = (seed: number): number[] =>
    litOf(mustPlan(spec, inv3, { seed })).ranks.map((r) => r.ports[0]?.hostPort ?? 0);
  assert.deepEqual(ports(5), ports(5));
  assert.notDeepEqual(ports(5), ports(6));
});

test('ports: range exhausted on a node is explained', () => {
  const spec = buildSpec([
    service('p', { nodes: 1, hostNetwork: true, ports: [{ ...http, hostPort: 'auto' }] }),
  ]);
  const { reasons } = mustFail(spec, withTaken(inv3, 'node-1', { ports: [20000, 20001] }), {
    hostPortRange: { from: 20000, to: 20001 },
  });
  assert.match(reasons[0]?.summary ?? '', /no free host port for port http on node-1 in 20000–20001/);
});

test('ports: the same fixed host port twice is an error', () => {
  const spec = buildSpec([
    service('p', {
      nodes: 1,
      hostNetwork: true,
      ports: [http, { name: 'other', port: 8080, protocol: 'tcp' }],
    }),
  ]);
  assert.equal(mustFail(spec, inv3).issues[0]?.code, 'plan-duplicate-host-port');
});

test('overlay: declared port is bound as is, MULTINODE_PORT_<NAME> follows it', () => {
  const spec = buildSpec([
    service('p', {
      nodes: 1,
      ports: [{ name: 'openai-api', port: 8000, protocol: 'tcp', hostPort: 'auto' }],
    }),
  ]);
  const r = litOf(mustPlan(spec, inv3)).ranks[0];
  assert.deepEqual(r?.ports[0], {
    name: 'openai-api',
    port: 8000,
    hostPort: 8000,
    protocol: 'tcp',
    auto: false,
  });
  assert.equal(r?.env['MULTINODE_PORT_OPENAI_API'], '8000');
});

test('MASTER_PORT: 29500 by default', () => {
  const s = litOf(mustPlan(buildSpec([service('m', { nodes: 2 })]), inv3));
  assert.equal(s.masterPort, 29500);
  assert.ok(s.ranks.every((r) => r.env['MASTER_PORT'] === '29500'));
});

test('MASTER_PORT: the user value wins and is the TF_CONFIG base', () => {
  const s = litOf(
    mustPlan(buildSpec([service('m', { nodes: 2, env: [{ key: 'MASTER_PORT', value: '1234' }] })]), inv3),
  );
  assert.equal(s.masterPort, 1234);
  assert.deepEqual(
    s.ranks.map((r) => r.tfPort),
    [1234, 1235],
  );
});

test('MASTER_PORT: Backend.AI override variable with env-compat backendai', () => {
  const s = litOf(
    mustPlan(
      buildSpec([
        service('m', {
          nodes: 2,
          envCompat: ['backendai'],
          env: [{ key: 'BACKENDAI_DIST_MASTER_PORT', value: '23456' }],
        }),
      ]),
      inv3,
    ),
  );
  assert.equal(s.ranks[1]?.env['MASTER_PORT'], '23456');
});

test('MASTER_PORT: host mode and 29500 taken on the leader node → allocated', () => {
  const inv = withTaken(inv3, 'node-1', { ports: [29500] });
  const s = litOf(mustPlan(buildSpec([service('m', { nodes: 2, hostNetwork: true })]), inv));
  assert.notEqual(s.masterPort, 29500);
  assert.ok((s.masterPort ?? 0) >= 20000 && (s.masterPort ?? 0) <= 29999);
  assert.ok(s.ranks.every((r) => r.env['MASTER_PORT'] === String(s.masterPort)));
});

test('sshd: 2222, or allocated in host mode when taken', () => {
  const inv = withNode(inv3, 'node-2', (n) => ({ ...n, listening: [2222] }));
  const overlay = litOf(mustPlan(buildSpec([service('s', { nodes: 2 })]), inv));
  assert.deepEqual(
    overlay.ranks.map((r) => r.sshPort),
    [2222, 2222],
  );
  const host = litOf(mustPlan(buildSpec([service('s', { nodes: 2, hostNetwork: true })]), inv));
  assert.equal(host.ranks[0]?.sshPort, 2222);
  assert.notEqual(host.ranks[1]?.sshPort, 2222);
});

test('TF_CONFIG ports: base + rank in overlay, allocated and distinct in host mode', () => {
  const overlay = litOf(mustPlan(buildSpec([service('t', { nodes: 3 })]), inv3));
  assert.equal(
    overlay.ranks[2]?.env['TF_CONFIG'],
    '{"cluster":{"worker":["t-0:29500","t-1:29501","t-2:29502"]},"task":{"type":"worker","index":2}}',
  );
  const host = litOf(
    mustPlan(
      buildSpec([service('t', { nodes: 3, hostNetwork: true, placement: { strategy: 'pack' } })]),
      generateInventory({ nodes: 1 }),
    ),
  );
  const tf = host.ranks.map((r) => r.tfPort ?? 0);
  assert.equal(new Set(tf).size, 3);
  const cfg = JSON.parse(host.ranks[0]?.env['TF_CONFIG'] ?? '{}') as { cluster: { worker: string[] } };
  assert.deepEqual(
    cfg.cluster.worker,
    tf.map((p, r) => `t-${r}:${p}`),
  );
});

test('endpoints map to rank 0 only, with the bound port', () => {
  const spec = buildSpec([
    service('e', {
      nodes: 2,
      hostNetwork: true,
      ports: [{ ...http, hostPort: 'auto' }],
      endpoints: [{ name: 'api', portName: 'http', protocol: 'https', type: 'subdomain', scope: 'group' }],
    }),
  ]);
  const s = litOf(mustPlan(spec, inv3));
  assert.equal(s.endpoints.length, 1);
  const e = s.endpoints[0];
  assert.ok(e);
  assert.equal(e.rank, 0);
  assert.equal(e.targetAddress, s.ranks[0]?.address);
  assert.equal(e.targetPort, s.ranks[0]?.ports[0]?.hostPort);
  assert.equal(e.port, 8080);
});

test('endpoint naming an undeclared port is a located error', () => {
  const spec = buildSpec(
    [service('e', { nodes: 1, endpoints: [{ name: 'api', portName: 'nope', protocol: 'http' }] })],
    {
      'services.e.endpoints[0].port-name': { file: 'f.yaml', line: 9, col: 7 },
    },
  );
  const issue = mustFail(spec, inv3).issues[0];
  assert.equal(issue?.code, 'plan-unknown-port-name');
  assert.deepEqual(issue?.pos, { file: 'f.yaml', line: 9, col: 7 });
});

test('host-mode probe follows an auto-picked port', () => {
  const spec = buildSpec([
    service('e', {
      nodes: 1,
      hostNetwork: true,
      ports: [{ ...http, hostPort: 'auto' }],
      readinessProbe: {
        action: { kind: 'tcp', port: 8080 },
        periodSeconds: 1,
        failureThreshold: 1,
        successThreshold: 1,
        initialDelaySeconds: 0,
        timeoutSeconds: 1,
      },
    }),
  ]);
  const r = litOf(mustPlan(spec, inv3)).ranks[0];
  assert.equal(r?.probe?.action.port, r?.ports[0]?.hostPort);
});

test('generated addresses stay usable past 254 nodes', () => {
  const inv = generateInventory({ nodes: 600 });
  const ips = inv.nodes.map((n) => parseIpv4(n.address) ?? 0);
  assert.equal(new Set(ips).size, 600);
  assert.ok(ips.every((ip) => (ip & 255) !== 0 && (ip & 255) !== 255));
  assert.equal(inv.nodes[254]?.address, '198.18.1.1');
});

test('failover re-plan: same seed + released ports cooling → same nodes and subnet, new ports published to every rank', () => {
  const spec = buildSpec([
    service('tf', {
      nodes: 3,
      hostNetwork: true,
      ports: [{ name: 'grpc', port: 5000, protocol: 'tcp', hostPort: 'auto' }],
    }),
  ]);
  const first = litOf(mustPlan(spec, inv3, { seed: 9 }));
  const failed = first.ranks[1];
  assert.ok(failed);
  const released = [failed.ports[0]?.hostPort ?? 0, failed.tfPort ?? 0];
  const again = litOf(mustPlan(spec, inv3, { seed: 9, coolingPorts: { [failed.node]: released } }));
  assert.deepEqual(
    again.ranks.map((r) => r.node),
    first.ranks.map((r) => r.node),
  );
  assert.equal(again.network.subnet, first.network.subnet);
  const moved = again.ranks[1];
  assert.ok(moved);
  assert.ok(!released.includes(moved.ports[0]?.hostPort ?? 0), 'the failed rank gets a fresh port');
  assert.equal(again.ranks[0]?.ports[0]?.hostPort, first.ranks[0]?.ports[0]?.hostPort, 'others keep theirs');
  for (const r of again.ranks) {
    const tf = JSON.parse(r.env['TF_CONFIG'] ?? '{}') as { cluster: { worker: string[] } };
    assert.equal(tf.cluster.worker[1], `tf-1:${moved.tfPort}`);
  }
  const cluster = JSON.parse(again.files.find((f) => f.path.endsWith('cluster.json'))?.content ?? '{}') as {
    ranks: { ports: Record<string, number> }[];
  };
  assert.equal(cluster.ranks[1]?.ports['grpc'], moved.ports[0]?.hostPort);
});

test('bad planner options are reported, not thrown', () => {
  const spec = buildSpec([service('a', { nodes: 1 })]);
  for (const bad of [
    { overlayPool: '10.0.0.0/25' },
    { overlayPool: 'nope' },
    { hostPortRange: { from: 3000, to: 2000 } },
    { vniRange: { from: 0, to: 10 } },
    { seed: 1.5 },
  ]) {
    const { issues } = mustFail(spec, inv3, bad);
    assert.equal(issues[0]?.code, 'plan-bad-options', JSON.stringify(bad));
  }
});
