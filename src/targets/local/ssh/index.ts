/**
 * SSH and MPI launch layer of the local runtime: everything a service needs so that rank 0 can start work
 * on the other ranks with `$MULTINODE_SSH_WRAPPER HOST CMD…`, `mpirun`, `mpiexec` or GASNet's ssh spawner.
 *
 * The supervisor calls `prepareServiceSsh` (from a plan) or `prepareSsh` (from plain rank facts) once per
 * service before starting ranks. It writes, under `<serviceDir>/ssh` (0700): the service's keys and pinned
 * known_hosts (`keys.ts`), one sshd_config per rank (`sshd.ts`), one environment file per rank (0600), the
 * remote runner, and the wrapper at `<serviceDir>/bin/multinode-ssh` (`wrapper.ts`). It starts nothing:
 * the supervisor spawns `sshdArgv(rank)` as one of the rank's processes (foreground, logs on stderr; it
 * owns the PID), a leader-launch worker is "up" once `waitReady(rank)` resolves, and `cleanup()` on `down`
 * closes shared connections and deletes the material.
 *
 * Wiring in `supervisor.ts` (after the network and plan files, before spawning rank commands):
 * ```ts
 * const netnsOf = (r: RankPlan) => (overlay ? rankNets.find((x) => x.rank === r.rank)?.netns : undefined);
 * const ssh = await prepareServiceSsh(plan, {
 *   serviceDir: dir,
 *   rankExec: (r) => rankExecPrefix(cluster.name, dir, r, netnsOf(r)),
 *   logFile: (r) => rankLogPath(dir, r.rank),
 *   cwd: () => cwd,
 *   env: (r) => rankEnv(r, serviceDir),
 * });
 * await writeDispatchWrapper(join(stateRoot(), 'bin', 'multinode-ssh'), join(stateRoot(), STATE.servicesDir));
 * for (const r of plan.ranks) spawnOwned(ssh.sshdArgv(r.rank), rankLogPath(dir, r.rank)); // record each PID
 * await Promise.all(plan.ranks.map((r) => ssh.waitReady(r.rank))); // leader-launch workers are "up" now
 * // then start the rank commands. On a rank restart: ssh.closeConnections().
 * // On down: stop the sshd PIDs, then teardownServiceSsh(dir) (works without this object).
 * ```
 */
import { writeFileAtomic } from '../../atomic-file.js';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { RankPlan, ServicePlan } from '../../../api/plan.js';
import { DEFAULTS, PRODUCT } from '../../../api/names.js';
import { plannedEnv } from '../resolve.js';
import {
  ensureOwnDir,
  inShortParent,
  isOwnDir,
  releaseShortParent,
  shortPrivateParent,
} from '../../private-dir.js';
import { ensureSshMaterial, removeSshMaterial, type KnownHost, type SshMaterial } from './keys.js';
import { networkOnly } from '../node-exec.js';
import { buildSessionScript, sessionForceCommand, SSH_CONFIG_FILES, writeSshClientConfig } from './config.js';
import { stopSessions, type StopSessionsResult } from './sessions.js';
import { buildSshdConfig, buildSshdRunScript, ensureSshdPrivsepDir, waitForSshd } from './sshd.js';
import {
  buildDispatchWrapper,
  buildRankFile,
  buildRemoteExecScript,
  buildWrapperScript,
  SSH_CLIENT,
  WRAPPER_REMOTE_PREFIX,
} from './wrapper.js';

export { removeSshMaterial } from './keys.js';
export { waitForSshd } from './sshd.js';
export { stopSessions, type StopSessionsResult } from './sessions.js';
export { buildDispatchWrapper } from './wrapper.js';
export { sshClientMounts } from './config.js';

/** Where `prepareSsh` puts a service's wrapper, relative to its service directory. */
export const WRAPPER_REL_PATH = 'bin/multinode-ssh';

/** What the SSH layer needs to know about one rank. */
export interface SshRank {
  readonly rank: number;
  readonly hostname: string;
  /** The rank's address on the cluster network; sshd listens here. */
  readonly address: string;
  readonly sshPort: number;
  /** Further names the wrapper and known_hosts accept for this rank. */
  readonly aliases?: readonly string[];
  /** argv prefix that runs a command inside the rank's namespaces (node-exec). */
  readonly exec: readonly string[];
  /** The environment the rank's processes get; wrapper commands run with exactly this (plus defaults). */
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  /** Where wrapper commands' output goes when streams are not forwarded. */
  readonly logFile: string;
}

