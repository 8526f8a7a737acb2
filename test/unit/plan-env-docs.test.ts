import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ENV_DOC_PATH, generateEnvironmentDoc } from '../../scripts/gen-env-table.js';
import { ENV_DOCS } from '../../src/api/names.js';

test('docs/reference/environment.md is generated from ENV_DOCS and up to date', () => {
  assert.equal(
    readFileSync(ENV_DOC_PATH, 'utf8'),
    generateEnvironmentDoc(),
    'run `node --import tsx scripts/gen-env-table.ts`',
  );
});

test('ENV_DOCS names each variable once', () => {
  const names = ENV_DOCS.map((d) => d.name);
  assert.deepEqual(
    names.filter((n, i) => names.indexOf(n) !== i),
    [],
  );
});
