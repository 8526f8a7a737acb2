/**
 * One service of the plan → its Kubernetes objects (see index.ts for what is rendered and the environment
 * algorithm). Collects located issues instead of throwing.
 */
import type {
  EndpointPlan,
  FabricAttachment,
  Plan,
  PlanFile,
  PortAssignment,
  RankPlan,
  RolePlan,
  ServicePlan,
  Value,
} from '../../api/plan.js';
import type { MountSpec, ResourceSpec, ServiceSpec } from '../../api/spec.js';
import type { Issue, SourcePos } from '../../api/issues.js';
import {
  DIST_ENV,
  K8S,
  K8S_WELL_KNOWN as W,
  K8S_WELL_KNOWN_JOBSET as JS,
  K8S_WELL_KNOWN_PLACEMENT as WP,
  PRODUCT,
} from '../../api/names.js';
import { joinPath, parentPath } from '../../spec/paths.js';
import { configMapKey, dnsName, isDnsLabel, portName, labelValue } from './names.js';
import type { ManifestObject } from './validate.js';
import {
  GROUP_ENV,
  HELPER_ENV,
  HOST_KEY_ALIAS,
  RANK_ENV_KEY,
  SHIM_DIR,
  SSH_DIR,
  entrypointScript,
  hostnameScript,
  rankEnvScript,
  remoteScript,
  replicaGuardScript,
  sshWrapperScript,
  sshdScript,
} from './scripts.js';
import { KubernetesValues } from './resolve.js';
import { containerSecurityContext, networkPolicies, podSecurityContext, sshKeyHash } from './hardening.js';
import { isLiteral } from '../../plan/index.js';
import { usesInitContainer, usesObjects } from './uses.js';

import type { GangScheduler, KubernetesRenderOptions, Orchestrator, StartupPolicy } from './options.js';
import {
  buildJobSet,
  buildRoleJobSet,
  indexedTemplate,
  jobSetRankSelector,
  jobSetRoleSelector,
  longestPodNameOverLimit,
  longestRolePodNameOverLimit,
} from './jobset.js';
import type { OrchestratorChoice } from './workload.js';
import type { ReplicaSetContext } from './replicas.js';
import { groupIndexLabel } from './replicas.js';
import { chooseOrchestrator, restartIssues } from './workload.js';
import {
  DEFAULT_DATA_VOLUME_SIZE,
  DEFAULT_INGRESS_DOMAIN,
  K8S_FILES_DIR,
  K8S_SSH_WRAPPER,
} from './options.js';
import type { Json } from './values.js';
import {
  cpuQuantity,
  commonDir,
  escapeK8sExpansion,
  imageRef,
  lwsRestartPolicy,
  memoryQuantity,
  probeToK8s,
  sameJson,
} from './values.js';

export interface PodGroupTemplate {
  /** Clique name (Grove), `leader`/`worker` (LWS), or the role's name (one template per role). */
  readonly name: string;
  readonly ranks: readonly RankPlan[];
  /** Set when the template is one role's (JobSet and Grove render one per role). */
  readonly role?: RolePlan;
}

export class ServiceRender {
  private readonly spec: ServiceSpec | undefined;
  private readonly name: string;
  /** The workload's name: the service's, or the replicated service's when its replicas share one workload. */
  private readonly workloadName: string;
  private readonly choice: OrchestratorChoice;
  private readonly orchestrator: Orchestrator;
  private readonly gang: GangScheduler;
  private readonly labels: Record<string, string>;
  private readonly annotations: Record<string, string>;
  private readonly values: KubernetesValues;
  private readonly needsSsh: boolean;
  private readonly filesRoot: string;
  private readonly wrapperPath: string;
  private configMapKeys: string[] = [];
  private roleGroupsCache: PodGroupTemplate[] | undefined;

  constructor(
    private readonly plan: Plan,
    private readonly svc: ServicePlan,
    private readonly opts: KubernetesRenderOptions,
    private readonly issues: Issue[],
    private readonly set?: ReplicaSetContext,
  ) {
    this.spec = opts.spec?.services.find((s) => s.name === svc.name);
    this.name = dnsName([svc.name]);
    this.workloadName = set ? dnsName([set.name]) : this.name;
    // Which controller: workload.ts (a service meant to finish is a JobSet; seed 003's annotation for Grove).
    this.choice = chooseOrchestrator(svc, this.spec?.resource.annotations[W.enableGrove], opts.orchestrator);
    this.orchestrator = this.choice.orchestrator;
    this.gang = opts.gang ?? (this.orchestrator === 'grove' ? 'kai' : 'volcano');
    this.labels = {
      [K8S.labelName]: this.name,
      [K8S.labelManagedBy]: PRODUCT,
      [K8S.labelService]: labelValue(svc.name),
    };
    this.annotations = { [K8S.annotationPlanHash]: plan.hash };
    // The device plugin numbers the pod's GPUs 0…g-1 (CUDA_VISIBLE_DEVICES differs from the local plan).
    this.values = new KubernetesValues(svc, devicesInPod(svc.ranks[0]?.gpus.length ?? 0));
    this.needsSsh =
      svc.ranks.length > 1 && svc.ranks.some((r) => r.command.kind === 'wait' || svc.backend === 'trtllm');
    this.wrapperPath = svc.sshWrapperPath || K8S_SSH_WRAPPER;
    this.filesRoot = commonDir([...svc.files.map((f) => f.path), this.wrapperPath]);
  }

  /** The controller this service renders as, and whether the user chose it. */
  get orchestratorChoice(): OrchestratorChoice {
    return this.choice;
  }
  get gangScheduler(): GangScheduler {
    return this.gang;
  }
  /** Whether a pod template names a claim of this service's own (`<service>-data`, persisted). */
  get ownsDataClaim(): boolean {
    return this.svc.persist && this.svc.mounts.some((m) => m.volume === 'data');
  }
  /** What the container's `env` would carry, name → literal (replica sets keep those all replicas share). */
  templateStaticEnv(): ReadonlyMap<string, string> {
    return this.staticEnv();
  }
  /** Per template: the literal argv its container command would carry, or undefined when `rank-env.sh` sets it. */
  templateArgv(): ReadonlyMap<string, string | undefined> {
    return new Map(
      this.groups().map((g) => {
        const rank0 = g.ranks[0];
        const argv =
          rank0 && !this.argvInRankScript(g)
            ? JSON.stringify(this.argvFor(rank0).map((a) => this.values.literal(a)))
            : undefined;
        return [g.name, argv];
      }),
    );
  }

  private issue(
    code: string,
    path: string,
    message: string,
    severity: 'error' | 'warning' = 'error',
    hint?: string,
  ): void {
    // Located at the field, or at the nearest enclosing field the file has.
    let at: string | undefined = path;
    let pos: SourcePos | undefined;
    while (at !== undefined && pos === undefined) {
      pos = this.opts.spec?.positions[at];
      at = parentPath(at);
    }
    this.issues.push({
      code,
      severity,
      path,
      message,
      ...(pos ? { pos } : {}),
      ...(hint !== undefined ? { hint } : {}),
    });
  }

  private meta(
    name: string,
    extraLabels: Record<string, string> = {},
    extraAnn: Record<string, string> = {},
  ): Json {
    return {
      name,
      ...(this.opts.namespace !== undefined ? { namespace: this.opts.namespace } : {}),
      labels: { ...this.labels, ...extraLabels },
      annotations: { ...this.annotations, ...extraAnn },
    };
  }

