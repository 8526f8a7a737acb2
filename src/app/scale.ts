/**
 * Replica sets on the local target: starting one gang (`addReplica`), draining and stopping one
 * (`removeReplica`), `multinode scale SERVICE --replicas N` (`scaleLocal`), and `down` of a whole set
 * (`downReplicaSet`). A gang is planned against the cluster's live inventory under the cluster lock, recorded
 * as a service of its own and supervised by a detached `__supervise`; the set's endpoint controller
 * (`__replica-endpoints`, src/targets/local/replica-set.ts) puts it into the endpoint once it is ready.
 *
 *   scaleLocal(name, replicas, opts): Promise<ScaleResult>
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT, MultinodeError } from '../api/issues.js';
import type { ServiceSpec, Spec } from '../api/spec.js';
import { planSpec } from '../plan/index.js';
import { planScale, replicaName, replicaService } from '../plan/replicas.js';
import type { ReplicaStep } from '../plan/replicas.js';
import { readInventory } from '../targets/local/cluster.js';
import { serviceDir, withClusterLock } from '../targets/local/paths.js';
import {
  controllerAlive,
  readReplicaSet,
  readRotation,
  removeReplicaSet,
  replicaSetDir,
  updateReplicaSet,
  waitDrained,
} from '../targets/local/replica-set.js';
import type { ReplicaSetState } from '../targets/local/replica-set.js';
import { readServiceState } from '../targets/local/service-state.js';
import { createServiceRecord } from '../targets/local/supervisor.js';
import { downService } from '../targets/local/teardown.js';
import { localPlanOptions } from '../targets/local/target.js';
import { checkedName, PRIVATE_FILE_MODE } from '../targets/state-root.js';
import type { Reporter } from './reporter.js';
import { silentReporter } from './reporter.js';
import { DEFAULT_WAIT_TIMEOUT_S, waitDetached } from './up.js';
import { reasonLines } from './plan-for.js';
import { selfSpawnEnv } from './self-env.js';

export interface ReplicaContext {
  /** How to start this program again (`__supervise`, `__replica-endpoints`). */
  readonly selfArgv: readonly string[];
  readonly waitTimeoutS?: number;
  readonly reporter?: Reporter;
  /** Time a drained gang keeps running for connections already made (ms). Default 300. */
  readonly drainGraceMs?: number;
}

/** A spec holding only `services` (the volumes the set was started with). */
export function specOf(file: string, volumes: Spec['volumes'], services: readonly ServiceSpec[]): Spec {
  return { version: 'v1', file, volumes, services, positions: {} };
}

/** Starts `<self> <args…>` detached, its output appended to `log`. */
export function spawnDetached(
  self: readonly string[],
  args: readonly string[],
  log: string,
): number | undefined {
  if (self.length === 0)
    throw new MultinodeError('app.no-self', 'a detached start needs the argv that starts this program again');
  const fd = openSync(log, 'a', PRIVATE_FILE_MODE);
  const argv = [...self, ...args];
  const child = spawn(argv[0] as string, argv.slice(1), {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: selfSpawnEnv(),
  });
  closeSync(fd);
  child.unref();
  return child.pid;
}

/**
 * Waits until a just-started supervisor has recorded its endpoints' host ports (or failed, or 15 s): the
 * next gang's supervisor then sees them taken. Gangs started at the same instant would pick the same
 * via-port on a shared node.
 */
