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

export function buildJobSet(input: JobSetInput): ManifestObject {
  const m = jobFailureMapping(input.restart);
  const job = (name: string, template: PodTemplate, pods: number): Json => ({
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
  });
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
  const containers = (t.spec['containers'] as Json[]).map((c) => {
    const command = c['command'] as string[];
    if (command[0] !== '/bin/sh' || command[1] !== `${SHIM_DIR}/entrypoint.sh`) {
      throw new Error(`unexpected worker command ${command.join(' ')}`);
    }
    const shift = `export ${HELPER_ENV.index}=$((${HELPER_ENV.index} + 1)); exec /bin/sh ${SHIM_DIR}/entrypoint.sh "$@"`;
    return {
      ...c,
      command: ['/bin/sh', '-c', escapeK8sExpansion(shift), 'multinode-entrypoint', ...command.slice(2)],
      env: (c['env'] as Json[]).map((e) =>
        e['name'] === HELPER_ENV.index
          ? {
              name: HELPER_ENV.index,
              valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${JS.completionIndex}']` } },
            }
          : e,
      ),
    };
  });
  return { ...t, spec: { ...t.spec, containers } };
}
