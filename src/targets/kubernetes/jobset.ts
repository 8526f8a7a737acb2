/**
 * A service meant to finish (workload.ts) as a JobSet (`jobset.x-k8s.io/v1alpha2`).
 *
 * Layout: the replicated job `leader` is one Job of one pod (rank 0, the leader's pod template), and for N > 1
 * ranks the replicated job `worker` is one Indexed Job of N−1 pods (the worker template, which LWS uses too),
 * whose completion index i is rank i+1. Each pod learns its rank as an LWS pod does, through the Downward API:
 * the leader's is a literal; a worker reads its completion index
 * (`metadata.annotations['batch.kubernetes.io/job-completion-index']`) into `MULTINODE_K8S_RANK` and its
 * command adds 1 before it starts the entrypoint shim. The per-rank headless Services select the leader by
 * replicated job and a worker by replicated job and completion-index label, so rank host names resolve as with
 * LWS. JobSet's own headless Service is switched off (`network.enableDNSHostnames: false`): nothing uses it.
 *
 * Completion: `launch: leader` succeeds when the leader's Job completes (the JobSet controller then deletes the
 * workers' Job); `launch: all` when both Jobs complete, i.e. every rank exited 0.
 *
 * Failure, from the spec's `restart` (`jobFailureMapping`):
 * | policy         | pod restartPolicy | Job backoffLimit | Job podFailurePolicy          | JobSet maxRestarts |
 * | never          | Never             | 0                | –                             | 0                  |
 * | on-failure     | OnFailure         | max-restarts     | –                             | 0                  |
 * | exit-code      | Never             | max-restarts     | FailJob on exit codes 1–127   | 0                  |
 * | recreate-group | Never             | 0                | –                             | max-restarts       |
 * A failed Job fails the JobSet unless restarts remain (then the whole JobSet is recreated).
 *
 * A service with roles (docs/guides/roles-and-dependencies.md) is one replicated job per role instead, named
 * after the role: an Indexed Job of the role's members whose completion index i is rank `first + i` (the
 * command adds `first`, as a worker's adds 1). Each Job carries its role's restart policy (pod restartPolicy,
 * backoffLimit, podFailurePolicy from the table); `failurePolicy.maxRestarts` is the largest budget of a
 * `recreate-group` role, and a Job of any other role fails the JobSet at once (a `FailJobSet` rule naming it),
 * so one role's failure never spends another role's group restarts.
 */
import type { LaunchMode, RestartSpec } from '../../api/spec.js';
import { K8S_WELL_KNOWN_JOBSET as JS } from '../../api/names.js';
import { HELPER_ENV, SHIM_DIR } from './scripts.js';
import type { ManifestObject } from './validate.js';
import type { Json } from './values.js';
import { escapeK8sExpansion } from './values.js';

export const JOBSET_API_VERSION = 'jobset.x-k8s.io/v1alpha2';
export const LEADER_JOB = 'leader';
export const WORKER_JOB = 'worker';
/** The container name every rendered pod uses (podFailurePolicy rules name it). */
export const MAIN_CONTAINER = 'main';

/** Exit codes restart policy `exit-code` treats as permanent (128–255, death by a signal, are retried). */
export const PERMANENT_EXIT_CODES: readonly number[] = Array.from({ length: 127 }, (_, i) => i + 1);

export interface JobFailureMapping {
  readonly podRestartPolicy: 'Never' | 'OnFailure';
  /** Each Job's `backoffLimit`: failed pods (Never) or container restarts (OnFailure) the Job tolerates. */
  readonly backoffLimit: number;
  readonly podFailurePolicy?: Json;
  /** The JobSet's `failurePolicy.maxRestarts`: how often the whole JobSet is recreated after a Job fails. */
  readonly maxRestarts: number;
}

