/**
 * A real Slurm cluster on emulated nodes: one `munged` in the root namespace (its own key and socket; the
 * socket is a file, so every node namespace reaches it), `slurmctld` on the controller node and one `slurmd`
 * per node, each started through that node's exec prefix (its netns + UTS + fresh sysfs with cgroups).
 * Everything lives in `stateDir`: configs, key, spool/log/pid files (`%n` keeps nodes apart on the shared
 * file system), a per-node TmpFS (mpi/pmix needs it), and `slurm-cluster.json`. No system service is
 * touched; daemons are stopped by the PIDs in their pid files, never by name.
 *
 *   startSlurmCluster(opts: StartSlurmClusterOptions, spawner?): Promise<SlurmClusterInfo>
 *     opts = { name, stateDir, nodes: {name, address, execArgv}[], controller: {name, address, execArgv},
 *              cpus, memoryMb, gpus?, gpuModel? }          → { slurmConf, clientArgv, … }
 *     Waits until every node is idle (`sinfo`); on failure stops what it started and removes stateDir.
 *   stopSlurmCluster(stateDir, spawner?): Promise<{ existed: boolean }>
 *     Cancels remaining jobs, stops slurmd/slurmctld/munged by PID (TERM, then KILL), removes stateDir.
 *   readSlurmCluster(stateDir): Promise<SlurmClusterInfo | undefined>
 *
 * `clientArgv` is the prefix that runs a Slurm client (sbatch, squeue, scontrol, srun, scancel) against
 * this cluster: the controller's exec prefix plus `env SLURM_CONF=…`.
 *
 * Nodes advertise `cpus`/`memoryMb` (and `gpus` as `Gres=gpu:G` without device files, the model as a
 * feature) from the config (`SlurmdParameters=config_overrides`), so specs sized for GPU machines can be
 * scheduled here; nothing enforces them (proctrack/linuxproc, task/none, no accounting).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { chmod, chown, cp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { MultinodeError } from '../../api/issues.js';
import { inShortParent, releaseShortParent, shortPrivateParent } from '../private-dir.js';
import { checkedName } from '../state-root.js';
import { SLURM_TARGET } from '../../api/names.js';
import { featureName } from './template.js';
import type { ProcessSpawner } from '../ports.js';
import { realSpawner } from '../ports.js';

export interface SlurmNodeSpec {
  readonly name: string;
  readonly address: string;
  /** argv prefix that runs a command on this node. */
  readonly execArgv: readonly string[];
}

export interface StartSlurmClusterOptions {
  /** Slurm ClusterName (lower-cased, non-alphanumerics dropped). */
  readonly name: string;
  /** Directory owned by this cluster; created, and removed on stop. */
  readonly stateDir: string;
  readonly nodes: readonly SlurmNodeSpec[];
  readonly controller: SlurmNodeSpec;
  readonly cpus: number;
  readonly memoryMb: number;
  readonly gpus?: number;
  readonly gpuModel?: string;
  /** How long to wait for every node to be idle. Default 30 s. */
  readonly readyTimeoutMs?: number;
}

export interface SlurmClusterInfo {
  readonly name: string;
  readonly stateDir: string;
  readonly slurmConf: string;
  /** Prefix that runs a Slurm client command against this cluster. */
  readonly clientArgv: readonly string[];
  readonly controller: string;
  readonly nodes: readonly string[];
  readonly mungeSocket: string;
}

const INFO_FILE = 'slurm-cluster.json';
const MUNGE_USER = 'munge';

/**
 * munged runs as the `munge` user and wants the way to its socket reachable by everyone, which the
 * private (0700) state directory is not: its key and socket live in `munge-<hash>` under the short private
 * parent instead (`/run/multinode` for root, writable by root alone: ../private-dir.ts) (root 0755; `etc`
 * munge 0700 for the key, `run` munge 0755 for socket and pid).
 */
export function slurmMungeDir(stateDir: string): string {
  return join(
    shortPrivateParent(),
    `munge-${createHash('sha256').update(resolve(stateDir)).digest('hex').slice(0, 12)}`,
  );
}

function paths(stateDir: string) {
  const mungeDir = slurmMungeDir(stateDir);
  return {
    conf: join(stateDir, 'slurm.conf'),
    gres: join(stateDir, 'gres.conf'),
    mpi: join(stateDir, 'mpi.conf'),
    cgroup: join(stateDir, 'cgroup.conf'),
    mungeDir,
    munge: join(mungeDir, 'etc'),
    mungeRun: join(mungeDir, 'run'),
    mungeKey: join(mungeDir, 'etc', 'munge.key'),
    mungeSock: join(mungeDir, 'run', 'munge.sock'),
    mungePid: join(mungeDir, 'run', 'munged.pid'),
    spool: join(stateDir, 'spool'),
    run: join(stateDir, 'run'),
    log: join(stateDir, 'log'),
    tmp: join(stateDir, 'tmp'),
    state: join(stateDir, 'state'),
    dev: join(stateDir, 'dev'),
    ctldPid: join(stateDir, 'run', 'slurmctld.pid'),
    slurmdPid: (node: string) => join(stateDir, 'run', `slurmd-${checkedName('node', node)}.pid`),
    info: join(stateDir, INFO_FILE),
  };
}

