import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MultinodeError } from '../../api/issues.js';
import {
  badLocation,
  dataVolumeDir,
  mountedReferences,
  namedVolumeName,
  prepareServiceVolumes,
  rankMountScript,
  removeServiceVolumes,
  sortMounts,
  underMount,
} from './volumes.js';

function withState<T>(fn: (root: string) => Promise<T>): Promise<T> {
  const root = mkdtempSync(join(tmpdir(), 'mn-vol-unit-'));
  const prev = process.env['MULTINODE_STATE_DIR'];
  process.env['MULTINODE_STATE_DIR'] = root;
  return fn(root).finally(() => {
    if (prev === undefined) delete process.env['MULTINODE_STATE_DIR'];
    else process.env['MULTINODE_STATE_DIR'] = prev;
    rmSync(root, { recursive: true, force: true });
  });
}

test('named volumes: each part of volume://a/b/c is a checked name; other schemes are refused', () => {
  assert.equal(namedVolumeName('volume://user/persistent/vllm-cache'), 'user.persistent.vllm-cache');
  assert.equal(namedVolumeName('volume://cache/'), 'cache');
  for (const bad of [
    'volume://../x',
    'volume://a/./b',
    'volume://a//b',
    'volume://a b',
    'volume://',
    'volume://a.b',
  ])
    assert.throws(() => namedVolumeName(bad), MultinodeError, bad);
  assert.throws(
    () => namedVolumeName('s3://bucket/x'),
    /not supported on the local target; allowed: volume:\/\/NAME/,
  );
});

test('data volume: under <state>/volumes/data, the service name checked first', async () => {
  await withState((root) => {
    assert.equal(dataVolumeDir('vllm'), join(root, 'volumes', 'data', 'vllm'));
    assert.throws(() => dataVolumeDir('..'), MultinodeError);
    assert.throws(() => dataVolumeDir('a/b'), MultinodeError);
    return Promise.resolve();
  });
});

test('mount locations: absolute, no . or .., not /, /proc, /sys, /dev, no control characters', () => {
  assert.equal(badLocation('/home/vllm'), undefined);
  assert.equal(badLocation('/data/'), undefined);
  assert.match(badLocation('/') ?? '', /is \/ itself/);
  assert.match(badLocation('relative') ?? '', /absolute/);
  assert.match(badLocation('/a/../etc') ?? '', /'\.\.'/);
  assert.match(badLocation('/proc/x') ?? '', /kernel/);
  assert.match(badLocation('/dev') ?? '', /kernel/);
  assert.equal(badLocation('/devices'), undefined);
  assert.match(badLocation('/a\nb') ?? '', /control/);
});

test('prepareServiceVolumes: creates data and named directories, sorted parents first; bad input located', async () => {
  await withState(async (root) => {
    const spec = {
      volumes: { models: { reference: 'volume://team/models' } },
      positions: { 'services.s.mounts.data.location': { file: 's.yaml', line: 7, col: 19 } },
    };
    const mounts = await prepareServiceVolumes(
      {
        name: 's',
        mounts: [
          { volume: 'models', location: '/work/models', readOnly: true },
          { volume: 'data', location: '/work' },
        ],
      },
      spec,
    );
    assert.deepEqual(mounts, [
      { source: join(root, 'volumes', 'data', 's'), target: '/work', readOnly: false },
      { source: join(root, 'volumes', 'named', 'team.models'), target: '/work/models', readOnly: true },
    ]);
    for (const m of mounts) assert.equal(statSync(m.source).isDirectory(), true);
    assert.equal(statSync(join(root, 'volumes')).mode & 0o777, 0o700);
    await assert.rejects(
      prepareServiceVolumes({ name: 's', mounts: [{ volume: 'data', location: '/' }] }, spec),
      (e: unknown) =>
        e instanceof MultinodeError &&
        e.exitCode === 2 &&
        /^s\.yaml:7:19: services\.s\.mounts\.data\.location: "\/" is \/ itself/.test(e.message),
    );
    await assert.rejects(
      prepareServiceVolumes(
        { name: 's', mounts: [{ volume: 'models', location: '/m' }] },
        { volumes: { models: { reference: 'volume://../../etc' } }, positions: {} },
      ),
      /volumes\.models\.reference: volume name "\.\." /,
    );
    assert.equal(existsSync(join(root, 'etc')), false);
    // A symlink planted where a volume goes is refused, never followed.
    rmSync(join(root, 'volumes', 'data', 's'), { recursive: true });
    spawnSync('ln', ['-s', '/etc', join(root, 'volumes', 'data', 's')]);
    await assert.rejects(
      prepareServiceVolumes({ name: 's', mounts: [{ volume: 'data', location: '/x' }] }, spec),
      /it is a symlink/,
    );
  });
});

