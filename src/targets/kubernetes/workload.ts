/**
 * Which Kubernetes workload a service becomes, and what of its restart policy that workload cannot express.
 *
 * The rule (docs/guides/kubernetes.md, "Workload kinds"): a service is **meant to finish** (a batch job) when it has no
 * endpoints and its restart policy is `never`, `exit-code` or `on-failure`, the policies that say what happens
 * when a rank exits. A batch job renders as a JobSet; any other service (it has endpoints, or it keeps the
 * whole-group policy `recreate-group`, the default for more than one rank) is long-running and renders as a
 * LeaderWorkerSet, or as a Grove PodCliqueSet when asked for. Locally every service completes when its script
 * ranks exit 0; only a JobSet can say so on Kubernetes, because LWS and Grove pods always restart.
 *
 * Choosing the controller, first match wins:
 * 1. `--orchestrator jobset` or `lws`: that controller for every service.
 * 2. `--orchestrator grove`: Grove, except LWS for a service annotated `nvidia.com/enable-grove: "false"`
 *    (seed 003).
 * 3. `auto` (the default): Grove for a service annotated `nvidia.com/enable-grove: "true"`; else a JobSet for a
 *    batch job; else LWS — or Grove for a service with roles, which LWS's single worker template cannot hold
 *    (docs/guides/roles-and-dependencies.md), unless annotated `"false"`. `"false"` only rules out Grove, so a
 *    batch job so annotated is still a JobSet.
 *
 * A service with roles is a batch job when it has no endpoints and every role's policy is a batch policy.
 *
 * Pure: the spec's positions enter only as a predicate saying whether a restart field is written in the file.
 */
import type { ServicePlan } from '../../api/plan.js';
import type { RestartPolicy } from '../../api/spec.js';
import type { Orchestrator, OrchestratorOption } from './options.js';

export type WorkloadKind = 'batch' | 'serving';

/** Restart policies that describe how a run ends: with them and no endpoints, a service is a batch job. */
export const BATCH_POLICIES: readonly RestartPolicy[] = ['never', 'exit-code', 'on-failure'];

/** `batch` (meant to finish: no endpoints, policy never / exit-code / on-failure) or `serving`. */
export function workloadKind(
  svc: Pick<ServicePlan, 'endpoints' | 'restart'> & Partial<Pick<ServicePlan, 'roles'>>,
): WorkloadKind {
  const policies = svc.roles ? svc.roles.map((r) => r.restart.policy) : [svc.restart.policy];
  return svc.endpoints.length === 0 && policies.every((p) => BATCH_POLICIES.includes(p))
    ? 'batch'
    : 'serving';
}

export interface OrchestratorChoice {
  readonly orchestrator: Orchestrator;
  readonly kind: WorkloadKind;
  /** Chosen by the user (a flag other than `auto`, or the service's `nvidia.com/enable-grove` annotation). */
  readonly explicit: boolean;
}

/** The controller for one service (see the module doc for the order). */
export function chooseOrchestrator(
  svc: Pick<ServicePlan, 'endpoints' | 'restart'> & Partial<Pick<ServicePlan, 'roles'>>,
  enableGrove: string | undefined,
  requested: OrchestratorOption = 'auto',
): OrchestratorChoice {
  const kind = workloadKind(svc);
  if (requested === 'jobset' || requested === 'lws') {
    return { orchestrator: requested, kind, explicit: true };
  }
  if (requested === 'grove') {
    return { orchestrator: enableGrove === 'false' ? 'lws' : 'grove', kind, explicit: true };
  }
  if (enableGrove === 'true') return { orchestrator: 'grove', kind, explicit: true };
  if (svc.roles && kind === 'serving' && enableGrove !== 'false')
    return { orchestrator: 'grove', kind, explicit: false };
  return {
    orchestrator: kind === 'batch' ? 'jobset' : 'lws',
    kind,
    explicit: enableGrove === 'false' && kind === 'serving',
  };
}

/** A warning about the service's `restart` block; `field` is relative to the service (`restart.policy`). */
export interface WorkloadIssue {
  readonly code: string;
  readonly field: string;
  readonly message: string;
  readonly hint?: string;
}

/** The flag a hint names; it sets the controller of every service in the file. */
const FLAG = '`--orchestrator jobset` (for every service of the file)';

