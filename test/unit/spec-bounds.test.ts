/**
 * Input bounds of the spec layer (src/spec/bounds.ts, yaml-source.ts): every YAML bomb shape at 4 MiB is
 * answered with a located issue (or accepted) after bounded work. The work is asserted as operation counts
 * (tokens counted, nodes produced, bytes charged, whether the composer ran) and as CPU time relative to an
 * ordinary 4 KB spec parsed in the same test — never as a wall-clock constant.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSpec, SPEC_MAX_BYTES, YAML_LIMITS, checkInputSize } from '../../src/spec/index.js';
import { parseYamlWithPositions } from '../../src/spec/yaml-source.js';
import { specTextPolicy } from '../../src/spec/index.js';
import { SHAPES, SHAPE_NAMES, ordinarySpec } from './helpers/spec-bounds-shapes.js';

const FOUR_MIB = 4 * 1024 * 1024;

function cpuMs(f: () => void): number {
  const before = process.cpuUsage();
  f();
  const d = process.cpuUsage(before);
  return (d.user + d.system) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

const ordinary = ordinarySpec();
for (let i = 0; i < 3; i++) parseSpec(ordinary, 'warm.yaml');
const baselineMs = Math.max(
  1,
  median(Array.from({ length: 7 }, () => cpuMs(() => parseSpec(ordinary, 'base.yaml')))),
);

test('the 4 KB baseline is an ordinary valid spec', () => {
  assert.ok(ordinary.length > 3500 && ordinary.length <= 4096, `${ordinary.length} bytes`);
  const r = parseSpec(ordinary, 'base.yaml');
  assert.equal(r.ok, true, JSON.stringify(!r.ok && r.issues.slice(0, 3)));
});

/** Expected outcome per shape: the issue code, and whether the costly composer may run at all. */
const EXPECT: Record<(typeof SHAPE_NAMES)[number], { code: string; composed: boolean }> = {
  'many-keys': { code: 'yaml-too-large', composed: false },
  'many-flow-keys': { code: 'yaml-too-large', composed: false },
  'many-aliases': { code: 'yaml-too-large', composed: false },
  'nested-aliases': { code: 'yaml-too-large', composed: true },
  'long-key-aliases': { code: 'yaml-too-large', composed: false },
  'long-string-aliases': { code: 'yaml-too-large', composed: false },
  'deep-nesting': { code: 'yaml-too-large', composed: false },
  'one-scalar': { code: 'ok', composed: true },
  'many-controls': { code: 'yaml-too-large', composed: false },
};

for (const name of SHAPE_NAMES) {
  test(`bomb shape ${name} at 4 MiB: bounded work, located answer`, () => {
    const text = SHAPES[name](name === 'nested-aliases' ? 4096 : FOUR_MIB);
    assert.ok(text.length <= FOUR_MIB);
    const src = parseYamlWithPositions(text, 'bomb.yaml', { textPolicy: specTextPolicy });
    // Operation counts: no pass goes past its cap.
    assert.ok(src.stats.nodeTokens <= YAML_LIMITS.maxNodes + 1, `tokens ${src.stats.nodeTokens}`);
    assert.ok(src.stats.nodes <= YAML_LIMITS.maxNodes + 1, `nodes ${src.stats.nodes}`);
    assert.ok(
      src.stats.expandedBytes <= YAML_LIMITS.maxExpandedBytes + YAML_LIMITS.maxPathChars + text.length,
      `bytes ${src.stats.expandedBytes}`,
    );
    assert.equal(src.stats.composed, EXPECT[name].composed, 'composer ran');
    const r = parseSpec(text, 'bomb.yaml');
    if (EXPECT[name].code === 'ok') {
      assert.equal(r.ok, true, 'a 4 MiB cwd without control characters is accepted');
    } else {
      assert.equal(r.ok, false);
      if (r.ok) return;
      const hit = r.issues.find((i) => i.code === EXPECT[name].code);
      assert.ok(hit, r.issues.map((i) => i.code).join(','));
      assert.ok(hit.pos && hit.pos.line >= 1 && hit.pos.col >= 1, 'located');
      assert.equal(hit.pos.file, 'bomb.yaml');
      assert.ok(r.issues.length <= 60, `${r.issues.length} issues`);
    }
    // Time relative to the 4 KB baseline (4 MiB is 1000× the bytes; the caps keep the work far below).
    const ms = median([cpuMs(() => parseSpec(text, 'bomb.yaml')), cpuMs(() => parseSpec(text, 'bomb.yaml'))]);
    assert.ok(
      ms <= 100 * baselineMs,
      `${ms.toFixed(0)} ms CPU is ${(ms / baselineMs).toFixed(0)}× the 4 KB baseline (${baselineMs.toFixed(1)} ms); allowed 100×`,
    );
  });
}

test('the one-scalar shape is accepted by the YAML reader and rejected only for what it says', () => {
  const r = parseSpec(SHAPES['one-scalar'](FOUR_MIB), 'big.yaml');
  assert.equal(r.ok, true, 'a 4 MiB cwd is text without controls: it passes');
});

