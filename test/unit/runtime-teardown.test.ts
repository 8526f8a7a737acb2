/**
 * `down` of a service whose supervisor is alive does the teardown once: the supervisor, told its record is
 * closed, undoes only what it made but could not record (`unrecorded`); `down` undoes what the record lists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Resource } from '../../src/targets/local/service-state.js';
import { resourceKey } from '../../src/targets/local/service-state.js';
import { unrecorded } from '../../src/targets/local/teardown.js';

const cni = (id: string): Resource => ({
  kind: 'cni',
  plugin: 'bridge',
  config: { type: 'bridge' },
  containerId: id,
  netns: `/run/netns/${id}`,
  ifname: 'eth0',
  hostNetns: 'mn-node-1',
});

test('unrecorded: what the record lists is left to down, what it lacks is the supervisor’s to undo', () => {
  const mine: Resource[] = [
    { kind: 'nft', table: 'mn_x_ep' },
    { kind: 'netns', name: 'mn-r0' },
    { kind: 'link', netns: 'mn-node-1', name: 'mnbr0' },
    cni('c0'),
    { kind: 'mount', path: '/s/uts' },
    { kind: 'process', rank: 0, pid: 10, startTime: '5' },
    // refused: the write that would have recorded these failed (the record was closed)
    { kind: 'link', netns: 'mn-node-2', name: 'mnbr0' },
    cni('c1'),
    { kind: 'process', rank: 1, pid: 11, startTime: '6' },
  ];
  // The record as down reads it: the CNI result was added later, order and copies differ.
  const recorded: Resource[] = [
    { kind: 'process', rank: 0, pid: 10, startTime: '5' },
    { kind: 'nft', table: 'mn_x_ep' },
    { kind: 'netns', name: 'mn-r0' },
    { kind: 'link', netns: 'mn-node-1', name: 'mnbr0' },
    { ...cni('c0'), result: { ips: [] } } as Resource,
    { kind: 'mount', path: '/s/uts' },
  ];
  assert.deepEqual(unrecorded(mine, recorded), mine.slice(6));
  assert.deepEqual(unrecorded(mine, []), mine, 'no record: everything is the supervisor’s to undo');
  assert.deepEqual(unrecorded(mine, mine), [], 'all recorded: the supervisor undoes nothing');
});

test('resourceKey: same object, same key; a reused pid with another start time or another namespace differs', () => {
  const a: Resource = { kind: 'process', rank: 0, pid: 10, startTime: '5' };
  assert.equal(resourceKey(a), resourceKey({ ...a }));
  assert.notEqual(resourceKey(a), resourceKey({ ...a, startTime: '7' }));
  assert.notEqual(
    resourceKey({ kind: 'link', netns: 'n1', name: 'l' }),
    resourceKey({ kind: 'link', netns: 'n2', name: 'l' }),
  );
  assert.notEqual(
    resourceKey({ kind: 'nft', table: 't' }),
    resourceKey({ kind: 'nft', netns: 'n', table: 't' }),
  );
  assert.notEqual(resourceKey({ kind: 'dir', path: '/p' }), resourceKey({ kind: 'mount', path: '/p' }));
});