export interface PrepareSshOptions {
  readonly serviceName: string;
  readonly serviceDir: string;
  readonly ranks: readonly SshRank[];
  /** Where the wrapper is written. Default `<serviceDir>/bin/multinode-ssh`. */
  readonly wrapperPath?: string;
  /** ControlMaster socket directory. Default `<serviceDir>/ssh/cm`, or a short `/tmp` path if that is too long. */
  readonly controlDir?: string;
}

export interface ServiceSsh {
  /** `<serviceDir>/ssh`: keys, configs, rank files (0700). */
  readonly dir: string;
  readonly wrapperPath: string;
  readonly material: SshMaterial;
  readonly controlDir: string;
  /**
   * Full argv for the supervisor to spawn: the rank exec prefix, then a small bash runner that keeps
   * `sshd -D -e -f <config>` in the foreground and, when stopped (TERM/INT/HUP) or when sshd exits, also
   * stops the processes the wrapper started on that rank (they live in sshd sessions, outside the rank's
   * process group).
   */
  sshdArgv(rank: number): string[];
  sshdConfigPath(rank: number): string;
  /** Resolves when the rank's sshd answers (checked from inside the rank's namespaces). */
  waitReady(rank: number, options?: { timeoutMs?: number }): Promise<void>;
  /** Closes every shared (ControlMaster) connection; call when a rank restarts or moves. */
  closeConnections(): Promise<void>;
  /**
   * Stops every process started through the wrapper that is still running (SIGTERM to its session's
   * process group, SIGKILL after `graceMs`). They belong to sshd sessions, not to any rank's group.
   */
  stopSessions(graceMs?: number): Promise<StopSessionsResult>;
  /** stopSessions + closeConnections + delete keys, configs, rank files, sockets and the wrapper. Idempotent. */
  cleanup(): Promise<void>;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Unix sockets are limited to 108 bytes; ssh adds a 17-byte temporary suffix to `<dir>/<40 hex>`. */
const MAX_CONTROL_DIR = 108 - 1 - 40 - 17 - 4;

/**
 * `<ssh dir>/cm`, or, when that is too long for a socket path, `ssh-<hash>` under a short parent private to
 * this user (`/run/multinode` for root; see ../../private-dir.ts) — never a guessable name in /tmp itself.
 */
export function defaultControlDir(sshDir: string): string {
  const dir = join(sshDir, 'cm');
  if (dir.length <= MAX_CONTROL_DIR && /^[A-Za-z0-9_@+=:,./-]+$/.test(dir)) return dir;
  return join(shortPrivateParent(), `ssh-${createHash('sha256').update(sshDir).digest('hex').slice(0, 12)}`);
}

/** Whether `controlDir` is one `prepareSsh` makes for the ssh directory `sshDir` (and nothing else). Pure. */
export function isServiceControlDir(sshDir: string, controlDir: string): boolean {
  const own = resolve(controlDir);
  if (own.startsWith(`${resolve(sshDir)}/`)) return true;
  return dirname(own) === shortPrivateParent() && /^ssh-[0-9a-f]{12}$/.test(basename(own));
}

/** Creates the ControlMaster directory 0700 (its short parent too), or accepts it only when it is ours. */
async function ensureControlDir(controlDir: string): Promise<void> {
  const parent = dirname(controlDir);
  if (parent === shortPrivateParent()) {
    await inShortParent(() => ensureOwnDir(controlDir, 0o700));
  } else {
    await mkdir(controlDir, { recursive: true, mode: 0o700 });
    await ensureOwnDir(controlDir, 0o700);
  }
}

function run(cmd: string, args: readonly string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    execFile(cmd, [...args], { timeout: timeoutMs }, () => resolve());
  });
}

/** Asks every ControlMaster in `controlDir` to exit and removes the sockets. */
async function closeControlMasters(controlDir: string): Promise<void> {
  if (!(await isOwnDir(controlDir, 0o700))) return;
  let sockets: string[];
  try {
    sockets = await readdir(controlDir);
  } catch {
    return;
  }
  await Promise.all(
    sockets.map((s) =>
      run(
        SSH_CLIENT,
        ['-F', '/dev/null', '-o', `ControlPath=${join(controlDir, s)}`, '-O', 'exit', PRODUCT],
        5000,
      ),
    ),
  );
  await Promise.all(sockets.map((s) => rm(join(controlDir, s), { force: true })));
}