test('the token pass is linear: 4× the keys under the cap costs about 4× (not 16×)', () => {
  const keys = (n: number): string =>
    `services:\n  app:\n    script: run\nx:\n${Array.from({ length: n }, (_, i) => `  k${i}: 1\n`).join('')}`;
  const small = keys(2000);
  const large = keys(8000);
  parseSpec(small, 'a');
  const a = median(Array.from({ length: 5 }, () => cpuMs(() => parseSpec(small, 'a'))));
  const b = median(Array.from({ length: 3 }, () => cpuMs(() => parseSpec(large, 'b'))));
  assert.ok(b <= 10 * Math.max(a, 1), `2000 keys ${a.toFixed(1)} ms, 8000 keys ${b.toFixed(1)} ms`);
  const r = parseSpec(large, 'b');
  assert.ok(!r.ok && r.issues.some((i) => i.code === 'unknown-key' && i.path === 'x'));
});

test('duplicate keys are found without the quadratic check, at the second key, with its path', () => {
  const r = parseSpec('services:\n  app:\n    script: a\n    cwd: /x\n    script: b\n', 'd.yaml');
  assert.equal(r.ok, false);
  if (r.ok) return;
  const dup = r.issues.find((i) => i.code === 'yaml-duplicate-key');
  assert.ok(dup);
  assert.equal(dup.path, 'services.app.script');
  assert.deepEqual(dup.pos, { file: 'd.yaml', line: 5, col: 5 });
  // `1` and "1" are the same key once read.
  const src = parseYamlWithPositions('a:\n  1: x\n  "1": y\n', 'f');
  assert.ok(src.issues.some((i) => i.code === 'yaml-duplicate-key' && i.path === 'a["1"]'));
});

test('aliases: resolved in document order, undefined and self-referencing ones are located errors', () => {
  const src = parseYamlWithPositions('a: &x 1\nb: *x\nc: &x 2\nd: *x\n', 'f');
  assert.deepEqual(src.data, { a: 1, b: 1, c: 2, d: 2 });
  const undef = parseYamlWithPositions('a: *nope\n', 'f');
  assert.equal(undef.data, undefined);
  assert.ok(
    undef.issues.some((i) => i.code === 'yaml-syntax' && i.path === 'a' && /no anchor/.test(i.message)),
  );
  const self = parseYamlWithPositions('a: &s [1, *s]\n', 'f');
  assert.equal(self.data, undefined);
  assert.ok(self.issues.some((i) => /contains it/.test(i.message)));
  // An anchor inside an expanded alias does not rebind later aliases.
  const scoped = parseYamlWithPositions('a: &a {k: &b 1}\nb: &b 2\nc: *a\nd: *b\n', 'f');
  assert.deepEqual(scoped.data, { a: { k: 1 }, b: 2, c: { k: 1 }, d: 2 });
});

test('the byte budget stops aliases that repeat a long string or sit under a long key', () => {
  const long = 'x'.repeat(1024 * 1024);
  const strings = parseYamlWithPositions(
    `s: &s ${long}\nb: [${Array.from({ length: 40 }, () => '*s').join(', ')}]\n`,
    'f',
  );
  assert.ok(strings.issues.some((i) => i.code === 'yaml-too-large' && /bytes/.test(i.message)));
  assert.ok(strings.stats.expandedBytes <= YAML_LIMITS.maxExpandedBytes + long.length + 100);
  const key = 'k'.repeat(1500);
  const keyed = parseYamlWithPositions(
    `a: &a [x, x, x, x, x, x, x, x, x, x]\n? ${key}\n: [${Array.from({ length: 3000 }, () => '*a').join(', ')}]\n`,
    'f',
  );
  assert.ok(
    keyed.issues.some((i) => i.code === 'yaml-too-large'),
    JSON.stringify(keyed.issues),
  );
  assert.ok(keyed.stats.expandedBytes <= YAML_LIMITS.maxExpandedBytes + 2 * YAML_LIMITS.maxPathChars);
  const deepKey = parseYamlWithPositions(`? ${'k'.repeat(3000)}\n: 1\n`, 'f');
  assert.ok(deepKey.issues.some((i) => i.code === 'yaml-too-large' && /path/.test(i.message)));
});

test('deep nesting is refused before the composer recurses', () => {
  const src = parseYamlWithPositions(`x: ${'['.repeat(200)}${']'.repeat(200)}\n`, 'f');
  assert.ok(src.issues.some((i) => i.code === 'yaml-too-deep'));
  const block = parseYamlWithPositions(
    Array.from({ length: 100 }, (_, i) => `${'  '.repeat(i)}k${i}:\n`).join(''),
    'f',
  );
  assert.ok(block.issues.some((i) => i.code === 'yaml-too-deep'));
});

test('size: more than the limit is one located issue; the limit is exported for readers', () => {
  assert.equal(SPEC_MAX_BYTES, 4 * 1024 * 1024);
  assert.equal(checkInputSize(SPEC_MAX_BYTES, 'f'), undefined);
  const over = checkInputSize(SPEC_MAX_BYTES + 1, '/dev/zero');
  assert.ok(over);
  assert.equal(over.code, 'yaml-too-large');
  assert.deepEqual(over.pos, { file: '/dev/zero', line: 1, col: 1 });
  assert.match(over.message, /more than 4194304 bytes; a spec may have at most 4194304 bytes \(4 MiB\)/);
  assert.match(checkInputSize(10, 'f', 5)?.message ?? '', /has 10 bytes/);
  const r = parseSpec('#'.repeat(SPEC_MAX_BYTES + 1), 'big.yaml');
  assert.ok(!r.ok && r.issues.length === 1 && r.issues[0]?.code === 'yaml-too-large');
});