/** The spec's restart policy and budget as Job and JobSet fields (table in the module doc). */
export function jobFailureMapping(restart: RestartSpec): JobFailureMapping {
  switch (restart.policy) {
    case 'never':
      return { podRestartPolicy: 'Never', backoffLimit: 0, maxRestarts: 0 };
    case 'on-failure':
      // In place (same pod, same address), as the local runtime restarts one rank.
      return { podRestartPolicy: 'OnFailure', backoffLimit: restart.maxRestarts, maxRestarts: 0 };
    case 'exit-code':
      // podFailurePolicy needs restartPolicy Never: a retried rank is a new pod (its Service follows it).
      return {
        podRestartPolicy: 'Never',
        backoffLimit: restart.maxRestarts,
        podFailurePolicy: {
          rules: [
            {
              action: 'FailJob',
              onExitCodes: {
                containerName: MAIN_CONTAINER,
                operator: 'In',
                values: [...PERMANENT_EXIT_CODES],
              },
            },
          ],
        },
        maxRestarts: 0,
      };
    case 'recreate-group':
      return { podRestartPolicy: 'Never', backoffLimit: 0, maxRestarts: restart.maxRestarts };
  }
}

/** Labels that select rank `rank`'s pod of the JobSet `name` (for its headless Service). */
export function jobSetRankSelector(name: string, rank: number): Record<string, string> {
  return rank === 0
    ? { [JS.jobSetName]: name, [JS.replicatedJobName]: LEADER_JOB }
    : { [JS.jobSetName]: name, [JS.replicatedJobName]: WORKER_JOB, [JS.completionIndex]: String(rank - 1) };
}

/**
 * The longest pod name the JobSet controller will create (`<jobset>-<job>-<jobIndex>-<podIndex>-xxxxx`, which
 * its webhook requires to be a DNS-1035 label), when that is longer than 63 characters; else undefined.
 */
export function longestPodNameOverLimit(name: string, workers: number): string | undefined {
  const longest =
    workers > 0 ? `${name}-${WORKER_JOB}-0-${workers - 1}-xxxxx` : `${name}-${LEADER_JOB}-0-0-xxxxx`;
  return longest.length > 63 ? longest : undefined;
}

export interface PodTemplate {
  readonly metadata: Json;
  readonly spec: Json;
}

export interface JobSetInput {
  readonly metadata: ManifestObject['metadata'];
  readonly launch: LaunchMode;
  readonly restart: RestartSpec;
  /** Rank 0's pod template. */
  readonly leader: PodTemplate;
  /** The template ranks 1…count share (`MULTINODE_K8S_RANK` from the LWS worker index; rewritten here). */
  readonly worker?: { readonly template: PodTemplate; readonly count: number };
}

/** One role's replicated job: its members' template (rank from the completion index, see `indexedTemplate`). */
export interface RoleJob {
  readonly name: string;
  readonly template: PodTemplate;
  readonly count: number;
  readonly restart: RestartSpec;
}

/** Labels that select the pod of member `index` of role `role` in the JobSet `name`. */
export function jobSetRoleSelector(name: string, role: string, index: number): Record<string, string> {
  return { [JS.jobSetName]: name, [JS.replicatedJobName]: role, [JS.completionIndex]: String(index) };
}

/** The longest pod name of a JobSet with one replicated job per role, when over 63 characters. */
export function longestRolePodNameOverLimit(
  name: string,
  roles: readonly { readonly name: string; readonly nodes: number }[],
): string | undefined {
  const names = roles.map((r) => `${name}-${r.name}-0-${r.nodes - 1}-xxxxx`);
  const longest = names.reduce((a, b) => (b.length > a.length ? b : a), '');
  return longest.length > 63 ? longest : undefined;
}