const CONTROLLER: Readonly<Record<Orchestrator, string>> = {
  lws: 'a LeaderWorkerSet',
  grove: 'a Grove PodCliqueSet',
  jobset: 'a JobSet',
};

/** The restart fields of the spec (`restart.<field>`) that carry a budget or a backoff. */
const BUDGET_FIELDS = ['max-restarts', 'max-startup-restarts'] as const;
const BACKOFF_FIELDS = ['backoff-seconds', 'backoff-max-seconds'] as const;

/**
 * What `choice.orchestrator` cannot express of the service's restart policy, as warnings. Defaults are
 * documented once; a budget or backoff field is reported only when the file writes it (`written`).
 */
export function restartIssues(
  svc: Pick<ServicePlan, 'endpoints' | 'restart'>,
  choice: OrchestratorChoice,
  written: (field: string) => boolean,
): WorkloadIssue[] {
  const out: WorkloadIssue[] = [];
  const policy = svc.restart.policy;
  const what = CONTROLLER[choice.orchestrator];
  const toJobSet = (subject: string): string =>
    svc.endpoints.length > 0
      ? `a JobSet applies ${subject}: remove the endpoints (a service without endpoints is a JobSet), or render with ${FLAG}`
      : `a JobSet applies ${subject}: render with ${FLAG}`;

  if (choice.orchestrator !== 'jobset') {
    if (policy === 'never') {
      out.push({
        code: 'k8s-restart-policy',
        field: 'restart.policy',
        message: `restart policy \`never\` cannot be expressed by ${what}: its pods restart in place after every exit (restartPolicy Always), so a failed rank is restarted instead of failing the service`,
        hint: toJobSet('the policy'),
      });
    } else if (policy === 'exit-code') {
      out.push({
        code: 'k8s-restart-policy',
        field: 'restart.policy',
        message: `restart policy \`exit-code\` cannot be expressed by ${what}: its pods restart in place after every exit (restartPolicy Always), so exit codes 1–127 are retried instead of failing the service`,
        hint: toJobSet('the policy'),
      });
    } else if (svc.endpoints.length === 0 && !choice.explicit) {
      out.push({
        code: 'k8s-restart-after-success',
        field: 'restart.policy',
        message: `the service has no endpoints, but restart policy \`${policy}\` keeps it long-running as ${what}: when rank 0 exits 0 its pod is restarted, where locally the service completes`,
        hint: `to run it as a job that finishes, set \`restart.policy\` to \`on-failure\`, \`never\` or \`exit-code\`, or render with ${FLAG} (keeps whole-group restarts)`,
      });
    }
    for (const f of BUDGET_FIELDS) {
      if (!written(`restart.${f}`)) continue;
      out.push({
        code: 'k8s-restart-budget',
        field: `restart.${f}`,
        message: `\`restart.${f}\` is not applied: ${what} restarts without a limit`,
        hint: toJobSet('`max-restarts`'),
      });
    }
    for (const f of BACKOFF_FIELDS) {
      if (!written(`restart.${f}`)) continue;
      // Grove tears the gang down `backoff-max-seconds` after it loses a rank (its terminationDelay).
      if (choice.orchestrator === 'grove' && f === 'backoff-max-seconds' && policy === 'recreate-group')
        continue;
      out.push({
        code: 'k8s-restart-backoff',
        field: `restart.${f}`,
        message: `\`restart.${f}\` is not applied: the kubelet's restart backoff applies (10 s, doubling up to 5 min)`,
      });
    }
    return out;
  }

  // JobSet: `never` fails at once, so no budget or backoff field has a meaning locally either.
  if (policy === 'never') return out;
  if (written('restart.max-startup-restarts')) {
    out.push({
      code: 'k8s-restart-budget',
      field: 'restart.max-startup-restarts',
      message:
        '`restart.max-startup-restarts` is not applied: a JobSet does not know when the group has started, so every restart spends `max-restarts`',
    });
  }
  for (const f of BACKOFF_FIELDS) {
    if (!written(`restart.${f}`)) continue;
    out.push({
      code: 'k8s-restart-backoff',
      field: `restart.${f}`,
      message: `\`restart.${f}\` is not applied: Kubernetes' own backoff applies (10 s, doubling up to 5–6 min)`,
    });
  }
  return out;
}
