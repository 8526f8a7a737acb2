/**
 * The Slurm target's use cases: `up`, `ps` and `down` (the CLI commands call these; so do tests and
 * benchmarks). Slurm commands run through a client: `SLURM_CONF` (option or environment) or the system's
 * configuration, optionally behind an argv prefix (an emulated cluster's controller node).
 *
 *   slurmUp(file, opts: SlurmUpOptions = {}): Promise<SlurmJobRecord[]>
 *     parse → plan (target slurm) → render one sbatch script per service → sbatch; unless `detach`,
 *     follows state and output until every job ends. Throws SlurmJobFailedError (exit 1, `.records`) when
 *     a job ends other than COMPLETED.
 *   slurmPs(opts: { output?: 'text' | 'json' | 'none' } = {}): Promise<SlurmJobRecord[]>
 *   slurmDown(nameOrFile, opts: { quiet?: boolean } = {}): Promise<SlurmJobRecord[]>   (scancel)
 *   slurmClientFor(opts): SlurmClient
 *
 * Job records live in `$MULTINODE_STATE_DIR/slurm/jobs/` (default /var/lib/multinode), beside the
 * submitted scripts and the batch output (`<service>-<jobid>.out`; the first node must see that
 * directory, as on a shared file system or the emulated cluster).
 */
import { existsSync, statSync } from 'node:fs';
import { EXIT, MultinodeError } from '../api/issues.js';
import { renderSlurmJobs, slurmEndpoints } from '../targets/slurm/index.js';
import type { SlurmRenderOptions } from '../targets/slurm/index.js';
import { slurmTarget } from '../targets/slurm/target.js';
import {
  cancelSlurmJobs,
  followSlurmJobs,
  isTerminal,
  listSlurmJobs,
  slurmUsesSubmission,
  submitSlurmJob,
} from '../targets/slurm/jobs.js';
import type { SlurmClient, SlurmJobRecord } from '../targets/slurm/jobs.js';
import { checkName } from '../spec/names.js';
import { checkSlurmOptions } from './slurm-options.js';
import { readSpecFile } from './input.js';
import { planFor } from './plan-for.js';
import {
  expandReplicas,
  isReplicated,
  planScale,
  replicaCount,
  replicaIndex,
  replicaName,
} from '../plan/replicas.js';
import type { Spec } from '../api/spec.js';
import type { Reporter } from './reporter.js';
import { silentReporter } from './reporter.js';

export interface SlurmUpOptions {
  readonly detach?: boolean;
  /** Slurm configuration file; default `$SLURM_CONF`, else the system's. */
  readonly slurmConf?: string;
  /** Prefix for Slurm commands, e.g. an emulated cluster's `clientArgv` (`readSlurmCluster`). */
  readonly clientArgv?: readonly string[];
  readonly partition?: string;
  readonly exclusive?: boolean;
  readonly time?: string;
  readonly account?: string;
  /** Submit only this service. */
  readonly service?: string;
  /** Extra environment for the job (sbatch exports the submitting environment to the job). */
  readonly env?: Readonly<Record<string, string>>;
  /** Where progress, job output and warnings go (default: nowhere). */
  readonly reporter?: Reporter;
  readonly seed?: number;
  readonly pollMs?: number;
}

export class SlurmJobFailedError extends MultinodeError {
  readonly records: readonly SlurmJobRecord[];
  constructor(message: string, records: readonly SlurmJobRecord[]) {
    super('slurm.job-failed', message, { exitCode: EXIT.failure });
    this.records = records;
  }
}

export function slurmClientFor(opts: { slurmConf?: string; clientArgv?: readonly string[] }): SlurmClient {
  const conf = opts.slurmConf ?? process.env['SLURM_CONF'];
  return {
    argv: [...(opts.clientArgv ?? [])],
    ...(conf !== undefined && conf !== '' ? { slurmConf: conf } : {}),
  };
}

export function describeSlurmJob(rec: SlurmJobRecord): string {
  const bits = [rec.state];
  if (rec.failure !== undefined) bits.push(rec.failure);
  else if (
    rec.reason !== undefined &&
    (rec.state === 'PENDING' || (isTerminal(rec.state) && rec.state !== 'COMPLETED'))
  )
    bits.push(rec.reason);
  if (rec.exitCode !== undefined && rec.exitCode !== '0:0') bits.push(`job exit ${rec.exitCode}`);
  return bits.join(' — ');
}

