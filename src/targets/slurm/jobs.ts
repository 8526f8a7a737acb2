/**
 * Jobs multinode submitted to Slurm: submit (`sbatch`), query (`scontrol show job`), follow (state and
 * output), cancel (`scancel`), and a record per job under `<state>/slurm/jobs/<jobid>-<tag>.json` so `ps` and
 * `down` work from any shell. Every Slurm command runs through a `SlurmClient`: an argv prefix (empty for
 * the machine's own Slurm, the controller node's exec prefix for an emulated cluster) and extra env
 * (`SLURM_CONF`).
 *
 *   submitSlurmJob(client, { service, file, script, planHash, endpoints }) → SlurmJobRecord
 *   querySlurmJob(client, jobId) → SlurmJobStatus | undefined     (undefined: slurmctld no longer knows it)
 *   refreshSlurmJob(record) → SlurmJobRecord                       (queried, failure detail, saved)
 *   listSlurmJobs() / followSlurmJobs(records, callbacks) / cancelSlurmJobs(nameOrFile)
 *   pruneSlurmJobRecords(records) → kept      (records of jobs that ended > 7 days ago are removed; `ps` does it)
 */
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { MultinodeError } from '../../api/issues.js';
import { checkName, isInside } from '../../spec/names.js';
import { SLURM_TARGET } from '../../api/names.js';
import type { SlurmEndpoint } from './index.js';
import { checkedName, ensureStateRoot, requireInside, stateRoot } from '../state-root.js';
import type { ProcessSpawner, RunResult } from '../ports.js';
import { realSpawner } from '../ports.js';
import type { Plan, ServicePlan } from '../../api/plan.js';
import { startOrder } from '../../plan/index.js';
import { usesSubmitEnv } from './uses.js';

export interface SlurmClient {
  /** Prefix for every Slurm command (e.g. a node's exec argv + `env`); empty = run them here. */
  readonly argv: readonly string[];
  /** `SLURM_CONF` for the commands; absent = `$SLURM_CONF` or the system configuration. */
  readonly slurmConf?: string;
}

export interface SlurmJobStatus {
  readonly state: string;
  readonly reason?: string;
  /** `code:signal` as Slurm reports it. */
  readonly exitCode?: string;
  readonly nodeList?: string;
  readonly batchHost?: string;
}

export interface SlurmJobRecord {
  /** Record key: `<jobid>-<tag>`; job ids restart with every new Slurm cluster, the tag keeps them apart. */
  readonly id: string;
  readonly jobId: string;
  readonly service: string;
  /** Absolute path of the spec file. */
  readonly file: string;
  readonly planHash: string;
  readonly submittedAt: string;
  readonly client: SlurmClient;
  /** The batch output file (`--output`). */
  readonly output: string;
  /** The submitted script, kept beside the record. */
  readonly scriptPath: string;
  readonly endpoints: readonly SlurmEndpoint[];
  readonly state: string;
  readonly reason?: string;
  readonly exitCode?: string;
  readonly nodeList?: string;
  readonly batchHost?: string;
  /** One line on why it failed (`rank 1 on node-2 exited with code 3`), when it did. */
  readonly failure?: string;
  readonly updatedAt: string;
  /** When multinode first saw the job in a terminal state (the basis for pruning old records). */
  readonly endedAt?: string;
  /** Replicas: the replicated service this job is one gang of (its `service` is `<replicaOf>-<i>`). */
  readonly replicaOf?: string;
}

/** `ps` drops records (and their script and output) of jobs that ended more than this long ago: 7 days. */
export const SLURM_JOB_RECORD_KEEP_MS = 7 * 24 * 60 * 60 * 1000;

/** Job states after which nothing changes. */
export const TERMINAL_STATES = new Set([
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'NODE_FAIL',
  'OUT_OF_MEMORY',
  'PREEMPTED',
  'BOOT_FAIL',
  'DEADLINE',
  'GONE',
]);

export function isTerminal(state: string): boolean {
  return TERMINAL_STATES.has(state.split(/\s/)[0] ?? state);
}

export function slurmJobsDir(): string {
  return join(stateRoot(), SLURM_TARGET.jobsDir);
}

/** A record's file; the id (from sbatch's answer or a record file) is checked before it becomes a path. */
function recordPath(id: string): string {
  return requireInside(join(slurmJobsDir(), `${checkedName('record', id)}.json`), slurmJobsDir());
}

/** Record file of a job (for tests and cleanup). */
export function slurmJobRecordPath(rec: Pick<SlurmJobRecord, 'id'>): string {
  return recordPath(rec.id);
}

