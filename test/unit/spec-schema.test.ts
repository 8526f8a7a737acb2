/**
 * The JSON Schema emitted by `multinode schema` is draft 2020-12, compiles with ajv, accepts both seed
 * examples and agrees with parseSpec's schema stage on shape errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { specJsonSchema, CODE_DOCS, CODES } from '../../src/spec/index.js';

const root = join(import.meta.dirname, '..', '..');

test('JSON Schema is draft 2020-12 and validates the seeds', () => {
  const schema = specJsonSchema();
  assert.equal(schema['$schema'], 'https://json-schema.org/draft/2020-12/schema');
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const validate = ajv.compile(schema);
  for (const f of ['examples/seed-000-vllm.yaml', 'examples/seed-000-mpi-inference.yaml']) {
    const data: unknown = parse(readFileSync(join(root, f), 'utf8'));
    assert.equal(validate(data), true, `${f}: ${JSON.stringify(validate.errors)}`);
  }
  assert.equal(validate({ services: { a: { scirpt: 'x' } } }), false, 'unknown keys are rejected');
  assert.equal(
    validate({ 'x-common': { cores: 2 }, services: { a: { 'x-owner': 'team', script: 'x' } } }),
    true,
    `extension fields are allowed: ${JSON.stringify(validate.errors)}`,
  );
  assert.equal(validate({ services: { a: { resource: { memory: { size: '12XB' } } } } }), false);
  assert.equal(validate({ services: { a: { env: ['NOEQUALS'] } } }), false);
  assert.equal(validate({ services: { a: { ports: [{ name: 'p', port: 70000 }] } } }), false);
});

test('docs/reference/errors.md documents every issue code', () => {
  const doc = readFileSync(join(root, 'docs', 'reference', 'errors.md'), 'utf8');
  const missing = CODE_DOCS.filter((c) => !doc.includes(`\`${c.code}\``)).map((c) => c.code);
  assert.deepEqual(missing, []);
});

test('every issue code has exactly one CODE_DOCS entry', () => {
  const documented = CODE_DOCS.map((d) => d.code);
  assert.equal(new Set(documented).size, documented.length, 'duplicate entries');
  assert.deepEqual(
    Object.values(CODES).filter((c) => !documented.includes(c)),
    [],
  );
});
