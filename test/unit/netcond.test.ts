/**
 * The pure parts of network conditions: reading rates/percentages/durations, link profiles and fault
 * schedules (with located errors), schedule event order, and the tc/ip/nft text rendered for conditions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatDuration,
  formatRate,
  parseDuration,
  parseLinksFile,
  parsePercent,
  parseRate,
  parseSchedule,
} from '../../src/spec/netcond.js';
import { parseInventory } from '../../src/spec/inventory.js';
import type { NetCondition, Topology } from '../../src/targets/local/netcond/render.js';
import {
  clearLines,
  describeCondition,
  ifbLines,
  lossExpr,
  nftReplace,
  renderConditions,
} from '../../src/targets/local/netcond/render.js';
import { profileConditions } from '../../src/targets/local/netcond/apply.js';
import { scheduleEvents } from '../../src/app/net.js';

test('rates follow tc units (bits vs bytes per second, SI vs binary)', () => {
  assert.equal(parseRate('10gbit'), 10e9);
  assert.equal(parseRate('500mbit'), 500e6);
  assert.equal(parseRate('100kbit'), 100e3);
  assert.equal(parseRate('1mbps'), 8e6);
  assert.equal(parseRate('1Gbit'), 1e9);
  assert.equal(parseRate('1.5gbit'), 1.5e9);
  assert.equal(parseRate('1mibit'), 1048576);
  assert.equal(parseRate('2000000'), 2e6);
  for (const badRate of ['', 'fast', '10 gigs', '-1gbit', '10gb', '0bit', '999bit', '5tbit'])
    assert.equal(parseRate(badRate), undefined, badRate);
  assert.equal(formatRate(10e9), '10gbit');
  assert.equal(formatRate(1.5e9), '1500mbit');
  assert.equal(formatRate(1234), '1234bit');
});

test('percentages and durations', () => {
  assert.equal(parsePercent('5%'), 5);
  assert.equal(parsePercent('0.25%'), 0.25);
  assert.equal(parsePercent(100), 100);
  for (const b of ['101%', '-1%', '0.125%', 'five', '']) assert.equal(parsePercent(b), undefined, b);
  assert.equal(parseDuration('10s'), 10_000);
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('2h'), 7_200_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration(3), 3000);
  for (const b of ['', 's', '10x', '1s2', '-1s']) assert.equal(parseDuration(b), undefined, b);
  assert.equal(formatDuration(90_000), '1m30s');
  assert.equal(formatDuration(1500), '1.5s');
  assert.equal(formatDuration(250), '250ms');
});

test('a links file and the inventory `links:` section are checked and located', () => {
  const ok = parseLinksFile(
    'links:\n  underlay: { rate: 10gbit }\n  fabric: { rate: 100gbit, loss: 0.1% }\n  between-blocks: { rate: 1gbit }\n',
    'l.yaml',
  );
  assert.ok(ok.ok);
  assert.deepEqual(ok.value, {
    underlay: { rate: 10e9 },
    fabric: { rate: 100e9, loss: 0.1 },
    betweenBlocks: { rate: 1e9 },
  });
  const bad = parseLinksFile('links:\n  underlay:\n    rate: 10 gigs\n  fabrik: {}\n', 'l.yaml');
  assert.ok(!bad.ok);
  const unknown = bad.issues.find((i) => i.code === 'unknown-key');
  assert.ok(unknown, JSON.stringify(bad.issues));
  assert.equal(unknown.pos?.line, 4);
  assert.match(unknown.hint ?? unknown.message, /fabric/);
  const rate = parseLinksFile('links:\n  underlay:\n    rate: 10 gigs\n', 'l.yaml');
  assert.ok(!rate.ok);
  assert.equal(rate.issues[0]?.code, 'net-rate');
  assert.equal(rate.issues[0]?.path, 'links.underlay.rate');
  assert.deepEqual([rate.issues[0]?.pos?.line, rate.issues[0]?.pos?.col], [3, 11]);

  const inv = parseInventory(
    'nodes:\n  - { name: a, address: 198.18.0.1 }\nlinks:\n  underlay: { rate: 1gbit }\n',
    'inv.yaml',
  );
  assert.ok(inv.ok);
  assert.deepEqual(inv.value.links, { underlay: { rate: 1e9 } });
  const badInv = parseInventory(
    'nodes:\n  - { name: a, address: 198.18.0.1 }\nlinks:\n  underlay: { loss: 150% }\n',
    'inv.yaml',
  );
  assert.ok(!badInv.ok);
  assert.equal(badInv.issues[0]?.code, 'net-loss');
  assert.equal(badInv.issues[0]?.pos?.line, 4);
});

const SCHEDULE = `faults:
  - at: 0s
    action: partition
    groups: [[node-2]]
    duration: 10s
  - at: 10s
    action: loss
    rail: 1
    loss: 5%
    duration: 30s
  - at: 45s
    action: heal
`;

test('a schedule is read, checked against the cluster and ordered (ends before starts at one time)', () => {
  const r = parseSchedule(SCHEDULE, 's.yaml', { nodes: ['node-1', 'node-2', 'node-3'], rails: 2 });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  assert.deepEqual(
    r.value.map((s) => [s.atMs, s.action, s.durationMs]),
    [
      [0, 'partition', 10_000],
      [10_000, 'loss', 30_000],
      [45_000, 'heal', undefined],
    ],
  );
  assert.deepEqual(r.value[1]?.target, { rail: 1 });
  assert.deepEqual(r.value[1]?.shape, { loss: 5 });
  const ev = scheduleEvents(r.value).map((e) => `${e.atMs} ${e.kind} ${e.step.index}`);
  assert.deepEqual(ev, ['0 start 0', '10000 end 0', '10000 start 1', '40000 end 1', '45000 start 2']);
});

test('schedule errors name file:line:col, the field and what is allowed', () => {
  const text = `faults:
  - at: soon
    action: loss
  - at: 1s
    action: partition
    groups: [[node-9]]
  - at: 2s
    action: bandwidth
    rate: 1gbit
    rail: 4
  - at: 3s
    action: heal
    loss: 5%
  - at: 4s
    action: explode
`;
  const r = parseSchedule(text, 's.yaml', { nodes: ['node-1', 'node-2'], rails: 2 });
  assert.ok(!r.ok);
  const by = (path: string) => r.issues.find((i) => i.path === path);
  assert.equal(by('faults[4].action')?.code, 'enum', JSON.stringify(r.issues));
  assert.match(
    by('faults[4].action')?.message ?? '',
    /explode.*allowed: partition, bandwidth, loss, delay, heal/,
  );
  const r2 = parseSchedule(text.split('  - at: 4s')[0] ?? '', 's.yaml', {
    nodes: ['node-1', 'node-2'],
    rails: 2,
  });
  assert.ok(!r2.ok);
  const at = (path: string) => r2.issues.find((i) => i.path === path);
  assert.equal(at('faults[0].at')?.code, 'net-duration');
  assert.equal(at('faults[0].at')?.pos?.line, 2);
  assert.match(r2.issues.find((i) => i.path === 'faults[0]')?.message ?? '', /needs `loss`/);
  assert.match(at('faults[1].groups[0]')?.message ?? '', /node node-9 is not in the cluster/);
  assert.match(at('faults[2].rail')?.message ?? '', /rail 4 does not exist: the cluster has 2/);
  assert.match(at('faults[3].loss')?.message ?? '', /action heal takes no `loss`/);
  assert.equal(at('faults[3].loss')?.pos?.line, 13);
});

const TOPO: Topology = {
  nodes: [
    { name: 'node-1', index: 1, block: 'b0' },
    { name: 'node-2', index: 2, block: 'b0' },
    { name: 'node-3', index: 3, block: 'b1' },
  ],
  fabricNics: 2,
  table: 'mn_abc123_net',
};

function cond(id: number, c: Partial<NetCondition>): NetCondition {
  return { id, source: 'cli', since: '', kind: 'shape', target: {}, direction: 'both', shape: {}, ...c };
}

test('rate on a node: htb on its switch port (to it) and on an ifb fed from the port ingress (from it)', () => {
  const r = renderConditions(TOPO, [cond(1, { target: { nodes: ['node-2'] }, shape: { rate: 1e9 } })]);
  assert.deepEqual(r.applied, { root: ['u2'], ingress: ['u2'], ifbs: ['iu2'], table: false });
  assert.equal(r.nft, '');
  assert.deepEqual(r.tc.slice(0, 2), [
    'qdisc add dev u2 root handle 1: htb default 2',
    'class add dev u2 parent 1: classid 1:1 htb rate 1000000000bit ceil 1000000000bit burst 250000 cburst 250000 quantum 200000',
  ]);
  assert.ok(r.tc.includes('qdisc add dev u2 handle ffff: ingress'));
  assert.ok(
    r.tc.includes(
      'filter add dev u2 parent ffff: protocol all prio 1 u32 match u32 0 0 action mirred egress redirect dev iu2',
    ),
  );
  assert.ok(r.tc.includes('qdisc add dev iu2 root handle 1: htb default 2'));
  assert.equal(r.needsNetem, false);
  // Direction `to` only: no ifb.
  const to = renderConditions(TOPO, [
    cond(1, { target: { nodes: ['node-2'] }, direction: 'to', shape: { rate: 1e9 } }),
  ]);
  assert.deepEqual(to.applied.ingress, []);
});

test('a rail condition touches fabric ports only; two rates on one port: the lower wins', () => {
  const r = renderConditions(TOPO, [
    cond(1, { target: { rail: 1 }, shape: { rate: 2e9 } }),
    cond(2, { target: { nodes: ['node-1'], rail: 1 }, shape: { rate: 1e8 } }),
  ]);
  assert.deepEqual(r.applied.root, ['f1k1', 'f2k1', 'f3k1']);
  assert.ok(r.applied.root.every((p) => !p.startsWith('u')));
  assert.ok(
    r.tc.some((l) => l.startsWith('class add dev f1k1 parent 1: classid 1:1 htb rate 100000000bit ')),
  );
  assert.ok(
    r.tc.some((l) => l.startsWith('class add dev f2k1 parent 1: classid 1:1 htb rate 2000000000bit ')),
  );
  assert.throws(
    () => renderConditions(TOPO, [cond(1, { target: { rail: 2 }, shape: { rate: 1e9 } })]),
    /rail 2 does not exist/,
  );
  assert.throws(
    () => renderConditions(TOPO, [cond(1, { target: { nodes: ['x'] }, shape: { rate: 1e9 } })]),
    /node x/,
  );
});

test('loss, links, blocks and partitions become nft bridge rules; link rates mark frames for an htb class', () => {
  const r = renderConditions(TOPO, [
    cond(1, { target: { nodes: ['node-1'] }, direction: 'from', shape: { loss: 5 } }),
    cond(2, { target: { link: ['node-1', 'node-3'] }, shape: { rate: 1e8, loss: 0.5 } }),
    cond(3, { kind: 'partition', groups: [['node-3'], ['node-1', 'node-2']] }),
  ]);
  assert.equal(lossExpr(5), 'numgen random mod 10000 < 500');
  assert.match(
    r.nft,
    /^table bridge mn_abc123_net \{\n {2}chain forward \{\n {4}type filter hook forward priority -10; policy accept;\n/,
  );
  const rules = r.nft.split('\n').map((l) => l.trim());
  assert.ok(rules.includes('iifname { "u1" } numgen random mod 10000 < 500 drop comment "loss #1"'));
  assert.ok(
    !rules.some((l) => l.startsWith('oifname { "u1" }')),
    'direction from: no rule on frames to node-1',
  );
  assert.ok(rules.includes('iifname "u1" oifname "u3" numgen random mod 10000 < 50 drop comment "loss #2"'));
  assert.ok(rules.includes('iifname "u1" oifname "u3" meta mark set 0x6d6e0001 comment "#2"'));
  assert.ok(rules.includes('iifname "u3" oifname "u1" meta mark set 0x6d6e0002 comment "#2"'));
  assert.ok(
    rules.includes(
      'iifname { "u3", "f3k0", "f3k1" } oifname { "u1", "f1k0", "f1k1", "u2", "f2k0", "f2k1" } drop comment "partition #3"',
    ),
  );
  // Drops come before marks; the marked class sits on the receiving port, with a u32 mark filter.
  assert.ok(rules.findIndex((l) => l.includes('partition')) < rules.findIndex((l) => l.includes('mark set')));
  assert.ok(
    r.tc.includes(
      'filter add dev u3 parent 1: protocol all prio 1 u32 match mark 0x6d6e0001 0xffffffff flowid 1:10',
    ),
  );
  assert.ok(r.tc.includes('qdisc add dev u3 root handle 1: htb default 0'), 'unmarked frames pass unshaped');
  assert.deepEqual(r.applied, { root: ['u1', 'u3'], ingress: [], ifbs: [], table: true });

  const blocks = renderConditions(TOPO, [
    cond(1, { source: 'profile', target: { betweenBlocks: true }, shape: { rate: 1e9 } }),
  ]);
  assert.ok(
    blocks.nft.includes(
      'iifname { "u1", "f1k0", "f1k1", "u2", "f2k0", "f2k1" } oifname { "u3", "f3k0", "f3k1" } meta mark set 0x6d6e0001',
    ),
  );
  assert.equal(blocks.applied.root.length, 9);
});

test('delay needs netem (a leaf under the htb class); clearing and replacing', () => {
  const r = renderConditions(TOPO, [
    cond(1, { target: { nodes: ['node-1'] }, direction: 'to', shape: { delayMs: 20 } }),
  ]);
  assert.equal(r.needsNetem, true);
  assert.ok(r.tc.includes('qdisc add dev u1 parent 1:2 handle 2: netem delay 20ms limit 100000'));
  assert.deepEqual(clearLines({ root: ['u1'], ingress: ['u2'], ifbs: ['iu2'], table: true }), [
    'qdisc del dev u1 root',
    'qdisc del dev u2 ingress',
    'qdisc del dev iu2 root',
  ]);
  assert.deepEqual(ifbLines(['iu1', 'iu2'], ['iu2', 'iu3']), {
    del: ['link set iu1 group 99', 'link del group 99'],
    add: ['link add iu3 txqueuelen 1000 type ifb', 'link set iu3 up'],
  });
  assert.equal(nftReplace('t', ''), 'table bridge t {}\ndelete table bridge t\n');
  assert.equal(renderConditions(TOPO, []).tc.length, 0);
});

test('profiles become conditions of source `profile`; descriptions read plainly', () => {
  const p = profileConditions({ underlay: { rate: 1e10 }, betweenBlocks: { rate: 1e9 } });
  assert.deepEqual(
    p.map((c) => [c.source, c.target, c.shape]),
    [
      ['profile', {}, { rate: 1e10 }],
      ['profile', { betweenBlocks: true }, { rate: 1e9 }],
    ],
  );
  assert.equal(
    describeCondition(
      cond(4, {
        target: { link: ['node-1', 'node-2'], rail: 0 },
        direction: 'to',
        shape: { rate: 1e8, loss: 1 },
      }),
    ),
    '#4 link node-1<->node-2 rail 0: rate 100mbit, loss 1% (to only) [cli]',
  );
  assert.equal(
    describeCondition(cond(5, { kind: 'partition', groups: [['node-2'], ['node-1', 'node-3']] })),
    '#5 partition node-2 | node-1,node-3: drop all [cli]',
  );
});