export async function slurmUp(file: string, opts: SlurmUpOptions = {}): Promise<SlurmJobRecord[]> {
  checkSlurmOptions(opts);
  const report = opts.reporter ?? silentReporter;
  const { spec: fileSpec, warnings } = readSpecFile(file);
  report.issues(warnings);
  // Replicas: one job per gang, `<service>-<i>` (docs/guides/replicas-and-updates.md).
  const spec = expandReplicas(fileSpec);
  const replicaOf = replicaOwners(fileSpec);
  const planned = planFor(slurmTarget, spec, {
    runAsRoot: process.getuid?.() === 0,
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
  });
  report.issues(planned.warnings);
  const renderOpts: SlurmRenderOptions = {
    ...(opts.partition !== undefined ? { partition: opts.partition } : {}),
    ...(opts.exclusive !== undefined ? { exclusive: opts.exclusive } : {}),
    ...(opts.time !== undefined ? { time: opts.time } : {}),
    ...(opts.account !== undefined ? { account: opts.account } : {}),
    ...(opts.service !== undefined ? { service: opts.service } : {}),
  };
  const jobs = renderSlurmJobs(planned.plan, renderOpts);
  if (jobs.length === 0)
    throw new MultinodeError('cli.bad-option', `no service ${opts.service ?? ''} in ${file}`, {
      exitCode: EXIT.badInput,
    });
  const client = slurmClientFor(opts);
  if (client.argv.length === 0 && client.slurmConf === undefined && !existsSync('/etc/slurm/slurm.conf'))
    throw new MultinodeError(
      'slurm.no-config',
      'no Slurm to submit to: set SLURM_CONF, or run on an emulated one (`multinode cluster create C --slurm`, then `multinode up --target slurm --cluster C FILE`)',
      { exitCode: EXIT.badInput },
    );
  const records: SlurmJobRecord[] = [];
  // Services that use others: after them, with their job ids (targets/slurm/uses.ts).
  const uses = await slurmUsesSubmission(planned.plan, jobs);
  for (const job of uses.order) {
    const svc = planned.plan.services.find((s) => s.name === job.service);
    const env = { ...opts.env, ...(svc ? uses.env(svc) : {}) };
    const rec = await submitSlurmJob(client, {
      service: job.service,
      file,
      script: job.script,
      planHash: planned.plan.hash,
      endpoints: svc ? slurmEndpoints(svc) : [],
      ...(Object.keys(env).length > 0 ? { env } : {}),
      ...withReplicaOf(replicaOf.get(job.service)),
    });
    uses.submitted(job.service, rec.jobId);
    records.push(rec);
    report.success(`submitted ${job.service}: Slurm job ${rec.jobId} (${job.nodes} nodes) → ${rec.output}`);
  }
  if (opts.detach) return records;

  const ac = new AbortController();
  const onSigint = (): void => ac.abort();
  process.once('SIGINT', onSigint);
  const many = records.length > 1;
  let final: SlurmJobRecord[];
  try {
    final = await followSlurmJobs(records, {
      signal: ac.signal,
      ...(opts.pollMs !== undefined ? { pollMs: opts.pollMs } : {}),
      onState: (rec, prev) => {
        const where = rec.state === 'RUNNING' && rec.nodeList ? ` on ${rec.nodeList}` : '';
        report.note(`${rec.service} (job ${rec.jobId}): ${prev} → ${describeSlurmJob(rec)}${where}`);
        if (rec.state === 'RUNNING' && rec.batchHost)
          for (const ep of rec.endpoints)
            report.success(`endpoint ${ep.name}: ${ep.protocol}://${rec.batchHost}:${ep.port} (rank 0)`);
      },
      onOutput: (rec, lines) => {
        for (const l of lines) report.output(many ? `[${rec.service}] ${l}` : l, { service: rec.service });
      },
    });
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  if (ac.signal.aborted) {
    report.note(
      `stopped following; the job(s) keep running. \`multinode down ${file} --target slurm\` cancels them.`,
    );
    return final;
  }
  const failed = final.filter((r) => r.state !== 'COMPLETED');
  if (failed.length > 0)
    throw new SlurmJobFailedError(
      failed.map((r) => `${r.service} (job ${r.jobId}): ${describeSlurmJob(r)}`).join('; '),
      final,
    );
  for (const r of final) report.success(`completed ${r.service} (job ${r.jobId})`);
  return final;
}

/** Every job multinode submitted, refreshed from Slurm (records of jobs that ended long ago are pruned). */
export async function slurmPs(): Promise<SlurmJobRecord[]> {
  return listSlurmJobs();
}

/**
 * Cancels the jobs of a service (by name) or of every service of a spec file (by path). Anything that is
 * not an existing file must be a service name, a job id or a job record id (exit 2 otherwise).
 */
export async function slurmDown(nameOrFile: string): Promise<SlurmJobRecord[]> {
  // A spec file, or else a name (a directory is neither: its path is checked as a name and refused).
  if (!isFile(nameOrFile)) {
    const named = checkName('service', nameOrFile);
    if (!named.ok && !checkName('record', nameOrFile).ok)
      throw new MultinodeError('input.bad-name', named.message, { exitCode: EXIT.badInput });
  }
  return cancelSlurmJobs(nameOrFile);
}

// ---- replicas: one job per gang ----

/** Replica job name → the replicated service it belongs to. */
function withReplicaOf(owner: string | undefined): { replicaOf?: string } {
  return owner !== undefined ? { replicaOf: owner } : {};
}

function replicaOwners(spec: Spec): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of spec.services)
    if (isReplicated(s)) for (let i = 0; i < replicaCount(s); i++) out.set(replicaName(s.name, i), s.name);
  return out;
}