function clusterName(name: string): string {
  const n = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  return (n || 'multinode').slice(0, 40);
}

/** slurm.conf for the emulated cluster (pure; exported for tests and docs). */
export function buildSlurmConf(opts: StartSlurmClusterOptions): string {
  const p = paths(opts.stateDir);
  const gpus = opts.gpus ?? 0;
  const lines = [
    '# Written by multinode (cluster create --slurm). Own directories; no system service involved.',
    `ClusterName=${clusterName(opts.name)}`,
    `SlurmctldHost=${opts.controller.name}(${opts.controller.address})`,
    'SlurmUser=root',
    'SlurmdUser=root',
    'SlurmctldPort=6817',
    'SlurmdPort=6818',
    'AuthType=auth/munge',
    'CredType=cred/munge',
    `AuthInfo=socket=${p.mungeSock}`,
    `StateSaveLocation=${p.state}`,
    `SlurmdSpoolDir=${p.spool}/%n`,
    `SlurmctldPidFile=${p.ctldPid}`,
    `SlurmdPidFile=${p.run}/slurmd-%n.pid`,
    `SlurmctldLogFile=${p.log}/slurmctld.log`,
    `SlurmdLogFile=${p.log}/slurmd-%n.log`,
    `TmpFS=${p.tmp}/%n`,
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'JobAcctGatherType=jobacct_gather/none',
    'AccountingStorageType=accounting_storage/none',
    'JobCompType=jobcomp/none',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_Core',
    'SlurmdParameters=config_overrides',
    'ReturnToService=2',
    'MpiDefault=none',
    // Schedule a batch job when it is submitted (the default batches them on a 3 s cadence).
    'SchedulerParameters=batch_sched_delay=0,sched_min_interval=0',
    'MinJobAge=600',
    'KillWait=5',
    'InactiveLimit=0',
    'SlurmctldDebug=info',
    'SlurmdDebug=info',
  ];
  if (gpus > 0) lines.push('GresTypes=gpu');
  const feature = opts.gpuModel !== undefined && gpus > 0 ? ` Feature=${featureName(opts.gpuModel)}` : '';
  const gres = gpus > 0 ? ` Gres=gpu:${gpus}` : '';
  for (const n of opts.nodes) {
    lines.push(
      `NodeName=${n.name} NodeAddr=${n.address} NodeHostname=${n.name} CPUs=${opts.cpus} RealMemory=${opts.memoryMb}${gres}${feature} State=UNKNOWN`,
    );
  }
  lines.push(
    `PartitionName=${SLURM_TARGET.partition} Nodes=${opts.nodes.map((n) => n.name).join(',')} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES`,
    '',
  );
  return lines.join('\n');
}

/**
 * mpi.conf (read from slurm.conf's directory). `PMIxCollFence=tree`: one fence algorithm for MPI_Init's modex
 * and barrier. With Slurm's default ("mixed": ring for data, tree for the barrier) about 1 in 46
 * `srun --mpi=pmix` OpenMPI 4.1.4 steps segfault in MPI_Init (docs/guides/slurm.md, "OpenMPI direct launch").
 */
export const SLURM_MPI_CONF = 'PMIxCollFence=tree\n';

/** Starts a daemon that backgrounds itself; resolves when the launching process exits. */
function startDaemon(argv: readonly string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv;
    if (cmd === undefined) {
      reject(new MultinodeError('slurm.start', `empty command for ${what}`));
      return;
    }
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => {
      if (err.length < 4000) err += b.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new MultinodeError('slurm.start', `cannot start ${what}: ${e.message}`, { cause: e }));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new MultinodeError('slurm.start', `${what} failed to start (exit ${code}): ${err.trim()}`));
    });
  });
}

