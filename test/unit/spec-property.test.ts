/**
 * Property: parseSpec never throws, and every rejection is located. Feeds > 10 000 inputs: the seed examples
 * mutated structurally (deleted keys, mistyped keys, wrong types, huge numbers, deep nesting), the seed text
 * mutated as bytes (truncated, spliced with garbage), random YAML documents, and binary garbage.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { parseSpec } from '../../src/spec/index.js';

const root = join(import.meta.dirname, '..', '..');
const seeds = ['examples/seed-000-vllm.yaml', 'examples/seed-000-mpi-inference.yaml'].map((f) =>
  readFileSync(join(root, f), 'utf8'),
);
const seedData: unknown[] = seeds.map((s) => parse(s) as unknown);

let runs = 0;
function check(text: string): void {
  runs++;
  let r: ReturnType<typeof parseSpec>;
  try {
    r = parseSpec(text, 'fuzz.yaml');
  } catch (err) {
    assert.fail(`parseSpec threw on ${JSON.stringify(text.slice(0, 300))}: ${String(err)}`);
  }
  if (r.ok) {
    assert.ok(r.value.services.length >= 1);
    return;
  }
  assert.ok(r.issues.length > 0, 'a rejection lists at least one issue');
  assert.ok(
    r.issues.some((i) => i.severity === 'error'),
    'a rejection has an error',
  );
  for (const i of r.issues) {
    assert.equal(typeof i.path, 'string');
    assert.equal(typeof i.code, 'string');
    assert.ok(i.code.length > 0);
    assert.ok(i.pos, `issue ${i.code} at ${i.path} has no position`);
    assert.equal(i.pos.file, 'fuzz.yaml');
    assert.ok(i.pos.line >= 1 && i.pos.col >= 1, `bad position ${JSON.stringify(i.pos)}`);
    assert.ok(i.message.length > 0);
  }
}

type Json = unknown;
type Path = (string | number)[];

function paths(v: Json, base: Path = [], out: Path[] = []): Path[] {
  out.push(base);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...base, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...base, k], out);
  return out;
}

function getParent(
  root: Json,
  path: Path,
): { parent: Record<string | number, Json>; key: string | number } | undefined {
  if (path.length === 0) return undefined;
  let node = root;
  for (const seg of path.slice(0, -1)) {
    if (!node || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, Json>)[seg];
  }
  if (!node || typeof node !== 'object') return undefined;
  return { parent: node as Record<string | number, Json>, key: path[path.length - 1]! };
}

const weird = fc.oneof(
  fc
    .constantFrom(
      1e308,
      -1e308,
      2 ** 53 + 1,
      -0,
      0,
      -1,
      0.5,
      1e20,
      '',
      'auto',
      'NUMA',
      '64GB',
      '1.5Gi',
      'x'.repeat(5000),
      null,
      true,
      false,
      [],
      {},
      ['A=1'],
      { port: 1 },
    )
    .map((v) => structuredClone(v)), // a fresh copy each time: a mutation must not change the constant
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.double(),
  fc.jsonValue({ maxDepth: 3 }),
);

const mutation = fc.record({
  kind: fc.constantFrom('delete', 'rename', 'retype', 'nest', 'duplicate-item', 'add-key'),
  at: fc.nat(),
  value: weird,
  text: fc.string({ minLength: 1, maxLength: 12 }),
  depth: fc.integer({ min: 1, max: 80 }),
});

function mutate(
  original: Json,
  muts: { kind: string; at: number; value: Json; text: string; depth: number }[],
): Json {
  const root = structuredClone(original);
  for (const m of muts) {
    const all = paths(root);
    const path = all[m.at % all.length] ?? [];
    const loc = getParent(root, path);
    if (!loc) continue;
    const { parent, key } = loc;
    switch (m.kind) {
      case 'delete':
        if (Array.isArray(parent)) parent.splice(Number(key), 1);
        else delete parent[key];
        break;
      case 'rename':
        if (!Array.isArray(parent) && typeof key === 'string') {
          const v = parent[key];
          delete parent[key];
          const i = m.text.length % (key.length + 1);
          parent[key.slice(0, i) + m.text.slice(0, 2) + key.slice(i + 1)] = v;
        }
        break;
      case 'retype':
        parent[key] = structuredClone(m.value);
        break;
      case 'nest': {
        let v: Json = parent[key];
        for (let i = 0; i < m.depth; i++) v = i % 2 ? [v] : { [m.text]: v };
        parent[key] = v;
        break;
      }
      case 'duplicate-item':
        if (Array.isArray(parent)) parent.push(structuredClone(parent[Number(key)]));
        break;
      case 'add-key':
        if (!Array.isArray(parent)) parent[m.text] = structuredClone(m.value);
        break;
    }
  }
  return root;
}

function safeStringify(v: Json): string {
  try {
    return stringify(v, { aliasDuplicateObjects: false });
  } catch {
    return JSON.stringify(v) ?? '';
  }
}

test('structurally mutated seed specs (3500)', () => {
  fc.assert(
    fc.property(
      fc.nat({ max: seeds.length - 1 }),
      fc.array(mutation, { minLength: 1, maxLength: 4 }),
      (which, muts) => {
        check(safeStringify(mutate(seedData[which], muts)));
      },
    ),
    { numRuns: 3500 },
  );
});

test('byte-mutated seed text (3000)', () => {
  fc.assert(
    fc.property(
      fc.nat({ max: seeds.length - 1 }),
      fc.nat(),
      fc.nat(),
      fc.oneof(
        fc.string({ maxLength: 8 }),
        fc.constantFrom(
          ':',
          '- ',
          '\t',
          '&a',
          '*a',
          '!!binary',
          '{',
          ']',
          '"',
          '\n  ',
          '\u0000',
          '%YAML 1.1\n---\n',
        ),
      ),
      (which, at, cut, insert) => {
        const text = seeds[which]!;
        const i = at % (text.length + 1);
        const j = Math.min(text.length, i + (cut % 6));
        check(text.slice(0, i) + insert + text.slice(j));
      },
    ),
    { numRuns: 3000 },
  );
});

test('random YAML documents (2000)', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.jsonValue({ maxDepth: 4 }),
        fc.record({ services: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 4 })) }),
        fc.record({
          version: weird,
          volumes: fc.dictionary(fc.string({ maxLength: 6 }), fc.record({ reference: weird })),
          services: fc.dictionary(
            fc.constantFrom('a', 'b', 'vllm', 'X_Y'),
            fc.record(
              {
                script: weird,
                ports: weird,
                endpoints: weird,
                resource: weird,
                multinode: weird,
                network: weird,
                env: weird,
                mounts: weird,
                'readiness-probe': weird,
              },
              { requiredKeys: [] },
            ),
          ),
        }),
      ),
      (v) => check(safeStringify(v)),
    ),
    { numRuns: 2000 },
  );
});

test('binary garbage and pathological text (1700)', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b).toString('latin1')),
        fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b).toString('utf8')),
        fc.string({ maxLength: 300 }),
        fc.integer({ min: 1, max: 1200 }).map((n) => `services: ${'['.repeat(n)}${']'.repeat(n)}\n`),
        fc
          .integer({ min: 1, max: 200 })
          .map(
            (n) =>
              `services:\n${Array.from({ length: n }, (_, i) => `${' '.repeat(i + 1)}k${i}:`).join('\n')} 1\n`,
          ),
      ),
      (text) => check(text),
    ),
    { numRuns: 1700 },
  );
});

test('at least 10 000 inputs were checked', () => {
  assert.ok(runs >= 10_000, `only ${runs} inputs`);
});