test('removeServiceVolumes: data unless persist; --volumes also named volumes no other service mounts', async () => {
  await withState(async (root) => {
    const spec = {
      volumes: { a: { reference: 'volume://a' }, b: { reference: 'volume://b' } },
      positions: {},
    };
    const mounts = [
      { volume: 'data', location: '/d' },
      { volume: 'a', location: '/a' },
      { volume: 'b', location: '/b' },
    ];
    await prepareServiceVolumes({ name: 's', mounts }, spec);
    const refs = mountedReferences(mounts, spec);
    assert.deepEqual(refs, ['volume://a', 'volume://b']);
    let r = await removeServiceVolumes('s', { persist: true, volumes: false, references: refs });
    assert.deepEqual(r.removed, []);
    assert.equal(existsSync(join(root, 'volumes', 'data', 's')), true);
    r = await removeServiceVolumes('s', {
      persist: true,
      volumes: true,
      references: refs,
      inUse: new Set(['volume://b']),
    });
    assert.deepEqual([...r.removed].sort(), [
      join(root, 'volumes', 'data', 's'),
      join(root, 'volumes', 'named', 'a'),
    ]);
    assert.deepEqual(r.kept, [join(root, 'volumes', 'named', 'b')]);
    await prepareServiceVolumes({ name: 's', mounts }, spec);
    r = await removeServiceVolumes('s', { persist: false, volumes: false });
    assert.deepEqual(r.removed, [join(root, 'volumes', 'data', 's')]);
  });
});

test('sortMounts and underMount', () => {
  const m = sortMounts([
    { source: '/s/b', target: '/a/b', readOnly: false },
    { source: '/s/a', target: '/a', readOnly: true },
  ]);
  assert.deepEqual(
    m.map((x) => x.target),
    ['/a', '/a/b'],
  );
  assert.equal(underMount('/a/b/c', m), true);
  assert.equal(underMount('/a', m), true);
  assert.equal(underMount('/ab', m), false);
});

test('rankMountScript: valid sh, quoted paths, read-only late only when something mounts inside', () => {
  const text = rankMountScript(
    sortMounts([
      { source: "/st ate/it's", target: '/data', readOnly: true },
      { source: '/st/b', target: '/data/in', readOnly: false },
      { source: '/st/c', target: '/etc/x', readOnly: true },
    ]),
    '/st/mnt',
  );
  assert.match(text, /^mn_mount '\/st ate\/it'\\''s' '\/data' ro-late$/m);
  assert.match(text, /^mn_mount '\/st\/b' '\/data\/in' rw$/m);
  assert.match(text, /^mn_mount '\/st\/c' '\/etc\/x' ro$/m);
  assert.match(text, /mn_done\n$/);
  const dir = mkdtempSync(join(tmpdir(), 'mn-vol-sh-'));
  try {
    writeFileSync(join(dir, 'm.sh'), text);
    assert.equal(spawnSync('/bin/sh', ['-n', join(dir, 'm.sh')]).status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(
    () => rankMountScript([{ source: '/a\nb', target: '/x', readOnly: false }], '/s'),
    MultinodeError,
  );
});
