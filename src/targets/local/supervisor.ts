/**
 * The supervisor of one service: sets up its network, writes the plan's files, starts every rank (its
 * environment, cwd and cpuset, in its namespaces via node-exec, each rank leading its own process group, its
 * stdout/stderr appended to its own log file), probes rank 0 and publishes the endpoints while rank 0 is
 * ready. Everything it acquires is recorded in the service state first, so `down` can undo it from any shell.
 * It runs in the foreground of `up`, or detached (`up -d` starts `multinode __supervise SERVICE`).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync } from 'node:fs';
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { MultinodeError } from '../../api/issues.js';
import type { PlanOptions, RankPlan, ServicePlan } from '../../api/plan.js';
import type { Spec } from '../../api/spec.js';
import type { RuntimePorts } from '../ports.js';
import { defaultPorts } from '../ports.js';
import type { ClusterMeta } from './cluster.js';
import { readClusterMeta, readInventory } from './cluster.js';
import {
  ensureCertificate,
  planEndpoints,
  publishEndpoints,
  readForwardedPorts,
  startTlsProxy,
  withdrawEndpoints,
} from './endpoints.js';
import type { Server as TlsServer } from 'node:tls';
import { rankLogPath } from './logs.js';
import { rankEtcDir, rankUtsPath, setupServiceNetwork } from './network.js';
import { nodeExecArgv } from './node-exec.js';
import { serviceDir, serviceNames, stateRoot, withServiceLock } from './paths.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, requireInside } from '../state-root.js';
import { undoResource } from './network.js';
import { STATE } from '../../api/names.js';
import { buildDispatchWrapper, prepareServiceSsh } from './ssh/index.js';
import type { ServiceSsh } from './ssh/index.js';
import { EMPTY_LEDGER, decideRestart, recordReady, recordRestart } from '../../plan/failover/policy.js';
import { coolingByNode, releasePorts } from '../../plan/failover/port-pool.js';
import { leavesFor, plannedArgv, plannedEnv } from './resolve.js';
import { resolveFiles } from '../../plan/index.js';
import { hasMovablePorts, releasedPorts, replanService, versionedFiles } from '../../plan/failover/replan.js';
import { stopGroup } from './processes.js';
import { nextProbeState, runProbe } from './probe.js';
import type { EndpointState, FailoverState, Resource, RestartRecord, ServiceState } from './service-state.js';
import {
  listServiceStates,
  readProcStartTime,
  readServiceState,
  serviceStatePath,
  updateServiceState,
} from './service-state.js';
import { stopRanks } from './teardown.js';
import { containerRanks, readRankRuntime } from './container.js';
import type { ContainerRanks } from './container.js';
import { nodeNetnsName } from './node-exec.js';

export interface ServiceRequest {
  readonly plan: ServicePlan;
  readonly cluster: string;
  /** No root: run ranks as plain processes on loopback addresses (see docs/runtime.md). */
  readonly degraded?: boolean;
  /** Absolute path of the spec file. */
  readonly file: string;
  readonly planHash: string;
  readonly placeMs: number;
  /** The spec (at least this service) and the options it was planned with: failover re-plans from them. */
  readonly spec?: Spec;
  readonly planOptions?: PlanOptions;
}

export type SupervisorEvent =
  | { readonly kind: 'note'; readonly message: string }
  | { readonly kind: 'phase'; readonly phase: string; readonly ms: number }
  | {
      readonly kind: 'rank-exit';
      readonly rank: number;
      readonly code: number | null;
      readonly signal: string | null;
    }
  | { readonly kind: 'ready'; readonly endpoints: readonly string[] }
  | { readonly kind: 'not-ready'; readonly detail: string }
  | {
      readonly kind: 'restart';
      readonly action: 'restart-rank' | 'recreate-group' | 'fail';
      readonly ranks: readonly number[];
      readonly reason: string;
    };

export interface SuperviseOptions {
  readonly onEvent?: (e: SupervisorEvent) => void;
  /** Aborting stops the ranks and returns (the caller then tears down, or leaves it to `down`). */
  readonly stop?: AbortSignal;
}

/** Records a new service in the state dir; fails when one with that name is already up. */
export async function createServiceRecord(
  req: ServiceRequest,
  ports: RuntimePorts = defaultPorts(),
): Promise<ServiceState> {
  const dir = serviceDir(req.plan.name);
  return withServiceLock(req.plan.name, async () => {
    const existing = await readServiceState(req.plan.name, ports);
    const starterStartTime = await readProcStartTime(process.pid);
    if (existing)
      throw new MultinodeError(
        'runtime.service-exists',
        `service "${req.plan.name}" is already up (status ${existing.status}); run \`multinode down ${req.plan.name}\` first`,
      );
    const state: ServiceState = {
      name: req.plan.name,
      cluster: req.cluster,
      file: req.file,
      planHash: req.planHash,
      plan: req.plan,
      ...(req.spec
        ? { spec: { ...req.spec, services: req.spec.services.filter((x) => x.name === req.plan.name) } }
        : {}),
      ...(req.planOptions ? { planOptions: req.planOptions } : {}),
      createdAt: new Date(ports.clock.now()).toISOString(),
      status: 'starting',
      ...(starterStartTime !== undefined ? { starterPid: process.pid, starterStartTime } : {}),
      ...(req.degraded ? { degraded: true } : {}),
      resources: [],
      ranks: req.plan.ranks.map((r) => ({
        rank: r.rank,
        node: r.node,
        hostname: r.hostname,
        address: r.address,
        netns: '',
        logFile: rankLogPath(dir, r.rank),
        status: 'pending' as const,
      })),
      endpoints: [],
      probe: { status: 'none', successes: 0, failures: 0 },
      timings: { place: req.placeMs },
    };
    await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    await chmod(dir, PRIVATE_DIR_MODE);
    await mkdir(join(dir, 'logs'), { recursive: true, mode: PRIVATE_DIR_MODE });
    await ports.store.write(serviceStatePath(req.plan.name), state);
    return state;
  });
}