/**
 * `scale --target slurm`: submits jobs for new gangs (lowest free indices, planned from the file the
 * service was submitted from) or cancels the highest ones. Slurm has no load balancer: each job publishes
 * its own endpoint at its batch host.
 */
export async function slurmScale(
  service: string,
  replicas: number,
  opts: { reporter?: Reporter; seed?: number } = {},
): Promise<{ from: number; to: number; jobs: string[] }> {
  const named = checkName('service', service);
  if (!named.ok) throw new MultinodeError('input.bad-name', named.message, { exitCode: EXIT.badInput });
  const report = opts.reporter ?? silentReporter;
  const live = (await listSlurmJobs()).filter((r) => r.replicaOf === service && !isTerminal(r.state));
  const first = live[0];
  if (!first)
    throw new MultinodeError(
      'runtime.not-replicated',
      `no running replica jobs of "${service}" (submit a file that declares \`replicas:\` with \`up --target slurm\`)`,
      { exitCode: EXIT.badInput },
    );
  const current = live.flatMap((r) => {
    const index = replicaIndex(service, r.service);
    return index === undefined ? [] : [{ name: r.service, index }];
  });
  const steps = planScale(service, current, replicas);
  const { spec: fileSpec } = readSpecFile(first.file);
  const base = fileSpec.services.find((s) => s.name === service);
  if (!base)
    throw new MultinodeError('input.changed', `${first.file} no longer declares service ${service}`, {
      exitCode: EXIT.badInput,
    });
  const adds = steps.flatMap((s) => (s.kind === 'add' ? [s] : []));
  const maxIndex = Math.max(0, ...adds.map((a) => a.index + 1), ...current.map((c) => c.index + 1));
  const spec = expandReplicas({
    ...fileSpec,
    services: [{ ...base, replicas: maxIndex }],
  });
  const planned = planFor(slurmTarget, spec, {
    runAsRoot: process.getuid?.() === 0,
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
  });
  const jobs = renderSlurmJobs(planned.plan, {});
  for (const step of steps) {
    if (step.kind === 'remove') {
      for (const r of live.filter((x) => x.service === step.name)) {
        await cancelSlurmJobs(r.id);
        report.progress(`cancelled ${step.name} (job ${r.jobId})`);
      }
      continue;
    }
    const job = jobs.find((j) => j.service === step.name);
    const svc = planned.plan.services.find((s) => s.name === step.name);
    if (!job || !svc) continue;
    const rec = await submitSlurmJob(first.client, {
      service: step.name,
      file: first.file,
      script: job.script,
      planHash: planned.plan.hash,
      endpoints: slurmEndpoints(svc),
      replicaOf: service,
    });
    report.success(`submitted ${step.name}: Slurm job ${rec.jobId}`);
  }
  const after = (await listSlurmJobs()).filter((r) => r.replicaOf === service && !isTerminal(r.state));
  return { from: current.length, to: replicas, jobs: after.map((r) => `${r.service}=${r.jobId}`) };
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
