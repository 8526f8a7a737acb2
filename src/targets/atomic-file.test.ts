import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';

test('writeFileAtomic: concurrent writers of one path in one process all succeed; one whole file is left', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mn-atomic-'));
  try {
    const path = join(dir, 'sub', 'wrapper');
    const contents = Array.from({ length: 20 }, (_, i) => `writer ${i}\n`.repeat(200));
    await Promise.all(contents.map((c) => writeFileAtomic(path, c, 0o750, { makeParent: true })));
    assert.ok(contents.includes(readFileSync(path, 'utf8')));
    assert.equal(statSync(path).mode & 0o777, 0o750);
    assert.deepEqual(readdirSync(join(dir, 'sub')), ['wrapper']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
