/**
 * The supervisor of one service: sets up its network, writes the plan's files, starts every rank (its
 * environment, cwd and cpuset, in its namespaces via node-exec, each rank leading its own process group, its
 * stdout/stderr appended to its own log file), probes rank 0 and publishes the endpoints while rank 0 is
 * ready. Everything it acquires is recorded in the service state first, so `down` can undo it from any shell.
 * It runs in the foreground of `up`, or detached (`up -d` starts `multinode __supervise SERVICE`).
 */
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { MultinodeError } from '../../api/issues.js';
import type { RankPlan, ServicePlan } from '../../api/plan.js';
import type { RuntimePorts } from '../ports.js';
import { defaultPorts } from '../ports.js';
import type { ClusterMeta } from './cluster.js';
import { readClusterMeta } from './cluster.js';
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
import { serviceDir, serviceNames, stateRoot, withLock } from './paths.js';
import { ENV, STATE } from '../../api/names.js';
import { buildDispatchWrapper, prepareServiceSsh } from './ssh/index.js';
import { nextProbeState, runProbe } from './probe.js';
import type { EndpointState, Resource, ServiceState } from './service-state.js';
import {
  listServiceStates,
  readProcStartTime,
  readServiceState,
  serviceStatePath,
  updateServiceState,
} from './service-state.js';
import { stopRanks } from './teardown.js';

