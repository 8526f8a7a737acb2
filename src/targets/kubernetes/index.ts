/**
 * Kubernetes target: renders a Plan (the same one the local runtime runs) into apply-ready manifests. Pure and
 * canonical: same plan and options, same bytes (sorted keys, no wrapping, fixed kind order, trailing newline),
 * every object annotated with the plan hash.
 *
 * Replicas (`replicas: K`, planned as K services `<service>-<i>`): one LeaderWorkerSet or Grove PodCliqueSet
 * with `replicas: K` when one pod template can hold every replica, each pod mounting its replica's files by
 * group index; else one workload per replica, with the reason (replicas.ts, `renderReplicaSet` below).
 *
 * Per service:
 * - the group: a service meant to finish (no endpoints, restart policy never / exit-code / on-failure) is a
 *   JobSet (a leader Job and an Indexed worker Job; jobset.ts); any other a LeaderWorkerSet (size = nodes,
 *   leader = rank 0, one worker template) or a Grove PodCliqueSet (one clique per rank, so each rank's template
 *   can differ: ports, env). workload.ts holds the rule and the warnings for what a controller cannot express;
 * - gang scheduling: Volcano (schedulerName + PodGroup with minMember = all ranks) or KAI (schedulerName +
 *   queue label; KAI's pod-grouper builds the group), or none;
 * - one headless Service per rank named as the plan names the rank (`<service>-<rank>`), selecting exactly that
 *   pod and publishing not-ready addresses, so every rank host name in the plan's env resolves in the pod;
 * - a ClusterIP Service on rank 0 only (endpoints' ports; in host mode the fixed port maps to the host port);
 *   for `scope: public` endpoints also an Ingress (http/https, host `<endpoint>.<service>.<domain>`) or a
 *   LoadBalancer Service (tcp);
 * - Multus NetworkAttachmentDefinitions (host-device) for fabric NICs, plus the pod annotation and
 *   `rdma/<nic>` requests/limits;
 * - a PersistentVolumeClaim `<service>-data` for the built-in `data` volume when the service persists it
 *   (`persist: true`; otherwise `data` is an emptyDir); declared volumes are claims referenced by name;
 * - a ConfigMap (mounted at SHIM_DIR) with the plan's files, the per-rank environment and the entrypoint shim
 *   that installs those files at their planned paths (an emptyDir) at start (see scripts.ts);
 * - a Secret `mpirun-ssh-key-<service>` with the SSH keypair when a rank waits for the leader (leader launch,
 *   MPI, TRT-LLM), mounted read-only with mode 0600 (or an existing Secret named by `sshSecret`, not rendered);
 * - NetworkPolicies: ingress to the service's pods only from its own pods, and to rank 0's endpoint ports from
 *   anywhere; every pod template hardened (seccomp RuntimeDefault, no privilege escalation, capabilities
 *   dropped but those a feature needs, no service account token, the SSH key hash as an annotation;
 *   hardening.ts).
 *
 * Algorithm for the environment: for each pod template (LWS: leader = {0}, workers = {1..N-1}; Grove: one per
 * rank), a variable whose value is the same for every rank of the template and holds no rank address is written
 * literally into the container's `env`; every other variable goes into `rank-<r>.sh`, where each rank address
 * is replaced by a run-time lookup and the service subnet by the pod's interface. Invariant (checked by the
 * golden tests, running the real shim): for every rank, static env ∪ rank script after substitution = the
 * plan's env for that rank.
 */
import type { Plan, ServicePlan } from '../../api/plan.js';
import type { Issue, Result } from '../../api/issues.js';
import { EXIT, MultinodeError } from '../../api/issues.js';
import { K8S_WELL_KNOWN as W, K8S_WELL_KNOWN_JOBSET as JS } from '../../api/names.js';
import { canonicalYaml } from './yaml.js';
import type { ManifestObject } from './validate.js';
import type { KubernetesRender, KubernetesRenderOptions } from './options.js';
import { ServiceRender } from './service.js';
import type { ReplicaSetContext } from './replicas.js';
import { SPLIT_CODE, firstDifference, serviceGroups } from './replicas.js';

