/**
 * The bad-spec corpus: every file under test/fixtures/spec/bad/ starts with
 *   # expect: code=<code> line=<line> path=<path or ->
 * and parseSpec must reject it with an error of that code at that line and path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseSpec, CODE_DOCS } from '../../src/spec/index.js';

const dir = join(import.meta.dirname, '..', 'fixtures', 'spec', 'bad');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

interface Expectation {
  code: string;
  line: number;
  path: string;
}

function expectation(text: string, file: string): Expectation {
  const m = /^# expect: code=(\S+) line=(\d+) path=(\S+)/.exec(text);
  assert.ok(m, `${file}: first line must be "# expect: code=… line=… path=…"`);
  return { code: m[1] ?? '', line: Number(m[2]), path: m[3] === '-' ? '' : (m[3] ?? '') };
}

test('the corpus has at least 40 bad specs', () => {
  assert.ok(files.length >= 40, `only ${files.length} files`);
});

test('the corpus covers every documented error code', () => {
  const seen = new Set(files.map((f) => expectation(readFileSync(join(dir, f), 'utf8'), f).code));
  const missing = CODE_DOCS.filter((d) => d.severity === 'error' && !seen.has(d.code)).map((d) => d.code);
  assert.deepEqual(missing, []);
});

for (const f of files) {
  test(`bad/${f}`, () => {
    const text = readFileSync(join(dir, f), 'utf8');
    const want = expectation(text, f);
    const file = `test/fixtures/spec/bad/${f}`;
    const r = parseSpec(text, file);
    assert.equal(r.ok, false, 'expected the spec to be rejected');
    if (r.ok) return;
    const summary = r.issues.map((i) => `${i.severity} ${i.code} ${i.pos?.line ?? '?'} ${i.path}`).join('\n');
    const hit = r.issues.find(
      (i) =>
        i.severity === 'error' && i.code === want.code && i.path === want.path && i.pos?.line === want.line,
    );
    assert.ok(hit, `want error ${want.code} at line ${want.line} path "${want.path}"; got:\n${summary}`);
    for (const i of r.issues) {
      assert.ok(i.pos, `issue without a position: ${i.code}`);
      assert.equal(i.pos.file, file);
      assert.ok(i.message.length > 10, `message too short: ${i.message}`);
    }
  });
}