  /** Metadata of an object the replicas sharing one workload share (labelled as the set, not as replica 0). */
  private sharedMeta(name: string, extraLabels: Record<string, string> = {}): Json {
    if (!this.set) return this.meta(name, extraLabels);
    return this.meta(name, {
      [K8S.labelName]: this.workloadName,
      [K8S.labelService]: labelValue(this.set.name),
      [K8S.labelReplicaOf]: this.set.name,
      ...extraLabels,
    });
  }

  render(): ManifestObject[] {
    const svc = this.svc;
    const base = joinPath('services', svc.name);
    if (svc.ranks.length === 0) return [];
    if (svc.imageUri === undefined) {
      this.issue(
        'k8s-no-image',
        joinPath(joinPath(base, 'image'), 'uri'),
        'Kubernetes needs a container image; set `image.uri`',
      );
    }
    if (this.filesRoot === '/') {
      this.issue(
        'k8s-files-dir',
        base,
        `the plan files and SSH wrapper share no directory below \`/\`; plan with filesDir \`${K8S_FILES_DIR}\``,
      );
    }
    for (const r of svc.ranks) {
      if (!isDnsLabel(r.hostname) || !/^[a-z]/.test(r.hostname)) {
        this.issue(
          'k8s-hostname',
          base,
          `rank ${r.rank} host name \`${r.hostname}\` is not a DNS-1035 label (lower-case letters, digits and '-', starting with a letter), so no Service can carry it`,
        );
      }
    }
    if (this.needsSsh && this.opts.sshKeys === undefined && this.opts.sshSecret === undefined) {
      this.issue(
        'k8s-ssh-keys',
        base,
        'ranks wait for the leader over SSH but no key material and no existing Secret was given',
      );
    }
    if (this.orchestrator === 'grove' && this.gang === 'volcano') {
      this.issue(
        'k8s-gang',
        base,
        'Grove gang-schedules through its PodGang (KAI); Volcano is supported with LWS only',
        'error',
        'use --gang kai, or --orchestrator lws',
      );
    }
    this.workloadIssues();
    const groups = this.groups();
    const objects: ManifestObject[] = [];
    objects.push(...this.nads());
    const secret = this.secret();
    if (secret) objects.push(secret);
    objects.push(this.configMap(groups));
    const data = this.dataClaim();
    if (data) objects.push(data);
    objects.push(...this.rankServices());
    const ep = this.endpointService();
    if (ep) objects.push(ep, ...this.publicEndpoints(ep));
    const shared = this.replicaSetService();
    if (shared) objects.push(shared);
    objects.push(...this.networkPolicies());
    // Replicas sharing one workload: one policy for the set's pods (replica 0 renders it).
    if (!this.set) objects.push(...usesObjects(this.svc, (n, l) => this.meta(n, l)));
    else if (this.set.index === 0)
      objects.push(...usesObjects({ ...this.svc, name: this.set.name }, (n, l) => this.sharedMeta(n, l)));
    if (this.gang === 'volcano') objects.push(this.podGroup());
    objects.push(
      this.orchestrator === 'grove'
        ? this.podCliqueSet(groups)
        : this.orchestrator === 'jobset'
          ? this.jobSet(groups)
          : this.leaderWorkerSet(groups),
    );
    return objects;
  }

  /** What the chosen controller cannot express of the spec's restart policy (workload.ts), located. */
  private workloadIssues(): void {
    const base = joinPath('services', this.svc.name);
    const at = (field: string): string => field.split('.').reduce(joinPath, base);
    const written = (field: string): boolean => this.opts.spec?.positions[at(field)] !== undefined;
    for (const w of restartIssues(this.svc, this.choice, written)) {
      this.issue(w.code, at(w.field), w.message, 'warning', w.hint);
    }
    this.roleIssues();
    if (this.orchestrator === 'jobset') {
      const roles = this.roleTemplates();
      const long = roles
        ? longestRolePodNameOverLimit(
            this.name,
            this.groups().map((g) => ({ name: g.name, nodes: g.ranks.length })),
          )
        : longestPodNameOverLimit(this.name, this.svc.ranks.length - 1);
      if (long !== undefined) {
        this.issue(
          'k8s-jobset-name',
          base,
          `the JobSet's pod names (up to \`${long}\`) would exceed 63 characters, which the JobSet webhook refuses`,
          'error',
          'shorten the service name',
        );
      }
    }
  }

  /**
   * Roles on the chosen controller. LWS holds one leader and one worker template, so roles that ask for
   * different resources cannot be rendered there (an error), and a role's own restart policy is not applied
   * (a warning: the service's is). JobSet and Grove render one template per role; Grove's pods restart in
   * place, so a role's `never` or `exit-code` is a warning there as the service's is (workload.ts).
   */
  private roleIssues(): void {
    const roles = this.svc.roles;
    if (!roles) return;
    const base = joinPath(joinPath('services', this.svc.name), 'roles');
    const at = (i: number, ...segs: string[]): string => segs.reduce(joinPath, joinPath(base, i));
    const written = (i: number, field: string): boolean =>
      this.opts.spec?.positions[at(i, ...field.split('.'))] !== undefined;
    roles.forEach((role, i) => {
      if (this.orchestrator === 'lws') {
        const shape = (r: RolePlan | undefined): ResourceSpec | undefined =>
          r?.resource ?? this.spec?.resource;
        if (!sameJson(shape(role), shape(roles[0])))
          this.issue(
            'k8s-roles-lws',
            at(i, 'resource'),
            `role \`${role.name}\` asks for other resources than rank 0; a LeaderWorkerSet holds one worker template, so its roles cannot differ in shape`,
            'error',
            'drop --orchestrator lws: a JobSet (batch) or a Grove PodCliqueSet renders one template per role',
          );
        else if (written(i, 'restart'))
          this.issue(
            'k8s-roles-lws',
            at(i, 'restart'),
            `role \`${role.name}\`'s restart policy is not applied: a LeaderWorkerSet restarts every rank as the service's \`restart\` says`,
            'warning',
            'drop --orchestrator lws: a JobSet or Grove PodCliqueSet carries a restart policy per role',
          );
        return;
      }
      if (!written(i, 'restart')) return;
      for (const w of restartIssues(
        { endpoints: this.svc.endpoints, restart: role.restart },
        this.choice,
        (f) => written(i, f),
      ))
        this.issue(w.code, at(i, ...w.field.split('.')), w.message, 'warning', w.hint);
    });
  }

  /** A service with roles under JobSet or Grove: one template per role (else the leader/worker templates). */
  private roleTemplates(): readonly RolePlan[] | undefined {
    return this.orchestrator === 'lws' ? undefined : this.svc.roles;
  }

  /**
   * The templates of a service with roles: one per role, named after it. Rank 0 — the leader: endpoints,
   * readiness probe, the rank label the endpoint NetworkPolicy selects — has a template of its own, so a first
   * role of several members is `<role>-leader` (rank 0) and `<role>` (the others). A template's pods share one
   * probe and kind of command, so a role whose members differ there otherwise is split into runs of alike
   * consecutive members, `<role>-<k>`.
   */
  private roleGroups(roles: readonly RolePlan[]): PodGroupTemplate[] {
    const out: PodGroupTemplate[] = [];
    for (const role of roles) {
      const members = this.svc.ranks.slice(role.first, role.first + role.nodes);
      const runs: RankPlan[][] = [];
      for (const r of members) {
        const last = runs.at(-1);
        const prev = last?.at(-1);
        const alike =
          prev !== undefined &&
          prev.rank !== 0 &&
          sameJson(prev.probe, r.probe) &&
          prev.command.kind === r.command.kind;
        if (last && alike) last.push(r);
        else runs.push([r]);
      }
      const leaderSplit = runs.length === 2 && runs[0]?.[0]?.rank === 0;
      runs.forEach((ranks, k) =>
        out.push({
          name:
            runs.length === 1
              ? role.name
              : leaderSplit
                ? k === 0
                  ? `${role.name}-leader`
                  : role.name
                : `${role.name}-${k}`,
          ranks,
          role,
        }),
      );
    }
    return out;
  }

