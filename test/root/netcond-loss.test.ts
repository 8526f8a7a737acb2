/**
 * Loss and partitions on real traffic, against the same pings without the condition; delay where the kernel
 * has netem (skipped here otherwise, and `net set --delay` says why); nothing left after heal / delete.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EMPTY_SNAPSHOT,
  cleanupStateDir,
  cli,
  hashesFor,
  makeStateDir,
  skipReason,
  snapshot,
} from './runtime-helpers.js';
import {
  NOTHING_LEFT,
  inNs,
  nodeNs,
  pingLoss,
  rootLeftovers,
  switchLeftovers,
  switchNs,
} from './netcond-helpers.js';
import { spawnSync } from 'node:child_process';

const skip = skipReason(['ping', 'tc']);

test(
  'loss shows in ping statistics; a partition cuts exactly its groups; heal restores',
  { skip, timeout: 300_000 },
  () => {
    const state = makeStateDir('netcond-loss');
    try {
      assert.equal(cli(state, ['cluster', 'create', 'nl', '--nodes', '3', '--fabric-nics', '1']).code, 0);
      const n1 = nodeNs(state, 'nl', 'node-1');
      const index = Number(/198\.18\.(\d+)\./.exec(cli(state, ['cluster', 'ls']).stdout)?.[1]);
      const addr = (i: number) => `198.18.${index}.${i}`;
      const base = pingLoss(n1, addr(2));
      assert.ok(base <= 1, `baseline loss ${base}%`);

      // 20% of the frames node-2 receives: ping requests lost, replies not.
      assert.equal(
        cli(state, ['net', 'set', 'nl', '--node', 'node-2', '--loss', '20%', '--direction', 'to']).code,
        0,
      );
      const lossy = pingLoss(n1, addr(2), 500);
      assert.ok(lossy >= 10 && lossy <= 32, `20% loss to node-2 gave ${lossy}% ping loss`);
      assert.ok(pingLoss(n1, addr(3)) <= 1, 'node-3 is not affected');

      // A link: only node-1 <-> node-3, both ways (≈ 1 - 0.7² = 51% of round trips).
      assert.equal(cli(state, ['net', 'heal', 'nl']).code, 0);
      assert.equal(cli(state, ['net', 'set', 'nl', '--link', 'node-1,node-3', '--loss', '30']).code, 0);
      const link = pingLoss(n1, addr(3), 500);
      assert.ok(link >= 38 && link <= 64, `30% both ways on the link gave ${link}%`);
      assert.ok(pingLoss(n1, addr(2)) <= 1, 'node-1 -> node-2 is not on the link');

      // Partition node-3 from the rest: underlay and fabric both cut, node-1 <-> node-2 fine.
      assert.equal(cli(state, ['net', 'heal', 'nl']).code, 0);
      const p = cli(state, ['net', 'partition', 'nl', 'node-3']);
      assert.equal(p.code, 0, p.stderr);
      assert.match(p.stdout, /partition node-3 \| node-1,node-2/);
      assert.equal(pingLoss(n1, addr(3), 20), 100);
      assert.equal(pingLoss(n1, `198.19.${index * 8}.3`, 20), 100, 'fabric cut too');
      assert.ok(pingLoss(n1, addr(2), 50) <= 2);
      assert.deepEqual(rootLeftovers(state, 'nl'), []);
      const heal = cli(state, ['net', 'heal', 'nl']);
      assert.match(heal.stdout, /cleared #3 partition/);
      assert.ok(pingLoss(n1, addr(3), 50) <= 2, 'healed');
      assert.deepEqual(switchLeftovers(switchNs(state, 'nl')), NOTHING_LEFT);

      // Bad input: clear errors, nothing applied.
      const bad = cli(state, ['net', 'set', 'nl', '--node', 'node-9', '--loss', '5%']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /node "node-9" is not in cluster nl \(nodes: node-1, node-2, node-3\)/);
      const badRail = cli(state, ['net', 'set', 'nl', '--rail', '3', '--rate', '1gbit']);
      assert.match(badRail.stderr, /--rail 3: cluster nl has rails 0…0/);
      assert.match(cli(state, ['net', 'set', 'nl', '--rate', 'fast']).stderr, /--rate: cannot read "fast"/);
      assert.match(cli(state, ['net', 'show', 'nl']).stdout, /no network conditions on nl/);

      // cluster delete removes conditions with everything else.
      assert.equal(cli(state, ['net', 'set', 'nl', '--rate', '1gbit', '--loss', '1%']).code, 0);
      assert.equal(cli(state, ['cluster', 'delete', 'nl']).code, 0);
      assert.deepEqual(snapshot(state, hashesFor(state, ['nl'])), EMPTY_SNAPSHOT);
      assert.deepEqual(rootLeftovers(state, 'nl'), []);
    } finally {
      cleanupStateDir(state);
    }
  },
);

function netemReason(): string | false {
  const ns = `mn-netem-probe-${process.pid}`;
  spawnSync('ip', ['netns', 'add', ns]);
  try {
    const r = spawnSync('tc', ['-n', ns, 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms'], {
      encoding: 'utf8',
    });
    return r.status === 0 ? false : `the kernel has no netem qdisc (tc: ${r.stderr.trim()})`;
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
}
const noNetem = skip || netemReason();

test(
  'without netem, --delay fails with a clear error and changes nothing',
  { skip: skip || (noNetem ? false : 'the kernel has netem') },
  () => {
    const state = makeStateDir('netcond-nonetem');
    try {
      assert.equal(cli(state, ['cluster', 'create', 'nd', '--nodes', '2']).code, 0);
      const r = cli(state, ['net', 'set', 'nd', '--delay', '10ms']);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /delay needs the kernel's netem qdisc \(sch_netem\), which this kernel does not have/,
      );
      assert.match(cli(state, ['net', 'show', 'nd']).stdout, /no network conditions/);
      assert.deepEqual(switchLeftovers(switchNs(state, 'nd')), NOTHING_LEFT);
      assert.equal(cli(state, ['cluster', 'delete', 'nd']).code, 0);
    } finally {
      cleanupStateDir(state);
    }
  },
);

test('delay shows in ping round-trip times', { skip: noNetem, timeout: 120_000 }, () => {
  const state = makeStateDir('netcond-delay');
  try {
    assert.equal(cli(state, ['cluster', 'create', 'ny', '--nodes', '2']).code, 0);
    const n1 = nodeNs(state, 'ny', 'node-1');
    const index = Number(/198\.18\.(\d+)\./.exec(cli(state, ['cluster', 'ls']).stdout)?.[1]);
    const rtt = (): number => {
      const r = inNs(n1, ['ping', '-q', '-c', '20', '-i', '0.05', `198.18.${index}.2`]);
      return Number(/= [\d.]+\/([\d.]+)\//.exec(r.out)?.[1]);
    };
    const base = rtt();
    assert.equal(
      cli(state, ['net', 'set', 'ny', '--node', 'node-2', '--delay', '20ms', '--direction', 'to']).code,
      0,
    );
    const slow = rtt();
    assert.ok(slow - base > 18 && slow - base < 30, `rtt ${base} → ${slow} ms`);
    assert.equal(cli(state, ['cluster', 'delete', 'ny']).code, 0);
  } finally {
    cleanupStateDir(state);
  }
});
