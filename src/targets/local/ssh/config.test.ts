import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildHostSshConfig,
  buildSessionScript,
  buildSshClientConfig,
  sessionForceCommand,
  sshClientMounts,
} from './config.js';
import { WRAPPER_REMOTE_PREFIX } from './wrapper.js';

const opts = {
  serviceName: 'svc',
  hosts: [
    { hostname: 'svc-0', address: '198.18.128.2', port: 2222 },
    { hostname: 'svc-1', address: '198.18.128.3', port: 2223, aliases: ['svc-1.svc'] },
  ],
  user: 'root',
  identityFile: '/var/lib/multinode/services/svc/ssh/id_ed25519',
  knownHosts: '/var/lib/multinode/services/svc/ssh/known_hosts',
};

test('ssh client config: one Host block per rank with its address, port, key and pinned known_hosts', () => {
  const text = buildSshClientConfig(opts);
  assert.match(
    text,
    /^Host svc-0 198\.18\.128\.2\n {2}HostName 198\.18\.128\.2\n {2}Port 2222\n {2}User root\n/m,
  );
  assert.match(
    text,
    /^Host svc-1 svc-1\.svc 198\.18\.128\.3\n {2}HostName 198\.18\.128\.3\n {2}Port 2223\n/m,
  );
  assert.equal(text.match(/IdentityFile \/var\/lib\/multinode\/services\/svc\/ssh\/id_ed25519/g)?.length, 2);
  assert.equal(text.match(/StrictHostKeyChecking yes/g)?.length, 2);
  assert.equal(text.match(/BatchMode yes/g)?.length, 2);
  assert.match(text, /UserKnownHostsFile \/var\/lib\/multinode\/services\/svc\/ssh\/known_hosts/);
  // A path with a space is quoted; one with % (an ssh token) or a quote is refused.
  assert.match(buildSshClientConfig({ ...opts, identityFile: '/a b/k' }), /IdentityFile "\/a b\/k"/);
  assert.throws(() => buildSshClientConfig({ ...opts, identityFile: '/a%d/k' }), /cannot be written/);
  assert.throws(() => buildSshClientConfig({ ...opts, knownHosts: '/a"b' }), /cannot be written/);
  assert.throws(
    () => buildSshClientConfig({ ...opts, hosts: [{ hostname: 'a b', address: '1.2.3.4', port: 22 }] }),
    /not a plain name/,
  );
});

test('ssh -G resolves a rank host name through the generated config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mn-sshcfg-'));
  try {
    const path = join(dir, 'ssh_config');
    writeFileSync(path, buildHostSshConfig(buildSshClientConfig(opts), 'Host *\n    SendEnv LANG LC_*\n'));
    const r = spawnSync('ssh', ['-G', '-F', path, 'svc-1'], { encoding: 'utf8' });
    if (r.error) return; // no ssh client here
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^hostname 198\.18\.128\.3$/m);
    assert.match(r.stdout, /^port 2223$/m);
    assert.match(r.stdout, /^stricthostkeychecking true$/m);
    assert.match(r.stdout, /^sendenv LANG$/m);
    const byAddr = spawnSync('ssh', ['-G', '-F', path, '198.18.128.2'], { encoding: 'utf8' });
    assert.match(byAddr.stdout, /^port 2222$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('host config keeps the machine config after the rank blocks, under Host *', () => {
  assert.equal(buildHostSshConfig('B\n', undefined), 'B\n');
  assert.match(
    buildHostSshConfig('B\n', 'Include /etc/ssh/ssh_config.d/*.conf'),
    /^B\n\n# .*\nHost \*\nInclude .*\n$/,
  );
});

test('session script: valid bash; the wrapper command runs as is; ForceCommand quotes the path', () => {
  const text = buildSessionScript('/s/ranks', '/s/sessions', WRAPPER_REMOTE_PREFIX);
  assert.ok(text.includes(`'${WRAPPER_REMOTE_PREFIX}'*) exec /bin/bash`));
  const dir = mkdtempSync(join(tmpdir(), 'mn-sess-'));
  try {
    writeFileSync(join(dir, 's'), text);
    assert.equal(spawnSync('/bin/bash', ['-n', join(dir, 's')]).status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(
    sessionForceCommand('/st ate/ssh', 3),
    "exec /bin/bash --noprofile --norc '/st ate/ssh/session' 3",
  );
});

test('sshClientMounts: host ranks cover /etc/ssh/ssh_config; image ranks get a drop-in', () => {
  assert.deepEqual(sshClientMounts('/s/ssh', 'host'), [
    { source: '/s/ssh/ssh_config', target: '/etc/ssh/ssh_config', readOnly: true },
  ]);
  assert.deepEqual(sshClientMounts('/s/pod/ssh', 'image'), [
    {
      source: '/s/pod/ssh/multinode.conf',
      target: '/etc/ssh/ssh_config.d/00-multinode.conf',
      readOnly: true,
    },
  ]);
});

test('buildSshClientConfig: no User line when none is given; a host key alias pins every rank to one key', () => {
  const text = buildSshClientConfig({
    serviceName: 's',
    hosts: [{ hostname: 's-0', address: '198.18.0.2', port: 2222 }],
    identityFile: '/etc/multinode-ssh/id_ed25519',
    knownHosts: '/etc/multinode-ssh/known_hosts',
    hostKeyAlias: 'multinode-rank',
  });
  assert.doesNotMatch(text, /User /);
  assert.match(text, /\n {2}HostKeyAlias multinode-rank\n/);
  assert.match(text, /^Host s-0 198\.18\.0\.2\n {2}HostName 198\.18\.0\.2\n {2}Port 2222\n/m);
});