/** A JobSet of one replicated job per role (module doc), every role's members completing: `launch: all`. */
export function buildRoleJobSet(
  metadata: ManifestObject['metadata'],
  roles: readonly RoleJob[],
): ManifestObject {
  const group = roles.filter((r) => r.restart.policy === 'recreate-group');
  const maxRestarts = Math.max(0, ...group.map((r) => r.restart.maxRestarts));
  const jobs = roles.map((r) => roleJob(r.name, r.template, r.count, jobFailureMapping(r.restart)));
  const rules =
    maxRestarts > 0
      ? roles
          .filter((r) => r.restart.policy !== 'recreate-group')
          .map((r) => ({ action: 'FailJobSet', name: `${r.name}-fails`, targetReplicatedJobs: [r.name] }))
      : [];
  return {
    apiVersion: JOBSET_API_VERSION,
    kind: 'JobSet',
    metadata,
    spec: {
      failurePolicy: { maxRestarts, ...(rules.length > 0 ? { rules } : {}) },
      network: { enableDNSHostnames: false },
      replicatedJobs: jobs,
      successPolicy: { operator: 'All', targetReplicatedJobs: roles.map((r) => r.name) },
    },
  };
}

function roleJob(name: string, template: PodTemplate, pods: number, m: JobFailureMapping): Json {
  return {
    name,
    replicas: 1,
    template: {
      spec: {
        backoffLimit: m.backoffLimit,
        completionMode: 'Indexed',
        completions: pods,
        parallelism: pods,
        ...(m.podFailurePolicy ? { podFailurePolicy: m.podFailurePolicy } : {}),
        template: { ...template, spec: { ...template.spec, restartPolicy: m.podRestartPolicy } },
      },
    },
  };
}

export function buildJobSet(input: JobSetInput): ManifestObject {
  const m = jobFailureMapping(input.restart);
  const job = (name: string, template: PodTemplate, pods: number): Json => roleJob(name, template, pods, m);
  const jobs = [job(LEADER_JOB, input.leader, 1)];
  if (input.worker && input.worker.count > 0) {
    jobs.push(job(WORKER_JOB, workerTemplate(input.worker.template), input.worker.count));
  }
  const names = jobs.map((j) => String(j['name']));
  return {
    apiVersion: JOBSET_API_VERSION,
    kind: 'JobSet',
    metadata: input.metadata,
    spec: {
      failurePolicy: { maxRestarts: m.maxRestarts },
      network: { enableDNSHostnames: false },
      replicatedJobs: jobs,
      successPolicy: {
        operator: 'All',
        targetReplicatedJobs: input.launch === 'leader' ? [LEADER_JOB] : names,
      },
    },
  };
}

/**
 * The worker template with the rank from the Job's completion index: `MULTINODE_K8S_RANK` = index (Downward
 * API), and the command adds 1 before it execs the entrypoint shim with the same arguments.
 */
function workerTemplate(t: PodTemplate): PodTemplate {
  return indexedTemplate(t, `metadata.annotations['${JS.completionIndex}']`, 1);
}

/**
 * A template whose pods learn their rank from their own metadata: `MULTINODE_K8S_RANK` = the value at
 * `fieldPath` (Downward API: a Job's completion index, Grove's pod index), and — when `offset` is not 0 — the
 * command adds `offset` before it execs the entrypoint shim with the same arguments.
 */
export function indexedTemplate(t: PodTemplate, fieldPath: string, offset: number): PodTemplate {
  const containers = (t.spec['containers'] as Json[]).map((c) => {
    const command = c['command'] as string[];
    if (command[0] !== '/bin/sh' || command[1] !== `${SHIM_DIR}/entrypoint.sh`) {
      throw new Error(`unexpected worker command ${command.join(' ')}`);
    }
    const shift = `export ${HELPER_ENV.index}=$((${HELPER_ENV.index} + ${offset})); exec /bin/sh ${SHIM_DIR}/entrypoint.sh "$@"`;
    return {
      ...c,
      ...(offset === 0
        ? {}
        : {
            command: [
              '/bin/sh',
              '-c',
              escapeK8sExpansion(shift),
              'multinode-entrypoint',
              ...command.slice(2),
            ],
          }),
      env: (c['env'] as Json[]).map((e) =>
        e['name'] === HELPER_ENV.index
          ? { name: HELPER_ENV.index, valueFrom: { fieldRef: { fieldPath } } }
          : e,
      ),
    };
  });
  return { ...t, spec: { ...t.spec, containers } };
}
