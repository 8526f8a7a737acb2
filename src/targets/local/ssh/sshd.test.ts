import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildSshdConfig,
  buildSshdRunScript,
  checkSshdConfig,
  SSHD,
  SSHD_PRIVSEP_DIR,
  sshdArgv,
} from './sshd.js';

const base = {
  listenAddress: '198.18.1.2',
  port: 2222,
  hostKey: '/s/ssh_host_ed25519_key',
  authorizedKeysFile: '/s/authorized_keys',
  pidFile: '/s/sshd.0.pid',
  sessionHome: '/s/home',
};

test('sshd config: our own listener, key-only auth, no PAM/DNS, fast kex, empty session HOME', () => {
  const text = buildSshdConfig(base);
  for (const line of [
    'Port 2222',
    'ListenAddress 198.18.1.2',
    'HostKey /s/ssh_host_ed25519_key',
    'PidFile /s/sshd.0.pid',
    'AuthorizedKeysFile /s/authorized_keys',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'UseDNS no',
    'MaxStartups 100:30:200',
    'MaxSessions 100',
    'PermitRootLogin prohibit-password',
    'SetEnv HOME=/s/home',
  ]) {
    assert.ok(text.split('\n').includes(line), `missing: ${line}`);
  }
  assert.match(text, /^KexAlgorithms curve25519-sha256/m);
  assert.deepEqual(sshdArgv('/s/c'), [SSHD, '-D', '-e', '-f', '/s/c']);
  assert.throws(() => buildSshdConfig({ ...base, hostKey: 'a"b' }));
});

test(
  'sshd -t accepts the generated config',
  {
    skip:
      process.getuid?.() !== 0
        ? 'needs root'
        : !existsSync(SSHD) || !existsSync('/usr/bin/ssh-keygen')
          ? 'openssh-server missing'
          : false,
  },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mn-sshd-'));
    try {
      const hostKey = join(dir, 'hk');
      execFileSync('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
      writeFileSync(join(dir, 'ak'), '');
      const cfg = join(dir, 'sshd_config');
      writeFileSync(
        cfg,
        buildSshdConfig({
          ...base,
          hostKey,
          authorizedKeysFile: join(dir, 'ak'),
          pidFile: join(dir, 'pid'),
          sessionHome: dir,
        }),
      );
      if (!existsSync(SSHD_PRIVSEP_DIR))
        execFileSync('/usr/bin/mkdir', ['-p', '-m', '0755', SSHD_PRIVSEP_DIR]);
      assert.equal(await checkSshdConfig(cfg), '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('sshd runner script is valid bash and runs sshd in the foreground', () => {
  const text = buildSshdRunScript("/s/it's/sessions");
  const r = spawnSync('/bin/bash', ['-n'], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(text, /\/usr\/sbin\/sshd -D -e -f "\$cfg" &/);
  assert.match(text, /sessions='\/s\/it'\\''s\/sessions'/);
});
