/**
 * SSH key material the `render` command ships in the Kubernetes Secret (src/app/ssh-keys.ts): OpenSSH ed25519
 * keys that `ssh-keygen` accepts, and a key directory laid out with the local runtime's `SSH_FILES` names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateOpenSshEd25519, sshKeysFor } from '../../src/app/ssh-keys.js';
import { SSH_FILES } from '../../src/targets/local/ssh/keys.js';

const KEYGEN = '/usr/bin/ssh-keygen';

test(
  'generated private key derives its public key with ssh-keygen',
  { skip: existsSync(KEYGEN) ? false : 'no ssh-keygen' },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'mn-k8s-keys-'));
    try {
      const k = generateOpenSshEd25519('multinode:t:user');
      const path = join(dir, 'k');
      writeFileSync(path, k.privateKey, { mode: 0o600 });
      const r = spawnSync(KEYGEN, ['-y', '-f', path], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(
        r.stdout.trim().split(' ').slice(0, 2).join(' '),
        k.publicKey.trim().split(' ').slice(0, 2).join(' '),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('a key directory is created with SSH_FILES names and modes, then reused', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'mn-k8s-keys-')), 'keys');
  try {
    const a = await sshKeysFor('svc', dir);
    for (const f of [SSH_FILES.userKey, SSH_FILES.hostKey]) {
      assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
    }
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.match(a.publicKey, /^ssh-ed25519 \S+ multinode:svc:user\n$/);
    assert.deepEqual(await sshKeysFor('svc', dir), a);
    assert.notEqual((await sshKeysFor('svc', undefined)).privateKey, a.privateKey);
  } finally {
    rmSync(join(dir, '..'), { recursive: true, force: true });
  }
});