async function readPid(file: string): Promise<number | undefined> {
  try {
    const n = Number.parseInt((await readFile(file, 'utf8')).trim(), 10);
    return Number.isInteger(n) && n > 1 ? n : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM, wait up to `graceMs`, then SIGKILL. Gone already counts as success. */
async function stopPid(pid: number, graceMs = 5000): Promise<void> {
  if (!alive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const until = Date.now() + graceMs;
  while (Date.now() < until) {
    if (!alive(pid)) return;
    await sleep(50);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

async function waitForPidFile(
  file: string,
  what: string,
  logHint: string,
  timeoutMs = 15_000,
): Promise<number> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const pid = await readPid(file);
    if (pid !== undefined && alive(pid)) return pid;
    await sleep(50);
  }
  throw new MultinodeError('slurm.start', `${what} did not come up (no live PID in ${file}); see ${logHint}`);
}

async function writeInfo(info: SlurmClusterInfo): Promise<void> {
  const file = paths(info.stateDir).info;
  await writeFile(`${file}.tmp`, `${JSON.stringify(info, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
}

export async function readSlurmCluster(stateDir: string): Promise<SlurmClusterInfo | undefined> {
  try {
    return JSON.parse(await readFile(paths(stateDir).info, 'utf8')) as SlurmClusterInfo;
  } catch {
    return undefined;
  }
}

export async function startSlurmCluster(
  opts: StartSlurmClusterOptions,
  spawner: ProcessSpawner = realSpawner,
): Promise<SlurmClusterInfo> {
  if (opts.nodes.length === 0)
    throw new MultinodeError('slurm.bad-input', 'a Slurm cluster needs at least one node');
  const p = paths(opts.stateDir);
  if (existsSync(p.info))
    throw new MultinodeError(
      'slurm.exists',
      `a Slurm cluster already runs from ${opts.stateDir}; stop it first`,
    );
  const info: SlurmClusterInfo = {
    name: clusterName(opts.name),
    stateDir: opts.stateDir,
    slurmConf: p.conf,
    clientArgv: [...opts.controller.execArgv, '/usr/bin/env', `SLURM_CONF=${p.conf}`],
    controller: opts.controller.name,
    nodes: opts.nodes.map((n) => n.name),
    mungeSocket: p.mungeSock,
  };
  for (const n of opts.nodes) checkedName('node', n.name);
  try {
    await mkdir(opts.stateDir, { recursive: true, mode: 0o700 });
    await freshMungeDir(p.mungeDir);
    for (const d of [p.munge, p.mungeRun, p.spool, p.run, p.log, p.tmp, p.state])
      await mkdir(d, { recursive: true });
    for (const n of opts.nodes) {
      await mkdir(join(p.tmp, n.name), { recursive: true, mode: 0o1777 });
      await mkdir(join(p.spool, n.name), { recursive: true });
    }
    const munge = await spawner.run(['id', '-u', MUNGE_USER], { check: false });
    const uid = Number.parseInt(munge.stdout.trim(), 10);
    const gidR = await spawner.run(['id', '-g', MUNGE_USER], { check: false });
    const gid = Number.parseInt(gidR.stdout.trim(), 10);
    if (!Number.isInteger(uid) || !Number.isInteger(gid))
      throw new MultinodeError(
        'slurm.no-munge',
        'user "munge" does not exist: install the Debian package munge',
      );
    await chown(p.munge, uid, gid);
    await chown(p.mungeRun, uid, gid);
    await chmod(p.munge, 0o700);
    await chmod(p.mungeRun, 0o755);
    await writeInfo(info);
    await writeFile(p.conf, buildSlurmConf(opts));
    await writeFile(p.mpi, SLURM_MPI_CONF);
    await writeFile(p.cgroup, 'CgroupPlugin=autodetect\nIgnoreSystemd=yes\n');
    if ((opts.gpus ?? 0) > 0) {
      // Stand-in device files: gres/gpu wants one file per GPU; nothing opens them (task/none).
      const lines = ['AutoDetect=off'];
      for (const n of opts.nodes) {
        const dev = join(p.dev, n.name);
        await mkdir(dev, { recursive: true });
        for (let g = 0; g < (opts.gpus ?? 0); g++) await writeFile(join(dev, `gpu${g}`), '');
        lines.push(`NodeName=${n.name} Name=gpu File=${dev}/gpu[0-${(opts.gpus ?? 1) - 1}]`);
      }
      await writeFile(p.gres, `${lines.join('\n')}\n`);
    }

    await spawner.run([
      'runuser',
      '-u',
      MUNGE_USER,
      '--',
      '/usr/sbin/mungekey',
      '--create',
      `--keyfile=${p.mungeKey}`,
    ]);
    await startDaemon(
      [
        'runuser',
        '-u',
        MUNGE_USER,
        '--',
        '/usr/sbin/munged',
        `--key-file=${p.mungeKey}`,
        `--socket=${p.mungeSock}`,
        `--pid-file=${p.mungePid}`,
        `--log-file=${join(p.munge, 'munged.log')}`,
        `--seed-file=${join(p.munge, 'munged.seed')}`,
      ],
      'munged',
    );
    await waitForPidFile(p.mungePid, 'munged', join(p.munge, 'munged.log'));

    const env = ['/usr/bin/env', `SLURM_CONF=${p.conf}`];
    await startDaemon([...opts.controller.execArgv, ...env, '/usr/sbin/slurmctld', '-i'], 'slurmctld');
    await waitForPidFile(p.ctldPid, 'slurmctld', join(p.log, 'slurmctld.log'));
    await Promise.all(
      opts.nodes.map((n) =>
        startDaemon([...n.execArgv, ...env, '/usr/sbin/slurmd', '-N', n.name], `slurmd on ${n.name}`),
      ),
    );
    for (const n of opts.nodes)
      await waitForPidFile(p.slurmdPid(n.name), `slurmd on ${n.name}`, join(p.log, `slurmd-${n.name}.log`));
    await waitIdle(info, opts.readyTimeoutMs ?? 30_000, spawner);
    return info;
  } catch (err) {
    // MULTINODE_SLURM_KEEP_FAILED=1 keeps configs and logs of a failed start for a post-mortem.
    const keep = process.env['MULTINODE_SLURM_KEEP_FAILED'] === '1';
    if (keep)
      await cp(join(opts.stateDir, 'log'), `${opts.stateDir}.failed-logs`, { recursive: true }).catch(
        () => undefined,
      );
    await stopSlurmCluster(opts.stateDir, spawner).catch(() => undefined);
    await rm(opts.stateDir, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

/**
 * Creates the munge directory afresh under the short private parent, which must be a real directory owned
 * by us and writable by nobody else (lstat: a symlink or a foreign directory is refused).
 */
async function freshMungeDir(dir: string): Promise<void> {
  await inShortParent(async () => {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { mode: 0o755 });
  });
  await chmod(dir, 0o755);
}

async function waitIdle(info: SlurmClusterInfo, timeoutMs: number, spawner: ProcessSpawner): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    const r = await spawner.run([...info.clientArgv, 'sinfo', '-h', '-N', '-o', '%N %t'], {
      check: false,
      timeoutMs: 10_000,
    });
    last = (r.stdout + r.stderr).trim();
    const states = new Map(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/))
        .filter((x) => x.length === 2)
        .map(([n, s]) => [n ?? '', s ?? '']),
    );
    if (r.code === 0 && info.nodes.every((n) => states.get(n) === 'idle')) return;
    await sleep(200);
  }
  throw new MultinodeError(
    'slurm.not-ready',
    `Slurm nodes did not become idle within ${timeoutMs / 1000} s (sinfo: ${last || 'no answer'}); logs in ${join(info.stateDir, 'log')}`,
  );
}

/** Stops everything `startSlurmCluster` started (by PID) and removes the state directory. Idempotent. */
export async function stopSlurmCluster(
  stateDir: string,
  spawner: ProcessSpawner = realSpawner,
): Promise<{ existed: boolean }> {
  const p = paths(stateDir);
  if (!existsSync(stateDir)) return { existed: false };
  const info = await readSlurmCluster(stateDir);
  const ctld = await readPid(p.ctldPid);
  if (info && ctld !== undefined && alive(ctld)) {
    // Cancel what still runs so no job step outlives its slurmd.
    const q = await spawner.run([...info.clientArgv, 'squeue', '-h', '-o', '%i'], {
      check: false,
      timeoutMs: 10_000,
    });
    const ids = q.stdout.split(/\s+/).filter((x) => /^\d+$/.test(x));
    if (ids.length > 0) {
      await spawner.run([...info.clientArgv, 'scancel', ...ids], { check: false, timeoutMs: 10_000 });
      const until = Date.now() + 8000;
      while (Date.now() < until) {
        const r = await spawner.run([...info.clientArgv, 'squeue', '-h', '-o', '%i'], {
          check: false,
          timeoutMs: 5000,
        });
        if (r.code !== 0 || r.stdout.trim() === '') break;
        await sleep(200);
      }
    }
  }
  const nodePids: number[] = [];
  for (const n of info?.nodes ?? []) {
    const pid = await readPid(p.slurmdPid(n));
    if (pid !== undefined) nodePids.push(pid);
  }
  await Promise.all(nodePids.map((pid) => stopPid(pid)));
  if (ctld !== undefined) await stopPid(ctld);
  const munged = await readPid(p.mungePid);
  if (munged !== undefined) await stopPid(munged);
  // Only a directory this module made (it holds our info file or slurm.conf) is removed recursively.
  if (info || existsSync(p.conf)) await rm(stateDir, { recursive: true, force: true });
  await rm(p.mungeDir, { recursive: true, force: true });
  await releaseShortParent();
  return { existed: true };
}
