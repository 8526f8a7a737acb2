/**
 * Submitting services that use each other to Slurm (targets/slurm/uses.ts): used jobs first, each using job
 * with `--dependency=after:` on them and their job ids; the published leaders go to a private directory next
 * to the job records (the emulated cluster's nodes and, on a real cluster, a shared state directory see it).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Plan, ServicePlan } from '../api/plan.js';
import { startOrder } from '../plan/index.js';
import { slurmJobsDir } from '../targets/slurm/jobs.js';
import { usesSubmitEnv } from '../targets/slurm/uses.js';

export interface UsesSubmission<J extends { readonly service: string }> {
  /** The jobs in start order (file order when nothing uses anything). */
  readonly order: readonly J[];
  /** The extra submission environment of a service's job. */
  env(svc: ServicePlan): Record<string, string>;
  /** Records a submitted job's id. */
  submitted(service: string, jobId: string): void;
}

export async function slurmUsesSubmission<J extends { readonly service: string }>(
  plan: Plan,
  jobs: readonly J[],
): Promise<UsesSubmission<J>> {
  const any = plan.services.some((s) => (s.uses ?? []).length > 0);
  if (!any) return { order: jobs, env: () => ({}), submitted: () => undefined };
  const dir = join(slurmJobsDir(), 'uses');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const rank = new Map(startOrder(plan.services).map((s, i) => [s.name, i]));
  const order = [...jobs].sort((a, b) => (rank.get(a.service) ?? 0) - (rank.get(b.service) ?? 0));
  const ids = new Map<string, string>();
  return {
    order,
    env: (svc) => usesSubmitEnv(svc, ids, dir),
    submitted: (service, jobId) => void ids.set(service, jobId),
  };
}
