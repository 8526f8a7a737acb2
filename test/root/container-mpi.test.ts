/**
 * Ranks in their image, with the Debian MPI test image (test/images/build.sh mpi: python3, OpenMPI, mpi4py,
 * sshd; built offline and cached) and a layer on it holding the backend stand-ins (container-helpers.ts
 * standinImage), on one emulated cluster of 4 nodes (16 cores, 2 GPUs each). Every rank runs the Kubernetes
 * pod entrypoint, which starts the image's sshd:
 * - leader launch: rank 0 runs commands on the other ranks through the wrapper; they run inside the target
 *   rank's container (its host name; PID 1 is the container's init running the pod entrypoint);
 * - `implementation: ompi`: `mpirun -np 6` of an mpi4py all-reduce across 3 containers (2 slots each);
 * - volumes in containers: a file rank 0 writes on the `data` volume is read by rank 2; a named volume
 *   mounted read-only refuses writes; `data` with `persist: true` outlives `down` / `up`; `cwd` exists only
 *   through the data mount;
 * - plain `ssh <other rank>` (host name or address) from inside a container rank, without a prompt, runs
 *   in the target rank's container with its environment and cwd (a `launch: all` service: sshd only
 *   because the image has one);
 * - failover: `podman kill --signal KILL` of rank 1's container is reported as SIGKILL (as for a rank on
 *   this machine's file system), the rank is restarted per policy and the group is ready again;
 * - seed 000's two examples, as written except for the image (and the stand-ins' record directory), run
 *   with their stand-in programs inside the image: the vLLM one finds its cwd /home/vllm through its data
 *   mount;
 * - `down` leaves no container, no mount, no cgroup, no podman run-time directory (/run/multinode/pm-*), no
 *   empty /run/multinode and no podman network object.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  EMPTY_SNAPSHOT,
  ROOT_DIR,
  cleanupStateDir,
  cli,
  hashesFor,
  makeStateDir,
  sleep,
  snapshot,
} from './runtime-helpers.js';
import {
  MPI_IMAGE,
  containerSkipReason,
  containersIn,
  podman,
  podmanLeftovers,
  removePodmanRun,
  standinImage,
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

interface PsRank {
  rank: number;
  address: string;
  status: string;
  restarts?: number;
}
interface PsService {
  name: string;
  status: string;
  group?: { ready: boolean };
  ranks: PsRank[];
  restart?: { history: { trigger: string }[] };
}

function ps(state: string, name: string): PsService | undefined {
  const r = cli(state, ['ps', '-o', 'json']);
  return (JSON.parse(r.stdout) as PsService[]).find((s) => s.name === name);
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/** `multinode exec SERVICE --rank R -- sh -c SCRIPT`. */
function sh(state: string, service: string, rank: number, script: string) {
  return cli(state, ['exec', service, '--rank', String(rank), '--', '/bin/sh', '-c', script]);
}

function records(dir: string): Record<string, unknown>[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown>);
}

