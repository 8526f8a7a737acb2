/**
 * Ranks in their image, with the 2 MB busybox image (built from Debian's busybox-static): every rank runs in
 * a container that has the rank's host name, hosts file, environment and cpuset, `exec` enters it, `down`
 * leaves no container, mount, cgroup or podman network object; an image that cannot be had is a clear error
 * that leaves nothing started, and so is an image without sshd for a leader-launch service.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  EMPTY_SNAPSHOT,
  cleanupStateDir,
  cli,
  hashesFor,
  makeStateDir,
  snapshot,
} from './runtime-helpers.js';
import {
  BUSYBOX_IMAGE,
  containerSkipReason,
  containersIn,
  podmanLeftovers,
  removePodmanRun,
  testImage,
} from './container-helpers.js';

const skip = containerSkipReason();

test(
  'busybox image: ranks in containers, exec, pull errors, down leaves nothing',
  { skip, timeout: 600_000 },
  async (t) => {
    const state = makeStateDir('ctr');
    const fwd = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
    const hadSystemStore = existsSync('/var/lib/containers');
    try {
      const img = await testImage(state, 'busybox');
      t.diagnostic(`busybox image ready in ${img.buildMs} ms`);
      assert.equal(cli(state, ['cluster', 'create', 'cb', '--nodes', '2']).code, 0);

      await t.test('launch all: each rank in its own container with its identity', () => {
        const file = join(state, 'bb.yaml');
        writeFileSync(
          file,
          `version: v1
services:
  bb:
    image:
      uri: ${BUSYBOX_IMAGE}
    env:
      - GREETING=hello world
    script: |
      #!/bin/sh
      echo "ID host=$(hostname) pid1=$(cat /proc/1/cmdline | tr '\\0' ' ') greeting=$GREETING rank=$MULTINODE_NODE_RANK"
      echo "HOSTS $(grep -c bb- /etc/hosts)"
      echo "BUSYBOX $(ls -l /bin/sh | grep -c busybox)"
      echo "CPUS $(grep Cpus_allowed_list /proc/self/status | cut -f2)"
      exec sleep 600
    multinode:
      nodes: 2
      launch: all
`,
        );
        const up = cli(state, ['up', '-d', file], 300_000);
        assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
        const logs = cli(state, ['logs', 'bb']);
        for (const r of [0, 1]) {
          assert.match(
            logs.stdout,
            new RegExp(
              `ID host=bb-${r} pid1=/run/podman-init -- /bin/sh /opt/multinode-k8s/entrypoint.sh .* greeting=hello world rank=${r}`,
            ),
          );
        }
        assert.match(logs.stdout, /HOSTS 2/);
        assert.match(logs.stdout, /BUSYBOX 1/);
        const names = containersIn(state).sort();
        assert.equal(names.length, 2, names.join(' '));
        assert.match(names[0] ?? '', /^mn-[0-9a-f]+-r0$/);
        assert.match(names[1] ?? '', /^mn-[0-9a-f]+-r1$/);
        // exec enters the container of the named rank (busybox's sh, the rank's env).
        const ex = cli(state, [
          'exec',
          'bb',
          '--rank',
          '1',
          '--',
          'sh',
          '-c',
          'echo "$(hostname) $GREETING $(readlink /bin/sh)"',
        ]);
        assert.equal(ex.code, 0, ex.stderr);
        assert.equal(ex.stdout.trim(), 'bb-1 hello world busybox');
        const down = cli(state, ['down', 'bb']);
        assert.equal(down.code, 0, down.stderr);
        assert.deepEqual(containersIn(state), []);
        assert.deepEqual(podmanLeftovers(state, fwd), []);
      });

      await t.test('an image that cannot be pulled: clear error, nothing started', () => {
        const file = join(state, 'gone.yaml');
        writeFileSync(
          file,
          `version: v1
services:
  gone:
    image:
      uri: docker://127.0.0.1:1/nothing/here:1
    script: "true"
    multinode:
      nodes: 2
      launch: all
`,
        );
        const up = cli(state, ['up', '-d', file], 300_000);
        assert.notEqual(up.code, 0);
        assert.match(
          up.stderr,
          /services\.gone\.image\.uri: image docker:\/\/127\.0\.0\.1:1\/nothing\/here:1 is not available/,
        );
        assert.match(up.stderr, /oci-archive:/);
        assert.match(up.stderr, /podman --root .* load -i FILE/);
        assert.equal(cli(state, ['ps']).stdout.includes('gone'), false);
        assert.equal(existsSync(join(state, 'services', 'gone')), false);
        const never = cli(state, ['up', '-d', '--pull', 'never', file], 120_000);
        assert.notEqual(never.code, 0);
        assert.match(never.stderr, /--pull is never/);
        const bad = cli(state, ['up', '-d', '--pull', 'sometimes', file]);
        assert.match(bad.stderr, /--pull must be always, missing or never, got sometimes/);
        assert.deepEqual(containersIn(state), []);
      });

      await t.test('leader launch with an image without sshd: clear error, nothing started', () => {
        const file = join(state, 'nossh.yaml');
        writeFileSync(
          file,
          `version: v1
services:
  nossh:
    image:
      uri: ${BUSYBOX_IMAGE}
    script: "true"
    multinode:
      nodes: 2
`,
        );
        const up = cli(state, ['up', '-d', file], 300_000);
        assert.notEqual(up.code, 0);
        assert.match(
          up.stderr,
          /services\.nossh\.image\.uri: image .* has no sshd, but leader launch reaches the other ranks over SSH/,
        );
        assert.equal(existsSync(join(state, 'services', 'nossh')), false);
        // --host-fs: a service with an image runs on this machine's file system on purpose.
        const hostFile = join(state, 'hostfs.yaml');
        writeFileSync(
          hostFile,
          `version: v1
services:
  hostfs:
    image:
      uri: ${BUSYBOX_IMAGE}
    script: 'echo "SH $(readlink -f /bin/sh)"'
    multinode:
      nodes: 2
      launch: all
`,
        );
        const hostFs = cli(state, ['up', '--host-fs', hostFile], 300_000);
        assert.equal(hostFs.code, 0, `${hostFs.stdout}\n${hostFs.stderr}`);
        assert.match(hostFs.stderr, /with --host-fs the ranks run on this machine's file system/);
        assert.match(hostFs.stdout, /hostfs-1 +\| SH \/usr\/bin\/dash/);
        assert.deepEqual(containersIn(state), []);
      });

      assert.equal(cli(state, ['cluster', 'delete', 'cb']).code, 0);
      assert.deepEqual(snapshot(state, hashesFor(state, ['cb'], [['cb', 'bb']])), EMPTY_SNAPSHOT);
      assert.deepEqual(podmanLeftovers(state, fwd), []);
      if (!hadSystemStore)
        assert.equal(existsSync('/var/lib/containers'), false, 'nothing in /var/lib/containers');
    } finally {
      cleanupStateDir(state);
      removePodmanRun(state);
    }
  },
);
