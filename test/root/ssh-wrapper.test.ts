/**
 * The SSH layer for real: a 3-node netns fixture (own netns + UTS ns + nodexec mounts each), one sshd per
 * rank started from `sshdArgv`, and the generated `multinode-ssh` wrapper reaching every rank by host name
 * and address, like `ssh host cmd`. Independent of the runtime's cluster.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createCluster, rootSkipReason, startSshService } from './ssh-fixture.js';

const skip = rootSkipReason();

test('multinode-ssh on a 3-node namespace fixture', { skip: skip ?? false, timeout: 120_000 }, async (t) => {
  const c = await createCluster({
    nodes: 3,
    net: '198.18.250',
    hostnames: ['sw-0', 'sw-1', 'sw-2'],
    tag: 'sw',
  });
  try {
    const svc = await startSshService(c, {
      serviceName: 'sw',
      cwd: '/tmp',
      env: (n) => ({ MULTINODE_NODE_RANK: String(n.index), MULTINODE_SERVICE: 'sw', TRICKY: `a 'b' "c" $d` }),
    });
    const { ssh } = svc;
    const W = ssh.wrapperPath;
    const fwd = { PATH: '/usr/bin:/bin', MULTINODE_WRAPPER_FORWARD_STREAMS: '1' };

    await t.test('key material: private keys 0600 in a 0700 dir, rank files 0600', () => {
      assert.equal(statSync(ssh.dir).mode & 0o777, 0o700);
      assert.equal(statSync(ssh.material.userKey).mode & 0o777, 0o600);
      assert.equal(statSync(ssh.material.hostKey).mode & 0o777, 0o600);
      assert.equal(statSync(join(ssh.dir, 'ranks', '1.sh')).mode & 0o777, 0o600);
      const kh = readFileSync(ssh.material.knownHosts, 'utf8');
      for (const n of c.nodes)
        assert.ok(kh.includes(`[${n.hostname}]:2222,[${n.address}]:2222 ssh-ed25519 `));
    });

    await t.test('runs on every rank by host name and by address, from any rank', async () => {
      for (const from of [0, 2]) {
        for (const n of c.nodes) {
          for (const host of [n.hostname, n.address]) {
            const r = await c.run(from, [W, host, 'hostname'], { env: fwd });
            assert.equal(r.code, 0, r.stderr);
            assert.equal(r.stdout, `${n.hostname}\n`, `from rank ${from} to ${host}`);
          }
        }
      }
    });

    await t.test('runs in the rank environment and cwd, not the caller environment', async () => {
      const r = await c.run(
        0,
        [
          W,
          'sw-1',
          'echo $MULTINODE_NODE_RANK; pwd; printf "%s\\n" "$TRICKY"; echo ${CALLER:-unset}; ip -4 -o addr show dev eth0 | grep -c 198.18.250.11',
        ],
        {
          env: { ...fwd, CALLER: 'x' },
        },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `1\n/tmp\na 'b' "c" $d\nunset\n1\n`);
    });

    await t.test('exit status propagates; a remote signal death is 255 like ssh', async () => {
      for (const code of [0, 1, 42])
        assert.equal((await c.run(0, [W, 'sw-2', `exit ${code}`], { env: fwd })).code, code);
      assert.equal((await c.run(0, [W, 'sw-2', 'kill -KILL $$'], { env: fwd })).code, 255);
      const bad = await c.run(0, [W, 'nosuchhost', 'true'], { env: fwd });
      assert.equal(bad.code, 255);
      assert.match(bad.stderr, /unknown host 'nosuchhost'/);
    });

    await t.test(
      'argv is joined and parsed by the remote shell like ssh; ssh options are ignored',
      async () => {
        const r = await c.run(
          0,
          [W, '-x', '-T', '-p', '22', '-o', 'BatchMode=no', 'sw-1', 'printf', "'%s|'", "'a b'", `"c'd"`],
          { env: fwd },
        );
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "a b|c'd|");
      },
    );

    await t.test('stdin is passed through', async () => {
      const input = 'x'.repeat(200_000);
      const r = await c.run(0, [W, 'sw-1', 'wc -c'], { env: fwd, input });
      assert.equal(r.stdout.trim(), '200000');
    });

    await t.test('without MULTINODE_WRAPPER_FORWARD_STREAMS streams go to the remote rank log', async () => {
      const r = await c.run(0, [W, 'sw-2', 'echo to-log-$(hostname); echo err-line >&2; exit 3'], {
        env: { PATH: '/usr/bin:/bin' },
      });
      assert.equal(r.code, 3);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, '');
      const log = readFileSync(svc.logFile(2), 'utf8');
      assert.match(log, /to-log-sw-2\nerr-line\n/);
      assert.equal(
        existsSync(svc.logFile(1)) ? readFileSync(svc.logFile(1), 'utf8').includes('to-log') : false,
        false,
      );
    });

    await t.test(
      'host keys are pinned: the service known_hosts passes, an empty one is refused (no prompt)',
      async () => {
        const common = [
          '-F',
          '/dev/null',
          '-p',
          '2222',
          '-i',
          ssh.material.userKey,
          '-o',
          'BatchMode=yes',
          '-o',
          'StrictHostKeyChecking=yes',
        ];
        const ok = await c.run(0, [
          '/usr/bin/ssh',
          ...common,
          '-o',
          `UserKnownHostsFile=${ssh.material.knownHosts}`,
          'sw-1',
          'true',
        ]);
        assert.equal(ok.code, 0, ok.stderr);
        const refused = await c.run(0, [
          '/usr/bin/ssh',
          ...common,
          '-o',
          'UserKnownHostsFile=/dev/null',
          'sw-1',
          'true',
        ]);
        assert.equal(refused.code, 255);
        assert.match(refused.stderr, /Host key verification failed/);
      },
    );

    await t.test('connections are shared and fast; closeConnections ends the masters', async () => {
      await c.run(0, [W, 'sw-1', 'true'], { env: fwd });
      assert.ok(readdirSync(ssh.controlDir).length >= 1, 'a ControlMaster socket exists');
      // Time several calls inside one node shell (no per-call nodexec cost).
      const loop = `s=$(date +%s%N); for i in 1 2 3 4 5 6 7 8 9 10; do ${W} sw-1 true || exit 9; done; echo $(( ($(date +%s%N)-s)/10000 ))`;
      const r = await c.run(0, ['/bin/sh', '-c', loop], { env: fwd });
      assert.equal(r.code, 0, r.stderr);
      t.diagnostic(`multiplexed wrapper call: ${(Number(r.stdout) / 1000).toFixed(1)} ms`);
      await ssh.closeConnections();
      assert.equal(readdirSync(ssh.controlDir).length, 0);
      assert.equal((await c.run(0, [W, 'sw-1', 'true'], { env: fwd })).code, 0, 'works again after close');
    });

    await t.test(
      'processes started through the wrapper outlive their caller but stopSessions ends them',
      async () => {
        await ssh.stopSessions();
        const client = c.start(
          0,
          [W, 'sw-2', 'sleep 300 & sleep 301'],
          join(svc.serviceDir, 'client.log'),
          fwd,
        );
        const sessions = join(ssh.dir, 'sessions');
        const pid = await (async () => {
          for (let i = 0; i < 100; i++) {
            const f = readdirSync(sessions).find((x) => x.startsWith('2.'));
            if (f !== undefined) return Number(f.slice(2));
            await new Promise((r) => setTimeout(r, 50));
          }
          throw new Error('no session record');
        })();
        client.kill('SIGKILL');
        await new Promise((r) => setTimeout(r, 200));
        assert.ok(existsSync(`/proc/${pid}`), 'the remote command survives its caller, as with ssh');
        const r = await ssh.stopSessions(1000);
        assert.equal(r.stopped, 1);
        await new Promise((res) => setTimeout(res, 100));
        const state = existsSync(`/proc/${pid}/stat`)
          ? readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0]
          : 'gone';
        assert.ok(state === 'gone' || state === 'Z', `session leader ${pid} stopped (state ${state})`);
      },
    );

    await t.test('sshd logs stay quiet: no line per login or per readiness probe', async () => {
      await ssh.waitReady(1);
      for (const n of c.nodes) {
        const log = readFileSync(join(svc.serviceDir, `sshd-${n.index}.log`), 'utf8');
        assert.equal(log, '', `sshd-${n.index}.log: ${log}`);
      }
    });

    await t.test('no private key material in logs', () => {
      const key = readFileSync(ssh.material.userKey, 'utf8');
      const body = key.split('\n')[1] ?? 'unreachable';
      for (const f of readdirSync(svc.serviceDir, { recursive: true, withFileTypes: true })) {
        if (!f.isFile() || !/\.log$/.test(f.name)) continue;
        const text = readFileSync(join(f.parentPath, f.name), 'utf8');
        assert.ok(!text.includes('PRIVATE KEY') && !text.includes(body), `${f.name} leaks key material`);
      }
    });

    await t.test(
      'stopping a rank (SIGTERM to its sshd runner) also stops the wrapper sessions on it',
      async () => {
        const sessions = join(ssh.dir, 'sessions');
        c.start(0, [W, 'sw-1', 'sleep 300 & sleep 302'], join(svc.serviceDir, 'client2.log'), fwd);
        const pid = await (async () => {
          for (let i = 0; i < 100; i++) {
            const f = readdirSync(sessions).find((x) => x.startsWith('1.'));
            if (f !== undefined) return Number(f.slice(2));
            await new Promise((r) => setTimeout(r, 50));
          }
          throw new Error('no session record');
        })();
        const runner = svc.sshd[1];
        assert.ok(runner);
        const exited = new Promise<number | null>((r) => runner.once('exit', (code) => r(code)));
        runner.kill('SIGTERM');
        assert.equal(await exited, 143);
        const state = existsSync(`/proc/${pid}/stat`)
          ? readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0]
          : 'gone';
        assert.ok(
          state === 'gone' || state === 'Z',
          `session leader ${pid} stopped with its rank (state ${state})`,
        );
        assert.deepEqual(
          readdirSync(sessions).filter((x) => x.startsWith('1.')),
          [],
        );
      },
    );

    await t.test('cleanup removes keys, configs, sockets and the wrapper', async () => {
      await ssh.cleanup();
      assert.equal(existsSync(ssh.dir), false);
      assert.equal(existsSync(W), false);
      assert.equal(existsSync(ssh.controlDir), false);
      await ssh.cleanup();
    });
  } finally {
    await c.teardown();
  }
});