export async function waitEndpointsRecorded(name: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const s = await readServiceState(name);
    if (!s || s.status === 'failed' || s.endpoints.length >= s.plan.endpoints.length) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts the set's endpoint controller unless it runs. */
export async function ensureController(name: string, self: readonly string[]): Promise<void> {
  const set = await readReplicaSet(name);
  if (!set || (await controllerAlive(set))) return;
  spawnDetached(self, ['__replica-endpoints', name], join(replicaSetDir(name), 'controller.log'));
  // The controller records itself; wait briefly so a later step can rely on it.
  for (let i = 0; i < 50; i++) {
    const s = await readReplicaSet(name);
    if (!s || (await controllerAlive(s))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Plans one gang of the set on the cluster as it is now and records it (under the cluster lock). */
async function recordReplica(set: ReplicaSetState, index: number): Promise<void> {
  const svc = replicaService(set.service, index);
  await withClusterLock(set.cluster, async () => {
    const inventory = await readInventory(set.cluster);
    const planOptions = localPlanOptions(0);
    const spec = specOf(set.file, set.volumes, [svc]);
    const result = planSpec(spec, inventory, planOptions);
    if (!result.ok)
      throw new MultinodeError(
        'plan.infeasible',
        `cannot place replica ${svc.name} on cluster ${set.cluster}: ${result.reasons.map((r) => reasonLines(r).join('; ')).join('\n') || result.issues.map((i) => i.message).join('; ')}`,
        { exitCode: EXIT.failure },
      );
    const plan = result.plan.services[0];
    if (!plan) throw new MultinodeError('plan.empty', `no plan for replica ${svc.name}`);
    if (await readServiceState(svc.name))
      throw new MultinodeError(
        'runtime.service-exists',
        `replica ${svc.name} of ${set.name} cannot start: a service named "${svc.name}" already runs (\`multinode ps\`)`,
      );
    // In the set first: a crash after this leaves a member that `down` of the set removes.
    await updateReplicaSet(set.name, (s) => {
      s.members = s.members.filter((m) => m.name !== svc.name);
      s.members.push({ name: svc.name, index, contentHash: set.contentHash, state: 'active' });
    });
    try {
      await createServiceRecord({
        plan,
        cluster: set.cluster,
        file: set.file,
        planHash: result.plan.hash,
        placeMs: 0,
        spec,
        planOptions,
      });
    } catch (e) {
      await updateReplicaSet(set.name, (s) => {
        s.members = s.members.filter((m) => m.name !== svc.name);
      });
      throw e;
    }
  });
}

/**
 * Starts one gang and waits until it is ready (the controller then puts it into the endpoint). On failure
 * the gang is stopped and removed from the set, and the error says why.
 */
export async function addReplica(set: ReplicaSetState, index: number, ctx: ReplicaContext): Promise<void> {
  const report = ctx.reporter ?? silentReporter;
  const name = replicaName(set.name, index);
  await recordReplica(set, index);
  const pid = spawnDetached(ctx.selfArgv, ['__supervise', name], join(serviceDir(name), 'supervisor.log'));
  try {
    const plan = (await readServiceState(name))?.plan;
    if (!plan) throw new MultinodeError('runtime.vanished', `replica ${name} disappeared while starting`);
    await waitDetached(plan, pid, ctx.waitTimeoutS ?? DEFAULT_WAIT_TIMEOUT_S, report);
    // Ready: wait (briefly) until the controller has it in rotation, so the next step can rely on it.
    for (let i = 0; i < 40; i++) {
      const rot = await readRotation(set.name);
      if (rot?.members.includes(name)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    report.progress(`${set.name}: ${name} ready`);
  } catch (e) {
    await updateReplicaSet(set.name, (s) => {
      s.members = s.members.filter((m) => m.name !== name);
    });
    await downService(name);
    // waitDetached's advice (logs, `down`) is about a gang that keeps running: this one is gone.
    const why = (e instanceof Error ? e.message : String(e))
      .split('. It keeps running')[0]
      ?.split(' (see `multinode logs')[0];
    throw new MultinodeError(
      'runtime.replica-failed',
      `new gang ${name} did not become ready (${why ?? 'unknown'}); it was stopped and removed`,
      { cause: e },
    );
  }
}

/** Takes one gang out of the endpoint, lets connections made so far finish briefly, then stops it. */
export async function removeReplica(
  set: ReplicaSetState,
  member: string,
  ctx: ReplicaContext,
): Promise<void> {
  await updateReplicaSet(set.name, (s) => {
    for (const m of s.members) if (m.name === member) m.state = 'draining';
  });
  const controllerRuns = await readReplicaSet(set.name).then((s) => (s ? controllerAlive(s) : false));
  if (controllerRuns) await waitDrained(set.name, member);
  await new Promise((r) => setTimeout(r, ctx.drainGraceMs ?? 300));
  await downService(member);
  await updateReplicaSet(set.name, (s) => {
    s.members = s.members.filter((m) => m.name !== member);
  });
  (ctx.reporter ?? silentReporter).progress(`${set.name}: ${member} drained and removed`);
}

/** Runs add/remove steps in order; stops at the first failure. */
export async function runSteps(
  name: string,
  steps: readonly ReplicaStep[],
  ctx: ReplicaContext,
): Promise<void> {
  for (const step of steps) {
    const set = await readReplicaSet(name);
    if (!set) throw new MultinodeError('runtime.no-service', `replica set ${name} disappeared`);
    if (step.kind === 'add') await addReplica(set, step.index, ctx);
    else await removeReplica(set, step.name, ctx);
  }
}

export interface ScaleResult {
  readonly service: string;
  readonly from: number;
  readonly to: number;
  readonly members: readonly string[];
}

/** `multinode scale SERVICE --replicas N`. */
export async function scaleLocal(name: string, replicas: number, ctx: ReplicaContext): Promise<ScaleResult> {
  checkedName('service', name);
  if (!Number.isInteger(replicas) || replicas < 0 || replicas > 1000)
    throw new MultinodeError('cli.bad-option', `--replicas must be a whole number 0–1000, got ${replicas}`, {
      exitCode: EXIT.badInput,
    });
  const set = await readReplicaSet(name);
  if (!set) {
    const plain = await readServiceState(name);
    throw new MultinodeError(
      'runtime.not-replicated',
      plain
        ? `service "${name}" runs as one gang (its file has no \`replicas:\`); declare \`replicas:\` in the file (then \`down\` and \`up\`) to scale it`
        : `no replicated service named "${name}" (see \`multinode ps\`)`,
      { exitCode: EXIT.badInput },
    );
  }
  await ensureController(name, ctx.selfArgv);
  const active = set.members.filter((m) => m.state === 'active');
  const steps = planScale(name, active, replicas);
  await updateReplicaSet(name, (s) => {
    s.replicas = replicas;
  });
  await runSteps(name, steps, ctx);
  const after = await readReplicaSet(name);
  return {
    service: name,
    from: active.length,
    to: replicas,
    members: (after?.members ?? []).map((m) => m.name),
  };
}

/** Stops every gang of the set, then its controller and endpoint, and removes its record. */
export async function downReplicaSet(
  name: string,
  opts: { graceMs?: number; onProgress?: (m: string) => void } = {},
): Promise<boolean> {
  const set = await readReplicaSet(name);
  if (!set) return false;
  // Members first out of the endpoint (the controller keeps running until its record goes).
  await updateReplicaSet(name, (s) => {
    for (const m of s.members) m.state = 'draining';
  });
  const members = new Set(set.members.map((m) => m.name));
  await Promise.all(
    [...members].map((m) =>
      downService(m, {
        ...(opts.graceMs !== undefined ? { graceMs: opts.graceMs } : {}),
        onProgress: (msg) => opts.onProgress?.(`${m}: ${msg}`),
      }),
    ),
  );
  await removeReplicaSet(name);
  return true;
}