const BASE_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LANG: 'C.UTF-8',
  PYTHONUNBUFFERED: '1',
};

/** sshd on every rank: leader launch (the leader starts work on the others) and MPI-style launchers. */
export function needsSsh(plan: ServicePlan): boolean {
  return plan.ranks.length > 1 && (plan.launch === 'leader' || plan.implementation !== 'generic');
}

/** The one wrapper path every rank's MULTINODE_SSH_WRAPPER names; it dispatches on MULTINODE_SERVICE. */
async function writeDispatchWrapper(plan: ServicePlan): Promise<void> {
  const path = plan.sshWrapperPath;
  if (!path) return;
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, buildDispatchWrapper(join(stateRoot(), STATE.servicesDir), 'bin/multinode-ssh'), {
    mode: 0o755,
  });
  await chmod(tmp, 0o755);
  await rename(tmp, path);
}

/**
 * What a rank's processes run with: a clean base, then the planned env (which wins). `TMPDIR` is the rank's own
 * directory in the service's state, as a real node has its own /tmp: what programs leave there (OpenMPI's
 * session directories after a killed `mpirun`, say) goes away with the service on `down`.
 */
export function rankEnv(
  plan: ServicePlan,
  rank: RankPlan,
  serviceDirPath: string,
  degraded = false,
): Record<string, string> {
  return {
    ...BASE_ENV,
    HOME: process.env['HOME'] ?? '/root',
    TMPDIR: rankTmpDir(serviceDirPath, rank.rank),
    ...plannedEnv(plan, rank, degraded),
  };
}

/** The rank's private temporary directory (created before anything of the rank starts). */
export function rankTmpDir(serviceDirPath: string, rank: number): string {
  return join(serviceDirPath, 'tmp', `rank-${rank}`);
}

/** Host CPUs for a planned cpuset: the emulated core ids folded onto the cores this machine has. */
export function hostCpus(cpus: readonly number[], hostCount = availableParallelism()): number[] {
  return [...new Set(cpus.map((c) => c % hostCount))].sort((a, b) => a - b);
}

export function rankExecPrefix(
  clusterName: string,
  serviceDirPath: string,
  rank: RankPlan,
  rankNetns: string | undefined,
): string[] {
  return nodeExecArgv({
    clusterName,
    node: rank.node,
    ...(rankNetns !== undefined ? { rankNetns } : {}),
    uts: rankUtsPath(serviceDirPath, rank.rank),
    etcDir: rankEtcDir(serviceDirPath, rank.rank),
  });
}

/** Degraded mode: the rank's command on the host itself (cpuset still applied). */
export function plainRankArgv(plan: ServicePlan, rank: RankPlan): string[] {
  const argv = plannedArgv(plan, rank, true);
  const cmd = argv.length > 0 ? argv : ['/bin/sleep', 'infinity'];
  const cpus = hostCpus(rank.cpus);
  return [...(cpus.length > 0 ? ['/usr/bin/taskset', '-c', cpus.join(',')] : []), ...cmd];
}

/** Degraded mode: an endpoint is rank 0's own loopback address and port (no DNAT without root). */
export function loopbackEndpoints(plan: ServicePlan): EndpointState[] {
  return plan.endpoints.map((e) => ({
    name: e.name,
    protocol: e.protocol,
    hostAddress: e.targetAddress,
    hostPort: e.targetPort,
    viaAddress: e.targetAddress,
    viaPort: e.targetPort,
    targetAddress: e.targetAddress,
    targetPort: e.targetPort,
    published: false,
  }));
}

export function rankArgv(
  clusterName: string,
  serviceDirPath: string,
  plan: ServicePlan,
  rank: RankPlan,
  rankNetns: string | undefined,
): string[] {
  const argv = plannedArgv(plan, rank);
  const cmd = argv.length > 0 ? argv : ['/bin/sleep', 'infinity'];
  const cpus = hostCpus(rank.cpus);
  const taskset = cpus.length > 0 ? ['/usr/bin/taskset', '-c', cpus.join(',')] : [];
  return [...rankExecPrefix(clusterName, serviceDirPath, rank, rankNetns), ...taskset, ...cmd];
}

