/**
 * The rendered SSH pieces work with the real OpenSSH: a worker's `sshd.sh` (flags, Secret host key and
 * authorized key) accepts the leader's `$MULTINODE_SSH_WRAPPER` (pinned host key, `ssh HOST CMD` semantics as
 * the local wrapper has them), and `remote.sh` runs the command with the worker's recorded rank environment. Paths move into a
 * temp dir, the port to a free loopback port, the pod log (/proc/1/fd/1) to a temp file. sshd is started
 * and stopped by PID. sshd runs confined as the worker pod's securityContext confines it (no_new_privs, only the
 * added capabilities; setpriv(1)), bound to the pod IP the entrypoint records (here 127.0.0.1).
 * Skips without root or without /usr/sbin/sshd and /usr/bin/ssh.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { K8S_FILES_DIR } from '../../src/targets/kubernetes/options.js';
import { SHIM_DIR, SSH_DIR } from '../../src/targets/kubernetes/index.js';
import { confineLikeContainer, loadCase, podTemplateFor, renderCase } from './helpers/k8s-plan-fixtures.js';

const skip =
  process.getuid?.() !== 0
    ? 'needs root (sshd logs the leader in as the same user)'
    : !existsSync('/usr/sbin/sshd') || !existsSync('/usr/bin/ssh')
      ? 'needs /usr/sbin/sshd and /usr/bin/ssh'
      : false;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

function canConnect(port: number, host: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const c = connect(port, host);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

async function waitListening(port: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await canConnect(port, '127.0.0.1')) return;
    if (Date.now() > end) throw new Error(`sshd did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test(
  'rendered sshd.sh + SSH wrapper + remote.sh run a quoted command with the worker rank env',
  { skip },
  async () => {
    const out = renderCase(loadCase('lws-volcano'));
    const cm = out.objects.find((o) => o.kind === 'ConfigMap');
    const secret = out.objects.find((o) => o.kind === 'Secret');
    const data = (cm?.['data'] ?? {}) as Record<string, string>;
    const keys = (secret?.['stringData'] ?? {}) as Record<string, string>;
    const port = await freePort();
    const tmp = mkdtempSync(join(tmpdir(), 'mn-k8s-ssh-'));
    let sshd: ReturnType<typeof spawn> | undefined;
    try {
      const ssh = join(tmp, 'ssh');
      const shim = join(tmp, 'shim');
      const files = join(tmp, 'files');
      mkdirSync(ssh, { mode: 0o700 });
      mkdirSync(shim);
      mkdirSync(join(files, '.k8s'), { recursive: true });
      for (const [k, v] of Object.entries(keys)) {
        const text = v;
        writeFileSync(join(ssh, k), text, { mode: 0o600 });
      }
      const relocate = (t: string): string =>
        t
          .split(SSH_DIR)
          .join(ssh)
          .split(SHIM_DIR)
          .join(shim)
          .split(K8S_FILES_DIR)
          .join(files)
          .replace(/-p 2222\b/g, `-p ${port}`)
          // The session shell's rc files are the host's here, not the image's: keep them out of the test.
          .replace('-f /dev/null ', `-f /dev/null -o SetEnv=HOME=${tmp} `)
          .split('/proc/1/fd/1')
          .join(join(tmp, 'pod-log'))
          .split('/proc/1/fd/2')
          .join(join(tmp, 'pod-log'));
      for (const k of ['sshd.sh', 'remote.sh'])
        writeFileSync(join(shim, k), relocate(data[k] ?? ''), { mode: 0o755 });
      const wrapper = join(shim, 'multinode-ssh');
      writeFileSync(wrapper, relocate(data['files.multinode-ssh'] ?? ''), { mode: 0o755 });
      // What entrypoint.sh records on the worker before exec'ing sshd: its pod IP and its environment.
      writeFileSync(join(files, '.k8s', 'pod-ip'), '127.0.0.1\n');
      writeFileSync(
        join(files, '.k8s', 'rank.env'),
        "export MULTINODE_NODE_RANK='2'\nexport MULTINODE_SERVICE='mpi'\n",
      );
      assert.match(data['sshd.sh'] ?? '', /-p 2222/);
      assert.match(data['sshd.sh'] ?? '', /-o ListenAddress="\$mn_ip"/);
      assert.doesNotMatch(data['sshd.sh'] ?? '', /AcceptEnv/);
      const worker = podTemplateFor(out.objects, 'mpi', 1)['spec'] as {
        containers: { securityContext?: Record<string, unknown> }[];
      };
      const confine = confineLikeContainer(worker.containers[0]?.securityContext) ?? [];
      const argv = [...confine, '/bin/sh', join(shim, 'sshd.sh')];
      sshd = spawn(argv[0] ?? '/bin/sh', argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
      let log = '';
      sshd.stderr?.on('data', (b: Buffer) => (log += b.toString()));
      await waitListening(port, 10_000).catch((e: unknown) => {
        throw new Error(`${String(e)}\n${log}`);
      });
      const run = (args: string[], fwd: boolean) =>
        spawnSync('/bin/sh', [wrapper, ...args], {
          encoding: 'utf8',
          timeout: 30_000,
          env: { PATH: '/usr/bin:/bin', ...(fwd ? { MULTINODE_WRAPPER_FORWARD_STREAMS: '1' } : {}) },
        });
      // As OpenMPI's plm_rsh calls it: ssh-style options first (ignored), user@host, words joined and run by
      // a shell on the rank (so `;` separates commands), in the rank's environment.
      const r = run(
        [
          '-x',
          '-o',
          'StrictHostKeyChecking=no',
          '-p',
          '22',
          'root@127.0.0.1',
          'echo',
          '"$MULTINODE_NODE_RANK"',
          ';',
          'echo',
          "'a  b'",
          'c  d',
        ],
        true,
      );
      assert.equal(r.status, 0, `${r.stderr}\n${log}`);
      assert.equal(r.stdout, '2\na  b c d\n');
      // Exit status comes back.
      assert.equal(run(['127.0.0.1', 'exit', '7'], true).status, 7);
      // Without MULTINODE_WRAPPER_FORWARD_STREAMS=1 the output goes to the target pod's log (its PID 1).
      const quiet = run(['127.0.0.1', 'echo', 'to-the-log'], false);
      assert.equal(quiet.status, 0, quiet.stderr);
      assert.equal(quiet.stdout, '');
      assert.equal(readFileSync(join(tmp, 'pod-log'), 'utf8'), 'to-the-log\n');
      // Bound to the pod IP only: another local address of the same machine is refused.
      assert.equal(await canConnect(port, '127.0.0.2'), false, 'sshd listens beyond the pod IP');
      // No client environment is accepted (the rank's own comes from rank.env): a plain ssh sending a
      // variable sees it unset on the other side.
      const direct = spawnSync(
        '/usr/bin/ssh',
        [
          ...['-F', '/dev/null', '-p', String(port), '-i', join(ssh, 'id_ed25519'), '-o', 'BatchMode=yes'],
          ...['-o', `UserKnownHostsFile=${join(ssh, 'known_hosts')}`, '-o', 'HostKeyAlias=multinode-rank'],
          ...['-o', 'SetEnv=MULTINODE_FROM_CLIENT=1', '-o', 'SendEnv=LANG', '-T', '127.0.0.1'],
          'echo "${MULTINODE_FROM_CLIENT:-unset} ${LANG:-unset}"',
        ],
        { encoding: 'utf8', timeout: 30_000, env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' } },
      );
      assert.equal(direct.status, 0, `${direct.stderr}\n${log}`);
      assert.equal(direct.stdout, 'unset unset\n');
      // An interactive session (a terminal on the rank) works under the same confinement.
      if (existsSync('/usr/bin/script')) {
        const tty = spawnSync('/usr/bin/script', ['-qec', `/bin/sh ${wrapper} 127.0.0.1`, '/dev/null'], {
          encoding: 'utf8',
          timeout: 30_000,
          input: 'tty; echo "rank=$MULTINODE_NODE_RANK"; exit 3\n',
          env: { PATH: '/usr/bin:/bin', TERM: 'dumb' },
        });
        assert.equal(tty.status, 3, `${tty.stdout}\n${tty.stderr}\n${log}`);
        assert.match(tty.stdout, /\/dev\/pts\/\d+/);
        assert.match(tty.stdout, /rank=2/);
      }
      // Pinned host key: a different known_hosts entry is refused, never prompted.
      writeFileSync(join(ssh, 'known_hosts'), `multinode-rank ${keys['id_ed25519.pub'] ?? ''}`);
      const bad = run(['127.0.0.1', 'true'], true);
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, /host key|HOST IDENTIFICATION/i);
    } finally {
      if (sshd?.pid !== undefined && sshd.exitCode === null) {
        const done = new Promise((r) => sshd?.once('exit', r));
        process.kill(sshd.pid, 'SIGTERM');
        await done;
      }
      rmSync(tmp, { recursive: true, force: true });
    }
  },
);
