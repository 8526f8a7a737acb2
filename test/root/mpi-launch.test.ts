/**
 * MPI through the SSH layer on a 3-node namespace fixture: rank 0 types `mpirun -np 6 ./allreduce` (OpenMPI,
 * C and mpi4py) or `mpiexec -n 3 ./allreduce` (MPICH hydra) with no flags at all — the launcher, hostfile
 * and interfaces come from the rank environment the planner sets for `implementation: ompi|mpich` — plus
 * the GASNet ssh-spawner contract. Programs are compiled in set-up with `mpicc.openmpi` / `mpicc.mpich`.
 *
 * What each test proves: OpenMPI (ob1/tcp) really moves the allreduce over the emulated cluster network,
 * checked on the nodes' interface counters. Debian's MPICH is ch4:ucx, and UCX decides "same machine" by
 * boot id, so between emulated nodes it uses shared memory/CMA, not the network (LAB-NOTES §5); forcing
 * TCP can hang in MPI_Finalize. The MPICH test therefore proves the launch across hosts (3 distinct host
 * names, correct result) and NOT the data path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createCluster, rootSkipReason, run, startSshService, type RunResult } from './ssh-fixture.js';

const PROGRAMS = resolve(import.meta.dirname, '..', 'programs');
const NEEDS = [
  '/usr/bin/mpirun.openmpi',
  '/usr/bin/mpicc.openmpi',
  '/usr/bin/mpiexec.mpich',
  '/usr/bin/mpicc.mpich',
  '/usr/bin/python3',
];
const skip = rootSkipReason(NEEDS);

function hostsOf(r: RunResult): string[] {
  return [...r.stdout.matchAll(/^RANK (\d+) HOST (\S+)$/gm)].map((m) => m[2] ?? '');
}

test(
  'MPI launch through multinode-ssh on a 3-node namespace fixture',
  { skip: skip ?? false, timeout: 170_000 },
  async (t) => {
    const c = await createCluster({
      nodes: 3,
      net: '198.18.250',
      hostnames: ['mp-0', 'mp-1', 'mp-2'],
      tag: 'mp',
    });
    try {
      const bin = join(c.dir, 'bin');
      const files = join(c.dir, 'files');
      mkdirSync(bin);
      mkdirSync(files);
      for (const [cc, out] of [
        ['/usr/bin/mpicc.openmpi', 'allreduce'],
        ['/usr/bin/mpicc.mpich', 'allreduce.mpich'],
      ] as const) {
        const r = await run([cc, '-O2', '-o', join(bin, out), join(PROGRAMS, 'allreduce.c')]);
        assert.equal(r.code, 0, `${cc}: ${r.stderr}`);
      }
      writeFileSync(join(files, 'hostfile.ompi'), c.nodes.map((n) => `${n.hostname} slots=2\n`).join(''));
      writeFileSync(join(files, 'hostfile.mpich'), c.nodes.map((n) => `${n.hostname}:1\n`).join(''));
      const wrapper = join(c.dir, 'services', 'mp', 'bin', 'multinode-ssh');
      const hostlist = c.nodes.map((n) => n.hostname);
      // What the planner puts in every rank's environment for each implementation (one service here carries
      // all families so one fixture serves every test; each launcher reads only its own).
      const env = (rank: number): Record<string, string> => ({
        PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        MULTINODE_SERVICE: 'mp',
        MULTINODE_NODE_RANK: String(rank),
        MULTINODE_NUM_NODES: '3',
        MULTINODE_HOSTLIST_NOSLOTS: hostlist.join(','),
        MULTINODE_SSH_WRAPPER: wrapper,
        // implementation: ompi
        OMPI_MCA_plm_rsh_agent: wrapper,
        OMPI_MCA_orte_default_hostfile: join(files, 'hostfile.ompi'),
        OMPI_MCA_btl_tcp_if_include: c.subnet,
        OMPI_MCA_oob_tcp_if_include: c.subnet,
        OMPI_MCA_orte_keep_fqdn_hostnames: '1',
        OMPI_ALLOW_RUN_AS_ROOT: '1',
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1',
        // implementation: mpich
        HYDRA_HOST_FILE: join(files, 'hostfile.mpich'),
        HYDRA_LAUNCHER: 'ssh',
        HYDRA_LAUNCHER_EXEC: wrapper,
        // implementation: gasnet
        GASNET_SPAWNFN: 'S',
        GASNET_SSH_SERVERS: hostlist.join(' '),
        GASNET_SSH_CMD: wrapper,
      });
      const svc = await startSshService(c, { serviceName: 'mp', cwd: bin, env: (n) => env(n.index) });
      assert.equal(svc.ssh.wrapperPath, wrapper);
      const onRank0 = (script: string): Promise<RunResult> =>
        c.run(0, ['/bin/sh', '-c', `cd ${bin} && ${script}`], { env: env(0), timeoutMs: 60_000 });

      await t.test(
        'ompi: `mpirun.openmpi -np 6 ./allreduce` spreads over 3 hosts and uses the cluster network',
        async () => {
          const before = await Promise.all(c.nodes.map((n) => c.rxBytes(n.index)));
          const r = await onRank0('mpirun.openmpi -np 6 ./allreduce');
          const after = await Promise.all(c.nodes.map((n) => c.rxBytes(n.index)));
          assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
          assert.match(r.stdout, /^RESULT ok sum=21 ranks=6$/m);
          const hosts = hostsOf(r);
          assert.equal(hosts.length, 6);
          assert.deepEqual([...new Set(hosts)].sort(), hostlist);
          const grownMiB = after.map((a, i) => (a - (before[i] ?? 0)) / 2 ** 20);
          t.diagnostic(
            `ompi C: ${r.ms.toFixed(0)} ms; eth0 rx growth MiB per node: ${grownMiB.map((g) => g.toFixed(1)).join(', ')}`,
          );
          for (const g of grownMiB)
            assert.ok(g > 8, `each node received > 8 MiB over the cluster network (got ${g.toFixed(1)})`);
        },
      );

      await t.test('ompi: the same with mpi4py (/usr/bin/python3)', async () => {
        const before = await c.rxBytes(1);
        const r = await onRank0(`mpirun.openmpi -np 6 /usr/bin/python3 ${join(PROGRAMS, 'allreduce.py')}`);
        const grown = ((await c.rxBytes(1)) - before) / 2 ** 20;
        assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /^RESULT ok sum=21 ranks=6$/m);
        assert.deepEqual([...new Set(hostsOf(r))].sort(), hostlist);
        t.diagnostic(`mpi4py: ${r.ms.toFixed(0)} ms; node 1 rx growth ${grown.toFixed(1)} MiB`);
        assert.ok(grown > 8);
      });

      await t.test(
        'mpich: `mpiexec.mpich -n 3 ./allreduce.mpich` launches across the 3 hosts (launch only, see header)',
        async () => {
          const before = await c.rxBytes(1);
          const r = await onRank0('mpiexec.mpich -n 3 ./allreduce.mpich');
          const grown = ((await c.rxBytes(1)) - before) / 2 ** 20;
          assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
          assert.match(r.stdout, /^RESULT ok sum=6 ranks=3$/m);
          assert.deepEqual([...new Set(hostsOf(r))].sort(), hostlist);
          // Not asserted: UCX moves the data through shared memory between emulated nodes.
          t.diagnostic(
            `mpich: ${r.ms.toFixed(0)} ms; node 1 rx growth ${grown.toFixed(1)} MiB (UCX shm/CMA, not the network)`,
          );
        },
      );

      await t.test('gasnet: the ssh-spawner environment reaches every host through the wrapper', async () => {
        const r = await onRank0(join(PROGRAMS, 'gasnet-contract.sh'));
        assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
        assert.equal(
          r.stdout,
          c.nodes.map((n) => `GASNET ${n.hostname} ${n.hostname} ${n.index}\n`).join(''),
        );
      });

      await svc.ssh.cleanup();
    } finally {
      await c.teardown();
    }
  },
);