/**
 * Undoes `prepareSsh` for a service from its directory alone (usable by `down` from any shell, after a
 * supervisor crash): stops wrapper sessions, closes shared connections, deletes keys, configs, rank files,
 * sockets and the wrapper. The sshd processes are the supervisor's (stop them by PID first). Idempotent.
 */
export async function teardownServiceSsh(
  serviceDir: string,
  o: { readonly wrapperPath?: string; readonly controlDir?: string } = {},
): Promise<void> {
  const dir = join(serviceDir, 'ssh');
  const controlDir = o.controlDir ?? defaultControlDir(dir);
  await stopSessions(join(dir, 'sessions'));
  // Only a directory of this service's own (inside its ssh directory, or its `ssh-<hash>` directly under the
  // short private parent) that is still ours (not planted, not replaced by a symlink) is emptied.
  if (isServiceControlDir(dir, controlDir) && (await isOwnDir(controlDir, 0o700))) {
    await closeControlMasters(controlDir);
    await rm(controlDir, { recursive: true, force: true });
    if (dirname(controlDir) === shortPrivateParent()) await releaseShortParent();
  }
  await rm(o.wrapperPath ?? join(serviceDir, WRAPPER_REL_PATH), { force: true });
  await removeSshMaterial(dir);
}

/** Writes the service's SSH material, sshd configs, rank files and wrapper. Starts nothing. */
export async function prepareSsh(o: PrepareSshOptions): Promise<ServiceSsh> {
  const dir = join(o.serviceDir, 'ssh');
  const wrapperPath = o.wrapperPath ?? join(o.serviceDir, WRAPPER_REL_PATH);
  const controlDir = o.controlDir ?? defaultControlDir(dir);
  const ranksDir = join(dir, 'ranks');
  const home = join(dir, 'home');
  const remoteExec = join(dir, 'remote-exec');
  const sessionsDir = join(dir, 'sessions');
  const sshdRun = join(dir, 'sshd-run');
  const byRank = new Map(o.ranks.map((r) => [r.rank, r]));
  const get = (rank: number): SshRank => {
    const r = byRank.get(rank);
    if (r === undefined) throw new Error(`service ${o.serviceName} has no rank ${rank}`);
    return r;
  };
  const configPath = (rank: number): string => join(dir, `sshd_config.${rank}`);

  const hosts: KnownHost[] = o.ranks.map((r) => ({
    hostname: r.hostname,
    address: r.address,
    port: r.sshPort,
    ...(r.aliases === undefined ? {} : { aliases: r.aliases }),
  }));
  const material = await ensureSshMaterial(dir, {
    comment: `${PRODUCT}:${o.serviceName}`,
    hosts,
  });
  await Promise.all([
    mkdir(ranksDir, { recursive: true, mode: 0o700 }),
    mkdir(sessionsDir, { recursive: true, mode: 0o700 }),
    mkdir(home, { recursive: true, mode: 0o700 }),
    ensureControlDir(controlDir),
    mkdir(dirname(wrapperPath), { recursive: true, mode: 0o755 }),
    // Without root there is no privilege separation to prepare (and /run is not writable).
    process.getuid?.() === 0 ? ensureSshdPrivsepDir() : Promise.resolve(),
    ...o.ranks.map((r) => mkdir(dirname(r.logFile), { recursive: true })),
  ]);
  const user = userInfo();
  const defaults = {
    HOME: user.homedir,
    LOGNAME: user.username,
    PATH: DEFAULT_PATH,
    SHELL: user.shell ?? '/bin/sh',
    USER: user.username,
  };
  for (const r of o.ranks) {
    await writeFileAtomic(
      join(ranksDir, `${r.rank}.sh`),
      buildRankFile({ rank: r.rank, env: r.env, cwd: r.cwd, logFile: r.logFile, defaults }),
      0o600,
    );
    await writeFileAtomic(
      configPath(r.rank),
      buildSshdConfig({
        listenAddress: r.address,
        port: r.sshPort,
        hostKey: material.hostKey,
        authorizedKeysFile: material.authorizedKeys,
        pidFile: join(dir, `sshd.${r.rank}.pid`),
        sessionHome: home,
        forceCommand: sessionForceCommand(dir, r.rank),
        comment: `multinode sshd for service ${o.serviceName} rank ${r.rank}`,
      }),
      0o600,
    );
  }
  await writeFileAtomic(remoteExec, buildRemoteExecScript(ranksDir, sessionsDir), 0o644);
  await writeFileAtomic(
    join(dir, SSH_CONFIG_FILES.session),
    buildSessionScript(ranksDir, sessionsDir, WRAPPER_REMOTE_PREFIX),
    0o644,
  );
  // Plain `ssh <rank host name>` from any rank (see config.ts for how it reaches the client).
  await writeSshClientConfig(dir, {
    serviceName: o.serviceName,
    hosts,
    user: user.username,
    identityFile: material.userKey,
    knownHosts: material.knownHosts,
  });
  await writeFileAtomic(sshdRun, buildSshdRunScript(sessionsDir), 0o644);
  await writeFileAtomic(
    wrapperPath,
    buildWrapperScript({
      serviceName: o.serviceName,
      ranks: o.ranks,
      userKey: material.userKey,
      knownHosts: material.knownHosts,
      controlDir,
      remoteExec,
    }),
    0o755,
  );

  const closeConnections = (): Promise<void> => closeControlMasters(controlDir);

  return {
    dir,
    wrapperPath,
    material,
    controlDir,
    sshdArgv: (rank) => [
      ...get(rank).exec,
      '/bin/bash',
      '--norc',
      '--noprofile',
      sshdRun,
      String(rank),
      configPath(rank),
    ],
    sshdConfigPath: (rank) => (get(rank), configPath(rank)),
    waitReady: async (rank, options = {}) => {
      const r = get(rank);
      // The rank's network namespace is enough to see the banner: no mount namespace on every check.
      await waitForSshd(r.address, r.sshPort, {
        execPrefix: networkOnly(r.exec),
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      });
    },
    closeConnections,
    stopSessions: (graceMs) => stopSessions(sessionsDir, graceMs),
    cleanup: () => teardownServiceSsh(o.serviceDir, { wrapperPath, controlDir }),
  };
}

