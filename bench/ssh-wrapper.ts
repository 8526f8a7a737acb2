/**
 * SSH launch benchmark on a namespace fixture (root): one sshd per node for the service (our config) and,
 * next to it, a "hand-written" sshd per node on port 2223 with Debian defaults where it matters (default
 * key exchange, root's real HOME so its ~/.bashrc runs). Compares, interleaved round by round:
 *  - one remote command: the wrapper with shared connections, the wrapper with fresh connections
 *    (MULTINODE_SSH_MUX=0), and plain `ssh -p 2223 host true` with default options;
 *  - an N-node `mpirun -np N hostname` typed with no flags (wrapper + planned env) against a hand-written
 *    `mpirun --hostfile … --mca plm_rsh_agent "ssh -p 2223 …"`.
 * Usage: node --import tsx bench/ssh-wrapper.ts [nodes=4] [rounds=7]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitForSshd } from '../src/targets/local/ssh/sshd.js';
import { createCluster, rootSkipReason, startSshService } from '../test/root/ssh-fixture.js';

const nodes = Number(process.argv[2] ?? 4);
const rounds = Number(process.argv[3] ?? 7);
const CALLS = 10;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
}

async function main(): Promise<void> {
  const skip = rootSkipReason(['/usr/bin/mpirun.openmpi']);
  if (skip !== undefined) {
    console.log(`ssh-wrapper bench skipped: ${skip}`);
    return;
  }
  const c = await createCluster({
    nodes,
    net: '198.18.251',
    hostnames: Array.from({ length: nodes }, (_, i) => `bn-${i}`),
    tag: 'bn',
  });
  try {
    const hostfile = join(c.dir, 'hostfile');
    writeFileSync(hostfile, c.nodes.map((n) => `${n.hostname} slots=1\n`).join(''));
    const wrapperPath = join(c.dir, 'services', 'bn', 'bin', 'multinode-ssh');
    const baseEnv = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root' };
    const rankEnv = {
      ...baseEnv,
      MULTINODE_SERVICE: 'bn',
      OMPI_MCA_plm_rsh_agent: wrapperPath,
      OMPI_MCA_orte_default_hostfile: hostfile,
      OMPI_MCA_btl_tcp_if_include: c.subnet,
      OMPI_MCA_oob_tcp_if_include: c.subnet,
      OMPI_MCA_orte_keep_fqdn_hostnames: '1',
      OMPI_ALLOW_RUN_AS_ROOT: '1',
      OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1',
    };
    const svc = await startSshService(c, { serviceName: 'bn', cwd: '/tmp', env: () => rankEnv });
    const m = svc.ssh.material;

    // The hand-written baseline: same keys, stock-ish sshd on 2223 (default kex, real HOME → root's .bashrc).
    for (const n of c.nodes) {
      const cfg = join(svc.ssh.dir, `sshd_config.plain.${n.index}`);
      const text = readFileSync(svc.ssh.sshdConfigPath(n.index), 'utf8');
      writeFileSync(
        cfg,
        text
          .split('\n')
          .filter((l) => !l.startsWith('KexAlgorithms') && !l.startsWith('SetEnv'))
          .map((l) => (l === 'Port 2222' ? 'Port 2223' : l.startsWith('PidFile') ? `${l}.plain` : l))
          .join('\n'),
      );
      c.start(
        n.index,
        ['/usr/sbin/sshd', '-D', '-e', '-f', cfg],
        join(svc.serviceDir, `sshd-plain-${n.index}.log`),
      );
    }
    await Promise.all(c.nodes.map((n) => waitForSshd(n.address, 2223, { execPrefix: n.exec })));
    const plainSsh = `ssh -p 2223 -i ${m.userKey} -o UserKnownHostsFile=${svc.ssh.dir}/known_hosts.plain -o BatchMode=yes`;
    writeFileSync(
      join(svc.ssh.dir, 'known_hosts.plain'),
      readFileSync(m.knownHosts, 'utf8').replaceAll(':2222', ':2223'),
    );

    const target = c.nodes[1]?.hostname ?? 'bn-1';
    const perCall = (cmd: string): string =>
      `for i in $(seq ${CALLS}); do s=$(date +%s%N); ${cmd} >/dev/null || exit 9; e=$(date +%s%N); echo $(( (e-s)/1000 )); done`;
    const latency: Record<string, string> = {
      'wrapper, shared connection': perCall(`${svc.ssh.wrapperPath} ${target} true`),
      'wrapper, fresh connection': perCall(`MULTINODE_SSH_MUX=0 ${svc.ssh.wrapperPath} ${target} true`),
      'plain ssh, default options': perCall(`${plainSsh} ${target} true`),
    };
    const np = nodes;
    const launch: Record<string, string> = {
      [`mpirun -np ${np} hostname (wrapper, env only)`]: `mpirun.openmpi -np ${np} hostname`,
      [`mpirun -np ${np} hostname (wrapper, fresh conns)`]: `MULTINODE_SSH_MUX=0 mpirun.openmpi -np ${np} hostname`,
      [`mpirun -np ${np} hand-written plain ssh`]: `env -u OMPI_MCA_plm_rsh_agent -u OMPI_MCA_orte_default_hostfile mpirun.openmpi --allow-run-as-root --hostfile ${hostfile} -np ${np} --mca plm_rsh_agent "${plainSsh}" hostname`,
    };
    const lat: Record<string, number[]> = Object.fromEntries(Object.keys(latency).map((k) => [k, []]));
    const mpi: Record<string, number[]> = Object.fromEntries(Object.keys(launch).map((k) => [k, []]));
    // Warm-up: one shared connection per caller, first mpirun.
    await c.run(0, [svc.ssh.wrapperPath, target, 'true'], { env: rankEnv });
    for (let r = 0; r < rounds; r++) {
      for (const [name, script] of Object.entries(latency)) {
        const out = await c.run(0, ['/bin/sh', '-c', script], { env: rankEnv });
        if (out.code !== 0) throw new Error(`${name}: ${out.stderr}`);
        lat[name]?.push(
          ...out.stdout
            .trim()
            .split('\n')
            .map((us) => Number(us) / 1000),
        );
      }
      for (const [name, script] of Object.entries(launch)) {
        const out = await c.run(
          0,
          [
            '/bin/sh',
            '-c',
            `s=$(date +%s%N); ${script} > /tmp/.mn-bench-$$ || exit 9; e=$(date +%s%N); n=$(sort -u /tmp/.mn-bench-$$ | wc -l); rm -f /tmp/.mn-bench-$$; echo $(( (e-s)/1000 )) $n`,
          ],
          {
            env: rankEnv,
            timeoutMs: 120_000,
          },
        );
        if (out.code !== 0) throw new Error(`${name}: ${out.stdout}${out.stderr}`);
        const [us, hosts] = out.stdout.trim().split(' ').map(Number);
        if (hosts !== nodes) throw new Error(`${name}: ran on ${hosts} hosts, want ${nodes}`);
        mpi[name]?.push((us ?? NaN) / 1000);
      }
    }
    const show = (title: string, data: Record<string, number[]>, baseline: string): void => {
      const base = median(data[baseline] ?? []);
      console.log(`\n${title}`);
      console.log(
        `${'case'.padEnd(48)} ${'median ms'.padStart(10)} ${'min ms'.padStart(8)} ${'n'.padStart(4)} ${'vs baseline'.padStart(12)}`,
      );
      for (const [name, xs] of Object.entries(data)) {
        const med = median(xs);
        console.log(
          `${name.padEnd(48)} ${med.toFixed(1).padStart(10)} ${Math.min(...xs)
            .toFixed(1)
            .padStart(8)} ${String(xs.length).padStart(4)} ${`${(med / base).toFixed(3)}x`.padStart(12)}`,
        );
      }
    };
    console.log(
      `ssh-wrapper bench: ${nodes} emulated nodes, ${rounds} interleaved rounds, ${CALLS} calls per latency round`,
    );
    show('One remote command from rank 0 to rank 1 (`true`)', lat, 'plain ssh, default options');
    show(
      `Launch: mpirun over ${nodes} nodes, one process per node`,
      mpi,
      `mpirun -np ${np} hand-written plain ssh`,
    );
    await svc.ssh.cleanup();
  } finally {
    await c.teardown();
  }
}

await main();
