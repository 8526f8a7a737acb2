/**
 * `up` on the local target: parse, read the live inventory (creating a `default` cluster sized for the file
 * when none exists), replace what a crashed supervisor left, plan, record every service, then either start a
 * detached supervisor per service and wait until each is ready (`detach`), or supervise in this process,
 * passing every rank's log lines to the reporter, and tear down when done or stopped.
 *
 *   upLocal(file, opts): Promise<number>   the services' exit code (0 with `detach`)
 */
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { rm } from 'node:fs/promises';
import { resolve, join } from 'node:path';
import { EXIT, MultinodeError } from '../api/issues.js';
import { STATE } from '../api/names.js';
import type { ServiceSpec, Spec } from '../api/spec.js';
import type { ServicePlan } from '../api/plan.js';
import { generateInventory, planSpec, startOrder } from '../plan/index.js';
import type { Inventory } from '../api/inventory.js';
import { createCluster, listClusters, readClusterMeta, readInventory } from '../targets/local/cluster.js';
import type { ClusterMeta } from '../targets/local/cluster.js';
import { LOOPBACK_CLUSTER, serviceDir, withClusterLock, withServiceLock } from '../targets/local/paths.js';
import { checkedName, requireInside } from '../targets/state-root.js';
import { isSameProcess, readServiceState } from '../targets/local/service-state.js';
import type { SupervisorEvent } from '../targets/local/supervisor.js';
import { createServiceRecord, needsSsh, superviseService } from '../targets/local/supervisor.js';
import type { PullPolicy, RankRuntime } from '../targets/local/container.js';
import { ensureImage, imageHasSshd, podmanAvailable, writeRankRuntime } from '../targets/local/container.js';
import { downService } from '../targets/local/teardown.js';
import { followLogs, rankLogPath } from '../targets/local/logs.js';
import { isRoot, localPlanOptions } from '../targets/local/target.js';
import {
  expandReplicas,
  isReplicated,
  replicaCount,
  replicaName,
  serviceContentHash,
} from '../plan/replicas.js';
import {
  createReplicaSet,
  pickSharedEndpoints,
  publishEmpty,
  readReplicaSet,
  removeReplicaSet,
  runEndpointController,
} from '../targets/local/replica-set.js';
import { readSpecFile } from './input.js';
import { reasonLines } from './plan-for.js';
import { startStandby } from './standby.js';
import { trace } from '../targets/local/trace.js';
import type { Standby } from './standby.js';
import { updateReplicaSetFromFile } from './rollout.js';
import { ensureController, spawnDetached, waitEndpointsRecorded } from './scale.js';
import type { Reporter } from './reporter.js';
import { silentReporter } from './reporter.js';

export interface UpLocalOptions {
  readonly detach?: boolean;
  /** With `detach`: seconds to wait for every service to be ready (0 = no limit). */
  readonly waitTimeoutS?: number;
  readonly cluster?: string;
  /** How to start this program again as `__supervise SERVICE` (with `detach`). */
  readonly selfArgv?: readonly string[];
  /** Foreground: stops the services (Ctrl-C in the CLI). */
  readonly stop?: AbortSignal;
  readonly reporter?: Reporter;
  /** Images of services that name one: pull policy (default `missing`, Kubernetes' IfNotPresent). */
  readonly pull?: PullPolicy;
  /** Run ranks on this machine's file system even when their service names an image. */
  readonly hostFs?: boolean;
}

/** What `detach` reports for each service once it is ready. */
export interface StartedService {
  readonly service: string;
  readonly ranks: number;
  readonly status: string;
  readonly cluster: string;
  readonly endpoints: readonly string[];
}

