/**
 * What starting one process "on a node" costs (run as root: `node --import tsx bench/node-exec.ts [n=64]
 * [rounds=5]`): the node-exec prefix (`src/targets/local/node-exec.ts`) of the one-Perl-process way against
 * the nsenter / unshare / sh / mount(8) chain it replaced (still the fallback), each starting n `/bin/true`
 * at once (as `up` starts its ranks and sshds) until all have exited; interleaved rounds, medians, and the
 * ratio new / old. Two cases: a node command (no volume mount script, no cwd) and a rank of an ssh service
 * (a mount script binding /etc/ssh/ssh_config read-only, as every such rank and sshd sources, and a cwd).
 * Also the same n started one after another (latency, without the machine's two cores shared by n), the
 * baseline of `/bin/true` started bare (what spawning costs with no prefix: the prefix's own cost is the
 * difference), the CPU time each start costs (user + system of all its processes: what n starts at once
 * share the machine's cores by), and the processes each start execs (strace -f -e trace=execve, the command
 * included). One network namespace, one persistent UTS namespace and an etc directory of its own, in a temp
 * dir removed afterwards.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from './stats.js';
import { etcFstab, nodeExecArgv } from '../src/targets/local/node-exec.js';
import type { NodeTarget } from '../src/targets/local/node-exec.js';
import { rankMountScript } from '../src/targets/local/volumes.js';

const N = Number(process.argv[2] ?? 64);
const ROUNDS = Number(process.argv[3] ?? 5);
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const must = (argv: readonly string[]): void => {
  const r = spawnSync(argv[0] ?? '', argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
};

const dir = mkdtempSync(join(tmpdir(), 'mn-nx-'));
const netns = `mnx-${process.pid}`;
const utsDir = join(dir, 'uts');
const etc = join(dir, 'etc');
const work = join(dir, 'work');
let utsMounted = false;
let netnsMade = false;
try {
  mkdirSync(utsDir);
  mkdirSync(etc);
  mkdirSync(work);
  mkdirSync(join(dir, 'mnt'), { mode: 0o700 });
  must(['ip', 'netns', 'add', netns]);
  netnsMade = true;
  must(['mount', '--bind', utsDir, utsDir]);
  utsMounted = true;
  must(['mount', '--make-private', utsDir]);
  writeFileSync(join(utsDir, 'n'), '');
  must(['unshare', `--uts=${join(utsDir, 'n')}`, 'hostname', 'bench-n']);
  writeFileSync(join(etc, 'hosts'), '127.0.0.1 localhost\n');
  writeFileSync(join(etc, 'resolv.conf'), 'options ndots:0\n');
  writeFileSync(join(etc, 'hostname'), 'bench-n\n');
  writeFileSync(join(etc, 'fstab'), etcFstab(etc, ['hosts', 'resolv.conf', 'hostname']) ?? '');
  writeFileSync(
    join(dir, 'mounts.sh'),
    rankMountScript(
      [{ source: join(etc, 'hosts'), target: '/etc/ssh/ssh_config', readOnly: true }],
      join(dir, 'mnt'),
    ),
  );
  const node: NodeTarget = {
    clusterName: 'bench',
    node: 'n',
    rankNetns: netns,
    uts: join(utsDir, 'n'),
    etcDir: etc,
  };
  const rank: NodeTarget = { ...node, mounts: join(dir, 'mounts.sh'), cwd: work };
  const cases = [
    { name: 'node command', target: node },
    { name: 'ssh-service rank (mount script, cwd)', target: rank },
  ];
  const ways = [
    { name: 'old (nsenter chain)', arch: 's390x' },
    { name: 'new (one Perl)', arch: process.arch },
  ];

  const startAll = (argv: readonly string[]): Promise<number> => {
    const t = performance.now();
    return Promise.all(
      Array.from(
        { length: N },
        () =>
          new Promise<void>((res, rej) => {
            const p = spawn(argv[0] ?? '', argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
            let err = '';
            p.stderr.on('data', (d: Buffer) => (err += d.toString()));
            p.on('exit', (code) => (code === 0 ? res() : rej(new Error(`exit ${code}: ${err}`))));
          }),
      ),
    ).then(() => performance.now() - t);
  };
  // CPU time of waited-for children (user + system, /proc/self/stat cutime + cstime), in ms: a sum over many
  // starts is exact even though each start is shorter than a clock tick.
  const tick = 1000 / Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);
  const childCpu = (): number => {
    const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(f[13]) + Number(f[14])) * tick;
  };
  const cpu: number[] = [];
  const startOne = (argv: readonly string[], i: number): number => {
    const c = childCpu();
    const t = performance.now();
    const r = spawnSync(argv[0] ?? '', argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr.toString()}`);
    const ms = performance.now() - t;
    cpu[i] = (cpu[i] ?? 0) + childCpu() - c;
    return ms;
  };
  const execs = (argv: readonly string[]): number => {
    const out = join(dir, 'strace.txt');
    must(['strace', '-f', '-qq', '-e', 'trace=execve', '-e', 'signal=none', '-o', out, ...argv]);
    return readFileSync(out, 'utf8')
      .split('\n')
      .filter((l) => /execve\(/.test(l) && / = 0$/.test(l)).length;
  };

  console.log(`node-exec: ${N} × /bin/true at once per sample, ${ROUNDS} rounds; load ${load()}`);
  for (const c of cases) {
    cpu.length = 0;
    const argvs = [...ways.map((w) => [...nodeExecArgv(c.target, w.arch), '/bin/true']), ['/bin/true']];
    for (const a of argvs) await startAll(a); // warm-up (and the old way's fstab)
    const par: number[][] = argvs.map(() => []);
    const seq: number[][] = argvs.map(() => []);
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? [0, 1, 2] : [2, 1, 0];
      for (const i of order) par[i]?.push((await startAll(argvs[i] ?? [])) / N);
      // one after another, the ways interleaved start by start (the load of a shared machine drifts)
      for (let k = 0; k < N; k++) for (const i of order) seq[i]?.push(startOne(argvs[i] ?? [], i));
    }
    const [pOld, pNew, pBare] = par.map((m) => median(m));
    const [sOld, sNew, sBare] = seq.map((m) => median(m));
    const counts = argvs.map((a) => execs(a));
    const f = (x: number | undefined): string => (x ?? NaN).toFixed(2).padStart(6);
    console.log(
      `\n${c.name}: ms per start, medians (at once | one after another), CPU ms per start, execs per start`,
    );
    [...ways.map((w) => w.name), 'bare /bin/true (baseline)'].forEach((name, i) =>
      console.log(
        `  ${name.padEnd(26)} ${f(par[i] && median(par[i]))} | ${f(seq[i] && median(seq[i]))}   ${f((cpu[i] ?? NaN) / (seq[i]?.length ?? NaN))}   ${counts[i]}`,
      ),
    );
    const over = (a?: number, b?: number): number => (a ?? NaN) - (b ?? NaN);
    console.log(
      `  prefix's own cost (minus baseline): old ${f(over(pOld, pBare))} | ${f(over(sOld, sBare))}, new ${f(over(pNew, pBare))} | ${f(over(sNew, sBare))}; ratio new/old ${(over(pNew, pBare) / over(pOld, pBare)).toFixed(2)} | ${(over(sNew, sBare) / over(sOld, sBare)).toFixed(2)}; CPU new/old ${((cpu[1] ?? NaN) / (cpu[0] ?? NaN)).toFixed(2)}; load ${load()}`,
    );
  }
} finally {
  if (utsMounted) spawnSync('umount', ['-l', utsDir]);
  if (netnsMade) spawnSync('ip', ['netns', 'del', netns]);
  rmSync(dir, { recursive: true, force: true });
}