  /** The per-role template holding rank `rank` (undefined without per-role templates). */
  private templateGroup(rank: number): PodGroupTemplate | undefined {
    const roles = this.roleTemplates();
    if (!roles) return undefined;
    this.roleGroupsCache ??= this.roleGroups(roles);
    return this.roleGroupsCache.find((g) => g.ranks.some((r) => r.rank === rank));
  }

  private groups(): PodGroupTemplate[] {
    const ranks = this.svc.ranks;
    const roles = this.roleTemplates();
    if (roles) return (this.roleGroupsCache ??= this.roleGroups(roles));
    if (this.orchestrator === 'grove') return ranks.map((r) => ({ name: `r${r.rank}`, ranks: [r] }));
    const leader = ranks.slice(0, 1);
    const workers = ranks.slice(1);
    return workers.length > 0
      ? [
          { name: 'leader', ranks: leader },
          { name: 'worker', ranks: workers },
        ]
      : [{ name: 'leader', ranks: leader }];
  }

  // ---- names

  private configMapName(): string {
    return dnsName([this.svc.name, 'multinode']);
  }
  /** The Secret the pods mount: the one named with `sshSecret`, else the rendered one. */
  private secretName(): string {
    return this.opts.sshSecret ?? dnsName(['mpirun-ssh-key', this.set?.name ?? this.svc.name]);
  }
  private podGroupName(): string {
    return dnsName([this.svc.name, 'gang']);
  }
  private nadName(device: string): string {
    return dnsName(['roce-net', device]);
  }

  // ---- env, files and commands (symbolic values resolved by KubernetesValues)

  /** Whether the group's command is set by `rank-env.sh` (differs between its ranks, or names run-time parts). */
  private argvInRankScript(group: PodGroupTemplate): boolean {
    const rank0 = group.ranks[0];
    if (!rank0) return false;
    if (this.set?.argvPerRank.has(group.name) === true) return true;
    const first = this.argvFor(rank0);
    return group.ranks.some(
      (r) => !sameJson(this.argvFor(r), first) || this.argvFor(r).some((a) => !this.values.isStatic(a)),
    );
  }

  /** Variables every pod of the service gets in its container spec: static, and not LWS's own names. */
  private staticEnv(): Map<string, string> {
    // A Map and own-property checks: a variable may be named anything, `__proto__` included.
    const out = new Map<string, string>();
    for (const [k, v] of Object.entries(this.svc.env)) {
      // LWS injects its own LWS_* variables; the plan's (env-compat: lws) are exported by the shim to win.
      if (k.startsWith('LWS_') || Object.hasOwn(this.svc.leaderEnv, k) || !this.values.isStatic(v)) continue;
      // One template for every replica: a literal that differs between them is set by `rank-env.sh`.
      if (this.set && !this.set.sharedStatic.has(k)) continue;
      out.set(k, this.values.literal(v));
    }
    return out;
  }

  /** A service with roles: each role's own variables, exported by the pods of that role's ranks. */
  private roleEnvLines(): string[] {
    const out: string[] = [];
    for (const role of this.svc.roles ?? []) {
      const own = Object.entries(this.svc.roleEnv?.[role.name] ?? {});
      if (own.length === 0) continue;
      // The device plugin numbers each pod's GPUs 0…g-1, g being what the role's pods hold.
      const gpus = devicesInPod(this.svc.ranks[role.first]?.gpus.length ?? 0);
      out.push(`if [ "$mn_rank" -ge ${role.first} ] && [ "$mn_rank" -lt ${role.first + role.nodes} ]; then`);
      for (const [k, value] of own) out.push(`  export ${k}=${this.values.word(value, undefined, gpus)}`);
      out.push('fi');
    }
    return out;
  }

  private fileTemplates(): { key: string; file: PlanFile; content: string }[] {
    return this.svc.files.map((f) => ({
      key: configMapKey(
        f.path.startsWith(`${this.filesRoot}/`) ? f.path.slice(this.filesRoot.length + 1) : f.path,
      ),
      file: f,
      content: this.values.fileText(f.content),
    }));
  }

  /** `rank-env.sh`: what the container spec cannot say, for every pod of the service from `$mn_rank`. */
  private rankEnvScriptFor(groups: readonly PodGroupTemplate[]): string {
    const v = this.values;
    const stat = this.staticEnv();
    const body: string[] = [];
    for (const [k, value] of Object.entries(this.svc.env))
      if (!stat.has(k)) body.push(`export ${k}=${v.word(value)}`);
    if (this.svc.backend === 'vllm' && !Object.hasOwn(this.svc.env, W.vllmCacheRoot)) {
      const cache = this.compilationCacheMount();
      if (cache) body.push(`export ${W.vllmCacheRoot}=${v.word([cache.location])}`);
    }
    const leader = Object.entries(this.svc.leaderEnv);
    if (leader.length > 0) {
      body.push('if [ "$mn_rank" = 0 ]; then');
      for (const [k, value] of leader) body.push(`  export ${k}=${v.word(value)}`);
      body.push('fi');
    }
    body.push(...this.roleEnvLines());
    // Commands set here: one branch per distinct command (the most common as the default).
    const branches = new Map<string, number[]>();
    for (const g of groups) {
      if (!this.argvInRankScript(g)) continue;
      for (const r of g.ranks) {
        const line = `set -- ${this.argvFor(r)
          .map((a) => v.word(a))
          .join(' ')}`;
        branches.set(line, [...(branches.get(line) ?? []), r.rank]);
      }
    }
    body.push(...caseByRank(branches, this.svc.ranks.length));
    if (this.needsSsh) {
      const bg = this.svc.ranks.filter((r) => r.command.kind !== 'wait').map((r) => r.rank);
      if (bg.length === this.svc.ranks.length) body.push('MN_SSHD=1');
      else if (bg.length > 0) body.push(`case "$mn_rank" in ${bg.join('|')}) MN_SSHD=1 ;; esac`);
    }
    for (const f of this.svc.files) v.fileText(f.content); // addresses the files name must be resolved too
    return rankEnvScript({
      service: this.svc.name,
      addrRanks: [...v.addrRanks].sort((a, b) => a - b),
      declarations: v.declarations(),
      body,
    });
  }

  /** What a rank's container runs after the entrypoint: sshd for a rank that waits, else the plan's argv. */
  argvFor(rank: RankPlan): Value[] {
    const argv: Value[] =
      rank.command.kind === 'wait' && this.needsSsh
        ? [['/bin/sh'], [`${SHIM_DIR}/sshd.sh`]]
        : [...rank.command.argv];
    if (argv.length === 0) argv.push(['/bin/sh'], ['-c'], ['exec sleep infinity']);
    return argv;
  }

  private compilationCacheMount(): MountSpec | undefined {
    return this.svc.mounts.find((m) => {
      const x = m as MountSpec & {
        readonly compilationCache?: boolean;
        readonly useAsCompilationCache?: boolean;
      };
      return x.compilationCache === true || x.useAsCompilationCache === true;
    });
  }

  // ---- objects

