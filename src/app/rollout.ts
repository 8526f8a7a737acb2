/**
 * `up` of a file whose replicated service already runs: compare each gang's content hash with the file's,
 * then do nothing (unchanged), scale (only the count changed) or roll (src/plan/replicas.ts `planRollout`:
 * one gang at a time; a surge when the planner finds room for one more gang on the cluster, else one gang
 * unavailable at a time). A new gang that does not become ready stops the rollout: it is removed, the gangs
 * still running keep serving, and the error names them.
 *
 *   updateReplicaSetFromFile(svc, volumes, file, ctx): Promise<RolloutResult>
 */
import { MultinodeError } from '../api/issues.js';
import type { ServiceSpec, Spec } from '../api/spec.js';
import { planSpec } from '../plan/index.js';
import {
  lowestFreeIndex,
  planRollout,
  planScale,
  replicaCount,
  replicaService,
  serviceContentHash,
  updateStrategy,
} from '../plan/replicas.js';
import type { ReplicaStep } from '../plan/replicas.js';
import { readInventory } from '../targets/local/cluster.js';
import { readReplicaSet, readRotation, updateReplicaSet } from '../targets/local/replica-set.js';
import type { ReplicaSetState } from '../targets/local/replica-set.js';
import { localPlanOptions } from '../targets/local/target.js';
import { silentReporter } from './reporter.js';
import type { ReplicaContext } from './scale.js';
import { ensureController, runSteps, specOf } from './scale.js';

export interface RolloutResult {
  readonly service: string;
  readonly action: 'unchanged' | 'scaled' | 'rolled';
  readonly mode?: 'surge' | 'unavailable';
  readonly steps: readonly ReplicaStep[];
  readonly members: readonly string[];
  readonly ms: number;
}

/** Gangs the cluster can hold beyond what runs now: 1 when the planner places one more gang, else 0. */
export async function roomForOneMore(set: ReplicaSetState, svc: ServiceSpec): Promise<number> {
  const inventory = await readInventory(set.cluster);
  const probe = replicaService(svc, lowestFreeIndex(set.members.map((m) => m.index)));
  const result = planSpec(specOf(set.file, set.volumes, [probe]), inventory, localPlanOptions(0));
  return result.ok ? 1 : 0;
}

export async function updateReplicaSetFromFile(
  svc: ServiceSpec,
  volumes: Spec['volumes'],
  file: string,
  ctx: ReplicaContext,
): Promise<RolloutResult> {
  const t0 = Date.now();
  const report = ctx.reporter ?? silentReporter;
  const name = svc.name;
  const set = await readReplicaSet(name);
  if (!set) throw new MultinodeError('runtime.no-service', `no replica set named "${name}"`);
  await ensureController(name, ctx.selfArgv);
  const hash = serviceContentHash(svc);
  const desired = replicaCount(svc);
  const active = set.members.filter((m) => m.state === 'active');
  const stale = active.filter((m) => m.contentHash !== hash);
  const fresh = active.filter((m) => m.contentHash === hash);
  const finish = async (
    action: RolloutResult['action'],
    steps: readonly ReplicaStep[],
    mode?: 'surge' | 'unavailable',
  ) => {
    const after = await readReplicaSet(name);
    return {
      service: name,
      action,
      ...(mode ? { mode } : {}),
      steps,
      members: (after?.members ?? []).map((m) => m.name),
      ms: Date.now() - t0,
    };
  };
  if (stale.length === 0 && active.length === desired) {
    report.note(`${name}: unchanged (${desired} replica(s) run this version); nothing to do`);
    return finish('unchanged', []);
  }
  await updateReplicaSet(name, (s) => {
    s.service = svc;
    s.contentHash = hash;
    s.replicas = desired;
    s.file = file;
    s.volumes = volumes;
  });
  if (stale.length === 0) {
    const steps = planScale(name, active, desired);
    report.note(`${name}: only the replica count changed (${active.length} → ${desired}); scaling`);
    await runSteps(name, steps, ctx);
    return finish('scaled', steps);
  }
  const update = updateStrategy(svc);
  const current = await readReplicaSet(name);
  const room = current ? await roomForOneMore(current, svc) : 0;
  const rollout = planRollout({
    service: name,
    current: stale,
    desired: Math.max(0, desired - fresh.length),
    update,
    room,
  });
  if (!rollout.ok)
    throw new MultinodeError('runtime.rollout-impossible', `cannot roll ${name}: ${rollout.reason}`);
  report.note(
    `${name}: rolling update of ${stale.length} gang(s), one at a time (${rollout.mode === 'surge' ? 'a new gang is ready before an old one goes' : 'no room for one more gang: an old one goes before its replacement starts'})`,
  );
  const mark = (status: 'running' | 'done' | 'failed', message: string) =>
    updateReplicaSet(name, (s) => {
      s.rollout = { status, message, at: new Date().toISOString() };
    });
  await mark('running', `${rollout.mode}: ${rollout.steps.map((s) => `${s.kind} ${s.name}`).join(', ')}`);
  try {
    await runSteps(name, rollout.steps, ctx);
  } catch (e) {
    const serving = (await readRotation(name))?.members ?? [];
    const msg = `rolling update of ${name} stopped: ${e instanceof Error ? e.message : String(e)}. ${serving.length > 0 ? `${serving.join(', ')} keep serving` : 'no gang is serving'}. Fix the file and run \`up\` again to resume, or \`multinode down ${name}\``;
    await mark('failed', msg);
    throw new MultinodeError('runtime.rollout-failed', msg, { cause: e });
  }
  await mark('done', `${rollout.mode}: ${rollout.steps.length} step(s) in ${Date.now() - t0} ms`);
  return finish('rolled', rollout.steps, rollout.mode);
}
