/**
 * Replicas and rolling updates, the pure parts: spec fields and their located errors, replica expansion and
 * names, the content hash that decides "unchanged", rollout and scale ordering with a fake capacity, the
 * nft map of a balanced endpoint and which replicas are in it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSpec } from '../../src/spec/index.js';
import type { Spec } from '../../src/api/spec.js';
import {
  expandReplicas,
  planRollout,
  planScale,
  replicaIndex,
  serviceContentHash,
} from '../../src/plan/replicas.js';
import type { ReplicaStep } from '../../src/plan/replicas.js';
import {
  balancedRule,
  forgetPendingArgv,
  renderBalancedEndpointTable,
  renderListenGuard,
} from '../../src/targets/local/endpoints.js';
import { computeBalanced, rotationMoves } from '../../src/targets/local/replica-set.js';

function spec(text: string): Spec {
  const r = parseSpec(text, 'test.yaml');
  assert.ok(r.ok, JSON.stringify(r.ok ? [] : r.issues));
  return r.value;
}

const WEB = `services:
  web:
    script: serve
    replicas: 3
    update:
      max-surge: 0
`;

test('replicas and update normalize; a file without them normalizes exactly as before', () => {
  const s = spec(WEB).services[0];
  assert.equal(s?.replicas, 3);
  assert.deepEqual(s?.update, { maxSurge: 0, maxUnavailable: 1 });
  const plain = spec('services:\n  web:\n    script: serve\n').services[0];
  assert.ok(plain);
  assert.equal('replicas' in plain, false);
  assert.equal('update' in plain, false);
});

test('bad replicas: located errors with path and line', () => {
  const r = parseSpec('services:\n  web:\n    script: x\n    replicas: 0\n', 'f.yaml');
  assert.equal(r.ok, false);
  const i = r.ok ? undefined : r.issues.find((x) => x.path === 'services.web.replicas');
  assert.ok(i, 'an issue at services.web.replicas');
  assert.equal(i.pos?.line, 4);
  const clash = parseSpec(
    'services:\n  web:\n    script: x\n    replicas: 2\n  web-2:\n    script: y\n',
    'f.yaml',
  );
  assert.equal(clash.ok, false);
  const c = clash.ok ? undefined : clash.issues.find((x) => x.code === 'replica-name');
  assert.ok(c, 'web-2 is the surge replica of web');
  assert.match(c.message, /web-2/);
  const long = parseSpec(`services:\n  ${'a'.repeat(62)}:\n    script: x\n    replicas: 10\n`, 'f.yaml');
  assert.equal(long.ok, false);
});

test('expandReplicas: <service>-<i> replicas (no count, replicaOf set); other services untouched', () => {
  const s = spec(`${WEB}  db:\n    script: db\n`);
  const e = expandReplicas(s);
  assert.deepEqual(
    e.services.map((x) => x.name),
    ['web-0', 'web-1', 'web-2', 'db'],
  );
  assert.equal(e.services[0]?.replicas, undefined);
  assert.equal(e.services[0]?.replicaOf, 'web');
  assert.deepEqual(e.services[0]?.update, { maxSurge: 0, maxUnavailable: 1 });
  assert.equal(e.services[3], s.services[1]);
  assert.equal(replicaIndex('web', 'web-12'), 12);
  assert.equal(replicaIndex('web', 'web-01'), undefined);
  assert.equal(replicaIndex('web', 'webx-1'), undefined);
});

test('content hash: the count and the update strategy are not a new version; the command is', () => {
  const a = spec(WEB).services[0];
  const b = spec(WEB.replace('replicas: 3', 'replicas: 5').replace('max-surge: 0', 'max-surge: 2'))
    .services[0];
  const c = spec(WEB.replace('script: serve', 'script: serve --v2')).services[0];
  assert.ok(a && b && c);
  assert.equal(serviceContentHash(a), serviceContentHash(b));
  assert.notEqual(serviceContentHash(a), serviceContentHash(c));
});

const show = (steps: readonly ReplicaStep[]) => steps.map((s) => `${s.kind === 'add' ? '+' : '-'}${s.name}`);
const old2 = [
  { name: 'web-0', index: 0 },
  { name: 'web-1', index: 1 },
];

test('rollout with room: surge — each new gang before an old one goes, never below N', () => {
  const r = planRollout({
    service: 'web',
    current: old2,
    desired: 2,
    update: { maxSurge: 1, maxUnavailable: 1 },
    room: 1,
  });
  assert.ok(r.ok);
  assert.equal(r.mode, 'surge');
  assert.deepEqual(show(r.steps), ['+web-2', '-web-0', '+web-0', '-web-1']);
  // Invariant: running gangs stay within [N, N+1].
  let n = 2;
  for (const s of r.steps) {
    n += s.kind === 'add' ? 1 : -1;
    assert.ok(n >= 2 && n <= 3);
  }
});

test('rollout without room: one unavailable at a time; neither allowed: a reason', () => {
  const r = planRollout({
    service: 'web',
    current: old2,
    desired: 2,
    update: { maxSurge: 1, maxUnavailable: 1 },
    room: 0,
  });
  assert.ok(r.ok);
  assert.equal(r.mode, 'unavailable');
  assert.deepEqual(show(r.steps), ['-web-0', '+web-0', '-web-1', '+web-1']);
  const no = planRollout({
    service: 'web',
    current: old2,
    desired: 2,
    update: { maxSurge: 1, maxUnavailable: 0 },
    room: 0,
  });
  assert.equal(no.ok, false);
  assert.match(no.ok ? '' : no.reason, /no room.*max-unavailable is 0/);
  const surgeOff = planRollout({
    service: 'web',
    current: old2,
    desired: 2,
    update: { maxSurge: 0, maxUnavailable: 1 },
    room: 5,
  });
  assert.ok(surgeOff.ok);
  assert.equal(surgeOff.mode, 'unavailable');
});

test('rollout with a count change: removals first, additions last; ends with exactly the wanted count', () => {
  const shrink = planRollout({
    service: 'web',
    current: old2,
    desired: 1,
    update: { maxSurge: 1, maxUnavailable: 1 },
    room: 1,
  });
  assert.ok(shrink.ok);
  assert.deepEqual(show(shrink.steps), ['-web-1', '+web-1', '-web-0']);
  const grow = planRollout({
    service: 'web',
    current: old2,
    desired: 3,
    update: { maxSurge: 1, maxUnavailable: 1 },
    room: 1,
  });
  assert.ok(grow.ok);
  assert.deepEqual(show(grow.steps), ['+web-2', '-web-0', '+web-0', '-web-1', '+web-1']);
});

test('scale: adds at the lowest free index, removes the highest', () => {
  assert.deepEqual(show(planScale('web', old2, 3)), ['+web-2']);
  assert.deepEqual(
    show(
      planScale(
        'web',
        [
          { name: 'web-2', index: 2 },
          { name: 'web-0', index: 0 },
        ],
        3,
      ),
    ),
    ['+web-1'],
  );
  assert.deepEqual(show(planScale('web', [...old2, { name: 'web-2', index: 2 }], 1)), ['-web-2', '-web-1']);
  assert.deepEqual(show(planScale('web', old2, 2)), []);
});

test('balanced endpoint: reset with none, plain DNAT with one, numgen map over several', () => {
  const e = { name: 'http', hostAddress: '127.0.0.1', dnatPort: 8080 };
  assert.equal(
    balancedRule({ ...e, backends: [] }),
    'ip daddr 127.0.0.1 tcp dport 8080 reject with tcp reset',
  );
  assert.equal(
    balancedRule({ ...e, backends: [{ address: '198.18.0.1', port: 9000 }] }),
    'ip daddr 127.0.0.1 tcp dport 8080 dnat to 198.18.0.1:9000',
  );
  assert.equal(
    balancedRule({
      ...e,
      backends: [
        { address: '198.18.0.1', port: 9000 },
        { address: '198.18.0.2', port: 9001 },
      ],
    }),
    'ip daddr 127.0.0.1 tcp dport 8080 dnat to numgen inc mod 2 map { 0 : 198.18.0.1 . 9000, 1 : 198.18.0.2 . 9001 }',
  );
  const table = renderBalancedEndpointTable(
    'mn_abcdef_ep',
    { rootLink: 'mnabcdefh', hostAddress: '198.18.0.254' },
    [{ ...e, backends: [] }],
  );
  assert.match(table, /^table ip mn_abcdef_ep \{/);
  assert.match(table, /oifname "mnabcdefh" ip saddr 127\.0\.0\.0\/8 snat to 198\.18\.0\.254/);
});

test('rotation: only active, ready members, in index order; draining ones are out at once', () => {
  const set = {
    endpoints: [{ name: 'http', protocol: 'http', hostAddress: '127.0.0.1', hostPort: 8080, dnatPort: 8080 }],
    members: [
      { name: 'web-2', index: 2, contentHash: 'b', state: 'active' as const },
      { name: 'web-0', index: 0, contentHash: 'a', state: 'draining' as const },
      { name: 'web-1', index: 1, contentHash: 'a', state: 'active' as const },
      { name: 'web-3', index: 3, contentHash: 'b', state: 'active' as const },
    ],
  };
  const b = (port: number) => new Map([['http', { address: '198.18.0.1', port }]]);
  const ready = new Map([
    ['web-0', b(1)],
    ['web-1', b(2)],
    ['web-2', b(3)],
  ]);
  const r = computeBalanced(set, ready);
  assert.deepEqual(r.rotation, ['web-1', 'web-2']);
  assert.deepEqual(
    r.endpoints[0]?.backends.map((x) => x.port),
    [2, 3],
  );
});

test('listen guard: only the host SYNs to an endpoint port with no socket are dropped', () => {
  const one = renderListenGuard('mn_abcdef_listen', '198.18.0.254', [8080]);
  assert.match(one, /^table ip mn_abcdef_listen \{/);
  assert.match(one, /type filter hook input priority 0; policy accept;/);
  const rules = one.split('\n').filter((l) => l.includes('ip saddr'));
  assert.deepEqual(
    rules.map((l) => l.trim()),
    [
      'ip saddr 198.18.0.254 tcp dport 8080 socket transparent 0 accept',
      'ip saddr 198.18.0.254 tcp dport 8080 socket transparent 1 accept',
      'ip saddr 198.18.0.254 tcp dport 8080 tcp flags & (syn | ack) == syn drop',
    ],
  );
  assert.match(
    renderListenGuard('t', '198.18.0.254', [9000, 8080, 9000]),
    /tcp dport \{ 8080, 9000 \} socket/,
  );
});

test('forgetting pending connections: only SYN_SENT ones of this endpoint to this backend', () => {
  assert.deepEqual(
    forgetPendingArgv({ hostAddress: '127.0.0.1', dnatPort: 8080 }, { address: '198.18.0.1', port: 9000 }),
    [
      'conntrack',
      '-D',
      '-p',
      'tcp',
      '--state',
      'SYN_SENT',
      '--orig-dst',
      '127.0.0.1',
      '--orig-port-dst',
      '8080',
      '--reply-src',
      '198.18.0.1',
      '--reply-port-src',
      '9000',
    ],
  );
});

test('rotation moves: entering members get guarded; only active ones that left count as failed', () => {
  assert.deepEqual(rotationMoves([], ['web-0', 'web-1'], ['web-0', 'web-1']), {
    entering: ['web-0', 'web-1'],
    failed: [],
  });
  // web-0 died (still active), web-1 is being drained, web-2 came in
  assert.deepEqual(rotationMoves(['web-0', 'web-1'], ['web-2'], ['web-0', 'web-2']), {
    entering: ['web-2'],
    failed: ['web-0'],
  });
});
