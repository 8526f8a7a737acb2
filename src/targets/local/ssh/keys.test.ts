import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildKnownHosts,
  ensureSshMaterial,
  knownHostPattern,
  removeSshMaterial,
  SSH_KEYGEN,
} from './keys.js';

test('known_hosts pins every host name, address and alias with its port', () => {
  const text = buildKnownHosts('ssh-ed25519 AAAAkey multinode:svc:host', [
    { hostname: 'svc-0', address: '198.18.1.2', port: 2222 },
    { hostname: 'svc-1', address: '198.18.1.3', port: 22, aliases: ['svc-1.local', 'svc-1'] },
  ]);
  assert.equal(
    text,
    '[svc-0]:2222,[198.18.1.2]:2222 ssh-ed25519 AAAAkey\nsvc-1,198.18.1.3,svc-1.local ssh-ed25519 AAAAkey\n',
  );
  assert.equal(knownHostPattern('h', 2222), '[h]:2222');
  assert.throws(() => buildKnownHosts('garbage', []));
});

test(
  'ensureSshMaterial: fresh ed25519 keys, 0600 private keys in a 0700 dir, reused on re-run, removed',
  {
    skip: existsSync(SSH_KEYGEN) ? false : `${SSH_KEYGEN} missing`,
  },
  async () => {
    const root = mkdtempSync(join(tmpdir(), 'mn-keys-'));
    try {
      const dir = join(root, 'ssh');
      const hosts = [{ hostname: 'svc-0', address: '198.18.1.2', port: 2222 }];
      const m = await ensureSshMaterial(dir, { comment: 'multinode:svc', hosts });
      assert.equal(statSync(dir).mode & 0o777, 0o700);
      assert.equal(statSync(m.userKey).mode & 0o777, 0o600);
      assert.equal(statSync(m.hostKey).mode & 0o777, 0o600);
      const pub = readFileSync(m.userPub, 'utf8');
      assert.match(pub, /^ssh-ed25519 \S+ multinode:svc:user\n$/);
      assert.equal(readFileSync(m.authorizedKeys, 'utf8'), pub);
      const hostPub = readFileSync(m.hostPub, 'utf8').split(' ')[1];
      assert.equal(
        readFileSync(m.knownHosts, 'utf8'),
        `[svc-0]:2222,[198.18.1.2]:2222 ssh-ed25519 ${hostPub}\n`,
      );
      const again = await ensureSshMaterial(dir, { comment: 'multinode:svc', hosts });
      assert.equal(readFileSync(again.userPub, 'utf8'), pub);
      // A second service gets different keys.
      const other = await ensureSshMaterial(join(root, 'other'), { comment: 'multinode:other', hosts });
      assert.notEqual(readFileSync(other.userPub, 'utf8').split(' ')[1], pub.split(' ')[1]);
      await removeSshMaterial(dir);
      assert.equal(existsSync(dir), false);
      await removeSshMaterial(dir);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
);