/** The cluster to run on: the named one, else `default`, else the only one, else a new `default`. */
export async function chooseCluster(
  spec: Spec,
  name: string | undefined,
  report: Reporter = silentReporter,
): Promise<ClusterMeta> {
  if (name !== undefined) checkedName('cluster', name);
  const clusters = await listClusters();
  if (name !== undefined) {
    const c = clusters.find((x) => x.name === name);
    if (!c)
      throw new MultinodeError(
        'cluster.not-found',
        `no cluster named "${name}" (create it with \`multinode cluster create ${name}\`)`,
        {
          exitCode: EXIT.badInput,
        },
      );
    return c;
  }
  const def = clusters.find((c) => c.name === 'default') ?? (clusters.length === 1 ? clusters[0] : undefined);
  if (def) return def;
  if (clusters.length > 1)
    throw new MultinodeError(
      'cluster.ambiguous',
      `several clusters exist (${clusters.map((c) => c.name).join(', ')}); pick one with --cluster`,
      {
        exitCode: EXIT.badInput,
      },
    );
  const s = spec.services;
  const gpuModel = s.find((x) => x.resource.gpuModel)?.resource.gpuModel;
  const meta = await createCluster({
    name: 'default',
    ...nodeSizeFor(spec),
    fabricNics: Math.max(0, ...s.map((x) => fabricCount(x.resource.fabricNics))),
    ...(gpuModel ? { gpuModel } : {}),
  });
  report.note(
    `no cluster yet: created cluster "default" with ${meta.nodes.length} node(s) (${meta.cores} cores, ${meta.gpusPerNode} GPUs, ${meta.fabricNics} fabric NICs each) in ${meta.createMs ?? 0} ms`,
  );
  return meta;
}

/**
 * Nodes for a spec when none are given (the default cluster, or degraded mode's loopback inventory): one per
 * rank of every service, each as large as the largest per-node request (at least 2 cores and 16 GiB).
 */
function nodeSizeFor(spec: Spec): {
  nodes: number;
  cores: number;
  memoryBytes: number;
  gpusPerNode: number;
} {
  const s = spec.services;
  return {
    nodes: Math.max(
      1,
      s.reduce((a, x) => a + x.nodes, 0),
    ),
    cores: Math.max(2, ...s.map((x) => x.resource.cpuCores)),
    memoryBytes: Math.max(16 * 1024 ** 3, ...s.map((x) => x.resource.memoryBytes)),
    gpusPerNode: Math.max(0, ...s.map((x) => x.resource.gpus)),
  };
}

function fabricCount(nics: readonly string[]): number {
  let max = 0;
  for (const n of nics) {
    const m = /^fabric(\d+)$/.exec(n);
    if (m?.[1]) max = Math.max(max, Number(m[1]) + 1);
  }
  return Math.max(max, nics.length);
}

export function describeEvent(service: string, e: SupervisorEvent): string | undefined {
  switch (e.kind) {
    case 'note':
      return `${service}: ${e.message}`;
    case 'phase':
      return `${service}: ${e.phase} ${e.ms} ms`;
    case 'rank-exit':
      return `${service}-${e.rank} exited with ${e.signal ? `signal ${e.signal}` : `code ${e.code}`}`;
    case 'ready':
      return `${service}: ready${e.endpoints.length > 0 ? ` — ${e.endpoints.join(', ')}` : ''}`;
    case 'not-ready':
      return `${service}: not ready (${e.detail})`;
    case 'restart':
      return `${service}: ${e.reason}`;
  }
}

/** Default for `up -d --wait-timeout` (seconds). */
export const DEFAULT_WAIT_TIMEOUT_S = 300;

/**
 * Resolves `next(ms)` at the next write of the service record in `dir` (or after `ms`); a write between
 * calls is not lost. Other files there (the supervisor's log) do not wake it.
 */
function recordWrites(dir: string): { next: (ms: number) => Promise<void>; close: () => void } {
  let pending = false;
  let wake: (() => void) | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, { persistent: false }, (_event, file) => {
      if (file !== null && file !== STATE.stateFile) return;
      pending = true;
      wake?.();
    });
    watcher.on('error', () => undefined);
  } catch {
    watcher = undefined; // no directory yet, or no inotify: the poll alone
  }
  return {
    next: (ms) =>
      new Promise<void>((resolve) => {
        if (pending) {
          pending = false;
          resolve();
          return;
        }
        const t = setTimeout(done, ms);
        function done(): void {
          clearTimeout(t);
          wake = undefined;
          pending = false;
          resolve();
        }
        wake = done;
      }),
    close: () => watcher?.close(),
  };
}

