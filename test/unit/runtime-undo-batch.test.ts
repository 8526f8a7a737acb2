/**
 * How `down` batches the undo of a service's node tables and devices (network.ts `nodeUndoScript`,
 * teardown.ts `undoSteps`): a node's tables and links in one step and one shell; a node's devices in one
 * `ip link del group` only when the group holds nothing but them; by name otherwise and for records made
 * before groups. The script runs here under /bin/sh with `ip` and `nft` replaced by shell functions that
 * print what they were asked (the real ones need root and a node namespace: the root suites run them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { Resource } from '../../src/targets/local/service-state.js';
import { LINK_GROUP_BASE, linkGroup, nodeUndoScript } from '../../src/targets/local/network.js';
import type { NodeUndo } from '../../src/targets/local/network.js';
import { undoStepLabel, undoSteps } from '../../src/targets/local/teardown.js';

const G = LINK_GROUP_BASE + 7;

/**
 * Runs `nodeUndoScript(items)` with fake `ip`/`nft`: `ip -o link show group N` prints `shown[N]` (lines like
 * `12: mx1@under0: <…>`), every call is logged; returns the log and the exit status.
 */
function runScript(items: readonly NodeUndo[], shown: Readonly<Record<number, string[]>> = {}) {
  const fakes = [
    'ip() {',
    '  echo "ip $*" >&3',
    '  if [ "$1 $2 $3 $4" = "-o link show group" ]; then',
    '    case "$5" in',
    ...Object.entries(shown).map(
      ([g, ls]) => `      ${g}) printf '%s\\n' ${ls.map((l) => `'${l}'`).join(' ')};;`,
    ),
    '    esac',
    '  fi',
    '  if [ "$1" = "-force" ]; then while read -r l; do echo "  $l" >&3; done; fi',
    '  return 0',
    '}',
    'nft() { echo "nft $*" >&3; while read -r l; do echo "  $l" >&3; done; }',
  ].join('\n');
  const r = spawnSync('/bin/sh', ['-c', `exec 3>&1\n${fakes}\n${nodeUndoScript(items)}`], {
    encoding: 'utf8',
  });
  return { log: r.stdout.trimEnd().split('\n'), status: r.status };
}

const link = (name: string, group?: number): NodeUndo => ({
  kind: 'link',
  netns: 'n1',
  name,
  ...(group === undefined ? {} : { group }),
});

test('linkGroup: one group per VNI, clear of 0 and of hand-picked small numbers; none without a VNI', () => {
  assert.equal(linkGroup(1), LINK_GROUP_BASE + 1);
  assert.equal(linkGroup(0xffffff), LINK_GROUP_BASE + 0xffffff);
  assert.ok(LINK_GROUP_BASE + 0xffffff < 2 ** 32);
  assert.notEqual(linkGroup(5), linkGroup(6));
  for (const vni of [undefined, 0, -1, 1.5, 0x1000000]) assert.equal(linkGroup(vni), undefined, String(vni));
});

test('undoSteps: node tables and links are one step; other kinds a step each; reverse order kept', () => {
  const rs: Resource[] = [
    { kind: 'link', netns: 'n1', name: 'mx1', group: G },
    { kind: 'link', netns: 'n1', name: 'mb1', group: G },
    { kind: 'link', netns: 'n2', name: 'mx1', group: G },
    { kind: 'nft', netns: 'n1', table: 't' },
    { kind: 'nft', netns: 'n2', table: 't' },
    { kind: 'netns', name: 'r0' },
    { kind: 'nft', table: 'ep' },
    { kind: 'dir', path: '/x' },
  ];
  const steps = undoSteps(rs);
  assert.deepEqual(
    steps.map((s) => s.map((r) => r.kind)),
    [['dir'], ['nft'], ['netns'], ['nft', 'nft', 'link', 'link', 'link']],
  );
  assert.deepEqual(steps.flat(), [...rs].reverse(), 'every resource once, in reverse order');
  assert.equal(undoStepLabel(steps[3] ?? []), '2 nft, 3 link');
  // A root-namespace table (no netns) is not a node table: its own step even next to links.
  assert.deepEqual(
    undoSteps([rs[0] as Resource, { kind: 'nft', table: 'ep' }]).map((s) => s.length),
    [1, 1],
  );
  assert.deepEqual(undoSteps([]), []);
});

test('nodeUndoScript: a group holding exactly our devices goes in one delete, nothing by name', () => {
  const { log, status } = runScript([link('mb1', G), link('mx1', G)], {
    [G]: ['12: mb1: <BROADCAST,UP> mtu 1450', '13: mx1@under0: <BROADCAST,UP> mtu 1450'],
  });
  assert.equal(status, 0);
  assert.deepEqual(log, [`ip -o link show group ${G}`, `ip link del group ${G}`]);
});

test('nodeUndoScript: a group holding a device not ours is not deleted; ours go by name', () => {
  const { log } = runScript([link('mb1', G), link('mx1', G)], {
    [G]: ['12: mb1: <UP>', '13: mx1@under0: <UP>', '14: other: <UP>'],
  });
  assert.ok(!log.some((l) => l.includes('del group')), log.join('\n'));
  assert.deepEqual(log.slice(1), ['ip -force -batch -', '  link del mb1', '  link del mx1']);
});

test('nodeUndoScript: part of the group already gone: the rest by group; an empty group by name (no-ops)', () => {
  const part = runScript([link('mb1', G), link('mx1', G)], { [G]: ['12: mb1: <UP>'] });
  assert.deepEqual(part.log, [
    `ip -o link show group ${G}`,
    `ip link del group ${G}`,
    'ip -force -batch -',
    '  link del mx1',
  ]);
  const none = runScript([link('mb1', G), link('mx1', G)]);
  assert.deepEqual(none.log, [
    `ip -o link show group ${G}`,
    'ip -force -batch -',
    '  link del mb1',
    '  link del mx1',
  ]);
});

test('nodeUndoScript: a record from before groups is undone by name, tables first, in one shell', () => {
  const { log } = runScript([
    { kind: 'nft', netns: 'n1', table: 'mn_x' },
    { kind: 'nft', netns: 'n1', table: 'mn_x_fab' },
    link('mb1'),
    link('mx1'),
  ]);
  assert.deepEqual(log, [
    'nft -f -',
    '  table ip mn_x',
    '  delete table ip mn_x',
    '  table bridge mn_x_gw',
    '  delete table bridge mn_x_gw',
    '  table bridge mn_x_fab',
    '  delete table bridge mn_x_fab',
    'ip -force -batch -',
    '  link del mb1',
    '  link del mx1',
  ]);
});

test('nodeUndoScript: groups apart, a name that is not one of ours is never put in the script', () => {
  const H = G + 1;
  const { log } = runScript([link('mb1', G), link('mb2', H), link('bad name;rm', G)], {
    [G]: ['12: mb1: <UP>'],
    [H]: ['13: mb2: <UP>', '14: mx2@under0: <UP>'],
  });
  assert.deepEqual(log, [
    `ip -o link show group ${G}`,
    `ip link del group ${G}`,
    `ip -o link show group ${H}`,
    'ip -force -batch -',
    '  link del mb2',
  ]);
  assert.ok(!nodeUndoScript([link('bad name;rm', G)]).includes('bad'));
  assert.equal(nodeUndoScript([]), '');
});