test(
  'mpi image: leader launch, mpirun, volumes, plain ssh, failover and seed 000 in containers; nothing left',
  { skip, timeout: 1_800_000 },
  async (t) => {
    const state = makeStateDir('ctrmpi');
    const fwd = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
    try {
      const img = await standinImage(state);
      t.diagnostic(`mpi image (cached) imported and stand-in layer committed in ${img.ms} ms`);
      const created = cli(state, [
        'cluster',
        'create',
        'cs',
        '--nodes',
        '4',
        '--cores',
        '16',
        '--gpus-per-node',
        '2',
        '--gpu-model',
        'NVIDIA L4',
        '--memory',
        '128GB',
      ]);
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

      await t.test('volumes, plain ssh and failover in containers; persist across down / up', async () => {
        // A named volume with a file from this machine, mounted read-only in every rank.
        const named = join(state, 'volumes', 'named', 'test.ro');
        mkdirSync(named, { recursive: true });
        writeFileSync(join(named, 'hello'), 'from the host\n');
        const file = join(state, 'vol.yaml');
        writeFileSync(
          file,
          `version: v1
volumes:
  ro:
    reference: volume://test/ro
services:
  vol:
    image:
      uri: ${MPI_IMAGE}
    cwd: /work/data
    mounts:
      data:
        location: /work/data
      ro:
        location: /ro
        read-only: true
    persist: true
    script: |
      #!/bin/sh
      if [ "$MULTINODE_NODE_RANK" = 0 ]; then echo "up seen by $(hostname) in $PWD" >> ups; fi
      exec sleep infinity
    multinode:
      nodes: 3
      launch: all
    restart:
      policy: on-failure
      backoff-seconds: 0
`,
        );
        let t0 = Date.now();
        const up = cli(state, ['up', '-d', file], 300_000);
        assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
        t.diagnostic(`up -d of 3 container ranks: ${Date.now() - t0} ms`);
        const data = join(state, 'volumes', 'data', 'vol');
        // Rank 0 wrote on the shared volume; rank 2 reads it in its own container.
        const seen = await until('rank 0 to write', () => {
          const r = sh(state, 'vol', 2, 'cat /work/data/ups');
          return r.code === 0 && r.stdout !== '' ? r.stdout : undefined;
        });
        assert.equal(seen, 'up seen by vol-0 in /work/data\n');
        assert.equal(readFileSync(join(data, 'ups'), 'utf8'), seen, 'it is the directory on this machine');
        // Read-only: readable, not writable.
        assert.equal(sh(state, 'vol', 1, 'cat /ro/hello').stdout, 'from the host\n');
        const ro = sh(state, 'vol', 1, 'echo x > /ro/new');
        assert.notEqual(ro.code, 0);
        assert.match(ro.stderr, /Read-only file system/);
        assert.equal(existsSync(join(named, 'new')), false);

        // Plain ssh from inside rank 0's container: by host name and by address, no prompt (BatchMode).
        const s = ps(state, 'vol');
        const addr2 = s?.ranks[2]?.address ?? '';
        assert.match(addr2, /^198\.1[89]\./);
        t0 = Date.now();
        const byName = sh(
          state,
          'vol',
          0,
          'ssh vol-1 \'echo $(hostname) rank=$MULTINODE_NODE_RANK pwd=$PWD $(tr "\\0" " " </proc/1/cmdline | cut -d" " -f1)\'',
        );
        assert.equal(byName.code, 0, byName.stderr);
        assert.equal(byName.stdout.trim(), 'vol-1 rank=1 pwd=/work/data /run/podman-init');
        const byAddr = sh(state, 'vol', 0, `ssh ${addr2} 'echo $(hostname) $(cat ups)' </dev/null`);
        assert.equal(byAddr.code, 0, byAddr.stderr);
        assert.equal(byAddr.stdout.trim(), 'vol-2 up seen by vol-0 in /work/data');
        t.diagnostic(`two plain ssh round trips: ${Date.now() - t0} ms`);

        // Failover: the container of rank 1 killed by SIGKILL; reported as the signal, restarted.
        const cname = containersIn(state).find((n) => n.endsWith('-r1')) ?? '';
        t0 = Date.now();
        podman(state, ['kill', '--signal', 'KILL', cname]);
        const after = await until('rank 1 restarted', () => {
          const x = ps(state, 'vol');
          return x?.group?.ready && (x.ranks[1]?.restarts ?? 0) === 1 && x.ranks[1]?.status === 'running'
            ? x
            : undefined;
        });
        t.diagnostic(`kill → group ready again: ${Date.now() - t0} ms`);
        assert.match(after.restart?.history[0]?.trigger ?? '', /rank 1 killed by SIGKILL/);
        const text = cli(state, ['ps']).stdout;
        assert.match(text, /rank 1 killed by SIGKILL → restart-rank \[1\]/);
        assert.equal(sh(state, 'vol', 1, 'cat ups').stdout, seen, 'the restarted rank has the volume');

        // down: the data volume persists; nothing of the containers stays.
        assert.equal(cli(state, ['down', 'vol']).code, 0);
        assert.deepEqual(containersIn(state), []);
        assert.deepEqual(podmanLeftovers(state, fwd), []);
        assert.equal(readFileSync(join(data, 'ups'), 'utf8'), seen);
        const again = cli(state, ['up', '-d', file], 300_000);
        assert.equal(again.code, 0, again.stderr);
        const twice = await until('the second up to be written', () => {
          const r = sh(state, 'vol', 2, 'cat ups');
          return r.stdout.split('\n').length === 3 ? r.stdout : undefined;
        });
        assert.equal(twice, `${seen}${seen}`);
        assert.equal(cli(state, ['down', '--volumes', 'vol']).code, 0);
        assert.equal(existsSync(data), false, 'down --volumes removes it');
        assert.deepEqual(podmanLeftovers(state, fwd), []);
      });

      await t.test("seed 000's vLLM example runs its stand-ins in the image; cwd from the data mount", () => {
        const text = readFileSync(join(ROOT_DIR, 'examples', 'seed-000-vllm.yaml'), 'utf8')
          .replace(/\n {4}image:\n {6}uri: >-\n {8}[^\n]*/, `\n    image:\n      uri: ${img.name}`)
          .replace(
            '    env:\n',
            '    env:\n      - STANDIN_RECORD_DIR=/home/vllm/records\n      - STANDIN_LIFETIME=4\n',
          );
        assert.match(text, /uri: localhost\/multinode-test\/standins:1\n/);
        const file = join(state, 'seed-vllm.yaml');
        writeFileSync(file, text);
        const up = cli(state, ['up', file], 300_000);
        assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
        const recs = records(join(state, 'volumes', 'data', 'vllm', 'records'));
        const vllm = recs.filter((r) => r['prog'] === 'vllm');
        assert.deepEqual(vllm.map((r) => r['hostname']).sort(), ['vllm-0', 'vllm-1']);
        for (const r of vllm) {
          assert.equal(r['cwd'], '/home/vllm');
          const argv = r['argv'] as string[];
          assert.equal(argv[0], 'serve');
        }
        assert.ok(
          vllm.some((r) => (r['argv'] as string[]).includes('--headless')),
          'rank 1 over ssh',
        );
        assert.equal(cli(state, ['down', '--volumes', 'vllm']).code, 0);
        assert.equal(existsSync(join(state, 'volumes', 'data', 'vllm')), false);
      });

      await t.test("seed 000's MPI example runs its inference_server stand-in in the image", () => {
        const text = readFileSync(join(ROOT_DIR, 'examples', 'seed-000-mpi-inference.yaml'), 'utf8')
          .replace(/\n {6}uri: [^\n]*/, `\n      uri: ${img.name}`)
          // Where the probe writes what rank 0 observes (the example has no volume of its own).
          .replace(
            '    script:',
            '    env:\n      - CONF_OUT=/records\n    mounts:\n      data:\n        location: /records\n    persist: true\n    script:',
          );
        const file = join(state, 'seed-mpi.yaml');
        writeFileSync(file, text);
        const up = cli(state, ['up', file], 300_000);
        assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
        const recs = records(join(state, 'volumes', 'data', 'distributed-inference'));
        assert.equal(recs.length, 1);
        const r = recs[0] ?? {};
        assert.equal(r['tag'], 'inference-server');
        assert.equal(r['hostname'], 'distributed-inference-0');
        const env = r['env'] as Record<string, string>;
        assert.equal(env['MULTINODE_NUM_NODES'], '4');
        assert.deepEqual(Object.values(r['resolves'] as Record<string, boolean>), [true, true, true, true]);
        assert.equal(cli(state, ['down', '--volumes', 'distributed-inference']).code, 0);
      });

      assert.deepEqual(containersIn(state), []);
      assert.equal(cli(state, ['cluster', 'delete', 'cs']).code, 0);
      assert.deepEqual(
        snapshot(
          state,
          hashesFor(
            state,
            ['cs'],
            [
              ['cs', 'lead'],
              ['cs', 'ar'],
              ['cs', 'vol'],
              ['cs', 'vllm'],
              ['cs', 'distributed-inference'],
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