export async function waitDetached(
  plan: ServicePlan,
  pid: number | undefined,
  timeoutS: number,
  report: Reporter,
): Promise<void> {
  let lastShown = '';
  const deadline = Date.now() + timeoutS * 1000;
  // Woken when the record is written (fs.watch on its directory), else every 100 ms as before: a fixed poll
  // cost half a period on average between the service getting ready and `up -d` returning.
  const changed = recordWrites(serviceDir(plan.name));
  try {
    for (;;) {
      await changed.next(100);
      const s = await readServiceState(plan.name);
      if (s && timeoutS > 0 && Date.now() > deadline && s.status !== 'ready' && s.status !== 'completed') {
        const missing = (s.group?.missing ?? []).map((m) => `rank ${m.rank} (${m.why} since ${m.since})`);
        const why = [
          s.probe.status !== 'none'
            ? `rank 0's probe: ${s.probe.status}${s.probe.last ? ` (${s.probe.last})` : ''}`
            : '',
          missing.length > 0 ? `missing: ${missing.join(', ')}` : '',
          s.message ?? '',
        ].filter((x) => x !== '');
        throw new MultinodeError(
          'runtime.wait-timeout',
          `service ${plan.name} is not ready after ${timeoutS} s (status ${s.status}${why.length > 0 ? `; ${why.join('; ')}` : ''}). It keeps running: see \`multinode ps\` and \`multinode logs ${plan.name}\`; stop it with \`multinode down ${plan.name}\`; wait longer with --wait-timeout SECONDS (0 = no limit)`,
        );
      }
      if (!s) throw new MultinodeError('runtime.vanished', `service ${plan.name} disappeared while starting`);
      if (s.status === 'failed') {
        throw new MultinodeError(
          'runtime.start-failed',
          `service ${plan.name} failed${s.message ? `: ${s.message}` : ''} (see \`multinode logs ${plan.name}\`, ${join(serviceDir(plan.name), 'supervisor.log')}; clean up with \`multinode down ${plan.name}\`)`,
        );
      }
      if (s.status === 'ready' || s.status === 'completed') return;
      const line =
        s.probe.status === 'waiting' || s.probe.status === 'not-ready'
          ? `waiting for rank 0 to be ready (${s.probe.last ?? 'no answer yet'})`
          : '';
      if (line && line !== lastShown) {
        report.progress(`${plan.name}: ${line}`);
        lastShown = line;
      }
      if (pid !== undefined) {
        try {
          process.kill(pid, 0);
        } catch {
          throw new MultinodeError(
            'runtime.supervisor-died',
            `the supervisor of ${plan.name} exited early; see ${join(serviceDir(plan.name), 'supervisor.log')}`,
          );
        }
      }
    }
  } finally {
    changed.close();
  }
}

/**
 * A record without a supervisor yet is another `up` starting it while that `up` lives (records name it),
 * else (older records) unless it is older than this.
 */
const STARTING_GRACE_MS = 30_000;

/**
 * Before planning (so the plan sees what the leftovers really held): a service of the file that is still
 * supervised is refused; what a crashed supervisor left (ranks still running, networks, endpoints, state) is
 * removed, saying what. Running ranks are not adopted: the service starts afresh.
 */
async function replaceLeftovers(names: readonly string[], report: Reporter): Promise<void> {
  for (const name of names) {
    const old = await readServiceState(name);
    if (!old) continue;
    const supervised =
      old.supervisorPid !== undefined
        ? await isSameProcess(old.supervisorPid, old.supervisorStartTime)
        : old.starterPid !== undefined
          ? await isSameProcess(old.starterPid, old.starterStartTime)
          : Date.now() - Date.parse(old.createdAt) < STARTING_GRACE_MS;
    if (supervised)
      throw new MultinodeError(
        'runtime.service-exists',
        `service "${name}" is already up (status ${old.status}${old.supervisorPid !== undefined ? `, supervisor pid ${old.supervisorPid}` : ', starting'}); run \`multinode down ${name}\` first`,
      );
    let running = 0;
    for (const r of old.ranks) if (await isSameProcess(r.pid, r.startTime)) running++;
    const was =
      old.supervisorPid === undefined
        ? `its supervisor never started (the \`up\` that recorded it is gone)`
        : `its supervisor (pid ${old.supervisorPid}) is gone`;
    report.note(
      `${name}: ${was} (status ${old.status}, ${running} of ${old.ranks.length} rank(s) still running); replacing it: stopping those ranks and removing its networks, endpoints and state before starting again (running ranks are not adopted)`,
    );
    await downService(name);
  }
}

