/**
 * The supervisor of one service: sets up its network, writes the plan's files, starts every rank (its
 * environment, cwd and cpuset, in its namespaces via node-exec, each rank leading its own process group, its
 * stdout/stderr appended to its own log file), probes rank 0 and publishes the endpoints while rank 0 is
 * ready. Everything it acquires is recorded in the service state first, so `down` can undo it from any shell.
 * It runs in the foreground of `up`, or detached (`up -d` starts `multinode __supervise SERVICE`).
 *
 * Setting up (endpoints, network, plan files, sshd) happens here, in order; from the first rank start on, the
 * service is a reconcile loop: `reconcile/step.ts` decides (restart policy, escalation, port re-picking,
 * readiness, stop), `reconcile/interpreter.ts` carries the decisions out through the effects built below.
 */
import { writeFileAtomic } from '../atomic-file.js';
import { existsSync, mkdirSync } from 'node:fs';
import { chmod, mkdir, readFile, readlink, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { MultinodeError } from '../../api/issues.js';
import type { PlanOptions, RankPlan, ServicePlan } from '../../api/plan.js';
import type { Spec } from '../../api/spec.js';
import type { ProcessLauncher, RuntimePorts } from '../ports.js';
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
import { PRIVATE_DIR_MODE, requireInside } from '../state-root.js';
import { STATE } from '../../api/names.js';
import { buildDispatchWrapper, prepareServiceSsh } from './ssh/index.js';
import { SSHD } from './ssh/sshd.js';
import type { ServiceSsh } from './ssh/index.js';
import { EMPTY_LEDGER } from '../../plan/failover/policy.js';
import { leavesFor, plannedArgv, plannedEnv } from './resolve.js';
import { resolveFiles } from '../../plan/index.js';
import { versionedFiles } from '../../plan/failover/replan.js';
import { stopGroup } from './processes.js';
import type { EndpointState, FailoverState, Resource, ServiceState } from './service-state.js';
import {
  listServiceStates,
  readProcStartTime,
  readServiceState,
  serviceStatePath,
  updateServiceState,
} from './service-state.js';
import { stopRanks, undoInReverse, unrecorded } from './teardown.js';
import { rankMountsScriptPath, setupServiceMounts, underMount } from './volumes.js';
import type { SupervisorEvent } from './reconcile/events.js';
import type { ReconcileEffects } from './reconcile/interpreter.js';
import { Reconciler } from './reconcile/interpreter.js';
import { localLauncher } from './reconcile/launcher.js';
import { initialState } from './reconcile/state.js';
import { containerRanks, readRankRuntime, withContainerRemoval } from './container.js';
import type { ContainerRanks } from './container.js';
import { nodeNetnsName } from './node-exec.js';
import { trace } from './trace.js';

export interface ServiceRequest {
  readonly plan: ServicePlan;
  readonly cluster: string;
  /** No root: run ranks as plain processes on loopback addresses (see docs/guides/local-cluster.md). */
  readonly degraded?: boolean;
  /** Absolute path of the spec file. */
  readonly file: string;
  readonly planHash: string;
  readonly placeMs: number;
  /** The spec (at least this service) and the options it was planned with: failover re-plans from them. */
  readonly spec?: Spec;
  readonly planOptions?: PlanOptions;
}

export type { SupervisorEvent };

export interface SuperviseOptions {
  readonly onEvent?: (e: SupervisorEvent) => void;
  /** Aborting stops the ranks and returns (the caller then tears down, or leaves it to `down`). */
  readonly stop?: AbortSignal;
  /** How ranks and their sshd run (default: local process groups). */
  readonly launcher?: ProcessLauncher;
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

/**
 * Whether the ranks run sshd: when they need it, and otherwise in any service of more than one rank when
 * this machine has sshd, so plain `ssh <rank host name>` works in every launch mode (seed 004).
 */
export function runsSshd(plan: ServicePlan, hasSshd = existsSync(SSHD)): boolean {
  return needsSsh(plan) || (plan.ranks.length > 1 && hasSshd);
}

/** The one wrapper path every rank's MULTINODE_SSH_WRAPPER names; it dispatches on MULTINODE_SERVICE. */
async function writeDispatchWrapper(plan: ServicePlan): Promise<void> {
  const path = plan.sshWrapperPath;
  if (!path) return;
  await writeFileAtomic(
    path,
    buildDispatchWrapper(join(stateRoot(), STATE.servicesDir), 'bin/multinode-ssh'),
    0o755,
    { makeParent: true },
  );
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
  cwd?: string,
): string[] {
  return nodeExecArgv({
    clusterName,
    node: rank.node,
    ...(rankNetns !== undefined ? { rankNetns } : {}),
    uts: rankUtsPath(serviceDirPath, rank.rank),
    etcDir: rankEtcDir(serviceDirPath, rank.rank),
    mounts: rankMountsScriptPath(serviceDirPath),
    ...(cwd !== undefined ? { cwd } : {}),
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
  return [...rankExecPrefix(clusterName, serviceDirPath, rank, rankNetns, plan.cwd), ...taskset, ...cmd];
}

export { RESTART_GRACE_MS, SSHD_CHECK_MS, STARTED_AFTER_MS } from './reconcile/step.js';

/**
 * Runs a service to completion (or until stopped), acting on rank failures per the restart policy (see
 * docs/guides/failover.md). Returns the exit code to report (the failing rank's).
 */
export async function superviseService(
  name: string,
  options: SuperviseOptions = {},
  ports: RuntimePorts = defaultPorts(),
): Promise<number> {
  trace('supervise: begin');
  const emit = options.onEvent ?? (() => undefined);
  /** Ranks in their image (container.ts): how to launch and remove their containers. */
  let ctr: ContainerRanks | undefined;
  const launcher = withContainerRemoval(options.launcher ?? localLauncher, () => ctr);
  const initial = await readServiceState(name, ports);
  if (!initial) throw new MultinodeError('runtime.no-service', `no service named "${name}"`);
  // Degraded (no root): no cluster, no namespaces; ranks are plain processes on loopback addresses.
  const degraded = initial.degraded === true;
  const cluster = degraded ? undefined : await readClusterMeta(initial.cluster, ports);
  if (!degraded && !cluster)
    throw new MultinodeError('cluster.not-found', `cluster "${initial.cluster}" is gone`);
  const plan = initial.plan;
  const dir = serviceDir(name);
  /** Set when this supervisor closes the record itself (stopped or done); `down` closes it otherwise. */
  let closingSelf = false;
  /**
   * Every write goes through here: a record that vanished, or that `down` marked `stopping`, throws
   * RecordClosedError, and the supervisor then stops and removes what it made (see `removeOwn`).
   * Writes asked for while one is under way are applied together in the next one (one lock, one read, one
   * write for a batch: ranks started together are recorded together).
   */
  type Pending = {
    fn: (s: ServiceState) => void;
    resolve: (s: ServiceState) => void;
    reject: (e: unknown) => void;
  };
  let pending: Pending[] = [];
  let writing = false;
  const flush = async (): Promise<void> => {
    writing = true;
    try {
      while (pending.length > 0) {
        const batch = pending;
        pending = [];
        const failed = new Map<Pending, unknown>();
        try {
          const s = await updateServiceState(
            name,
            (x) => {
              if (x.status === 'stopping' && !closingSelf) throw new RecordClosedError(name);
              for (const p of batch) {
                try {
                  p.fn(x);
                } catch (e) {
                  failed.set(p, e);
                }
              }
            },
            ports,
          );
          for (const p of batch) {
            if (failed.has(p)) p.reject(failed.get(p));
            else if (!s) p.reject(new RecordClosedError(name));
            else p.resolve(s);
          }
        } catch (e) {
          for (const p of batch) p.reject(e);
        }
      }
    } finally {
      writing = false;
    }
  };
  const update = (fn: (s: ServiceState) => void): Promise<ServiceState> =>
    new Promise<ServiceState>((resolve, reject) => {
      pending.push({ fn, resolve, reject });
      if (!writing) void flush();
    });
  /** What this supervisor registered (or was about to), to undo itself when its record is closed. */
  const mine: Resource[] = [];
  const now = () => ports.clock.now();
  const startTime = await readProcStartTime(process.pid);
  const failover: FailoverState = initial.failover ?? {
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
  let loop: Reconciler | undefined;
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
    const endpoints = planned.endpoints;
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

    trace('supervise: endpoints planned');
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
    trace('supervise: network');

    // The reconcile loop owns the plan from here on (failover may re-plan host ports).
    const rt = cluster ? await readRankRuntime(dir) : undefined;
    // Ranks in their image run the image's sshd (pod entrypoint), not one from this machine.
    const withSsh = cluster !== undefined && runsSshd(plan) && rt?.kind !== 'container';
    const reconciler = new Reconciler(
      initialState(
        {
          name,
          restart: plan.restart,
          cluster: cluster !== undefined,
          ssh: withSsh,
          scriptRanks: plan.launch === 'all' ? plan.ranks.map((r) => r.rank) : [0],
          rank0Netns: rankNets.find((x) => x.rank === 0)?.netns ?? '',
          ...(initial.spec ? { spec: initial.spec } : {}),
          ...(initial.planOptions ? { planOptions: initial.planOptions } : {}),
        },
        plan,
        failover,
        endpoints,
        now(),
      ),
      { clock: ports.clock, launcher, spawner: ports.spawner },
    );
    loop = reconciler;
    const currentPlan = () => reconciler.state.plan;

    const writePlanFiles = async (p: ServicePlan, version: number) => {
      for (const f of resolveFiles(versionedFiles(p.files, version), leavesFor(p, degraded))) {
        const fresh = !existsSync(f.path);
        // In the service directory a plan file keeps the owner's bits only (it may carry env values).
        await writeFileAtomic(f.path, f.content, f.path.startsWith(`${dir}/`) ? f.mode & 0o700 : f.mode, {
          makeParent: true,
        });
        if (fresh && !f.path.startsWith(`${dir}/`)) await record({ kind: 'dir', path: f.path });
      }
    };
    await writePlanFiles(plan, failover.clusterVersion);
    trace('supervise: plan files');

    t = now();
    // Volumes (and the ssh client config) in every rank's mount namespace; the cwd may exist only there.
    const rankMounts = cluster ? await setupServiceMounts(plan, initial.spec, dir, withSsh) : [];
    if (degraded && plan.mounts.length > 0)
      emit({ kind: 'note', message: 'no root: no mount namespaces, so the volumes are not mounted' });
    const cwd = plan.cwd ?? dirname(initial.file);
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
        mounts: rankMounts,
        cpus: (r) => hostCpus(r.cpus),
      });
    trace('supervise: mounts');
    if (!ctr && !existsSync(cwd) && !underMount(cwd, rankMounts))
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
    const startSshd = async (s0: ServiceSsh, r: RankPlan): Promise<void> => {
      const proc = launcher.launch(s0.sshdArgv(r.rank), {
        env: { ...BASE_ENV },
        logFile: rankLogPath(dir, r.rank),
      });
      const pid = proc.pid;
      const st = pid !== undefined ? await launcher.startTime(pid) : undefined;
      if (pid === undefined || st === undefined) return;
      sshds.set(r.rank, { pid, startTime: st });
      proc.onExit((code, signal) => {
        if (sshds.get(r.rank)?.pid !== pid) return;
        sshds.delete(r.rank);
        reconciler.dispatch({
          kind: 'sshd-exited',
          rank: r.rank,
          pid,
          startTime: st,
          code,
          signal,
          at: now(),
        });
      });
      await record({ kind: 'process', rank: r.rank, pid, startTime: st });
    };
    /** Starts the sshd of each given rank that has none (after it died), and waits until they answer. */
    const ensureSshds = async (ranks: readonly number[]): Promise<void> => {
      const s0 = ssh;
      if (!s0) return;
      const again = currentPlan().ranks.filter((r) => ranks.includes(r.rank) && !sshds.has(r.rank));
      await Promise.all(again.map((r) => startSshd(s0, r)));
      await Promise.all(again.map((r) => s0.waitReady(r.rank, { timeoutMs: 15_000 }).catch(() => undefined)));
    };
    for (const r of plan.ranks) mkdirSync(rankTmpDir(dir, r.rank), { recursive: true, mode: 0o1777 });
    if (withSsh) {
      await writeDispatchWrapper(plan);
      ssh = await prepareServiceSsh(plan, {
        serviceDir: dir,
        rankExec: (r) => rankExecPrefix(cluster.name, dir, r, netnsOf(r)),
        logFile: (r) => rankLogPath(dir, r.rank),
        cwd: () => cwd,
        env: (r) => rankEnv(currentPlan(), r, dir, degraded),
      });
      await record({ kind: 'ssh-control', path: ssh.controlDir });
      trace('supervise: ssh material');
      const s0 = ssh;
      await Promise.all(plan.ranks.map((r) => startSshd(s0, r)));
      trace('supervise: sshd started');
      await Promise.all(
        plan.ranks.map(async (r) => {
          // Watched in /proc (no process per poll): sshd loads its host keys before it listens, so a
          // listening sshd answers. Gone or not listening in time: the banner check says why, as before.
          const sd = sshds.get(r.rank);
          if (sd && (await untilListening(sd.pid, r.sshPort, 15_000))) return;
          await s0.waitReady(r.rank, { timeoutMs: 15_000 });
        }),
      );
      await phase('sshd', now() - t);
      trace('supervise: sshd ready');
      t = now();
    }

    // ---- ranks: the reconcile loop (reconcile/step.ts decides, reconcile/interpreter.ts acts) ------------
    const fx: ReconcileEffects = {
      rankLaunch: (p, r) => {
        mkdirSync(rankTmpDir(dir, r.rank), { recursive: true, mode: 0o1777 });
        const inImage = ctr?.launch(r, rankEnv(p, r, dir, degraded), plannedArgv(p, r));
        if (inImage)
          return {
            argv: inImage.argv,
            options: { cwd: '/', env: inImage.env, logFile: rankLogPath(dir, r.rank) },
          };
        return {
          argv: cluster ? rankArgv(cluster.name, dir, p, r, netnsOf(r)) : plainRankArgv(p, r),
          options: {
            // a cwd inside a volume is entered in the rank's namespace
            cwd: existsSync(cwd) ? cwd : '/',
            env: rankEnv(p, r, dir, degraded),
            logFile: rankLogPath(dir, r.rank),
          },
        };
      },
      save: async (_what, apply) => {
        await update(apply);
      },
      own: (r) => {
        mine.push(r);
      },
      emit,
      checkRecord: () => {
        // `down` removed the record without reaching this process: stop as if told to.
        if (!existsSync(serviceStatePath(name))) throw new RecordClosedError(name);
      },
      ensureSshds: (_p, ranks) => ensureSshds(ranks),
      sshStopSessions: async (graceMs) => {
        await ssh?.stopSessions(graceMs);
      },
      sshCloseConnections: async () => {
        await ssh?.closeConnections();
      },
      checkSshd: async (rank) => {
        const s0 = ssh;
        if (!s0) return true;
        try {
          await s0.waitReady(rank, { timeoutMs: 2000 });
          return true;
        } catch {
          return false;
        }
      },
      sshdStatus: async () => {
        const out: Record<number, 'ok' | 'gone'> = {};
        for (const [rank, sd] of [...sshds])
          out[rank] = (await readProcStartTime(sd.pid)) === sd.startTime ? 'ok' : 'gone';
        return out;
      },
      writePlanFiles,
      readInventory: async () => {
        if (!cluster) throw new MultinodeError('runtime.no-cluster', 'no cluster to re-plan on');
        return readInventory(cluster.name, ports, { exclude: name });
      },
      publish: async (eps) => {
        if (cluster) await publishEndpoints(cluster, name, eps, ports);
      },
      withdraw: async () => {
        if (cluster) await withdrawEndpoints(cluster.name, name, ports);
      },
      stopRecorded: async (graceMs) => {
        const rec = await readServiceState(name, ports);
        if (rec) await stopRanks(rec, graceMs);
      },
    };

    trace('supervise: ranks');
    const final = await reconciler.run(fx, options.stop);
    await ctr?.removeAll();

    for (const srv of tlsServers) srv.close();
    const stopped = final.finished?.stopped === true;
    const failure = final.failure;
    closingSelf = stopped;
    await update((s) => {
      s.status = stopped ? 'stopping' : failure ? 'failed' : 'completed';
      s.group = { ready: false, missing: s.group?.missing ?? [] };
      if (!stopped && failure)
        s.message = `${failure.why}; left for inspection (\`multinode down ${name}\` removes it)`;
    });
    return final.finished?.code ?? 0;
  } catch (e) {
    for (const srv of tlsServers) srv.close();
    if (e instanceof RecordClosedError) {
      emit({ kind: 'note', message: e.message });
      trace('supervise: record closed');
      await removeOwn(name, mine, Object.values(loop?.state.live ?? {}), ports);
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

/**
 * Waits until process `pid` has a TCP socket listening on `port` in its network namespace (its
 * /proc/PID/net/tcp and tcp6): true then, false once it is gone or after `timeoutMs`. A cheap wait for
 * a daemon (the rank's sshd), no process per poll.
 */
export async function untilListening(pid: number, port: number, timeoutMs: number): Promise<boolean> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const deadline = Date.now() + timeoutMs;
  const own = await readlink('/proc/self/ns/net').catch(() => '');
  while (Date.now() < deadline) {
    let alive = false;
    // Not yet in its own namespace (still entering it): what /proc shows is ours.
    const ns = await readlink(`/proc/${pid}/ns/net`).catch(() => undefined);
    if (ns === undefined) return false;
    for (const f of ns === own ? [] : ['tcp', 'tcp6']) {
      let text: string;
      try {
        text = await readFile(`/proc/${pid}/net/${f}`, 'utf8');
        alive = true;
      } catch {
        continue;
      }
      // sl local_address rem_address st …: state 0A is LISTEN
      for (const line of text.split('\n')) {
        const cols = line.trim().split(/\s+/);
        if (cols[3] === '0A' && cols[1]?.endsWith(hex)) return true;
      }
    }
    if (!alive && ns !== own) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
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
 * After the record was closed: stops the ranks still running and its own processes (sshds), so this process
 * can end. While the record exists, the `down` that closed it undoes everything it lists once this process is
 * gone (it waits for it), so only what this supervisor made but could not record is undone here: the work is
 * done once. With the record gone (removed without reaching this process), everything this supervisor
 * registered is undone, in reverse (what is already gone counts as done), and what is left of the service
 * directory is removed unless a new record exists by then.
 */
async function removeOwn(
  name: string,
  mine: readonly Resource[],
  live: readonly { readonly pid: number; readonly startTime: string }[],
  ports: RuntimePorts,
): Promise<void> {
  await Promise.all(live.map((l) => stopGroup(l.pid, l.startTime, 1000)));
  trace(`supervise: record closed, ${live.length} rank group(s) stopped`);
  await Promise.all(mine.flatMap((r) => (r.kind === 'process' ? [stopGroup(r.pid, r.startTime, 1000)] : [])));
  trace('supervise: record closed, own processes stopped');
  const record = await readServiceState(name, ports).catch(() => undefined);
  const left = record ? unrecorded(mine, record.resources) : mine;
  trace(
    `supervise: record closed, ${mine.length - left.length} resource(s) left to down, ${left.length} undone here`,
  );
  // In reverse, each run of one kind at once (a service of n ranks: a few processes per kind, not n).
  await undoInReverse(left, ports, () => undefined);
  if (record) return;
  await withServiceLock(name, async () => {
    if (await readServiceState(name, ports)) return;
    await rm(requireInside(serviceDir(name)), { recursive: true, force: true });
  });
}

export type { ClusterMeta };
