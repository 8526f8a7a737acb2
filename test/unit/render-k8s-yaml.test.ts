/**
 * Canonical YAML (src/targets/kubernetes/yaml.ts): the direct writer gives the `yaml` package's bytes for every
 * document, or declines (undefined) so the document goes through the package; `canonicalYaml` is the package's
 * output either way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalYaml, fastDocument, libraryDocument } from '../../src/targets/kubernetes/yaml.js';

const STRINGS = [
  'big-0',
  '0',
  '0123',
  '10000',
  '1.5',
  '1e3',
  '0x1F',
  '0o17',
  '-1',
  '+1',
  '.inf',
  '.nan',
  'true',
  'False',
  'NULL',
  '~',
  'yes',
  'no',
  '',
  ' ',
  'a b',
  'NVIDIA H100',
  'docker://example/trainer:1',
  'a: b',
  'a #b',
  'a#b',
  '#x',
  '- x',
  '-',
  '?',
  '? x',
  '---',
  '...',
  '%x',
  '@x',
  '`x',
  '*x',
  '&x',
  '!x',
  '|x',
  '>x',
  "it's",
  'say "hi"',
  `both ' and "`,
  '[x]',
  '{x}',
  'a,b',
  'tab\there',
  'trailing ',
  'trailing:',
  'ctrl\u0001',
  'é ü 漢字',
  '$(HOME)',
  '1(x10000)',
  'line1\nline2',
  'line1\nline2\n',
  'line1\n\nline2\n\n',
  '  indented\nnext\n',
  '\nleading newline',
  '#!/bin/sh\nset -eu\n  x=1\n\n  y=2\n',
  'ends with spaces  \nx',
  '---\nmarker\n',
  'a\n...\nb\n',
  'x'.repeat(1100),
];

function sample(): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  STRINGS.forEach((s, i) => {
    o[`k${String(i).padStart(3, '0')}`] = s;
  });
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'x', labels: { 'app.kubernetes.io/name': 'x', b: undefined }, annotations: {} },
    data: o,
    list: STRINGS.filter((s) => !s.includes('\n')),
    nested: {
      items: [
        { name: 'a', value: 'line1\nline2\n', deeper: { text: '  x\ny\n' }, n: [1, -2, 0], e: [] },
        {},
        { only: { inner: [{ a: true, b: false, c: null }] } },
      ],
      numbers: { zero: 0, big: 2 ** 40, neg: -5 },
    },
  };
}

test('the direct writer gives the package bytes for maps, lists, scalars and block scalars at depth', () => {
  const doc = sample();
  const fast = fastDocument(doc);
  assert.notEqual(fast, undefined, 'the sample is a shape the direct writer handles');
  assert.equal(fast, libraryDocument(doc));
});

test('every string, as a value at several depths, matches the package', () => {
  for (const s of STRINGS) {
    for (const doc of [{ a: s }, { a: { b: { c: s } } }, { a: [{ b: s, c: [{ d: s }] }] }]) {
      const fast = fastDocument(doc);
      if (fast !== undefined) assert.equal(fast, libraryDocument(doc), JSON.stringify(s));
    }
    if (!s.includes('\n')) {
      const doc = { a: [s, s] };
      assert.equal(fastDocument(doc), libraryDocument(doc), JSON.stringify(s));
    }
  }
});

test('shapes the direct writer declines still render as the package does', () => {
  const declined = [
    { __proto__x: 1, 'with space': 2 },
    { '10': 'a', '9': 'b', x: 'c' },
    { true: 1 },
    { a: [[1, 2], [3]] },
    { a: 1.5 },
    { a: ['multi\nline\n'] },
    { a: [1, undefined, 2] },
  ];
  const withProto = JSON.parse('{"__proto__": {"x": 1}, "b": 2}') as unknown;
  for (const doc of [...declined, withProto]) {
    assert.equal(fastDocument(doc), undefined, JSON.stringify(doc));
    assert.equal(canonicalYaml([doc]), `---\n${libraryDocument(doc)}`);
  }
  assert.equal(canonicalYaml([sample(), { a: 1 }]), `---\n${libraryDocument(sample())}---\na: 1\n`);
});