/** Writes a file atomically (temp + rename), so a running rank watching it never reads half of it. */
async function writeFileAtomic(path: string, content: string, mode: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, content, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

function signalNumber(name: string | null): number | null {
  if (name === null) return null;
  return (osConstants.signals as Record<string, number | undefined>)[name] ?? 0;
}

interface LiveRank {
  readonly pid: number;
  readonly startTime: string;
  readonly gen: number;
}

interface SeenExit {
  readonly rank: number;
  readonly pid: number;
  readonly startTime: string;
  readonly gen: number;
  readonly code: number | null;
  readonly signal: string | null;
  readonly at: number;
  /** The rank's sshd exited (the rank's own process was then stopped): the rank counts as failed. */
  readonly sshd?: true;
}

/** A group counts as started (LWS "after start") once it has been ready this long. */
export const STARTED_AFTER_MS = 2000;

/** How often the supervisor checks that every rank's sshd answers (when the service runs sshd per rank). */
export const SSHD_CHECK_MS = 5000;

/** Delay between SIGTERM and SIGKILL when the supervisor stops ranks itself (group recreation, failure). */
export const RESTART_GRACE_MS = 2000;

/**
 * Runs a service to completion (or until stopped), acting on rank failures per the restart policy (see
 * docs/failover.md). Returns the exit code to report (the failing rank's).
 */
export async function superviseService(
  name: string,
  options: SuperviseOptions = {},
  ports: RuntimePorts = defaultPorts(),
): Promise<number> {
  const emit = options.onEvent ?? (() => undefined);
  const initial = await readServiceState(name, ports);
  if (!initial) throw new MultinodeError('runtime.no-service', `no service named "${name}"`);
  // Degraded (no root): no cluster, no namespaces; ranks are plain processes on loopback addresses.
  const degraded = initial.degraded === true;
  const cluster = degraded ? undefined : await readClusterMeta(initial.cluster, ports);
  if (!degraded && !cluster)
    throw new MultinodeError('cluster.not-found', `cluster "${initial.cluster}" is gone`);
  let plan = initial.plan;
  const restartSpec = plan.restart;
  const dir = serviceDir(name);
  /** Set when this supervisor closes the record itself (stopped or done); `down` closes it otherwise. */
  let closingSelf = false;
  /**
   * Every write goes through here: a record that vanished, or that `down` marked `stopping`, throws
   * RecordClosedError, and the supervisor then stops and removes what it made (see `removeOwn`).
   */
  const update = async (fn: (s: ServiceState) => void) => {
    const s = await updateServiceState(
      name,
      (x) => {
        if (x.status === 'stopping' && !closingSelf) throw new RecordClosedError(name);
        fn(x);
      },
      ports,
    );
    if (!s) throw new RecordClosedError(name);
    return s;
  };
  /** What this supervisor registered (or was about to), to undo itself when its record is closed. */
  const mine: Resource[] = [];
  const now = () => ports.clock.now();
  const iso = (ms = now()) => new Date(ms).toISOString();
  const startTime = await readProcStartTime(process.pid);
  let failover: FailoverState = initial.failover ?? {
    ledger: EMPTY_LEDGER,
    cooling: [],
    clusterVersion: 1,
    history: [],
  };
  await update((s) => {
    s.supervisorPid = process.pid;
    if (startTime !== undefined) s.supervisorStartTime = startTime;
    s.failover = failover;
  });
  const saveFailover = async (extra?: (s: ServiceState) => void) => {
    const f = failover;
    await update((s) => {
      s.failover = f;
      extra?.(s);
    });
  };
  const record = async (r: Resource | readonly Resource[]) => {
    const list = Array.isArray(r) ? (r as readonly Resource[]) : [r as Resource];
    mine.push(...list);
    await update((s) => {
      s.resources.push(...list);
    });
  };
  const keepResults = async (results: ReadonlyMap<string, unknown>) => {
    await update((s) => {
      s.resources = s.resources.map((x) =>
        x.kind === 'cni' && x.plugin === 'bridge' && results.has(x.containerId)
          ? { ...x, result: results.get(x.containerId) }
          : x,
      );
    });
  };
  const phase = async (p: string, ms: number) => {
    await update((s) => {
      s.timings[p] = ms;
    });
    emit({ kind: 'phase', phase: p, ms });
  };

  const tlsServers: TlsServer[] = [];
  const live = new Map<number, LiveRank>();
  /** Ranks in their image (container.ts): how to launch and remove their containers. */
  let ctr: ContainerRanks | undefined;
  try {
    // Endpoints: host ports now (the root table is recorded before it can exist), published once ready.
    const others = (await listServiceStates(ports)).filter((s) => s.name !== name);
    const taken = await readForwardedPorts(ports);
    for (const o of others)
      for (const e of o.endpoints) {
        taken.add(e.hostPort);
        if (e.dnatPort !== undefined) taken.add(e.dnatPort);
      }
    const planned = cluster
      ? await planEndpoints(plan, cluster, taken)
      : { endpoints: loopbackEndpoints(plan), forwards: [] };
    let endpoints = planned.endpoints;
    const forwards = planned.forwards;
    if (cluster && endpoints.length > 0)
      await record({ kind: 'nft', table: serviceNames(cluster.name, name).endpointTable });
    await update((s) => {
      s.endpoints = endpoints;
    });
    // https endpoints: TLS terminated here (self-signed certificate), plain TCP on to rank 0.
    for (const e of endpoints.filter((x) => x.tls)) {
      const files = await ensureCertificate(join(dir, 'tls'), ports);
      tlsServers.push(await startTlsProxy(e, files));
    }

    let t = now();
    const rankNets = cluster
      ? await setupServiceNetwork({ cluster, plan, serviceDir: dir, ports, record, keepResults }, forwards)
      : plan.ranks.map((r) => ({ rank: r.rank, netns: '' }));
    await update((s) => {
      for (const rn of rankNets) {
        const r = s.ranks.find((x) => x.rank === rn.rank);
        if (r) Object.assign(r, { netns: rn.netns });
      }
    });
    await phase('network', now() - t);

    const writePlanFiles = async (p: ServicePlan, version: number) => {
      for (const f of resolveFiles(versionedFiles(p.files, version), leavesFor(p, degraded))) {
        const fresh = !existsSync(f.path);
        // In the service directory a plan file keeps the owner's bits only (it may carry env values).
        await writeFileAtomic(f.path, f.content, f.path.startsWith(`${dir}/`) ? f.mode & 0o700 : f.mode);
        if (fresh && !f.path.startsWith(`${dir}/`)) await record({ kind: 'dir', path: f.path });
      }
    };
    await writePlanFiles(plan, failover.clusterVersion);

    t = now();
    const cwd = plan.cwd ?? dirname(initial.file);
    const rt = cluster ? await readRankRuntime(dir) : undefined;
    if (cluster && rt?.kind === 'container')
      ctr = await containerRanks({
        plan,
        cluster: cluster.name,
        serviceDir: dir,
        runtime: rt,
        netns: (r) =>
          plan.network.mode === 'overlay'
            ? (rankNets.find((x) => x.rank === r.rank)?.netns ?? '')
            : nodeNetnsName(cluster.name, r.node),
        ssh: needsSsh(plan),
        mounts: [],
        cpus: (r) => hostCpus(r.cpus),
      });
    if (!ctr && !existsSync(cwd))
      throw new MultinodeError('runtime.bad-cwd', `cwd ${cwd} does not exist on this machine`);
    const netnsOf = (r: RankPlan) =>
      plan.network.mode === 'overlay' ? rankNets.find((x) => x.rank === r.rank)?.netns : undefined;

    // sshd per rank (leader launch, MPI/GASNet launchers): started and answering before any script runs.
    if (degraded && needsSsh(plan))
      emit({
        kind: 'note',
        message: 'no root: no sshd per rank, so $MULTINODE_SSH_WRAPPER and mpirun cannot reach other ranks',
      });
    let ssh: ServiceSsh | undefined;
    const sshds = new Map<number, { pid: number; startTime: string }>();
    /** sshd exits not yet acted on (an sshd is part of its rank: its death is the rank failing). */
    interface SshdExit {
      rank: number;
      pid: number;
      startTime: string;
      code: number | null;
      signal: string | null;
      at: number;
    }
    const sshdExits: SshdExit[] = [];
    let supervising = true;
    let wake: () => void = () => undefined;
    const startSshd = async (s0: ServiceSsh, r: RankPlan): Promise<void> => {
      const argv = s0.sshdArgv(r.rank);
      const fd = openSync(rankLogPath(dir, r.rank), 'a', PRIVATE_FILE_MODE);
      const child = spawn(argv[0] as string, argv.slice(1), {
        detached: true,
        stdio: ['ignore', fd, fd],
        env: { ...BASE_ENV },
      });
      closeSync(fd);
      child.on('error', () => undefined);
      const st = child.pid !== undefined ? await readProcStartTime(child.pid) : undefined;
      if (child.pid === undefined || st === undefined) return;
      const pid = child.pid;
      sshds.set(r.rank, { pid, startTime: st });
      child.on('exit', (code, signal) => {
        if (sshds.get(r.rank)?.pid !== pid) return;
        sshds.delete(r.rank);
        if (!supervising) return;
        sshdExits.push({ rank: r.rank, pid, startTime: st, code, signal, at: now() });
        wake();
      });
      await record({ kind: 'process', rank: r.rank, pid, startTime: st });
    };
    /** Starts the sshd of each given rank that has none (after it died), and waits until they answer. */
    const ensureSshds = async (ranks: readonly number[]): Promise<void> => {
      const s0 = ssh;
      if (!s0) return;
      const again = plan.ranks.filter((r) => ranks.includes(r.rank) && !sshds.has(r.rank));
      for (const r of again) await startSshd(s0, r);
      await Promise.all(again.map((r) => s0.waitReady(r.rank, { timeoutMs: 15_000 }).catch(() => undefined)));
    };
    for (const r of plan.ranks) mkdirSync(rankTmpDir(dir, r.rank), { recursive: true, mode: 0o1777 });
    if (cluster && needsSsh(plan) && !ctr) {
      await writeDispatchWrapper(plan);
      ssh = await prepareServiceSsh(plan, {
        serviceDir: dir,
        rankExec: (r) => rankExecPrefix(cluster.name, dir, r, netnsOf(r)),
        logFile: (r) => rankLogPath(dir, r.rank),
        cwd: () => cwd,
        env: (r) => rankEnv(plan, r, dir, degraded),
      });
      await record({ kind: 'ssh-control', path: ssh.controlDir });
      for (const r of plan.ranks) await startSshd(ssh, r);
      const s0 = ssh;
      await Promise.all(plan.ranks.map((r) => s0.waitReady(r.rank, { timeoutMs: 15_000 })));
      await phase('sshd', now() - t);
      t = now();
    }

    // ---- ranks -------------------------------------------------------------------------------------
    const seen: SeenExit[] = [];
    /** Generations stopped on purpose (their exits are not failures). */
    const intended = new Set<number>();
    /** Exits of generations below this one are stale (a group recreation replaced them). */
    let minGen = 0;
    let gen = 0;
    const done = new Set<number>();
    const missingSince = new Map<number, number>();
    /**
     * Starts one rank: its own process group, output appended to its log, the process recorded (pid + start
     * time) together with the rank's status in one state write.
     */
    const startRank = async (r: RankPlan, restarted: boolean): Promise<void> => {
      const inImage = ctr?.launch(r, rankEnv(plan, r, dir, degraded), plannedArgv(plan, r));
      const argv =
        inImage?.argv ??
        (cluster ? rankArgv(cluster.name, dir, plan, r, netnsOf(r)) : plainRankArgv(plan, r));
      const fd = openSync(rankLogPath(dir, r.rank), 'a', PRIVATE_FILE_MODE);
      mkdirSync(rankTmpDir(dir, r.rank), { recursive: true, mode: 0o1777 });
      const child = spawn(argv[0] as string, argv.slice(1), {
        cwd: inImage ? '/' : cwd,
        env: inImage?.env ?? rankEnv(plan, r, dir, degraded),
        detached: true,
        stdio: ['ignore', fd, fd],
      });
      closeSync(fd);
      const g = ++gen;
      done.delete(r.rank);
      const pid = child.pid;
      const st = pid === undefined ? undefined : await readProcStartTime(pid);
      let exited = false;
      child.on('exit', (code, signal) => {
        exited = true;
        const at = now();
        if (live.get(r.rank)?.gen === g) live.delete(r.rank);
        if (intended.has(g) || g < minGen) return;
        if (code !== 0) missingSince.set(r.rank, at);
        seen.push({ rank: r.rank, pid: pid ?? 0, startTime: st ?? '0', gen: g, code, signal, at });
        emit({ kind: 'rank-exit', rank: r.rank, code, signal });
        void update((s) => {
          const rs = s.ranks.find((x) => x.rank === r.rank);
          if (!rs) return;
          rs.status = code === 0 ? 'exited' : 'failed';
          if (code !== null) rs.exitCode = code;
          else delete rs.exitCode;
          if (signal !== null) rs.signal = signal;
          else delete rs.signal;
          rs.endedAt = iso(at);
          if (code !== 0) rs.missingSince = iso(at);
        }).catch(() => undefined);
        wake();
      });
      child.on('error', () => undefined);
      if (pid === undefined || st === undefined) return;
      if (!exited) live.set(r.rank, { pid, startTime: st, gen: g });
      missingSince.delete(r.rank);
      mine.push({ kind: 'process', rank: r.rank, pid, startTime: st });
      await update((s) => {
        s.resources.push({ kind: 'process', rank: r.rank, pid, startTime: st });
        const rs = s.ranks.find((x) => x.rank === r.rank);
        if (!rs) return;
        if (restarted) rs.restarts = (rs.restarts ?? 0) + 1;
        if (exited) return;
        Object.assign(rs, { pid, startTime: st, status: 'running', startedAt: iso() });
        delete rs.exitCode;
        delete rs.signal;
        delete rs.missingSince;
        delete rs.endedAt;
      });
    };
    /** Stops ranks' process groups on purpose (TERM, then KILL after the grace period). */
    const stopLive = async (ranks: readonly number[], graceMs = RESTART_GRACE_MS) => {
      const targets = ranks.flatMap((r) => {
        const l = live.get(r);
        return l ? [l] : [];
      });
      for (const l of targets) intended.add(l.gen);
      await Promise.all(targets.map((l) => stopGroup(l.pid, l.startTime, graceMs)));
      await ctr?.remove(ranks);
      for (const r of ranks) live.delete(r);
    };

    for (const r of plan.ranks) await startRank(r, false);
    await update((s) => {
      s.status = 'running';
    });
    await phase('spawn', now() - t);

    // ---- readiness: rank 0's probe AND every rank alive; endpoints published while group-ready --------
    const probeOf = () => plan.ranks[0]?.probe ?? plan.probe;
    const started = now();
    let published = false;
    let groupReady = false;
    let everReady = failover.ledger.everReady;
    let openRestart: RestartRecord | undefined;
    let probeState = { ready: false, successes: 0, failures: 0 };
    const resetProbe = () => {
      probeState = { ready: false, successes: 0, failures: 0 };
      const p = probeOf();
      nextProbe = now() + (p ? p.initialDelaySeconds * 1000 : 0);
    };
    let nextProbe = started + (probeOf()?.initialDelaySeconds ?? 0) * 1000;
    if (probeOf()) await update((s) => void (s.probe.status = 'waiting'));
    const rn0 = rankNets.find((x) => x.rank === 0);
    options.stop?.addEventListener('abort', () => wake());

    const endpointUrls = () =>
      endpoints.map(
        (e) =>
          `${e.name}: ${e.protocol === 'https' ? 'https' : e.protocol === 'http' ? 'http' : 'tcp'}://${e.hostAddress}:${e.hostPort}`,
      );
    const setPublished = async (want: boolean, detail: string) => {
      if (want === published) return;
      published = want;
      if (want) {
        if (cluster) await publishEndpoints(cluster, name, endpoints, ports);
      } else if (cluster) await withdrawEndpoints(cluster.name, name, ports);
      await update((s) => {
        s.endpoints.forEach((e) => (e.published = want));
      });
      if (!want && endpoints.length > 0 && detail !== 'service finished')
        emit({ kind: 'not-ready', detail: `${detail}; endpoints withdrawn` });
    };
    /** Whether every rank is alive (or finished with 0), and who is missing since when. */
    const missingRanks = async () => {
      const out: { rank: number; since: string; why: string }[] = [];
      for (const r of plan.ranks) {
        if (done.has(r.rank)) continue;
        if (!live.has(r.rank)) {
          out.push({
            rank: r.rank,
            since: iso(missingSince.get(r.rank) ?? now()),
            why: 'process not running',
          });
          continue;
        }
        const sd = sshds.get(r.rank);
        if (sd && ((await readProcStartTime(sd.pid)) !== sd.startTime || sshdDown.has(r.rank))) {
          if (!missingSince.has(r.rank)) missingSince.set(r.rank, now());
          out.push({
            rank: r.rank,
            since: iso(missingSince.get(r.rank) ?? now()),
            why: 'sshd not answering',
          });
        }
      }
      return out;
    };
    // sshd answering (not just alive), checked in the background every SSHD_CHECK_MS.
    const sshdDown = new Set<number>();
    let sshdCheckAt = now() + SSHD_CHECK_MS;
    let sshdChecking = false;
    const checkSshd = async () => {
      const s0 = ssh;
      if (!s0 || sshdChecking || now() < sshdCheckAt) return;
      sshdChecking = true;
      try {
        await Promise.all(
          plan.ranks.map(async (r) => {
            try {
              await s0.waitReady(r.rank, { timeoutMs: 2000 });
              sshdDown.delete(r.rank);
            } catch {
              sshdDown.add(r.rank);
            }
          }),
        );
      } finally {
        sshdChecking = false;
        sshdCheckAt = now() + SSHD_CHECK_MS;
        wake();
      }
    };
    let lastGroup = '';
    let readySince: number | undefined;
    const evaluate = async (probeDetail: string) => {
      const probe = probeOf();
      const rank0Ok = live.has(0) && (probe ? probeState.ready : true);
      const missing = await missingRanks();
      const ready = rank0Ok && missing.length === 0;
      if (ready && !groupReady) {
        groupReady = true;
        readySince = now();
        if (!everReady) await phase('ready', now() - started);
        everReady = true;
        if (openRestart) {
          openRestart.timings['ready'] = now() - Date.parse(openRestart.at);
          openRestart = undefined;
        }
        await saveFailover();
        await setPublished(true, 'ready');
        emit({ kind: 'ready', endpoints: endpointUrls() });
      } else if (!ready && groupReady) {
        groupReady = false;
        emit({
          kind: 'not-ready',
          detail: !rank0Ok
            ? `rank 0 not ready (${probeDetail})`
            : `rank(s) ${missing.map((m) => m.rank).join(',')} missing`,
        });
      }
      // State after the endpoints: `ready` in state means published.
      const key = JSON.stringify([ready, missing]);
      if (key !== lastGroup) {
        lastGroup = key;
        await update((s) => {
          s.group = { ready, missing };
          if (ready) s.status = 'ready';
          else if (s.status === 'ready') s.status = 'running';
          s.probe.status = probe
            ? probeState.ready
              ? 'ready'
              : live.has(0)
                ? 'waiting'
                : 'not-ready'
            : 'none';
          if (ready && s.message?.startsWith('restarting')) delete s.message;
        });
      }
      // "Started" (budgets, backoff reset) once the group has stayed ready a while: a crash loop whose ranks
      // are all alive for an instant does not count as started.
      if (!ready) readySince = undefined;
      else if (
        readySince !== undefined &&
        now() - readySince >= STARTED_AFTER_MS &&
        (!failover.ledger.everReady || failover.ledger.consecutiveFailures > 0)
      ) {
        failover = { ...failover, ledger: recordReady(failover.ledger) };
        await saveFailover();
      }
      // Published while group-ready; a worker being restarted alone (rank 0 untouched and serving) keeps it.
      if (!ready && published && !rank0Ok) await setPublished(false, `rank 0 not ready (${probeDetail})`);
    };

    /** Re-plans host ports for `restarting` ranks and re-publishes everything (files, endpoints, state). */
    const repickPorts = async (
      restarting: readonly number[],
      rec: RestartRecord,
    ): Promise<'ok' | 'escalate'> => {
      const tRe = now();
      if (!cluster || !hasMovablePorts(plan) || !initial.spec || !initial.planOptions) {
        failover = { ...failover, clusterVersion: failover.clusterVersion + 1 };
        await writePlanFiles(plan, failover.clusterVersion);
        rec.timings['replan'] = now() - tRe;
        return 'ok';
      }
      let cooling = failover.cooling;
      for (const rn of restarting) {
        const rp = plan.ranks[rn];
        if (rp) cooling = releasePorts(cooling, rp.node, releasedPorts(plan, rp), now());
      }
      const inventory = await readInventory(cluster.name, ports, { exclude: name });
      const keep = plan.ranks.map((r) => r.rank).filter((r) => !restarting.includes(r));
      const res = replanService(
        initial.spec,
        plan,
        inventory,
        initial.planOptions,
        coolingByNode(cooling, now()),
        keep,
      );
      failover = { ...failover, cooling };
      if (!res.ok) {
        rec.timings['replan'] = now() - tRe;
        if (keep.length > 0 && res.reason.includes('is running')) return 'escalate';
        emit({ kind: 'note', message: `cannot re-pick ports (${res.reason}); keeping the old ones` });
        failover = { ...failover, clusterVersion: failover.clusterVersion + 1 };
        await writePlanFiles(plan, failover.clusterVersion);
        return 'ok';
      }
      plan = res.plan;
      rec.moved = res.moved;
      // Endpoints follow rank 0 (host mode: the DNAT target is rank 0's host port).
      endpoints = endpoints.map((e) => {
        const ep = plan.endpoints.find((x) => x.name === e.name);
        return ep
          ? { ...e, viaPort: ep.targetPort, targetAddress: ep.targetAddress, targetPort: ep.targetPort }
          : e;
      });
      failover = { ...failover, clusterVersion: failover.clusterVersion + 1 };
      await writePlanFiles(plan, failover.clusterVersion);
      const p = plan;
      const eps = endpoints;
      await saveFailover((s) => {
        s.plan = p;
        s.endpoints = eps.map((e) => ({ ...e, published }));
      });
      if (published && cluster) await publishEndpoints(cluster, name, endpoints, ports);
      if (res.moved.length > 0) emit({ kind: 'note', message: `new host ports: ${res.moved.join(', ')}` });
      rec.timings['replan'] = now() - tRe;
      return 'ok';
    };

    const sleepUnlessStopped = async (ms: number) => {
      if (ms <= 0) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        const onAbort = () => {
          clearTimeout(timer);
          resolve();
        };
        options.stop?.addEventListener('abort', onAbort, { once: true });
      });
    };

    const recreateGroup = async (rec: RestartRecord, delayMs: number) => {
      let ts = now();
      await setPublished(false, 'recreating the group');
      resetProbe();
      minGen = gen + 1;
      await stopLive(plan.ranks.map((r) => r.rank));
      if (ssh) {
        await ssh.stopSessions(500).catch(() => undefined);
        await ssh.closeConnections().catch(() => undefined);
      }
      rec.timings['stop'] = now() - ts;
      const tb = now();
      await sleepUnlessStopped(delayMs);
      rec.timings['backoff'] = now() - tb;
      if (options.stop?.aborted) return;
      await repickPorts(
        plan.ranks.map((r) => r.rank),
        rec,
      );
      ts = now();
      seen.splice(0, seen.length);
      done.clear();
      minGen = gen + 1;
      await ensureSshds(plan.ranks.map((r) => r.rank));
      for (const r of plan.ranks) await startRank(r, true);
      rec.timings['spawn'] = now() - ts;
    };

    const restartOne = async (rank: number, rec: RestartRecord, delayMs: number) => {
      if (rank === 0) {
        await setPublished(false, 'rank 0 restarting');
        resetProbe();
      }
      rec.timings['stop'] = 0;
      const tb = now();
      await sleepUnlessStopped(delayMs);
      rec.timings['backoff'] = now() - tb;
      if (options.stop?.aborted) return;
      if (ssh) {
        // What the leader started on other ranks through the wrapper dies with it (leader launch).
        if (rank === 0 && plan.launch === 'leader') await ssh.stopSessions(500).catch(() => undefined);
        await ssh.closeConnections().catch(() => undefined);
      }
      if ((await repickPorts([rank], rec)) === 'escalate') {
        emit({ kind: 'note', message: 'the re-plan would move running ranks; recreating the group instead' });
        rec.timings['escalated'] = 1;
        await recreateGroup(rec, 0);
        return;
      }
      const rp = plan.ranks[rank];
      const ts = now();
      await ensureSshds([rank]);
      if (rp) await startRank(rp, true);
      rec.timings['spawn'] = now() - ts;
    };

    const scriptRanks = plan.launch === 'all' ? plan.ranks.map((r) => r.rank) : [0];
    let failure: { code: number; why: string } | undefined;
    const finished = () =>
      failure !== undefined || options.stop?.aborted === true || scriptRanks.every((r) => done.has(r));

    /** One failure or finish, as the policy says. */
    const handleExit = async (e: SeenExit) => {
      // A rank's grandchildren never outlive it: whatever is left of its process group goes now.
      await stopGroup(e.pid, e.startTime, 500);
      if (e.gen < minGen || (intended.has(e.gen) && !e.sshd)) return;
      const allDone = plan.ranks.every((r) => r.rank === e.rank || done.has(r.rank));
      const decision = decideRestart(
        restartSpec,
        failover.ledger,
        { rank: e.rank, code: e.code, signal: signalNumber(e.signal) },
        allDone,
      );
      if (decision.action === 'done') {
        done.add(e.rank);
        missingSince.delete(e.rank);
        return;
      }
      const rec: RestartRecord = {
        at: iso(e.at),
        trigger:
          e.code !== null
            ? `rank ${e.rank}${e.sshd ? "'s sshd" : ''} exited with code ${e.code}`
            : `rank ${e.rank}${e.sshd ? "'s sshd" : ''} killed by ${e.signal ?? '?'}`,
        action: decision.action,
        ranks: decision.action === 'restart-rank' ? [e.rank] : plan.ranks.map((r) => r.rank),
        reason: decision.reason,
        timings: { detect: Math.max(0, now() - e.at) },
      };
      emit({ kind: 'restart', action: decision.action, ranks: rec.ranks, reason: decision.reason });
      failover = {
        ...failover,
        ledger: recordRestart(failover.ledger, decision),
        history: [...failover.history.slice(-19), rec],
      };
      if (decision.action === 'fail') {
        failure = { code: e.code ?? 128 + (signalNumber(e.signal) ?? 0), why: decision.reason };
        await saveFailover();
        return;
      }
      groupReady = false;
      openRestart = rec;
      const gone = rec.ranks.map((r) => ({ rank: r, since: rec.at, why: 'restarting' }));
      await saveFailover((s) => {
        s.status = 'restarting';
        s.message = `restarting: ${decision.reason}`;
        s.group = { ready: false, missing: gone };
      });
      if (decision.action === 'recreate-group') await recreateGroup(rec, decision.delaySeconds * 1000);
      else await restartOne(decision.rank, rec, decision.delaySeconds * 1000);
      await saveFailover((s) => {
        if (s.status === 'restarting') s.status = 'running';
      });
      lastGroup = '';
    };

    /**
     * A rank's sshd died: the rank fails with the sshd's exit (a clean exit counts as code 1: sshd never ends
     * on its own). Its process is stopped and the policy decides, as for any failure; a restart starts a new
     * sshd before the rank. Ignored while the rank is not running (a restart already brings a new sshd).
     */
    const sshdFailed = async (x: SshdExit) => {
      // The runner's process group: sshd itself (listening on the rank's port) may outlive a killed runner.
      await stopGroup(x.pid, x.startTime, 500);
      const l = live.get(x.rank);
      if (!l || done.has(x.rank)) return;
      emit({
        kind: 'note',
        message: `rank ${x.rank}'s sshd ${x.signal ? `was killed by ${x.signal}` : `exited with code ${x.code ?? '?'}`}: rank ${x.rank} failed`,
      });
      await stopLive([x.rank], 500);
      missingSince.set(x.rank, x.at);
      seen.push({
        rank: x.rank,
        pid: l.pid,
        startTime: l.startTime,
        gen: l.gen,
        code: x.signal ? null : x.code === 0 ? 1 : x.code,
        signal: x.signal,
        at: x.at,
        sshd: true,
      });
    };

    let probeDetail = 'no answer yet';
    while (!finished()) {
      // `down` removed the record without reaching this process: stop as if told to.
      if (!existsSync(serviceStatePath(name))) throw new RecordClosedError(name);
      const x = sshdExits.shift();
      if (x) {
        await sshdFailed(x);
        continue;
      }
      const e = seen.shift();
      if (e) {
        await handleExit(e);
        continue;
      }
      const probe = probeOf();
      const rank0 = plan.ranks[0];
      if (probe && live.has(0) && now() >= nextProbe && rank0 && rn0) {
        const res = await runProbe(
          probe,
          { netns: rn0.netns, address: rank0.address, port: probe.action.port },
          ports.spawner,
        );
        probeState = nextProbeState(probeState, res.ok, probe);
        probeDetail = res.detail;
        const ps = probeState;
        await update((s) => {
          s.probe.successes = ps.successes;
          s.probe.failures = ps.failures;
          s.probe.last = res.detail;
          s.probe.lastAt = iso();
        });
        nextProbe = now() + probe.periodSeconds * 1000;
      }
      if (!live.has(0)) probeDetail = done.has(0) ? 'rank 0 finished' : 'rank 0 not running';
      void checkSshd();
      await evaluate(probeDetail);
      if (seen.length > 0 || sshdExits.length > 0 || finished()) continue;
      // Poll fast until the group is ready (so recovery is seen quickly), then at the probe period.
      const idle = groupReady && failover.ledger.everReady ? 1000 : groupReady ? 250 : 100;
      const waitMs = probe && live.has(0) ? Math.max(20, Math.min(idle, nextProbe - now())) : idle;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }

    supervising = false;
    await setPublished(false, 'service finished');
    const stopped = options.stop?.aborted === true;
    await stopLive([...live.keys()], stopped ? 3000 : RESTART_GRACE_MS);
    const current = await readServiceState(name, ports);
    if (current) await stopRanks(current, 3000);
    await ctr?.removeAll();
    for (const srv of tlsServers) srv.close();
    const code = failure?.code ?? 0;
    closingSelf = stopped;
    await update((s) => {
      s.status = stopped ? 'stopping' : failure ? 'failed' : 'completed';
      s.group = { ready: false, missing: s.group?.missing ?? [] };
      if (!stopped && failure)
        s.message = `${failure.why}; left for inspection (\`multinode down ${name}\` removes it)`;
    });
    return stopped ? 0 : code;
  } catch (e) {
    for (const srv of tlsServers) srv.close();
    if (e instanceof RecordClosedError) {
      emit({ kind: 'note', message: e.message });
      await removeOwn(name, mine, [...live.values()], ports);
      await ctr?.removeAll();
      return 0;
    }
    await update((s) => {
      s.status = 'failed';
      s.message = e instanceof Error ? e.message : String(e);
    }).catch(() => undefined);
    throw e;
  }
}

/** The service's record vanished or `down` closed it (status `stopping`) while this supervisor ran. */
export class RecordClosedError extends MultinodeError {
  constructor(service: string) {
    super(
      'runtime.record-closed',
      `the record of ${service} was removed or is being removed (\`multinode down\`); stopping and removing what this supervisor started`,
    );
  }
}

/**
 * After the record was closed: stops the ranks still running and undoes, in reverse, everything this
 * supervisor registered (what `down` already undid counts as done), then removes what is left of the
 * service directory unless a new record exists by then.
 */
async function removeOwn(
  name: string,
  mine: readonly Resource[],
  live: readonly { readonly pid: number; readonly startTime: string }[],
  ports: RuntimePorts,
): Promise<void> {
  await Promise.all(live.map((l) => stopGroup(l.pid, l.startTime, 1000)));
  for (const r of [...mine].reverse()) {
    if (r.kind === 'process') await stopGroup(r.pid, r.startTime, 1000);
    else await undoResource(r, ports).catch(() => undefined);
  }
  await withServiceLock(name, async () => {
    if (await readServiceState(name, ports)) return;
    await rm(requireInside(serviceDir(name)), { recursive: true, force: true });
  });
}

export type { ClusterMeta };