export type { ManifestObject } from './validate.js';
export type {
  GangScheduler,
  KubernetesRender,
  KubernetesRenderOptions,
  Orchestrator,
  OrchestratorOption,
  SshKeyMaterial,
  StartupPolicy,
} from './options.js';
export { SHIM_DIR, SSH_DIR, ADDR_VAR, HELPER_ENV } from './scripts.js';
export {
  DEFAULT_DATA_VOLUME_SIZE,
  DEFAULT_INGRESS_DOMAIN,
  K8S_FILES_DIR,
  K8S_SSH_WRAPPER,
} from './options.js';
export { commonDir, cpuQuantity, escapeK8sExpansion, kubernetesEnv, memoryQuantity } from './values.js';
export { validateManifests } from './validate.js';
export { chooseOrchestrator, restartIssues, workloadKind } from './workload.js';
export type { OrchestratorChoice, WorkloadIssue, WorkloadKind } from './workload.js';
export { jobFailureMapping, PERMANENT_EXIT_CODES } from './jobset.js';
export type { JobFailureMapping } from './jobset.js';
export { canonicalJsonList } from './yaml.js';

const KIND_ORDER = [
  'NetworkAttachmentDefinition',
  'Secret',
  'ConfigMap',
  'PersistentVolumeClaim',
  'Service',
  'Ingress',
  'NetworkPolicy',
  'PodGroup',
  'LeaderWorkerSet',
  'PodCliqueSet',
  'JobSet',
];

/** Env a pod sees that the plan does not set: Kubernetes-only additions, documented in docs/guides/kubernetes.md. */
export const K8S_ONLY_ENV = ['PATH', 'HOSTNAME', W.vllmCacheRoot, JS.completionIndexEnv] as const;

/** Renders, or throws a `MultinodeError` (exit code 2) carrying located issues. */
export function renderKubernetes(plan: Plan, opts: KubernetesRenderOptions = {}): KubernetesRender {
  const r = buildKubernetes(plan, opts);
  if (!r.ok) {
    throw new MultinodeError('render.kubernetes', 'the plan cannot be rendered for Kubernetes', {
      issues: r.issues,
      exitCode: EXIT.badInput,
    });
  }
  return r.value;
}

/** Like `renderKubernetes`, as a value: the rendering, or every issue found. */
export function buildKubernetes(plan: Plan, opts: KubernetesRenderOptions = {}): Result<KubernetesRender> {
  const issues: Issue[] = [];
  const objects: ManifestObject[] = [];
  if (opts.sshSecret !== undefined && !isSecretName(opts.sshSecret)) {
    issues.push({
      code: 'k8s-ssh-secret',
      severity: 'error',
      path: 'ssh-secret',
      message: `\`${opts.sshSecret}\` is not a Secret name (a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', at most 253 characters)`,
    });
  }
  const replicaOf = (name: string): string | undefined =>
    opts.spec?.services.find((s) => s.name === name)?.replicaOf;
  for (const group of serviceGroups(plan.services, replicaOf)) {
    if (group.of === undefined) {
      for (const svc of group.members) objects.push(...new ServiceRender(plan, svc, opts, issues).render());
      continue;
    }
    objects.push(...renderReplicaSet(plan, group.of, group.members, opts, issues));
  }
  const located = issuesOfFile(issues, replicaOf);
  if (located.some((i) => i.severity === 'error')) return { ok: false, issues: located };
  const unique = dedupe(objects);
  unique.sort(
    (a, b) =>
      KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) ||
      (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0),
  );
  return {
    ok: true,
    value: { objects: unique, yaml: canonicalYaml(unique), warnings: located },
    warnings: located,
  };
}

/**
 * Issues as the file has them: a replica's (`services.web-1.…`, a name the planner made) is the replicated
 * service's (`services.web.…`), and what every replica repeats is said once.
 */