export interface ServiceRequest {
  readonly plan: ServicePlan;
  readonly cluster: string;
  /** No root: run ranks as plain processes on loopback addresses (see docs/runtime.md). */
  readonly degraded?: boolean;
  /** Absolute path of the spec file. */
  readonly file: string;
  readonly planHash: string;
  readonly placeMs: number;
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
  | { readonly kind: 'not-ready'; readonly detail: string };

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
  return withLock(dir, async () => {
    const existing = await readServiceState(req.plan.name, ports);
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
      createdAt: new Date(ports.clock.now()).toISOString(),
      status: 'starting',
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
    await mkdir(join(dir, 'logs'), { recursive: true });
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
  const path = plan.ranks[0]?.env[ENV.sshWrapper];
  if (!path) return;
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, buildDispatchWrapper(join(stateRoot(), STATE.servicesDir), 'bin/multinode-ssh'), {
    mode: 0o755,
  });
  await chmod(tmp, 0o755);
  await rename(tmp, path);
}

export function rankEnv(rank: RankPlan): Record<string, string> {
  return { ...BASE_ENV, HOME: process.env['HOME'] ?? '/root', ...rank.env };
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
export function plainRankArgv(rank: RankPlan): string[] {
  const cmd = rank.command.argv.length > 0 ? [...rank.command.argv] : ['/bin/sleep', 'infinity'];
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
  rank: RankPlan,
  rankNetns: string | undefined,
): string[] {
  const cmd = rank.command.argv.length > 0 ? [...rank.command.argv] : ['/bin/sleep', 'infinity'];
  const cpus = hostCpus(rank.cpus);
  const taskset = cpus.length > 0 ? ['/usr/bin/taskset', '-c', cpus.join(',')] : [];
  return [...rankExecPrefix(clusterName, serviceDirPath, rank, rankNetns), ...taskset, ...cmd];
}

/** Runs a service to completion (or until stopped). Returns the exit code to report (first failing rank's). */
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
  const plan = initial.plan;
  const dir = serviceDir(name);
  const update = (fn: (s: ServiceState) => void) => updateServiceState(name, fn, ports);
  const startTime = await readProcStartTime(process.pid);
  await update((s) => {
    s.supervisorPid = process.pid;
    if (startTime !== undefined) s.supervisorStartTime = startTime;
  });
  const record = async (r: Resource | readonly Resource[]) => {
    await update((s) => {
      s.resources.push(...(Array.isArray(r) ? (r as readonly Resource[]) : [r as Resource]));
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
  try {
    // Endpoints: host ports now (the root table is recorded before it can exist), published once ready.
    const others = (await listServiceStates(ports)).filter((s) => s.name !== name);
    const taken = await readForwardedPorts(ports);
    for (const o of others)
      for (const e of o.endpoints) {
        taken.add(e.hostPort);
        if (e.dnatPort !== undefined) taken.add(e.dnatPort);
      }
    const { endpoints, forwards } = cluster
      ? await planEndpoints(plan, cluster, taken)
      : { endpoints: loopbackEndpoints(plan), forwards: [] };
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

    let t = ports.clock.now();
    const rankNets = cluster
      ? await setupServiceNetwork({ cluster, plan, serviceDir: dir, ports, record, keepResults }, forwards)
      : plan.ranks.map((r) => ({ rank: r.rank, netns: '' }));
    await update((s) => {
      for (const rn of rankNets) {
        const r = s.ranks.find((x) => x.rank === rn.rank);
        if (r) Object.assign(r, { netns: rn.netns });
      }
    });
    await phase('network', ports.clock.now() - t);

    for (const f of plan.files) {
      await mkdir(dirname(f.path), { recursive: true });
      await writeFile(f.path, f.content);
      await chmod(f.path, f.mode);
      if (!f.path.startsWith(`${dir}/`)) await record({ kind: 'dir', path: f.path });
    }

    t = ports.clock.now();
    const cwd = plan.cwd ?? dirname(initial.file);
    if (!existsSync(cwd))
      throw new MultinodeError('runtime.bad-cwd', `cwd ${cwd} does not exist on this machine`);
    const netnsOf = (r: RankPlan) =>
      plan.network.mode === 'overlay' ? rankNets.find((x) => x.rank === r.rank)?.netns : undefined;

    // sshd per rank (leader launch, MPI/GASNet launchers): started and answering before any script runs.
    if (degraded && needsSsh(plan))
      emit({
        kind: 'note',
        message: 'no root: no sshd per rank, so $MULTINODE_SSH_WRAPPER and mpirun cannot reach other ranks',
      });
    if (cluster && needsSsh(plan)) {
      await writeDispatchWrapper(plan);
      const ssh = await prepareServiceSsh(plan, {
        serviceDir: dir,
        rankExec: (r) => rankExecPrefix(cluster.name, dir, r, netnsOf(r)),
        logFile: (r) => rankLogPath(dir, r.rank),
        cwd: () => cwd,
        env: (r) => rankEnv(r),
      });
      await record({ kind: 'ssh-control', path: ssh.controlDir });
      for (const r of plan.ranks) {
        const argv = ssh.sshdArgv(r.rank);
        const fd = openSync(rankLogPath(dir, r.rank), 'a');
        const child = spawn(argv[0] as string, argv.slice(1), {
          detached: true,
          stdio: ['ignore', fd, fd],
          env: { ...BASE_ENV },
        });
        closeSync(fd);
        child.on('error', () => undefined);
        const st = child.pid !== undefined ? await readProcStartTime(child.pid) : undefined;
        if (child.pid !== undefined && st !== undefined)
          await record({ kind: 'process', rank: r.rank, pid: child.pid, startTime: st });
      }
      await Promise.all(plan.ranks.map((r) => ssh.waitReady(r.rank, { timeoutMs: 15_000 })));
      await phase('sshd', ports.clock.now() - t);
      t = ports.clock.now();
    }
    const exits = new Map<number, { code: number | null; signal: string | null }>();
    let wake: () => void = () => undefined;
    /**
     * Starts one rank (also the seam for restarts): its own process group, output appended to its log, the
     * process recorded (pid + start time) together with the rank's status in one state write.
     */
    const startRank = async (r: RankPlan): Promise<void> => {
      const argv = cluster ? rankArgv(cluster.name, dir, r, netnsOf(r)) : plainRankArgv(r);
      const fd = openSync(rankLogPath(dir, r.rank), 'a');
      const child = spawn(argv[0] as string, argv.slice(1), {
        cwd,
        env: rankEnv(r),
        detached: true,
        stdio: ['ignore', fd, fd],
      });
      closeSync(fd);
      exits.delete(r.rank);
      child.on('exit', (code, signal) => {
        exits.set(r.rank, { code, signal });
        emit({ kind: 'rank-exit', rank: r.rank, code, signal });
        void update((s) => {
          const rs = s.ranks.find((x) => x.rank === r.rank);
          if (!rs) return;
          rs.status = code === 0 ? 'exited' : 'failed';
          if (code !== null) rs.exitCode = code;
          if (signal !== null) rs.signal = signal;
          rs.endedAt = new Date().toISOString();
        }).catch(() => undefined);
        wake();
      });
      child.on('error', () => undefined);
      const pid = child.pid;
      const st = pid === undefined ? undefined : await readProcStartTime(pid);
      if (pid === undefined || st === undefined) return;
      await update((s) => {
        s.resources.push({ kind: 'process', rank: r.rank, pid, startTime: st });
        const rs = s.ranks.find((x) => x.rank === r.rank);
        if (!rs || exits.has(r.rank)) return;
        Object.assign(rs, { pid, startTime: st, status: 'running', startedAt: new Date().toISOString() });
        delete rs.exitCode;
        delete rs.signal;
      });
    };
    for (const r of plan.ranks) await startRank(r);
    await update((s) => {
      s.status = 'running';
    });
    await phase('spawn', ports.clock.now() - t);

    // Readiness of rank 0, and endpoint publishing that follows it.
    const rank0 = plan.ranks[0];
    const probe = rank0?.probe ?? plan.probe;
    const started = ports.clock.now();
    let ready = false;
    let everReady = false;
    const setReady = async (isReady: boolean, detail: string) => {
      if (isReady === ready) return;
      ready = isReady;
      if (isReady) {
        if (cluster) await publishEndpoints(cluster, name, endpoints, ports);
        await update((s) => {
          s.status = 'ready';
          s.endpoints.forEach((e) => (e.published = true));
          s.probe.status = 'ready';
        });
        if (!everReady) await phase('ready', ports.clock.now() - started);
        everReady = true;
        emit({
          kind: 'ready',
          endpoints: endpoints.map(
            (e) =>
              `${e.name}: ${e.protocol === 'https' ? 'https' : e.protocol === 'http' ? 'http' : 'tcp'}://${e.hostAddress}:${e.hostPort}`,
          ),
        });
      } else {
        if (cluster) await withdrawEndpoints(cluster.name, name, ports);
        await update((s) => {
          if (s.status === 'ready') s.status = 'running';
          s.endpoints.forEach((e) => (e.published = false));
          s.probe.status = 'not-ready';
        });
        if (detail !== 'service finished')
          emit({
            kind: 'not-ready',
            detail: endpoints.length > 0 ? `${detail}; endpoints withdrawn` : detail,
          });
      }
    };

    const scriptRanks = plan.launch === 'all' ? plan.ranks.map((r) => r.rank) : [0];
    const finished = () => scriptRanks.every((r) => exits.has(r)) || options.stop?.aborted === true;
    let probeState = { ready: false, successes: 0, failures: 0 };
    let nextProbe = started + (probe ? probe.initialDelaySeconds * 1000 : 0);
    if (probe) await update((s) => void (s.probe.status = 'waiting'));
    const rn0 = rankNets.find((x) => x.rank === 0);
    // The planner binds rank 0's probe to the port rank 0 really listens on (the host port in host mode).
    const probePort = probe ? probe.action.port : 0;
    options.stop?.addEventListener('abort', () => wake());

    while (!finished()) {
      if (exits.has(0)) {
        await setReady(false, 'rank 0 exited');
      } else if (!probe) {
        await setReady(true, 'running');
      } else if (ports.clock.now() >= nextProbe && rank0 && rn0) {
        const res = await runProbe(
          probe,
          { netns: rn0.netns, address: rank0.address, port: probePort },
          ports.spawner,
        );
        probeState = nextProbeState(probeState, res.ok, probe);
        const ps = probeState;
        await update((s) => {
          s.probe.successes = ps.successes;
          s.probe.failures = ps.failures;
          s.probe.last = res.detail;
          s.probe.lastAt = new Date().toISOString();
        });
        await setReady(probeState.ready, res.detail);
        nextProbe = ports.clock.now() + probe.periodSeconds * 1000;
      }
      const waitMs = probe ? Math.max(50, Math.min(1000, nextProbe - ports.clock.now())) : 1000;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }

    await setReady(false, 'service finished');
    const current = await readServiceState(name, ports);
    if (current) await stopRanks(current, 3000);
    let code = 0;
    let why: string | undefined;
    for (const r of scriptRanks) {
      const e = exits.get(r);
      if (e && e.code !== 0) {
        code = e.code ?? 128;
        why = `rank ${r} exited with ${e.signal ? `signal ${e.signal}` : `code ${e.code}`}`;
        break;
      }
    }
    for (const srv of tlsServers) srv.close();
    const stopped = options.stop?.aborted === true;
    await update((s) => {
      s.status = stopped ? 'stopping' : code === 0 ? 'completed' : 'failed';
      if (!stopped && why !== undefined) s.message = why;
    });
    return code;
  } catch (e) {
    for (const srv of tlsServers) srv.close();
    await update((s) => {
      s.status = 'failed';
      s.message = e instanceof Error ? e.message : String(e);
    }).catch(() => undefined);
    throw e;
  }
}

export type { ClusterMeta };
