import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultControlDir, isServiceControlDir, prepareSsh, teardownServiceSsh } from './index.js';

test(
  'prepareSsh writes everything under the service dir (even with a space in it) and teardown removes it',
  {
    skip: existsSync('/usr/bin/ssh-keygen') ? false : 'ssh-keygen missing',
  },
  async () => {
    const root = mkdtempSync(join(tmpdir(), 'mn-prep '));
    try {
      const serviceDir = join(root, 'services', 'svc');
      const ranks = [0, 1].map((rank) => ({
        rank,
        hostname: `svc-${rank}`,
        address: `198.18.250.${10 + rank}`,
        sshPort: 2222,
        exec: ['/usr/bin/nsenter', `--net=/run/netns/x${rank}`],
        env: { MULTINODE_NODE_RANK: String(rank), SECRET: 'not-in-argv' },
        cwd: '/tmp',
        logFile: join(serviceDir, 'logs', `rank-${rank}.log`),
      }));
      const ssh = await prepareSsh({ serviceName: 'svc', serviceDir, ranks });
      assert.equal(ssh.wrapperPath, join(serviceDir, 'bin', 'multinode-ssh'));
      // A plain, short socket dir despite the space: under a parent private to this user, never a
      // guessable name in /tmp itself; made 0700.
      assert.match(
        ssh.controlDir,
        process.getuid?.() === 0
          ? /^\/run\/multinode\/ssh-[0-9a-f]{12}$/
          : /^\/tmp\/multinode-\d+\/ssh-[0-9a-f]{12}$/,
      );
      assert.equal(statSync(ssh.controlDir).mode & 0o777, 0o700);
      assert.equal(spawnSync('/bin/sh', ['-n', ssh.wrapperPath]).status, 0);
      assert.equal(spawnSync('/bin/bash', ['-n', join(ssh.dir, 'remote-exec')]).status, 0);
      assert.equal(statSync(join(ssh.dir, 'ranks', '1.sh')).mode & 0o777, 0o600);
      assert.match(readFileSync(join(ssh.dir, 'ranks', '1.sh'), 'utf8'), /^export SECRET=not-in-argv$/m);
      const argv = ssh.sshdArgv(1);
      assert.deepEqual(argv.slice(0, 2), ['/usr/bin/nsenter', '--net=/run/netns/x1']);
      assert.deepEqual(argv.slice(-2), ['1', ssh.sshdConfigPath(1)]);
      assert.ok(!argv.join(' ').includes('not-in-argv'), 'the environment never appears on a command line');
      assert.match(readFileSync(ssh.sshdConfigPath(1), 'utf8'), /^ListenAddress 198\.18\.250\.11$/m);
      assert.throws(() => ssh.sshdArgv(7), /no rank 7/);
      const again = await prepareSsh({ serviceName: 'svc', serviceDir, ranks });
      assert.equal(readFileSync(again.material.userPub, 'utf8'), readFileSync(ssh.material.userPub, 'utf8'));
      await teardownServiceSsh(serviceDir);
      assert.equal(existsSync(ssh.dir), false);
      assert.equal(existsSync(ssh.wrapperPath), false);
      assert.equal(existsSync(ssh.controlDir), false);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
);

test('teardown empties only a control directory of the service itself', () => {
  const ssh = '/state/services/a-very-long-service-name-for-a-socket-path/ssh';
  assert.equal(isServiceControlDir(ssh, defaultControlDir(ssh)), true);
  assert.equal(isServiceControlDir(ssh, join(ssh, 'cm')), true);
  for (const other of [
    '/run',
    '/run/multinode',
    '/run/multinode/munge-0123456789ab',
    '/etc/ssh',
    `${ssh}-x/cm`,
  ])
    assert.equal(isServiceControlDir(ssh, other), false, other);
});