/** Removes a record nothing runs for yet (made by this `up` a moment ago). */
async function removeRecord(name: string): Promise<void> {
  await withServiceLock(name, () => rm(requireInside(serviceDir(name)), { recursive: true, force: true }));
}

export async function upLocal(file: string, opts: UpLocalOptions = {}): Promise<number> {
  const report = opts.reporter ?? silentReporter;
  const abs = resolve(file);
  trace('up: begin');
  const { spec: fileSpec, warnings: specWarnings } = readSpecFile(file);
  report.issues(specWarnings);
  trace('up: file read');
  const waitTimeout = opts.waitTimeoutS ?? DEFAULT_WAIT_TIMEOUT_S;
  const parsed = await updateRunningReplicaSets(fileSpec, abs, opts);
  if (parsed.services.length === 0) return 0;
  await replaceLeftovers(
    parsed.services.map((s) => s.name),
    report,
  );
  const degraded = !isRoot();
  const t0 = Date.now();
  const sets = parsed.services.filter(isReplicated);
  if (degraded && sets.length > 0)
    throw new MultinodeError(
      'runtime.replicas-need-root',
      `${sets.map((x) => x.name).join(', ')}: replicas need root (their endpoint spreads connections with nftables); run with sudo, or drop \`replicas:\``,
      { exitCode: EXIT.badInput },
    );
  // Each replica is planned, recorded and supervised as a service of its own (src/plan/replicas.ts).
  let spec = expandReplicas(parsed);
  if (degraded) {
    report.note(
      "not running as root: network namespaces, per-service overlays, CNI, fabric NICs, per-rank host names, sshd per rank and endpoint DNAT are unavailable. Falling back to host networking: every rank is a plain process on its own loopback address (127.0.1.x), host names in the environment are replaced by those addresses, and endpoints are rank 0's address and port. Run with sudo for the emulated cluster.",
    );
    spec = { ...parsed, services: parsed.services.map((s) => ({ ...s, hostNetwork: true })) };
  }
  // Detached: each service's supervisor starts now and waits for its record (standby.ts), so its start-up
  // overlaps choosing the cluster, placing, recording and image checks. A failure below lets them go.
  const standbys = new Map<string, Standby>();
  if (opts.detach && opts.selfArgv !== undefined)
    for (const svc of parsed.services) {
      if (isReplicated(svc)) continue; // a replica set's members start through its controller (scale.ts)
      const sb = await startStandby(opts.selfArgv, svc.name);
      if (sb) standbys.set(svc.name, sb);
    }
  trace('up: standby supervisors started');
  try {
    return await upPlanned();
  } finally {
    for (const sb of standbys.values()) sb.cancel();
  }

  async function upPlanned(): Promise<number> {
    const clusterName = degraded ? LOOPBACK_CLUSTER : (await chooseCluster(spec, opts.cluster, report)).name;
    // One lock per cluster from reading what its services hold to recording this plan: two `up`s on one
    // cluster never plan against the same free GPUs, cores or ports (`down` takes the same lock).
    trace('up: cluster chosen');
    const plan = await withClusterLock(clusterName, async () => {
      let inventory: Inventory;
      if (degraded) {
        inventory = generateInventory({ ...nodeSizeFor(spec), addressBase: '127.0.1.1' });
      } else inventory = await readInventory(clusterName);
      const planOptions = localPlanOptions(0);
      const result = planSpec(spec, inventory, planOptions);
      if (!result.ok) {
        const reasons = result.reasons.map(
          (r) => `cannot place ${r.service}: ${reasonLines(r).join('\n  ')}`,
        );
        throw new MultinodeError(
          'plan.infeasible',
          `cannot run ${file} on cluster ${clusterName}${reasons.length > 0 ? `\n${reasons.join('\n')}` : ''}`,
          { exitCode: EXIT.badInput, issues: result.issues },
        );
      }
      report.issues(result.warnings);
      const placeMs = Date.now() - t0;
      // Images first (pulled or loaded as --pull says, sshd checked): a failure leaves nothing behind.
      const runtimes = new Map<string, RankRuntime>();
      for (const svc of result.plan.services) {
        if (!svc.imageUri) continue;
        if (degraded || opts.hostFs) {
          report.note(
            `${svc.name}: image.uri ${svc.imageUri} is recorded, but ${degraded ? 'without root' : 'with --host-fs'} the ranks run on this machine's file system`,
          );
          runtimes.set(svc.name, { kind: 'host', hostFs: true });
          continue;
        }
        if (!podmanAvailable())
          throw new MultinodeError(
            'runtime.no-engine',
            `${svc.name}: image.uri ${svc.imageUri} needs podman and runc (scripts/install-deps installs them), or run with --host-fs`,
            { exitCode: EXIT.badInput },
          );
        const pull = opts.pull ?? 'missing';
        const imageId = await ensureImage(svc.imageUri, pull, `services.${svc.name}.image.uri`);
        if (needsSsh(svc) && !(await imageHasSshd(imageId)))
          throw new MultinodeError(
            'runtime.image-no-sshd',
            `services.${svc.name}.image.uri: image ${svc.imageUri} has no sshd, but ${svc.launch === 'leader' ? 'leader launch' : `the ${svc.implementation} launcher`} reaches the other ranks over SSH from inside their containers (as on Kubernetes): install openssh-server in the image, or run with --host-fs`,
            { exitCode: EXIT.badInput },
          );
        runtimes.set(svc.name, { kind: 'container', imageRef: svc.imageUri, imageId, pull });
      }
      // Degraded mode: the supervisor resolves every rank's host name to its address (nothing resolves names).
      const services = result.plan.services;
      const created: string[] = [];
      const createdSets: string[] = [];
      try {
        await createReplicaSets(sets, parsed, abs, clusterName, createdSets);
        for (const svc of services) {
          await createServiceRecord({
            plan: svc,
            cluster: clusterName,
            file: abs,
            planHash: result.plan.hash,
            placeMs,
            spec,
            planOptions,
            ...(degraded ? { degraded: true } : {}),
          });
          created.push(svc.name);
          const rt = runtimes.get(svc.name);
          if (rt) await writeRankRuntime(svc.name, rt);
        }
      } catch (e) {
        // All or nothing: records made before the failing one go again (nothing runs for them yet).
        for (const n of created) await removeRecord(n);
        for (const n of createdSets) await removeReplicaSet(n);
        throw e;
      }
      return result.plan;
    });
    trace('up: planned and recorded');

    if (opts.detach) {
      const self = opts.selfArgv;
      if (self === undefined || self.length === 0)
        throw new MultinodeError('app.no-self', 'detached up needs the argv that starts this program again');
      const setOf = new Map(sets.flatMap((x) => membersOf(x).map((m) => [m, x.name] as const)));
      const spawned = new Map<string, number | undefined>();
      // Used services first, each ready before the next starts (roles-and-dependencies: uses).
      for (const svc of startOrder(plan.services)) {
        const setName = setOf.get(svc.name);
        if (setName !== undefined) {
          await startReplicaSetDetached(
            setName,
            plan.services,
            setOf,
            self,
            waitTimeout,
            report,
            spawned,
            clusterName,
          );
          continue;
        }
        let pid = await standbys.get(svc.name)?.go();
        trace(`up: ${svc.name} handed to its supervisor`);
        pid ??= spawnDetached(self, ['__supervise', svc.name], join(serviceDir(svc.name), 'supervisor.log'));
        await waitDetached(svc, pid, waitTimeout, report);
        const s = await readServiceState(svc.name);
        const eps = (s?.endpoints ?? []).map(
          (e) => `${e.name} → ${e.protocol === 'tcp' ? 'tcp' : e.protocol}://${e.hostAddress}:${e.hostPort}`,
        );
        report.success(
          `✔ ${svc.name}: ${svc.ranks.length} rank(s) ${s?.status ?? ''} on cluster ${clusterName}${eps.length > 0 ? `\n  ${eps.join('\n  ')}` : ''}`,
        );
      }
      report.output(`logs: multinode logs SERVICE -f · status: multinode ps · stop: multinode down ${file}`);
      return 0;
    }

    // Foreground: supervise here, pass every rank's log lines on, tear down when stopped or done.
    const stop = opts.stop ?? new AbortController().signal;
    const width = Math.max(...plan.services.flatMap((s) => s.ranks.map((r) => r.hostname.length)));
    const followers = new AbortController();
    const follows = plan.services.map((svc) =>
      followLogs(
        svc.ranks.map((r) => ({
          rank: r.rank,
          path: rankLogPath(serviceDir(svc.name), r.rank),
        })),
        (rank, line) => {
          const host = svc.ranks[rank]?.hostname ?? `${svc.name}-${rank}`;
          report.output(line, { service: svc.name, rank, host: host.padEnd(width) });
        },
        { fromStart: true, follow: true, signal: followers.signal },
      ),
    );
    let code = 0;
    const controllers = sets.map((x) =>
      runEndpointController(x.name, {
        stop: followers.signal,
        onChange: (rot) =>
          report.note(`${x.name}: endpoint → ${rot.length > 0 ? rot.join(', ') : 'no ready replica'}`),
      }).catch((e: unknown) => report.note(`${x.name}: endpoint controller failed: ${String(e)}`)),
    );
    try {
      const setMembers = new Set(sets.flatMap((x) => membersOf(x)));
      let previous: Promise<void> = Promise.resolve();
      const codes = await Promise.all(
        plan.services.map(async (svc) => {
          // A service that uses others starts once they are ready (true: stopped, or a used one failed).
          if (await waitUsedReady(svc, stop)) return 0;
          // Replicas one after another until each has its endpoint ports (see waitEndpointsRecorded).
          if (setMembers.has(svc.name)) {
            const before = previous;
            let done = () => undefined as void;
            previous = new Promise<void>((r) => (done = r));
            await before;
            void waitEndpointsRecorded(svc.name).then(done);
          }
          return superviseService(svc.name, {
            stop,
            onEvent: (e) => {
              const m = describeEvent(svc.name, e);
              if (m) report.note(m);
            },
          });
        }),
      );
      code = codes.find((c) => c !== 0) ?? 0;
    } finally {
      followers.abort();
      await Promise.all(follows).catch(() => undefined);
      await Promise.all(controllers);
      for (const svc of plan.services) {
        const r = await downService(svc.name, { self: true });
        report.note(`${svc.name}: removed in ${r.ms} ms`);
      }
      for (const x of sets) await removeReplicaSet(x.name);
    }
    return stop.aborted ? 0 : code;
  }
}