function issuesOfFile(issues: readonly Issue[], replicaOf: (name: string) => string | undefined): Issue[] {
  const seen = new Set<string>();
  const out: Issue[] = [];
  for (const i of issues) {
    const m = /^services\.([^.[]+)(.*)$/.exec(i.path);
    const of = m?.[1] === undefined ? undefined : replicaOf(m[1]);
    const issue = of === undefined || m === null ? i : { ...i, path: `services.${of}${m[2] ?? ''}` };
    const key = JSON.stringify([issue.code, issue.severity, issue.path, issue.message]);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(issue);
  }
  return out;
}

/**
 * The replicas of `of` (in index order): one workload with `replicas: K` when one pod template can mean what
 * the K planned gangs mean, else one workload per replica with the reason as a warning (replicas.ts).
 */
function renderReplicaSet(
  plan: Plan,
  of: string,
  members: readonly ServicePlan[],
  opts: KubernetesRenderOptions,
  issues: Issue[],
): ManifestObject[] {
  const split = (reason?: string): ManifestObject[] => {
    if (reason !== undefined) {
      const path = `services.${of}.replicas`;
      const pos = opts.spec?.positions[path] ?? opts.spec?.positions[`services.${of}`];
      issues.push({
        code: SPLIT_CODE,
        severity: 'warning',
        path,
        message: `the ${members.length} replicas of \`${of}\` render as one workload each (\`${of}-<i>\`, replicas: 1), not as one workload with replicas: ${members.length}: ${reason}`,
        hint: 'a rolling update across replicas is the order in which you apply their objects (docs/guides/replicas-and-updates.md)',
        ...(pos ? { pos } : {}),
      });
    }
    return members.flatMap((svc) => new ServiceRender(plan, svc, opts, issues).render());
  };
  const probes = members.map((svc) => new ServiceRender(plan, svc, opts, []));
  const first = probes[0];
  if (!first) return [];
  const choice = first.orchestratorChoice;
  if (choice.orchestrator === 'jobset') return split();
  if (first.gangScheduler === 'volcano')
    return split(
      'Volcano gang scheduling names one PodGroup per gang in the pod template, which all replicas would share (render with --gang none or --gang kai for one workload)',
    );
  const surge = opts.spec?.services.find((s) => s.name === members[0]?.name)?.update?.maxSurge ?? 0;
  if (choice.orchestrator === 'lws' && surge >= 1)
    return split(
      `a LeaderWorkerSet surges by adding groups at index ${members.length}…${members.length + surge - 1} during a rollout (update.max-surge ${surge}), gangs the plan does not have (set \`update.max-surge: 0\` for one workload)`,
    );
  if (first.ownsDataClaim)
    return split(`each replica's persisted \`data\` volume is a claim of its own, named in the pod template`);

  // What one template may carry: static variables with the same literal, and argv, in every replica.
  const statics = probes.map((p) => p.templateStaticEnv());
  const sharedStatic = new Set(
    [...first.templateStaticEnv()].filter(([k, v]) => statics.every((m) => m.get(k) === v)).map(([k]) => k),
  );
  const argvs = probes.map((p) => p.templateArgv());
  const argvPerRank = new Set(
    [...first.templateArgv()]
      .filter(([name, argv]) => argv !== undefined && argvs.some((m) => m.get(name) !== argv))
      .map(([name]) => name),
  );
  const own: Issue[] = [];
  const rendered = members.map((svc, index) => {
    const set: ReplicaSetContext = { name: of, index, members, sharedStatic, argvPerRank };
    return new ServiceRender(plan, svc, opts, own, set).render();
  });
  const isWorkload = (o: ManifestObject): boolean => WORKLOAD_KINDS.includes(o.kind);
  const workloads = rendered.map((objs) => objs.find(isWorkload));
  const w0 = workloads[0];
  for (let i = 1; i < workloads.length; i++) {
    const diff = firstDifference(w0, workloads[i]);
    if (diff === undefined) continue;
    const host = members.some((m) => m.network.mode === 'host');
    return split(
      host
        ? `with host networking each replica binds the host ports the planner picked for it, and one pod template holds one set of ports (replica ${i} differs at \`${diff.slice(1)}\`)`
        : `replica ${i}'s pod template differs from replica 0's at \`${diff.slice(1)}\``,
    );
  }
  issues.push(...own);
  return rendered.flatMap((objs, i) => (i === 0 ? objs : objs.filter((o) => !isWorkload(o))));
}

const WORKLOAD_KINDS: readonly string[] = ['LeaderWorkerSet', 'PodCliqueSet', 'JobSet'];

function isSecretName(name: string): boolean {
  return name.length <= 253 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name);
}

/** Identical objects (a NetworkAttachmentDefinition two services share) are emitted once. */
function dedupe(objects: readonly ManifestObject[]): ManifestObject[] {
  const seen = new Set<string>();
  const out: ManifestObject[] = [];
  for (const o of objects) {
    const key = `${o.kind}/${o.metadata.name}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(o);
  }
  return out;
}