  private configMap(groups: readonly PodGroupTemplate[]): ManifestObject {
    const files = this.fileTemplates();
    const data: Record<string, string> = {};
    for (const f of files) data[`files.${f.key}`] = f.content;
    const wrapperKey = 'multinode-ssh';
    data[`files.${wrapperKey}`] = sshWrapperScript(this.sshPort());
    const installs = [
      ...files.map((f) => ({ key: f.key, path: f.file.path, mode: f.file.mode })),
      { key: wrapperKey, path: this.wrapperPath, mode: 0o755 },
    ];
    data['entrypoint.sh'] = entrypointScript({
      service: this.svc.name,
      filesRoot: this.filesRoot,
      files: installs,
      ...(this.svc.cwd !== undefined ? { cwd: this.svc.cwd } : {}),
      resolveTimeoutSeconds: this.opts.resolveTimeoutSeconds ?? 600,
      ...(this.svc.roles ? { hostnames: this.svc.ranks.map((r) => r.hostname) } : {}),
    });
    data['remote.sh'] = remoteScript(this.filesRoot, this.svc.cwd);
    data['hostname'] = hostnameScript();
    if (this.needsSsh) data['sshd.sh'] = sshdScript(this.sshPort(), this.filesRoot);
    data[RANK_ENV_KEY] = this.rankEnvScriptFor(groups);
    this.configMapKeys = Object.keys(data).sort();
    return {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: this.meta(this.configMapName()) as ManifestObject['metadata'],
      data,
    };
  }

  /** The ConfigMap volume at SHIM_DIR: plan files under `files/`, `hostname` under `bin/`, scripts at the top. */
  private configMapVolume(): Json {
    const items = this.configMapKeys.map((key) => ({
      key,
      path: key.startsWith('files.')
        ? `files/${key.slice('files.'.length)}`
        : key === 'hostname'
          ? 'bin/hostname'
          : key,
    }));
    const set = this.set;
    if (!set) {
      return {
        name: 'multinode',
        configMap: { name: this.configMapName(), defaultMode: 0o755, items },
      };
    }
    // Every replica's ConfigMap under its index; the pod mounts its own group's directory (`subPathExpr`).
    return {
      name: 'multinode',
      projected: {
        defaultMode: 0o755,
        sources: set.members.map((m, i) => ({
          configMap: {
            name: dnsName([m.name, 'multinode']),
            items: items.map((it) => ({ key: it.key, path: `${i}/${it.path}` })),
          },
        })),
      },
    };
  }

  private sshPort(): number {
    const w = this.svc.ranks[1] ?? this.svc.ranks[0];
    return w?.sshPort ?? 2222;
  }