// ---- replicas: sets that run already (rollout.ts), new sets, their detached start ----

function membersOf(svc: ServiceSpec): string[] {
  return Array.from({ length: replicaCount(svc) }, (_, i) => replicaName(svc.name, i));
}

/**
 * Replicated services of the file whose set runs already: nothing (unchanged), a scale or a rolling update
 * (rollout.ts). Returns the spec without them: what is left starts as usual.
 */
async function updateRunningReplicaSets(spec: Spec, abs: string, opts: UpLocalOptions): Promise<Spec> {
  const report = opts.reporter ?? silentReporter;
  const running: ServiceSpec[] = [];
  for (const svc of spec.services)
    if (isReplicated(svc) && (await readReplicaSet(svc.name))) running.push(svc);
  if (running.length === 0) return spec;
  const self = opts.selfArgv;
  if (!opts.detach || self === undefined || self.length === 0)
    throw new MultinodeError(
      'runtime.service-exists',
      `${running.map((x) => x.name).join(', ')} already run; updating running replicas (no-op, scale or rolling update) needs \`up -d\``,
      { exitCode: EXIT.badInput },
    );
  for (const svc of running) {
    const r = await updateReplicaSetFromFile(svc, spec.volumes, abs, {
      selfArgv: self,
      ...(opts.waitTimeoutS !== undefined ? { waitTimeoutS: opts.waitTimeoutS } : {}),
      reporter: report,
    });
    report.success(
      `✔ ${svc.name}: ${r.action === 'unchanged' ? 'unchanged' : r.action === 'scaled' ? 'scaled' : `rolled (${r.mode})`} — replicas ${r.members.join(', ')}${r.action === 'unchanged' ? '' : ` in ${r.ms} ms`}`,
    );
  }
  return { ...spec, services: spec.services.filter((x) => !running.includes(x)) };
}

