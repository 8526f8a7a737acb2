/**
 * Ranks in their image with SSH between them, as on Kubernetes: a Debian bookworm image built offline
 * (test/images/build.sh mpi: python3, OpenMPI, mpi4py, sshd) on 3 emulated nodes with 2 slots each. Every rank
 * runs the Kubernetes pod entrypoint, which starts the image's sshd; the SSH wrapper and OpenMPI's launcher
 * reach the other ranks' containers through it.
 * - leader launch: rank 0 runs commands on the other ranks through the wrapper; they run inside the target
 *   rank's container (its host name; PID 1 is the container's init running the pod entrypoint);
 * - `implementation: ompi`: `mpirun -np 6` of an mpi4py all-reduce across the 3 containers.
 * `down` leaves no container, mount, cgroup or podman network object.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
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
  MPI_IMAGE,
  containerSkipReason,
  containersIn,
  podmanLeftovers,
  removePodmanRun,
  testImage,
} from './container-helpers.js';

const skip = containerSkipReason(['mmdebstrap']);

const ALLREDUCE = [
  'from mpi4py import MPI',
  'import socket',
  'c = MPI.COMM_WORLD',
  's = c.allreduce(c.rank + 1)',
  'h = c.gather(socket.gethostname())',
  'c.rank == 0 and print("RESULT sum=%d size=%d hosts=%s" % (s, c.size, ",".join(sorted(set(h)))), flush=True)',
].join('; ');

test(
  'mpi image: leader launch and mpirun between containers on 3 nodes × 2 slots',
  { skip, timeout: 1_800_000 },
  async (t) => {
    const state = makeStateDir('ctrmpi');
    const fwd = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
    try {
      const img = await testImage(state, 'mpi');
      t.diagnostic(`mpi image ready (built or cached, then imported) in ${img.buildMs} ms`);
      const created = cli(state, ['cluster', 'create', 'cm', '--nodes', '3', '--gpus-per-node', '2']);
      assert.equal(created.code, 0, created.stderr);

      await t.test("leader launch: the wrapper runs commands inside the other ranks' containers", () => {
        const script = [
          '#!/bin/sh',
          'for h in $(echo $MULTINODE_HOSTLIST_NOSLOTS | tr , " "); do',
          '  [ "$h" = "$(hostname)" ] && continue',
          `  echo "REMOTE $h $(MULTINODE_WRAPPER_FORWARD_STREAMS=1 $MULTINODE_SSH_WRAPPER $h 'echo $(hostname) $(tr "\\0" " " </proc/1/cmdline | cut -d" " -f1) $MULTINODE_NODE_RANK')"`,
          'done',
        ].join('\n');
        const file = join(state, 'lead.yaml');
        writeFileSync(
          file,
          `version: v1
services:
  lead:
    image:
      uri: ${MPI_IMAGE}
    script: ${JSON.stringify(`${script}\n`)}
    multinode:
      nodes: 3
`,
        );
        const up = cli(state, ['up', file], 600_000);
        assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
        assert.match(up.stdout, /lead-0 +\| REMOTE lead-1 lead-1 \/run\/podman-init 1/);
        assert.match(up.stdout, /lead-0 +\| REMOTE lead-2 lead-2 \/run\/podman-init 2/);
        assert.deepEqual(containersIn(state), []);
      });

      await t.test('ompi: mpirun -np 6 of an mpi4py all-reduce across the containers', () => {
        const script = ['#!/bin/sh', `mpirun -np 6 python3 -c '${ALLREDUCE}'`].join('\n');
        const file = join(state, 'mpi.yaml');
        writeFileSync(
          file,
          `version: v1
services:
  ar:
    image:
      uri: ${MPI_IMAGE}
    script: ${JSON.stringify(`${script}\n`)}
    multinode:
      nodes: 3
      implementation: ompi
    resource:
      cpu:
        cores: 1
      memory:
        size: 256MB
      devices:
        nvidia.com/gpu: 2
`,
        );
        const up = cli(state, ['up', file], 600_000);
        assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
        assert.match(up.stdout, /ar-0 +\| RESULT sum=21 size=6 hosts=ar-0,ar-1,ar-2/);
        assert.deepEqual(containersIn(state), []);
      });

      assert.equal(cli(state, ['cluster', 'delete', 'cm']).code, 0);
      assert.deepEqual(
        snapshot(
          state,
          hashesFor(
            state,
            ['cm'],
            [
              ['cm', 'lead'],
              ['cm', 'ar'],
            ],
          ),
        ),
        EMPTY_SNAPSHOT,
      );
      assert.deepEqual(podmanLeftovers(state, fwd), []);
    } finally {
      cleanupStateDir(state);
      removePodmanRun(state);
    }
  },
);