  private secret(): ManifestObject | undefined {
    if (!this.needsSsh || !this.opts.sshKeys || this.opts.sshSecret !== undefined) return undefined;
    // Replicas sharing one workload share one Secret (replica 0 renders it, every replica's hosts in it).
    if (this.set && this.set.index !== 0) return undefined;
    const k = this.opts.sshKeys;
    const port = this.sshPort();
    const hostKey = k.hostPublicKey.trim().split(/\s+/).slice(0, 2).join(' ');
    // The wrapper pins the key under one alias (any host name or address of a rank); the per-rank lines serve
    // a plain `ssh -p PORT HOST` typed by a user in a pod.
    const knownHosts = [
      `${HOST_KEY_ALIAS} ${hostKey}\n`,
      ...(this.set?.members ?? [this.svc]).flatMap((m) =>
        m.ranks.map((r) => `[${r.hostname}]:${r.sshPort || port} ${hostKey}\n`),
      ),
    ].join('');
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: this.sharedMeta(this.secretName()) as ManifestObject['metadata'],
      type: 'Opaque',
      stringData: {
        authorized_keys: `${k.publicKey.trim()}\n`,
        id_ed25519: `${k.privateKey.trim()}\n`,
        'id_ed25519.pub': `${k.publicKey.trim()}\n`,
        known_hosts: knownHosts,
        ssh_host_ed25519_key: `${k.hostPrivateKey.trim()}\n`,
        'ssh_host_ed25519_key.pub': `${k.hostPublicKey.trim()}\n`,
      },
    };
  }

  /**
   * Ingress to the service's pods only from its own pods, and to rank 0's endpoint ports from anywhere
   * (hardening.ts). Pods select on the service label; rank 0 also on the rank label (never on a worker template).
   */
  private networkPolicies(): ManifestObject[] {
    const leader = this.svc.ranks[0];
    if (!leader) return [];
    // Replicas sharing one workload: the replica's pods are the set's pods of its group.
    const service = this.set
      ? {
          [K8S.labelService]: labelValue(this.set.name),
          [groupIndexLabel(this.orchestrator)]: String(this.set.index),
        }
      : { [K8S.labelService]: labelValue(this.svc.name) };
    return networkPolicies({
      groupMeta: this.meta(dnsName([this.svc.name, 'group'])),
      endpointMeta: this.meta(dnsName([this.svc.name, 'endpoints']), { [K8S.labelRank]: '0' }),
      podLabels: service,
      rank0Labels: { [K8S.labelRank]: '0' },
      endpointPorts: this.svc.endpoints.map((ep) => ({
        port: ep.targetPort,
        protocol: (leader.ports.find((p) => p.name === ep.portName)?.protocol ?? 'tcp').toUpperCase(),
      })),
    });
  }

  private rankSelector(rank: number): Record<string, string> {
    const group = this.templateGroup(rank);
    const index = rank - (group?.ranks[0]?.rank ?? 0);
    if (group && this.orchestrator === 'jobset') return jobSetRoleSelector(this.name, group.name, index);
    // The group (PodCliqueSet replica, LWS group) is this replica's when replicas share one workload.
    const g = String(this.set?.index ?? 0);
    if (group)
      return {
        [W.grovePodClique]: dnsName([this.workloadName, g, group.name]),
        [W.grovePodIndex]: String(index),
      };
    if (this.orchestrator === 'grove') {
      return { [W.grovePodClique]: dnsName([this.workloadName, g, `r${rank}`]) };
    }
    if (this.orchestrator === 'jobset') return jobSetRankSelector(this.name, rank);
    return {
      [W.lwsName]: this.workloadName,
      [W.lwsGroupIndex]: g,
      [W.lwsWorkerIndex]: String(rank),
    };
  }

  private rankServices(): ManifestObject[] {
    return this.svc.ranks
      .filter((r) => isDnsLabel(r.hostname) && /^[a-z]/.test(r.hostname))
      .map((r) => ({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: this.meta(r.hostname, { [K8S.labelRank]: String(r.rank) }) as ManifestObject['metadata'],
        spec: {
          clusterIP: 'None',
          publishNotReadyAddresses: true,
          selector: this.rankSelector(r.rank),
        },
      }));
  }

  private endpointService(): ManifestObject | undefined {
    const leader = this.svc.ranks[0];
    if (!leader) return undefined;
    const host = this.svc.network.mode === 'host';
    const ports: Json[] = [];
    const seen = new Set<number>();
    const add = (
      name: string,
      port: number,
      target: number,
      protocol: string,
      appProtocol?: string,
    ): void => {
      if (seen.has(port)) return;
      seen.add(port);
      ports.push({
        name: portName(name),
        port,
        protocol,
        targetPort: target,
        ...(appProtocol !== undefined ? { appProtocol } : {}),
      });
    };
    for (const ep of this.svc.endpoints) this.addEndpointPort(ep, leader, add);
    if (host) {
      for (const p of leader.ports) add(p.name, p.port, p.hostPort, p.protocol.toUpperCase());
    }
    if (ports.length === 0) return undefined;
    return {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: this.meta(dnsName([this.svc.name, 'endpoints']), {
        [K8S.labelRank]: '0',
      }) as ManifestObject['metadata'],
      spec: {
        ports,
        selector: this.rankSelector(0),
        type: 'ClusterIP',
      },
    };
  }

  /**
   * `scope: public` endpoints, reachable from outside the cluster: http/https through an Ingress with the host
   * `<endpoint>.<service>.<ingress domain>` (`type: subdomain`) to the rank-0 Service's port; tcp through a
   * LoadBalancer Service on rank 0. Any other scope (`group`, none) stays on the ClusterIP Service.
   */
  private publicEndpoints(epService: ManifestObject): ManifestObject[] {
    const out: ManifestObject[] = [];
    const base = joinPath('services', this.svc.name);
    const leader = this.svc.ranks[0];
    if (!leader) return out;
    const domain = this.opts.ingressDomain ?? DEFAULT_INGRESS_DOMAIN;
    this.svc.endpoints.forEach((ep, i) => {
      const at = joinPath(joinPath(base, 'endpoints'), i);
      if (ep.scope !== undefined && ep.scope !== 'public' && ep.scope !== 'group') {
        this.issue(
          'k8s-endpoint-scope',
          joinPath(at, 'scope'),
          `endpoint scope \`${ep.scope}\` is not \`group\` or \`public\`; rendered as \`group\` (ClusterIP only)`,
          'warning',
        );
      }
      if (ep.scope !== 'public') return;
      if (ep.type !== undefined && ep.type !== 'subdomain') {
        this.issue(
          'k8s-endpoint-type',
          joinPath(at, 'type'),
          `endpoint type \`${ep.type}\` is not supported on Kubernetes; published as \`subdomain\``,
          'warning',
        );
      }
      if (ep.protocol === 'tcp') {
        const p = leader.ports.find((x) => x.name === ep.portName);
        out.push({
          apiVersion: 'v1',
          kind: 'Service',
          metadata: this.meta(dnsName([this.svc.name, ep.name, 'public']), {
            [K8S.labelRank]: '0',
          }) as ManifestObject['metadata'],
          spec: {
            ports: [
              {
                name: portName(ep.name),
                port: ep.port,
                protocol: (p?.protocol ?? 'tcp').toUpperCase(),
                targetPort: ep.targetPort,
              },
            ],
            selector: this.rankSelector(0),
            type: 'LoadBalancer',
          },
        });
        return;
      }
      const host = `${dnsName([ep.name])}.${dnsName([this.svc.name])}.${domain}`;
      out.push({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'Ingress',
        metadata: this.meta(dnsName([this.svc.name, ep.name])) as ManifestObject['metadata'],
        spec: {
          ...(this.opts.ingressClass !== undefined ? { ingressClassName: this.opts.ingressClass } : {}),
          rules: [
            {
              host,
              http: {
                paths: [
                  {
                    backend: {
                      service: { name: epService.metadata.name, port: { number: ep.port } },
                    },
                    path: '/',
                    pathType: 'Prefix',
                  },
                ],
              },
            },
          ],
          // https: TLS at the Ingress with the controller's default certificate (no Secret is rendered).
          ...(ep.protocol === 'https' ? { tls: [{ hosts: [host] }] } : {}),
        },
      });
    });
    return out;
  }

  private addEndpointPort(
    ep: EndpointPlan,
    leader: RankPlan,
    add: (name: string, port: number, target: number, protocol: string, appProtocol?: string) => void,
  ): void {
    const p = leader.ports.find((x) => x.name === ep.portName);
    const protocol = (p?.protocol ?? 'tcp').toUpperCase();
    add(ep.name, ep.port, ep.targetPort, protocol, ep.protocol === 'tcp' ? undefined : ep.protocol);
  }

  private fabric(group: PodGroupTemplate): readonly FabricAttachment[] {
    const first = group.ranks[0]?.fabricNics ?? [];
    for (const r of group.ranks) {
      if (
        !sameJson(
          r.fabricNics.map((n) => n.device),
          first.map((n) => n.device),
        )
      ) {
        this.issue(
          'k8s-fabric-differs',
          joinPath(joinPath(joinPath('services', this.svc.name), 'resource'), 'devices'),
          `rank ${r.rank} uses fabric NICs ${r.fabricNics.map((n) => n.device).join(',') || 'none'} but rank ${group.ranks[0]?.rank} uses ${first.map((n) => n.device).join(',') || 'none'}; LWS workers share one template`,
          'error',
          'use --orchestrator grove (one template per rank)',
        );
        break;
      }
    }
    return first;
  }

  private nads(): ManifestObject[] {
    const devices = new Set<string>();
    for (const r of this.svc.ranks) for (const n of r.fabricNics) devices.add(n.device);
    return [...devices].sort().map((device) => ({
      apiVersion: 'k8s.cni.cncf.io/v1',
      kind: 'NetworkAttachmentDefinition',
      metadata: {
        name: this.nadName(device),
        ...(this.opts.namespace !== undefined ? { namespace: this.opts.namespace } : {}),
        labels: { [K8S.labelManagedBy]: PRODUCT },
      },
      spec: { config: JSON.stringify({ cniVersion: '0.3.1', type: 'host-device', device }) },
    }));
  }

  private podGroup(): ManifestObject {
    const n = this.svc.ranks.length;
    const total = (f: (r: RankPlan) => number): number => this.svc.ranks.reduce((s, r) => s + f(r), 0);
    const minResources: Record<string, string> = {
      cpu: cpuQuantity(total((r) => this.cores(r))),
      memory: memoryQuantity(total((r) => r.memoryBytes)),
    };
    const gpus = total((r) => this.gpus(r));
    if (gpus > 0) minResources[this.gpuResource()] = String(gpus);
    return {
      apiVersion: 'scheduling.volcano.sh/v1beta1',
      kind: 'PodGroup',
      metadata: this.meta(this.podGroupName()) as ManifestObject['metadata'],
      spec: {
        minMember: n,
        minResources,
        queue: this.opts.volcanoQueue ?? W.volcanoDefaultQueue,
      },
    };
  }

  /**
   * Ports a rank binds: the declared ones and, in host mode, the planner's other bound ports (the leader's
   * `MASTER_PORT`, the rank's `TF_CONFIG` port), so the scheduler keeps them free too.
   */
  private boundPorts(rank: RankPlan): PortAssignment[] {
    const out: PortAssignment[] = [...rank.ports];
    if (this.svc.network.mode !== 'host') return out;
    const add = (name: string, port: number | undefined): void => {
      if (port === undefined || !Number.isInteger(port) || port <= 0) return;
      if (out.some((p) => p.hostPort === port && p.protocol === 'tcp')) return;
      out.push({ name, port, hostPort: port, protocol: 'tcp', auto: true });
    };
    if (rank.rank === 0) add('master', this.svc.masterPort);
    // The rank's TF_CONFIG port, unless the user set TF_CONFIG themselves (then nothing to reserve).
    const tfConfig = this.svc.env[DIST_ENV.tfConfig];
    if (rank.tfPort !== undefined && tfConfig !== undefined && !isLiteral(tfConfig))
      add('tf-config', rank.tfPort);
    return out;
  }

  /** What a rank asks for: its role's own `resource`, else the service's (undefined without the spec). */
  private resourceOf(rank: RankPlan): ResourceSpec | undefined {
    return (
      this.svc.roles?.find((r) => rank.rank >= r.first && rank.rank < r.first + r.nodes)?.resource ??
      this.spec?.resource
    );
  }

  /** Cores per rank: as the spec writes them (fractions allowed), else the cores the plan placed. */
  private cores(rank: RankPlan): number {
    return this.resourceOf(rank)?.cpuCores ?? Math.max(1, rank.cpus.length);
  }

  /** GPUs per rank: its role's, else the service's. */
  private gpus(rank: RankPlan): number {
    const own = this.svc.roles?.find((r) => rank.rank >= r.first && rank.rank < r.first + r.nodes)?.resource;
    return own ? own.gpus : this.svc.gpusPerNode;
  }

  private gpuResource(rank?: RankPlan): string {
    return (rank ? this.resourceOf(rank) : this.spec?.resource)?.gpuResource ?? 'nvidia.com/gpu';
  }

  private kaiQueue(): string {
    return this.spec?.resource.annotations[W.kaiQueueAnnotation] ?? this.opts.kaiQueue ?? W.kaiDefaultQueue;
  }

  /** Labels and annotations on the workload object itself (gang/queue). */
  private workloadMeta(): Json {
    const labels: Record<string, string> = {};
    const ann: Record<string, string> = {};
    if (this.gang === 'kai') {
      labels[W.kaiQueueLabel] = labelValue(this.kaiQueue());
      ann[W.kaiQueueAnnotation] = this.kaiQueue();
    }
    if (this.orchestrator === 'lws') {
      ann[W.enableGrove] = 'false';
      const key = this.exclusiveTopologyKey();
      if (key !== undefined) ann[WP.lwsExclusiveTopology] = key;
    }
    if (this.set) {
      labels[K8S.labelName] = this.workloadName;
      labels[K8S.labelService] = labelValue(this.set.name);
      labels[K8S.labelReplicaOf] = this.set.name;
    }
    return this.meta(this.workloadName, labels, ann);
  }

  private exclusive(): boolean {
    return this.svc.exclusive === true || this.spec?.placement.exclusive === true;
  }

  /**
   * LWS `exclusive-topology` for an exclusive service: the spec's topology key, or the host name label when
   * the whole group fits one node (one rank). A multi-rank group spread one rank per node without a topology
   * key gets no annotation: LWS would require every rank in ONE domain of the key, i.e. on one node, which
   * the one-rank-per-node anti-affinity forbids. The pod anti-affinity in `podTemplate` covers that case.
   */
  private exclusiveTopologyKey(): string | undefined {
    if (!this.exclusive()) return undefined;
    const key = this.spec?.placement.topologyKey;
    if (key !== undefined) return key;
    return this.svc.ranks.length === 1 ? WP.hostnameKey : undefined;
  }

  // ---- pod template

  private podTemplate(group: PodGroupTemplate): { metadata: Json; spec: Json } {
    const svc = this.svc;
    const rank0 = group.ranks[0];
    if (!rank0) throw new Error('empty pod group');
    const host = svc.network.mode === 'host';
    const base = joinPath('services', svc.name);

    // Rank-specific pieces must agree across the template's ranks (LWS workers share one).
    for (const r of group.ranks) {
      if (!sameJson(r.probe, rank0.probe) || r.command.kind !== rank0.command.kind) {
        this.issue(
          'k8s-probe-differs',
          base,
          `rank ${r.rank} has a different probe or kind of command than rank ${rank0.rank}; LWS workers share one pod template`,
          'error',
          'use --orchestrator grove (one template per rank)',
        );
        break;
      }
    }
    // Ports: every (name, bound port) any rank of the template binds, so each pod reserves what any of them
    // may bind (host mode: the scheduler then refuses a node where one is taken). The first rank's keep
    // their names; another rank's differing port gets `<name>-r<rank>`.
    const ports: { name: string; p: PortAssignment }[] = this.boundPorts(rank0).map((p) => ({
      name: p.name,
      p,
    }));
    const seenPorts = new Set(ports.map(({ p }) => `${p.name} ${p.hostPort} ${p.port}`));
    for (const r of group.ranks.slice(1)) {
      for (const p of this.boundPorts(r)) {
        const key = `${p.name} ${p.hostPort} ${p.port}`;
        if (seenPorts.has(key)) continue;
        seenPorts.add(key);
        ports.push({ name: `${p.name}-r${r.rank}`, p });
      }
    }
    const perRankArgv = this.argvInRankScript(group);

    // Env: helpers, then the template's static variables (literal, sorted).
    const env: Json[] = [
      group.name !== 'worker'
        ? { name: HELPER_ENV.index, value: String(rank0.rank) }
        : {
            name: HELPER_ENV.index,
            valueFrom: { fieldRef: { fieldPath: `metadata.labels['${W.lwsWorkerIndex}']` } },
          },
      { name: HELPER_ENV.podIp, valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    ];
    const groupLabel = groupIndexLabel(this.orchestrator);
    if (this.set)
      env.push({
        name: GROUP_ENV,
        valueFrom: { fieldRef: { fieldPath: `metadata.labels['${groupLabel}']` } },
      });
    const stat = this.staticEnv();
    for (const k of [...stat.keys()].sort())
      env.push({ name: k, value: escapeK8sExpansion(stat.get(k) ?? '') });

    // Command: the entrypoint shim, then the rank's argv (or sshd for a rank that waits).
    const argv = perRankArgv ? [] : this.argvFor(rank0).map((a) => this.values.literal(a));
    const command = ['/bin/sh', `${SHIM_DIR}/entrypoint.sh`, ...argv.map(escapeK8sExpansion)];

    // Ports: in host mode containerPort = hostPort (the scheduler refuses clashing co-location).
    const cports: Json[] = ports.map(({ name, p }) => ({
      containerPort: host ? p.hostPort : p.port,
      name: portName(name),
      protocol: p.protocol.toUpperCase(),
      ...(host ? { hostPort: p.hostPort } : {}),
    }));
    if (this.needsSsh && !ports.some(({ p }) => (host ? p.hostPort : p.port) === rank0.sshPort)) {
      cports.push({
        containerPort: rank0.sshPort,
        name: 'ssh',
        protocol: 'TCP',
        ...(host ? { hostPort: rank0.sshPort } : {}),
      });
    }

    // Resources: requests = limits (Guaranteed QoS, which the kubelet's CPU and Topology Managers need).
    const fabric = this.fabric(group);
    const resource = this.resourceOf(rank0);
    const gpus = this.gpus(rank0);
    const quantities: Record<string, string | number> = {
      cpu: cpuQuantity(this.cores(rank0)),
      memory: memoryQuantity(rank0.memoryBytes),
    };
    if (gpus > 0) quantities[this.gpuResource(rank0)] = String(gpus);
    for (const [dev, count] of Object.entries(resource?.devices ?? {})) {
      if (dev === this.gpuResource(rank0) || dev.startsWith(W.rdmaPrefix)) continue;
      quantities[dev] = String(count);
    }
    for (const n of fabric) quantities[`${W.rdmaPrefix}${n.device}`] = '1';

    const portMap = (port: number): number => {
      if (!host) return port;
      if (rank0.ports.some((p) => p.hostPort === port)) return port;
      return rank0.ports.find((p) => p.port === port)?.hostPort ?? port;
    };
    const probe = rank0.probe ? probeToK8s(rank0.probe, portMap) : undefined;

    // Volumes.
    const volumes: Json[] = [this.configMapVolume(), { name: 'multinode-files', emptyDir: {} }];
    const mounts: Json[] = [
      {
        mountPath: SHIM_DIR,
        name: 'multinode',
        readOnly: true,
        // Replicas sharing one workload: the pod's own replica's directory of the projected ConfigMaps.
        ...(this.set ? { subPathExpr: `$(${GROUP_ENV})` } : {}),
      },
      { mountPath: this.filesRoot, name: 'multinode-files' },
    ];
    if (this.needsSsh) {
      volumes.push({ name: 'ssh-key', secret: { defaultMode: 0o600, secretName: this.secretName() } });
      mounts.push({ mountPath: SSH_DIR, name: 'ssh-key', readOnly: true });
    }
    const claims = new Set<string>();
    for (const m of svc.mounts) {
      const vol = dnsName(['vol', m.volume]);
      if (!claims.has(vol)) {
        claims.add(vol);
        // `data` without `persist` lives as long as the pod (an emptyDir); everything else is a claim.
        volumes.push(
          m.volume === 'data' && !svc.persist
            ? { name: vol, emptyDir: {} }
            : { name: vol, persistentVolumeClaim: { claimName: this.claimName(m) } },
        );
      }
      mounts.push({ mountPath: m.location, name: vol, ...(m.readOnly === true ? { readOnly: true } : {}) });
    }
    if (gpus > 0) {
      volumes.push({ name: 'dshm', emptyDir: { medium: 'Memory' } });
      mounts.push({ mountPath: '/dev/shm', name: 'dshm' });
    }
    volumes.sort((a, b) => String(a['name']).localeCompare(String(b['name'])));
    mounts.sort((a, b) => String(a['mountPath']).localeCompare(String(b['mountPath'])));

    const container: Json = {
      name: 'main',
      image: imageRef(svc.imageUri ?? ''),
      command,
      env,
      ...(cports.length > 0 ? { ports: cports } : {}),
      resources: { limits: quantities, requests: quantities },
      volumeMounts: mounts,
      ...(svc.cwd !== undefined ? { workingDir: svc.cwd } : {}),
      ...(probe ? { readinessProbe: probe } : {}),
      securityContext: containerSecurityContext({
        sshd: this.needsSsh,
        fabric: fabric.length > 0,
        lowPort: cports.some((p) => Number(p['containerPort']) < 1024),
      }),
    };

    // Placement: GPU model as node affinity, spread ranks over nodes.
    const affinity: Json = {};
    const gpuModel = group.role?.resource ? group.role.resource.gpuModel : svc.gpuModel;
    if (gpuModel !== undefined) {
      affinity['nodeAffinity'] = {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            {
              matchExpressions: [
                {
                  key: W.gpuProduct,
                  operator: 'In',
                  values: [labelValue(gpuModel.replace(/\s+/g, '-'))],
                },
              ],
            },
          ],
        },
      };
    }
    // Replicas sharing one workload: a term about "the service's pods" means its group's, by the group label.
    const ownPods: Json = this.set
      ? {
          labelSelector: { matchLabels: { [K8S.labelService]: labelValue(this.set.name) } },
          matchLabelKeys: [groupLabel],
        }
      : { labelSelector: { matchLabels: { [K8S.labelService]: labelValue(svc.name) } } };
    // One rank per node unless the spec asks to pack ranks (then the scheduler may co-locate them).
    const antiAffinity: Json[] = [];
    if (svc.ranks.length > 1 && this.spec?.placement.strategy !== 'pack') {
      antiAffinity.push({ ...ownPods, topologyKey: WP.hostnameKey });
    }
    // `placement.exclusive`: no pod of another multinode service in the rank's domain (its node, or the
    // domain of the spec's topology key). Required anti-affinity is symmetric in the scheduler, so the other
    // service's pods are kept out too. `Exists` limits it to multinode pods (DaemonSets stay schedulable).
    if (this.exclusive()) {
      const topologyKey = this.spec?.placement.topologyKey ?? WP.hostnameKey;
      const own = labelValue(this.set?.name ?? svc.name);
      antiAffinity.push({
        labelSelector: {
          matchExpressions: [
            { key: K8S.labelService, operator: 'Exists' },
            { key: K8S.labelService, operator: 'NotIn', values: [own] },
          ],
        },
        topologyKey,
      });
      // The other replicas are other services locally: kept out too (same set, another group index).
      if (this.set)
        antiAffinity.push({
          labelSelector: { matchLabels: { [K8S.labelService]: own } },
          mismatchLabelKeys: [groupLabel],
          topologyKey,
        });
    }
    if (antiAffinity.length > 0) {
      affinity['podAntiAffinity'] = { requiredDuringSchedulingIgnoredDuringExecution: antiAffinity };
    }
    // `placement.topology`: all ranks in one domain of the node label `key` (required or preferred).
    const topo = this.spec?.placement;
    if (svc.ranks.length > 1 && topo?.topologyKey !== undefined) {
      const term = { ...ownPods, topologyKey: topo.topologyKey };
      affinity['podAffinity'] =
        topo.topologyMode === 'required'
          ? { requiredDuringSchedulingIgnoredDuringExecution: [term] }
          : { preferredDuringSchedulingIgnoredDuringExecution: [{ podAffinityTerm: term, weight: 100 }] };
    }

    const podSpec: Json = {
      containers: [container],
      volumes,
      restartPolicy: 'Always',
      // Ranks never call the API server: no token in the pod.
      automountServiceAccountToken: false,
      securityContext: podSecurityContext(),
      // No `<SERVICE>_PORT`-style variables from other Services: the env is the plan's (and vLLM reads VLLM_*).
      enableServiceLinks: false,
      ...(Object.keys(affinity).length > 0 ? { affinity } : {}),
      ...(host ? { hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' } : {}),
      ...(this.gang === 'volcano' ? { schedulerName: W.volcanoSchedulerName } : {}),
      ...(this.gang === 'kai' ? { schedulerName: W.kaiSchedulerName } : {}),
    };
    const waitUses = usesInitContainer(svc, container);
    if (waitUses) podSpec['initContainers'] = [waitUses];

    const podLabels: Record<string, string> = { ...this.labels };
    if (group.role ? group.ranks.length === 1 : group.name !== 'worker')
      podLabels[K8S.labelRank] = String(rank0.rank);
    if (this.spec?.replicaOf !== undefined) podLabels[K8S.labelReplicaOf] = this.spec.replicaOf;
    if (this.set) {
      podLabels[K8S.labelName] = this.workloadName;
      podLabels[K8S.labelService] = labelValue(this.set.name);
      podLabels[K8S.labelReplicaOf] = this.set.name;
    }
    if (this.gang === 'kai') podLabels[W.kaiQueueLabel] = labelValue(this.kaiQueue());
    const podAnn: Record<string, string> = { [K8S.annotationPlanHash]: this.plan.hash };
    if (fabric.length > 0)
      podAnn[W.multusNetworks] = fabric.map((n) => `${this.nadName(n.device)}@${n.ifname}`).join(', ');
    if (this.gang === 'volcano') podAnn[W.volcanoGroupName] = this.podGroupName();
    // New keys → new template → the controller replaces the pods (they read the Secret only at start).
    if (this.needsSsh && this.opts.sshKeys && this.opts.sshSecret === undefined)
      podAnn[K8S.annotationSshKeyHash] = sshKeyHash(this.opts.sshKeys);
    if (resource?.cpuAffinity === 'NUMA') podAnn[W.annotationNuma] = 'best-effort';
    const template = { metadata: { labels: podLabels, annotations: podAnn }, spec: podSpec };
    // A role's members share its template: each learns its rank from its index in the Job or clique.
    const indexed =
      group.role && group.ranks.length > 1
        ? indexedTemplate(
            template,
            this.orchestrator === 'jobset'
              ? `metadata.annotations['${JS.completionIndex}']`
              : `metadata.labels['${W.grovePodIndex}']`,
            rank0.rank,
          )
        : template;
    return this.set ? this.guarded(indexed, this.set) : indexed;
  }

  /** Replicas sharing one workload: the container command starts with the group-index guard (pod-entrypoint.ts). */
  private guarded(t: { metadata: Json; spec: Json }, set: ReplicaSetContext): { metadata: Json; spec: Json } {
    const guard = replicaGuardScript(set.name, set.members.length);
    const containers = (t.spec['containers'] as Json[]).map((c) => {
      const command = c['command'] as string[];
      const wrapped =
        command[1] === '-c'
          ? ['/bin/sh', '-c', escapeK8sExpansion(guard) + (command[2] ?? ''), ...command.slice(3)]
          : [
              '/bin/sh',
              '-c',
              escapeK8sExpansion(`${guard}exec /bin/sh ${SHIM_DIR}/entrypoint.sh "$@"`),
              'multinode-entrypoint',
              ...command.slice(2),
            ];
      return { ...c, command: wrapped };
    });
    return { ...t, spec: { ...t.spec, containers } };
  }

  /**
   * The claim for the built-in `data` volume when the service persists it and mounts it: ReadWriteMany when
   * more than one rank mounts it (they run on different nodes), else ReadWriteOnce.
   */
  private dataClaim(): ManifestObject | undefined {
    if (!this.svc.persist || !this.svc.mounts.some((m) => m.volume === 'data')) return undefined;
    const size = this.opts.dataVolumeSize ?? DEFAULT_DATA_VOLUME_SIZE;
    if (!/^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/.test(size)) {
      this.issue(
        'k8s-data-size',
        joinPath(joinPath('services', this.svc.name), 'persist'),
        `data volume size \`${size}\` is not a Kubernetes quantity (e.g. 10Gi)`,
      );
    }
    return {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: this.meta(dnsName([this.svc.name, 'data'])) as ManifestObject['metadata'],
      spec: {
        accessModes: [this.svc.ranks.length > 1 ? 'ReadWriteMany' : 'ReadWriteOnce'],
        resources: { requests: { storage: size } },
        ...(this.opts.storageClass !== undefined ? { storageClassName: this.opts.storageClass } : {}),
      },
    };
  }

  private claimName(m: MountSpec): string {
    if (m.volume === 'data') return dnsName([this.svc.name, 'data']);
    const ref = this.opts.spec?.volumes[m.volume]?.reference;
    if (ref !== undefined) {
      const last = ref.replace(/\/+$/, '').split('/').pop() ?? m.volume;
      return dnsName([last]);
    }
    return dnsName([m.volume]);
  }

  private startupPolicy(): StartupPolicy {
    if (this.opts.startupPolicy) return this.opts.startupPolicy;
    // A leader whose readiness needs its workers (a server over all ranks) never becomes Ready if workers
    // start only after it is: LeaderReady would deadlock, so such groups start together.
    return this.svc.ranks[0]?.probe !== undefined ? 'LeaderCreated' : 'LeaderReady';
  }

  private leaderWorkerSet(groups: readonly PodGroupTemplate[]): ManifestObject {
    const leader = groups.find((g) => g.name === 'leader');
    const worker = groups.find((g) => g.name === 'worker');
    const leaderT = leader ? this.podTemplate(leader) : undefined;
    const workerT = worker ? this.podTemplate(worker) : leaderT;
    return {
      apiVersion: 'leaderworkerset.x-k8s.io/v1',
      kind: 'LeaderWorkerSet',
      metadata: this.workloadMeta() as ManifestObject['metadata'],
      spec: {
        replicas: this.set?.members.length ?? 1,
        ...this.rolloutStrategy(),
        startupPolicy: this.startupPolicy(),
        leaderWorkerTemplate: {
          size: this.svc.ranks.length,
          restartPolicy: lwsRestartPolicy(this.svc.restart.policy),
          ...(worker && leaderT ? { leaderTemplate: leaderT } : {}),
          workerTemplate: workerT,
        },
      },
    };
  }

  // ---- replicas and rolling updates ----

  /** LWS rolloutStrategy from the spec's `update` (absent when the file does not say). */
  private rolloutStrategy(): Json {
    const u = this.spec?.update;
    if (!u) return {};
    return {
      rolloutStrategy: {
        type: 'RollingUpdate',
        rollingUpdateConfiguration: { maxSurge: u.maxSurge, maxUnavailable: u.maxUnavailable },
      },
    };
  }

  /**
   * Replica 0 of a replicated service also renders `<service>-endpoints`: one Service over rank 0 of every
   * replica (selected by the replica-of label), so the cluster spreads connections over the ready gangs.
   */
  replicaSetService(): ManifestObject | undefined {
    const of = this.spec?.replicaOf;
    if (of === undefined || this.svc.name !== `${of}-0`) return undefined;
    const own = this.endpointService();
    if (!own) return undefined;
    const spec = own.spec as Json;
    return {
      ...own,
      metadata: this.meta(dnsName([of, 'endpoints']), {
        [K8S.labelRank]: '0',
        [K8S.labelReplicaOf]: of,
      }) as ManifestObject['metadata'],
      spec: { ...spec, selector: { [K8S.labelReplicaOf]: of, [K8S.labelRank]: '0' } },
    };
  }

  private jobSet(groups: readonly PodGroupTemplate[]): ManifestObject {
    if (groups.some((g) => g.role))
      return buildRoleJobSet(
        this.workloadMeta() as ManifestObject['metadata'],
        groups.map((g) => ({
          name: g.name,
          template: this.podTemplate(g),
          count: g.ranks.length,
          restart: g.role?.restart ?? this.svc.restart,
        })),
      );
    const leader = groups.find((g) => g.name === 'leader');
    const worker = groups.find((g) => g.name === 'worker');
    if (!leader) throw new Error('no leader group');
    return buildJobSet({
      metadata: this.workloadMeta() as ManifestObject['metadata'],
      launch: this.svc.launch,
      restart: this.svc.restart,
      leader: this.podTemplate(leader),
      ...(worker ? { worker: { template: this.podTemplate(worker), count: worker.ranks.length } } : {}),
    });
  }

  private podCliqueSet(groups: readonly PodGroupTemplate[]): ManifestObject {
    const cliques = groups.map((g) => {
      const t = this.podTemplate(g);
      const rank = g.ranks[0]?.rank ?? 0;
      return {
        name: g.name,
        labels: t.metadata['labels'],
        annotations: t.metadata['annotations'],
        spec: {
          // A role's clique holds its members (the whole clique must be up: the gang).
          roleName: g.role ? g.role.name : rank === 0 ? 'leader' : `worker-${rank}`,
          replicas: g.ranks.length,
          minAvailable: g.ranks.length,
          podSpec: t.spec,
        },
      };
    });
    return {
      apiVersion: 'grove.io/v1alpha1',
      kind: 'PodCliqueSet',
      metadata: this.workloadMeta() as ManifestObject['metadata'],
      spec: {
        replicas: this.set?.members.length ?? 1,
        template: {
          cliqueStartupType: 'CliqueStartupTypeAnyOrder',
          headlessServiceConfig: { publishNotReadyAddresses: true },
          cliques,
          // recreate-group: terminate the gang soon after a rank is lost (Grove's default waits 4 h).
          ...(this.svc.restart.policy === 'recreate-group'
            ? { terminationDelay: `${Math.max(1, Math.round(this.svc.restart.backoffMaxSeconds))}s` }
            : {}),
        },
      },
    };
  }
}

/** `case` lines setting each rank's branch, the branch most ranks share as the default (O(N) in all). */
function caseByRank(branches: ReadonlyMap<string, readonly number[]>, ranks: number): string[] {
  if (branches.size === 0) return [];
  const all = [...branches];
  const covered = all.reduce((n, b) => n + b[1].length, 0) === ranks;
  let common = covered ? all[0] : undefined;
  for (const b of all) if (common && b[1].length > common[1].length) common = b;
  if (all.length === 1 && common) return [common[0]];
  const out = ['case "$mn_rank" in'];
  for (const b of all) if (b !== common) out.push(`  ${b[1].join('|')}) ${b[0]} ;;`);
  if (common) out.push(`  *) ${common[0]} ;;`);
  out.push('esac');
  return out;
}

/** `CUDA_VISIBLE_DEVICES` inside a pod holding `gpus` GPUs: the device plugin numbers them `0…gpus-1`. */
function devicesInPod(gpus: number): string {
  return Array.from({ length: gpus }, (_, i) => String(i)).join(',');
}