async function saveRecord(rec: SlurmJobRecord): Promise<void> {
  await ensureStateRoot();
  await mkdir(slurmJobsDir(), { recursive: true, mode: 0o700 });
  const p = recordPath(rec.id);
  await writeFile(`${p}.tmp`, `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o600 });
  await rename(`${p}.tmp`, p);
}

/** Runs a Slurm client command through `client`. */
export function runSlurm(
  client: SlurmClient,
  args: readonly string[],
  spawner: ProcessSpawner = realSpawner,
  options: { check?: boolean; timeoutMs?: number; env?: Readonly<Record<string, string>> } = {},
): Promise<RunResult> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  Object.assign(env, options.env ?? {});
  if (client.slurmConf !== undefined) env['SLURM_CONF'] = client.slurmConf;
  // A prefix that ends in `env` (emulated cluster) receives SLURM_CONF on its command line already.
  return spawner.run([...client.argv, ...args], {
    env,
    check: options.check ?? true,
    timeoutMs: options.timeoutMs ?? 30_000,
  });
}

let pending = 0;

/** Submits one script; the job's record is saved before returning. */
export async function submitSlurmJob(
  client: SlurmClient,
  job: {
    readonly service: string;
    readonly file: string;
    readonly script: string;
    readonly planHash: string;
    readonly endpoints: readonly SlurmEndpoint[];
    /** Extra environment for the job (sbatch exports the submitting environment). */
    readonly env?: Readonly<Record<string, string>>;
    /** Replicas: the replicated service this job is one gang of. */
    readonly replicaOf?: string;
  },
  spawner: ProcessSpawner = realSpawner,
): Promise<SlurmJobRecord> {
  const dir = slurmJobsDir();
  await ensureStateRoot();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const now = new Date().toISOString();
  const tag = createHash('sha256')
    .update(`${JSON.stringify(client)}\n${now}\n${process.pid}\n${pending}`)
    .digest('hex')
    .slice(0, 8);
  const tmpScript = join(dir, `pending-${process.pid}-${pending++}.sbatch`);
  await writeFile(tmpScript, job.script, { mode: 0o600 });
  const output = join(dir, `${checkedName('service', job.service)}-%j-${tag}.out`);
  const r = await runSlurm(client, ['sbatch', '--parsable', `--output=${output}`, tmpScript], spawner, {
    check: false,
    ...(job.env ? { env: job.env } : {}),
  });
  if (r.code !== 0) {
    await rm(tmpScript, { force: true });
    throw new MultinodeError(
      'slurm.submit',
      `sbatch refused service ${job.service}: ${(r.stderr || r.stdout).trim() || `exit ${r.code}`}`,
    );
  }
  const jobId = (r.stdout.trim().split(/[;\s]/)[0] ?? '').trim();
  if (!checkName('job', jobId).ok) {
    await rm(tmpScript, { force: true });
    throw new MultinodeError('slurm.submit', `sbatch answered without a job id: ${r.stdout.trim()}`);
  }
  const id = `${jobId}-${tag}`;
  const scriptPath = join(dir, `${id}.sbatch`);
  await rename(tmpScript, scriptPath);
  const rec: SlurmJobRecord = {
    id,
    jobId,
    service: job.service,
    file: resolve(job.file),
    planHash: job.planHash,
    submittedAt: now,
    client,
    output: output.replace('%j', jobId),
    scriptPath,
    endpoints: job.endpoints,
    state: 'PENDING',
    updatedAt: now,
    ...(job.replicaOf !== undefined ? { replicaOf: job.replicaOf } : {}),
  };
  await saveRecord(rec);
  return rec;
}

/** `scontrol -o show job ID` → fields we use; undefined when slurmctld no longer knows the job. */
export function parseScontrolJob(text: string): SlurmJobStatus | undefined {
  const line = text.split('\n').find((l) => l.includes('JobId='));
  if (!line) return undefined;
  const field = (name: string): string | undefined => {
    const m = new RegExp(`(?:^|\\s)${name}=(\\S*)`).exec(line);
    return m?.[1] && m[1] !== '(null)' ? m[1] : undefined;
  };
  const state = field('JobState');
  if (!state) return undefined;
  const reason = field('Reason');
  const exitCode = field('ExitCode');
  const nodeList = field('NodeList');
  const batchHost = field('BatchHost');
  return {
    state,
    ...(reason !== undefined && reason !== 'None' ? { reason } : {}),
    ...(exitCode !== undefined ? { exitCode } : {}),
    ...(nodeList !== undefined ? { nodeList } : {}),
    ...(batchHost !== undefined ? { batchHost } : {}),
  };
}

export async function querySlurmJob(
  client: SlurmClient,
  jobId: string,
  spawner: ProcessSpawner = realSpawner,
): Promise<SlurmJobStatus | undefined> {
  const r = await runSlurm(client, ['scontrol', '-o', 'show', 'job', jobId], spawner, { check: false });
  if (r.code !== 0) return undefined;
  return parseScontrolJob(r.stdout);
}

/**
 * Why a job failed, from its output: the first rank srun reports (`srun: error: NODE: task T: Exited with
 * exit code C` — task T is rank T, one task per node) or our own summary line.
 */
export function parseFailure(output: string): string | undefined {
  const task = /srun: error: (\S+): task (\d+): (Exited with exit code \d+|Killed|Terminated|[^\n]+)/.exec(
    output,
  );
  if (task) return `rank ${task[2]} on ${task[1]}: ${(task[3] ?? '').toLowerCase()}`;
  const ours = /multinode: service (\S+) failed \(exit (\d+)\)/.exec(output);
  if (ours) return `rank 0 (the leader) exited with code ${ours[2]}`;
  return undefined;
}

async function readTail(path: string, max = 256 * 1024): Promise<string> {
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      const start = Math.max(0, size - max);
      const buf = Buffer.alloc(size - start);
      await fh.read(buf, 0, buf.length, start);
      return buf.toString('utf8');
    } finally {
      await fh.close();
    }
  } catch {
    return '';
  }
}

/** Queries Slurm for the job, adds the failure detail, saves and returns the updated record. */
export async function refreshSlurmJob(
  rec: SlurmJobRecord,
  spawner: ProcessSpawner = realSpawner,
): Promise<SlurmJobRecord> {
  if (isTerminal(rec.state)) return rec;
  const st = await querySlurmJob(rec.client, rec.jobId, spawner);
  let next: SlurmJobRecord;
  if (!st) {
    // slurmctld forgot it (MinJobAge) or the cluster is gone: keep what we knew, say so.
    next = {
      ...rec,
      state: 'GONE',
      reason: `slurmctld no longer knows job ${rec.jobId} (last seen ${rec.state})`,
      updatedAt: new Date().toISOString(),
    };
  } else {
    next = {
      ...rec,
      state: st.state,
      ...(st.reason !== undefined ? { reason: st.reason } : {}),
      ...(st.exitCode !== undefined ? { exitCode: st.exitCode } : {}),
      ...(st.nodeList !== undefined ? { nodeList: st.nodeList } : {}),
      ...(st.batchHost !== undefined ? { batchHost: st.batchHost } : {}),
      updatedAt: new Date().toISOString(),
    };
    if (isTerminal(st.state) && st.state !== 'COMPLETED') {
      const failure = parseFailure(await readTail(rec.output));
      if (failure !== undefined) next = { ...next, failure };
    }
  }
  if (isTerminal(next.state) && next.endedAt === undefined) next = { ...next, endedAt: next.updatedAt };
  await saveRecord(next);
  return next;
}

/**
 * Removes the records of jobs that ended more than `keepMs` before `now`, with their script and output when
 * those sit in the jobs directory (an output elsewhere is the user's). Records written before `endedAt`
 * existed use `updatedAt`, the last time their state changed. Returns the records kept.
 */
export async function pruneSlurmJobRecords(
  recs: readonly SlurmJobRecord[],
  opts: { readonly keepMs?: number; readonly now?: number } = {},
): Promise<SlurmJobRecord[]> {
  const keepMs = opts.keepMs ?? SLURM_JOB_RECORD_KEEP_MS;
  const now = opts.now ?? Date.now();
  const dir = resolve(slurmJobsDir());
  const kept: SlurmJobRecord[] = [];
  for (const r of recs) {
    const ended = Date.parse(r.endedAt ?? r.updatedAt);
    if (!isTerminal(r.state) || !Number.isFinite(ended) || now - ended <= keepMs) {
      kept.push(r);
      continue;
    }
    // Paths come from a record file: only what lies inside the jobs directory is ours to remove.
    const own = [r.scriptPath, r.output].filter((f) => isInside(dir, resolve(f)));
    if (!checkName('record', r.id).ok) continue;
    for (const f of [recordPath(r.id), ...own]) await rm(f, { force: true });
  }
  return kept;
}

export async function readSlurmJobRecords(): Promise<SlurmJobRecord[]> {
  let names: string[];
  try {
    names = await readdir(slurmJobsDir());
  } catch {
    return [];
  }
  const out: SlurmJobRecord[] = [];
  for (const n of names.filter((x) => /^\d+-[0-9a-f]+\.json$/.test(x))) {
    try {
      out.push(JSON.parse(await readFile(join(slurmJobsDir(), n), 'utf8')) as SlurmJobRecord);
    } catch {
      /* a record being rewritten; skip */
    }
  }
  return out.sort((a, b) => (a.submittedAt < b.submittedAt ? -1 : a.submittedAt > b.submittedAt ? 1 : 0));
}

/** Every job we submitted, refreshed from Slurm; records of jobs that ended over 7 days ago are pruned. */
export async function listSlurmJobs(
  spawner: ProcessSpawner = realSpawner,
  prune: { readonly keepMs?: number; readonly now?: number } = {},
): Promise<SlurmJobRecord[]> {
  const recs = await readSlurmJobRecords();
  return pruneSlurmJobRecords(await Promise.all(recs.map((r) => refreshSlurmJob(r, spawner))), prune);
}

export interface FollowCallbacks {
  /** New output of a job (complete lines). */
  readonly onOutput?: (rec: SlurmJobRecord, lines: readonly string[]) => void;
  /** The job's state changed. */
  readonly onState?: (rec: SlurmJobRecord, previous: string) => void;
  readonly pollMs?: number;
  readonly signal?: AbortSignal;
}

/** Follows jobs until all are terminal (or `signal` aborts); returns the final records. */
export async function followSlurmJobs(
  records: readonly SlurmJobRecord[],
  cb: FollowCallbacks = {},
  spawner: ProcessSpawner = realSpawner,
): Promise<SlurmJobRecord[]> {
  let recs = [...records];
  const offsets = new Map<string, number>();
  const partial = new Map<string, string>();
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const drain = async (rec: SlurmJobRecord, final: boolean): Promise<void> => {
    if (!existsSync(rec.output)) return;
    const from = offsets.get(rec.jobId) ?? 0;
    const fh = await open(rec.output, 'r');
    try {
      const { size } = await fh.stat();
      if (size <= from) {
        if (final && partial.get(rec.jobId)) cb.onOutput?.(rec, [partial.get(rec.jobId) ?? '']);
        return;
      }
      const buf = Buffer.alloc(size - from);
      await fh.read(buf, 0, buf.length, from);
      offsets.set(rec.jobId, size);
      const text = (partial.get(rec.jobId) ?? '') + buf.toString('utf8');
      const lines = text.split('\n');
      const rest = lines.pop() ?? '';
      partial.set(rec.jobId, final ? '' : rest);
      if (final && rest) lines.push(rest);
      if (lines.length > 0) cb.onOutput?.(rec, lines);
    } finally {
      await fh.close();
    }
  };
  for (;;) {
    const next: SlurmJobRecord[] = [];
    for (const rec of recs) {
      const upd = isTerminal(rec.state) ? rec : await refreshSlurmJob(rec, spawner);
      if (upd.state !== rec.state) cb.onState?.(upd, rec.state);
      await drain(upd, isTerminal(upd.state));
      next.push(upd);
    }
    recs = next;
    if (recs.every((r) => isTerminal(r.state)) || cb.signal?.aborted) return recs;
    await sleep(cb.pollMs ?? 300);
  }
}

/** Cancels the jobs of a service (by name) or of a spec file (by path); returns the jobs cancelled. */
export async function cancelSlurmJobs(
  nameOrFile: string,
  spawner: ProcessSpawner = realSpawner,
): Promise<SlurmJobRecord[]> {
  const path = resolve(nameOrFile);
  const recs = (await readSlurmJobRecords()).filter(
    (r) =>
      r.service === nameOrFile ||
      r.replicaOf === nameOrFile ||
      r.file === path ||
      r.jobId === nameOrFile ||
      r.id === nameOrFile,
  );
  const live: SlurmJobRecord[] = [];
  for (const r of recs) {
    const cur = await refreshSlurmJob(r, spawner);
    if (isTerminal(cur.state)) continue;
    const res = await runSlurm(cur.client, ['scancel', cur.jobId], spawner, { check: false });
    if (res.code !== 0)
      throw new MultinodeError(
        'slurm.cancel',
        `scancel ${cur.jobId} failed: ${(res.stderr || res.stdout).trim()}`,
      );
    live.push(cur);
  }
  return live;
}

/**
 * Submitting services that use each other (uses.ts): used jobs first, each using job with
 * `--dependency=after:` on them and their job ids; the published leaders go to a private directory next to
 * the job records (the emulated cluster's nodes and, on a real cluster, a shared state directory see it).
 */
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
