import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SAVED_CA_VAR, restoreCaEnv, selfSpawnEnv } from './self-env.js';

test('the CA bundle variable is handed over to a restarted program and put back before anything runs', () => {
  const user = { PATH: '/bin', NODE_EXTRA_CA_CERTS: '/etc/ca.pem' };
  const spawned = selfSpawnEnv(user);
  assert.equal(spawned['NODE_EXTRA_CA_CERTS'], undefined, 'node starts without parsing the bundle');
  assert.equal(spawned[SAVED_CA_VAR], '/etc/ca.pem');
  assert.equal(user.NODE_EXTRA_CA_CERTS, '/etc/ca.pem', 'the caller’s environment is not changed');
  const inChild = { ...spawned };
  restoreCaEnv(inChild);
  assert.deepEqual(inChild, user, 'its children see exactly what the user gave');
  // Nothing to hand over: the same object; a value already there is not overwritten.
  const plain = { PATH: '/bin' };
  assert.equal(selfSpawnEnv(plain), plain);
  const both = { NODE_EXTRA_CA_CERTS: '/a.pem', [SAVED_CA_VAR]: '/b.pem' };
  restoreCaEnv(both);
  assert.deepEqual(both, { NODE_EXTRA_CA_CERTS: '/a.pem' });
});
