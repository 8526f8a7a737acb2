/** Building blocks of the spec layer: paths, positions, suggestions, salvage. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPath, joinPath, parentPath } from '../../src/spec/paths.js';
import { parseYamlWithPositions } from '../../src/spec/yaml-source.js';
import { closest, editDistance } from '../../src/spec/suggest.js';
import { salvageService, keepTrustworthy } from '../../src/spec/salvage.js';
import { parseSpec } from '../../src/spec/index.js';

test('paths: plain keys dotted, others bracketed, indices in brackets', () => {
  assert.equal(formatPath(['services', 'vllm', 'ports', 0, 'port']), 'services.vllm.ports[0].port');
  assert.equal(
    formatPath(['services', 'a', 'resource', 'devices', 'nvidia.com/gpu']),
    'services.a.resource.devices["nvidia.com/gpu"]',
  );
  assert.equal(joinPath('', '42'), '["42"]');
  assert.equal(parentPath('services.vllm.ports[0].port'), 'services.vllm.ports[0]');
  assert.equal(parentPath('services.vllm.ports[0]'), 'services.vllm.ports');
  assert.equal(parentPath('a.devices["x.y/\\"z"]'), 'a.devices');
  assert.equal(parentPath('services'), '');
  assert.equal(parentPath(''), undefined);
});

test('positions: scalars at the value, collections at the key, items at the item', () => {
  const src = parseYamlWithPositions(
    'a:\n  b: 1\n  list:\n    - x\n    - {k: v}\nref: &r {z: 2}\nuse: *r\n',
    'f',
  );
  assert.deepEqual(src.issues, []);
  assert.deepEqual(src.positions['a.b'], { file: 'f', line: 2, col: 6 });
  assert.deepEqual(src.positions['a.list'], { file: 'f', line: 3, col: 3 });
  assert.deepEqual(src.positions['a.list[1]'], { file: 'f', line: 5, col: 7 });
  assert.deepEqual(src.positions['a.list[1].k'], { file: 'f', line: 5, col: 11 });
  assert.deepEqual(src.keyPositions['a.b'], { file: 'f', line: 2, col: 3 });
  assert.deepEqual(src.data, { a: { b: 1, list: ['x', { k: 'v' }] }, ref: { z: 2 }, use: { z: 2 } });
  // An alias's fields point at the anchored definition.
  assert.deepEqual(src.positions['use.z'], { file: 'f', line: 6, col: 13 });
});

test('suggestions: close words only', () => {
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(closest('scirpt', ['script', 'cwd']), 'script');
  assert.equal(closest('port_name', ['port-name', 'protocol']), 'port-name');
  assert.equal(closest('k8s', ['lws', 'slurm']), undefined);
  assert.equal(closest('zzzzzz', ['script']), undefined);
});

test('salvage prunes offending fields until the rest passes the schema', () => {
  const s = salvageService({
    script: 'x',
    ports: [{ name: 'a', port: 'nope' }],
    multinode: { nodes: 0 },
    bogus: 1,
  });
  assert.ok(s);
  assert.deepEqual([...s.pruned].sort(), ['bogus', 'multinode', 'ports']);
  assert.equal(s.raw.script, 'x');
  assert.equal(salvageService('not a mapping'), undefined);
  const kept = keepTrustworthy(
    [
      {
        code: 'unknown-port-name',
        severity: 'error',
        path: 'services.a.endpoints[0].port-name',
        message: 'm',
      },
      { code: 'dns-label', severity: 'error', path: 'services.a', message: 'm' },
    ],
    s.pruned,
    'services.a',
  );
  assert.deepEqual(
    kept.map((i) => i.code),
    ['dns-label'],
  );
});

test('an endpoint is not blamed for a port the schema rejected', () => {
  const r = parseSpec(
    'services:\n  a:\n    script: x\n    ports:\n      - name: http\n        port: 99999\n    endpoints:\n      - name: web\n        port-name: http\n',
    'f',
  );
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(
    r.issues.map((i) => i.code),
    ['range'],
  );
});
