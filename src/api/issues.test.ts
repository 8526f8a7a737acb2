import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasErrors, MultinodeError, EXIT } from './issues.js';

test('hasErrors ignores warnings', () => {
  assert.equal(hasErrors([{ code: 'x', severity: 'warning', path: '', message: 'm' }]), false);
  assert.equal(hasErrors([{ code: 'x', severity: 'error', path: '', message: 'm' }]), true);
});

test('MultinodeError carries code and exit code', () => {
  const e = new MultinodeError('bad', 'msg', { exitCode: EXIT.badInput });
  assert.equal(e.code, 'bad');
  assert.equal(e.exitCode, 2);
});