export interface PrepareServiceSshOptions {
  readonly serviceDir: string;
  /** argv prefix that runs a command inside this rank's namespaces (`nodeExecArgv(...)`). */
  readonly rankExec: (rank: RankPlan) => readonly string[];
  readonly logFile: (rank: RankPlan) => string;
  /** Default: the service's `cwd`, else `/`. */
  readonly cwd?: (rank: RankPlan) => string;
  /** Default: the planned `rank.env`. */
  readonly env?: (rank: RankPlan) => Readonly<Record<string, string>>;
  readonly wrapperPath?: string;
  readonly controlDir?: string;
}

/** `prepareSsh` fed from a service plan. */
export function prepareServiceSsh(plan: ServicePlan, o: PrepareServiceSshOptions): Promise<ServiceSsh> {
  return prepareSsh({
    serviceName: plan.name,
    serviceDir: o.serviceDir,
    ...(o.wrapperPath === undefined ? {} : { wrapperPath: o.wrapperPath }),
    ...(o.controlDir === undefined ? {} : { controlDir: o.controlDir }),
    ranks: plan.ranks.map((r) => ({
      rank: r.rank,
      hostname: r.hostname,
      address: r.address,
      sshPort: r.sshPort > 0 ? r.sshPort : DEFAULTS.sshPort,
      exec: o.rankExec(r),
      env: o.env?.(r) ?? plannedEnv(plan, r),
      cwd: o.cwd?.(r) ?? plan.cwd ?? '/',
      logFile: o.logFile(r),
    })),
  });
}

/**
 * Writes the one wrapper path all services share (the plan's `sshWrapperPath`, e.g.
 * `<state>/bin/multinode-ssh`): a dispatcher that runs `<servicesDir>/$MULTINODE_SERVICE/bin/multinode-ssh`.
 * Idempotent; leave it in place on `down` (other services use it).
 */
export async function writeDispatchWrapper(path: string, servicesDir: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  await writeFileAtomic(path, buildDispatchWrapper(servicesDir, WRAPPER_REL_PATH), 0o755);
}