/** Records a set per replicated service and claims its endpoint ports (a table that resets until one is ready). */
async function createReplicaSets(
  sets: readonly ServiceSpec[],
  spec: Spec,
  abs: string,
  clusterName: string,
  created: string[],
): Promise<void> {
  if (sets.length === 0) return;
  const meta = await readClusterMeta(clusterName);
  if (!meta) throw new MultinodeError('cluster.not-found', `cluster "${clusterName}" is gone`);
  for (const svc of sets) {
    const hash = serviceContentHash(svc);
    const endpoints = await pickSharedEndpoints(svc);
    await createReplicaSet({
      name: svc.name,
      cluster: clusterName,
      file: abs,
      contentHash: hash,
      service: svc,
      volumes: spec.volumes,
      replicas: replicaCount(svc),
      members: membersOf(svc).map((name, index) => ({
        name,
        index,
        contentHash: hash,
        state: 'active' as const,
      })),
      endpoints,
      createdAt: new Date().toISOString(),
    });
    created.push(svc.name);
    await publishEmpty(meta, { name: svc.name, endpoints, members: [] });
  }
}

/** Starts every replica of a set (supervisors first, then the endpoint controller) and waits until each is ready. */
async function startReplicaSetDetached(
  setName: string,
  services: readonly ServicePlan[],
  setOf: ReadonlyMap<string, string>,
  self: readonly string[],
  waitTimeout: number,
  report: Reporter,
  spawned: Map<string, number | undefined>,
  clusterName: string,
): Promise<void> {
  const members = services.filter((x) => setOf.get(x.name) === setName);
  if (members.every((m) => spawned.has(m.name))) return;
  for (const m of members) {
    spawned.set(
      m.name,
      spawnDetached(self, ['__supervise', m.name], join(serviceDir(m.name), 'supervisor.log')),
    );
    await waitEndpointsRecorded(m.name);
  }
  await ensureController(setName, self);
  await Promise.all(members.map((m) => waitDetached(m, spawned.get(m.name), waitTimeout, report)));
  const set = await readReplicaSet(setName);
  const eps = (set?.endpoints ?? []).map(
    (e) =>
      `${e.name} → ${e.protocol === 'tcp' ? 'tcp' : e.protocol}://${e.hostAddress}:${e.hostPort} (spread over ${members.map((m) => m.name).join(', ')})`,
  );
  report.success(
    `✔ ${setName}: ${members.length} replica(s) of ${members[0]?.ranks.length ?? 0} rank(s) ready on cluster ${clusterName}${eps.length > 0 ? `\n  ${eps.join('\n  ')}` : ''}`,
  );
}

// --- uses (docs/guides/roles-and-dependencies.md) --------------------------------------------------------

/**
 * Foreground start order: a service that uses others starts once each of them is ready (or completed), as
 * compose's `depends_on: service_healthy`. True when stopped while waiting, or when a used service failed
 * (the service is then not started; its record shows it never ran).
 */
async function waitUsedReady(svc: ServicePlan, stop: AbortSignal): Promise<boolean> {
  for (const u of svc.uses ?? []) {
    for (;;) {
      if (stop.aborted) return true;
      const s = await readServiceState(u.service);
      if (s && (s.status === 'ready' || s.status === 'completed')) break;
      if (s && (s.status === 'failed' || s.status === 'stopping')) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return false;
}
