/**
 * Helpers for the Kubernetes renderer's tests: golden cases (`test/golden/<case>/spec.yaml` + `case.json`) →
 * spec, inventory, plans for the kubernetes and local targets, and the rendering; plus `runPodEntrypoint`,
 * which runs a rendered pod's real entrypoint shim with /bin/sh (paths moved into a temp dir, `getent` faked)
 * and returns the environment, argv and files the program would get.
 */
import { expandReplicas } from '../../../src/plan/replicas.js';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Inventory } from '../../../src/api/inventory.js';
import type { Plan, Target } from '../../../src/api/plan.js';
import type { Spec } from '../../../src/api/spec.js';
import { parseSpec } from '../../../src/spec/index.js';
import { defaultPlanOptions, generateInventory, planSpec } from '../../../src/plan/index.js';
import type { GenerateInventoryOptions } from '../../../src/plan/index.js';
import { K8S_FILES_DIR, K8S_SSH_WRAPPER } from '../../../src/targets/kubernetes/options.js';
import { kubernetesInventory as inventoryForSpec } from '../../../src/targets/kubernetes/target.js';
import type {
  KubernetesRenderOptions,
  ManifestObject,
  SshKeyMaterial,
} from '../../../src/targets/kubernetes/index.js';
import { HELPER_ENV, SHIM_DIR, renderKubernetes } from '../../../src/targets/kubernetes/index.js';

/** The interface the fake route table gives the pod IP (what the service subnet becomes in the pod). */
export const POD_IFACE = 'eth7';

export const GOLDEN_DIR = join(import.meta.dirname, '..', '..', 'golden');

export function goldenKeys(): SshKeyMaterial {
  const k = (f: string): string => readFileSync(join(GOLDEN_DIR, '_keys', f), 'utf8');
  return {
    privateKey: k('id_ed25519'),
    publicKey: k('id_ed25519.pub'),
    hostPrivateKey: k('ssh_host_ed25519_key'),
    hostPublicKey: k('ssh_host_ed25519_key.pub'),
  };
}

export interface CaseConfig {
  readonly description?: string;
  /** Generated inventory; default: what `multinode render` generates from the spec. */
  readonly inventory?: GenerateInventoryOptions;
  readonly render?: Omit<KubernetesRenderOptions, 'spec' | 'sshKeys'>;
  readonly seed?: number;
}

export interface GoldenCase {
  readonly name: string;
  readonly dir: string;
  readonly config: CaseConfig;
  readonly spec: Spec;
  readonly inventory: Inventory;
}

export function goldenCaseNames(): string[] {
  return readdirSync(GOLDEN_DIR)
    .filter((d) => !d.startsWith('_') && existsSync(join(GOLDEN_DIR, d, 'spec.yaml')))
    .sort();
}

export function loadCase(name: string): GoldenCase {
  const dir = join(GOLDEN_DIR, name);
  const file = join(dir, 'spec.yaml');
  const cfgPath = join(dir, 'case.json');
  const config = (existsSync(cfgPath) ? JSON.parse(readFileSync(cfgPath, 'utf8')) : {}) as CaseConfig;
  const parsed = parseSpec(readFileSync(file, 'utf8'), `test/golden/${name}/spec.yaml`);
  if (!parsed.ok) throw new Error(`${name}: spec invalid: ${JSON.stringify(parsed.issues, null, 1)}`);
  // Replicas: one gang per replica, as every target plans them (src/plan/replicas.ts).
  const spec = expandReplicas(parsed.value);
  const inventory = config.inventory ? generateInventory(config.inventory) : inventoryForSpec(spec);
  return { name, dir, config, spec, inventory };
}

export function planCase(c: GoldenCase, target: Target): Plan {
  const r = planSpec(
    c.spec,
    c.inventory,
    defaultPlanOptions({
      target,
      seed: c.config.seed ?? 0,
      filesDir: K8S_FILES_DIR,
      sshWrapperPath: K8S_SSH_WRAPPER,
      runAsRoot: true,
    }),
  );
  if (!r.ok) throw new Error(`${c.name}: plan failed: ${JSON.stringify(r, null, 1)}`);
  return r.plan;
}

export function renderCase(c: GoldenCase, plan: Plan = planCase(c, 'kubernetes')) {
  return renderKubernetes(plan, { ...(c.config.render ?? {}), spec: c.spec, sshKeys: goldenKeys() });
}

type Json = Record<string, unknown>;

const WORKLOADS = ['LeaderWorkerSet', 'PodCliqueSet', 'JobSet'];

/**
 * The workload running the plan service `service`, and the group (replica) its pods are in: the workload named
 * `service` (group 0), or — replicas sharing one workload — the workload `<set>` of `service` = `<set>-<g>`.
 */
export function workloadFor(
  objects: readonly ManifestObject[],
  service: string,
): { readonly workload: ManifestObject; readonly group: number } | undefined {
  const own = objects.find((o) => WORKLOADS.includes(o.kind) && o.metadata.name === service);
  if (own) return { workload: own, group: 0 };
  const m = /^(.*)-(0|[1-9][0-9]*)$/.exec(service);
  if (!m) return undefined;
  const set = objects.find(
    (o) =>
      WORKLOADS.includes(o.kind) &&
      o.metadata.name === m[1] &&
      ((o.metadata as Json)['labels'] as Record<string, string> | undefined)?.['multinode.dev/replica-of'] ===
        m[1],
  );
  return set ? { workload: set, group: Number(m[2]) } : undefined;
}

/** The pod template a rank runs under (LWS leader/worker template, JobSet leader/worker Job, or its Grove clique). */
export function podTemplateFor(objects: readonly ManifestObject[], service: string, rank: number): Json {
  const w = workloadFor(objects, service)?.workload;
  if (!w) throw new Error(`no workload for ${service}`);
  const spec = w['spec'] as Json;
  if (w.kind === 'JobSet') {
    // Replicated jobs hold consecutive ranks in order (leader, worker; or one per role).
    const jobs = spec['replicatedJobs'] as {
      name: string;
      template: { spec: { template: Json; completions: number } };
    }[];
    let first = 0;
    for (const job of jobs) {
      if (rank < first + job.template.spec.completions) return job.template.spec.template;
      first += job.template.spec.completions;
    }
    throw new Error(`no replicated job for rank ${rank}`);
  }
  if (w.kind === 'LeaderWorkerSet') {
    const lwt = spec['leaderWorkerTemplate'] as Json;
    const t = (rank === 0 ? (lwt['leaderTemplate'] ?? lwt['workerTemplate']) : lwt['workerTemplate']) as Json;
    return t;
  }
  // Cliques hold consecutive ranks in order (one per rank `r<rank>`, or one per role of `replicas` members).
  const cliques = (spec['template'] as { cliques: Json[] }).cliques;
  let first = 0;
  for (const c of cliques) {
    const n = Number((c['spec'] as Json)['replicas'] ?? 1);
    if (rank < first + n) return { metadata: { labels: c['labels'] }, spec: (c['spec'] as Json)['podSpec'] };
    first += n;
  }
  throw new Error(`no clique for rank ${rank}`);
}

/**
 * Rank `rank`'s index in the Job or clique that holds it (its completion index, Grove pod index; LWS: the
 * worker index, which is the rank).
 */
export function podIndexFor(objects: readonly ManifestObject[], service: string, rank: number): number {
  const w = workloadFor(objects, service)?.workload;
  if (!w || w.kind === 'LeaderWorkerSet') return rank;
  const spec = w['spec'] as Json;
  const sizes =
    w.kind === 'JobSet'
      ? (spec['replicatedJobs'] as { template: { spec: { completions: number } } }[]).map(
          (j) => j.template.spec.completions,
        )
      : (spec['template'] as { cliques: Json[] }).cliques.map((c) =>
          Number((c['spec'] as Json)['replicas'] ?? 1),
        );
  let first = 0;
  for (const n of sizes) {
    if (rank < first + n) return rank - first;
    first += n;
  }
  return rank;
}

/** Kubernetes' `$(VAR)` expansion for a literal without references (`$$` → `$`). */
function k8sExpand(v: string): string {
  return v.replace(/\$\$/g, '$');
}

export interface PodRun {
  readonly env: Record<string, string>;
  readonly argv: string[];
  /** Planned path → content the entrypoint installed. */
  readonly files: Record<string, string>;
  /**
   * When the shim ran confined as the container's securityContext confines it (root and setpriv(1) here):
   * the effective capabilities and no_new_privs of the program it execs, from /proc/self/status.
   */
  readonly confined?: { readonly capEff: bigint; readonly noNewPrivs: boolean };
}

/** Linux capability numbers (linux/capability.h) of the names a securityContext may add. */
export const CAPABILITY_BITS: Readonly<Record<string, number>> = {
  CHOWN: 0,
  DAC_OVERRIDE: 1,
  FOWNER: 3,
  KILL: 5,
  SETGID: 6,
  SETUID: 7,
  NET_BIND_SERVICE: 10,
  NET_RAW: 13,
  IPC_LOCK: 14,
  SYS_CHROOT: 18,
  SYS_PTRACE: 19,
  SYS_ADMIN: 21,
  SYS_RESOURCE: 24,
  AUDIT_WRITE: 29,
};

export const SETPRIV = '/usr/bin/setpriv';

/**
 * argv prefix that runs a program as a container with `securityContext` runs it as root: no_new_privs
 * (allowPrivilegeEscalation: false), no inheritable capabilities, and the bounding set — so the permitted and
 * effective sets after exec — reduced to the added capabilities when ALL are dropped. Undefined when that
 * cannot be done here (not root, or no setpriv).
 */
export function confineLikeContainer(securityContext: Json | undefined): string[] | undefined {
  if (process.getuid?.() !== 0 || !existsSync(SETPRIV)) return undefined;
  const caps = (securityContext?.['capabilities'] ?? {}) as { add?: string[]; drop?: string[] };
  const out = [SETPRIV, '--inh-caps=-all'];
  if (securityContext?.['allowPrivilegeEscalation'] === false) out.push('--no-new-privs');
  if (caps.drop?.includes('ALL') === true) {
    out.push(`--bounding-set=-all${(caps.add ?? []).map((c) => `,+${c.toLowerCase()}`).join('')}`);
  }
  return out;
}

/**
 * Runs the container command of `rank`'s pod with /bin/sh: container env from the template (Downward API: pod
 * IP = `podIp`, LWS worker index = rank, Indexed Job completion index = rank − 1 in the JobSet's worker Job),
 * `getent hosts` answering from `addresses`, the ConfigMap written to a temp dir standing in for SHIM_DIR and
 * the files root. Returns what the program would see.
 */
export function runPodEntrypoint(
  objects: readonly ManifestObject[],
  service: string,
  rank: number,
  podIp: string,
  addresses: Readonly<Record<string, string>>,
  filesRoot = K8S_FILES_DIR,
  /** The pod's group index (replicas sharing one workload); default: the group of `service`'s replica. */
  groupIndex?: number,
): PodRun {
  const group = groupIndex ?? workloadFor(objects, service)?.group ?? 0;
  const tmp = mkdtempSync(join(tmpdir(), 'mn-k8s-pod-'));
  try {
    const shim = join(tmp, 'shim');
    const root = join(tmp, 'files');
    const bin = join(tmp, 'bin');
    const out = join(tmp, 'out');
    mkdirSync(bin);
    mkdirSync(out);
    const tmpl = podTemplateFor(objects, service, rank);
    const pod = tmpl['spec'] as { containers: Json[]; volumes: Json[] };
    const container = pod.containers[0] ?? {};
    type CmSource = { name: string; items: { key: string; path: string }[] };
    const vol = pod.volumes.find((v) => v['name'] === 'multinode') as
      { configMap?: CmSource; projected?: { sources: { configMap: CmSource }[] } } | undefined;
    if (!vol) throw new Error('no multinode volume');
    // The mount at SHIM_DIR: the whole volume, or (replicas) the group's directory through `subPathExpr`.
    const mount = ((container['volumeMounts'] ?? []) as Json[]).find((m) => m['name'] === 'multinode');
    const subPath =
      typeof mount?.['subPathExpr'] === 'string'
        ? mount['subPathExpr'].replace(/\$\(([A-Z0-9_]+)\)/g, (_, v: string) =>
            v === 'MULTINODE_K8S_GROUP' ? String(group) : '',
          )
        : undefined;
    const data: Record<string, string> = {};
    const items: { key: string; path: string }[] = [];
    for (const src of vol.configMap
      ? [vol.configMap]
      : (vol.projected?.sources ?? []).map((x) => x.configMap)) {
      const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === src.name);
      const cmData = (cm?.['data'] ?? {}) as Record<string, string>;
      for (const it of src.items) {
        if (subPath !== undefined && !it.path.startsWith(`${subPath}/`)) continue;
        const path = subPath !== undefined ? it.path.slice(subPath.length + 1) : it.path;
        // One key name per path under the mount (ConfigMaps of several replicas share key names).
        data[path] = cmData[it.key] ?? '';
        items.push({ key: it.key, path });
      }
    }
    const route = join(tmp, 'route');
    const le = podIp
      .split('.')
      .map((o) => Number(o).toString(16).padStart(2, '0').toUpperCase())
      .reverse()
      .join('');
    writeFileSync(
      route,
      'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n' +
        'ens9\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n' +
        `${POD_IFACE}\t${le}\t00000000\t0001\t0\t0\t0\tFFFFFFFF\t0\t0\t0\n`,
    );
    const relocate = (text: string): string =>
      text.split(SHIM_DIR).join(shim).split(filesRoot).join(root).split('/proc/net/route').join(route);
    for (const item of items) {
      const p = join(shim, item.path);
      mkdirSync(dirname(p), { recursive: true });
      let text = data[item.path] ?? '';
      if (!item.key.startsWith('files.') && !item.key.startsWith('rank-')) text = relocate(text);
      // The background sshd a leader starts is exercised by render-k8s-ssh.test.ts, not here.
      if (item.key === 'sshd.sh') text = '#!/bin/sh\nexit 0\n';
      if (item.key === 'entrypoint.sh') {
        text = text.replace(
          /\nexec "\$@"\n$/,
          `\nprintf '%s\\0' "$@" > '${out}/argv'\ngrep -E '^(CapEff|NoNewPrivs):' /proc/self/status > '${out}/status'\nexec /usr/bin/env -0 > '${out}/env'\n`,
        );
      }
      writeFileSync(p, text, { mode: 0o755 });
    }
    const cases = Object.entries(addresses)
      .map(([h, a]) => `  ${h}) echo "${a}   ${h}"; exit 0;;`)
      .join('\n');
    writeFileSync(
      join(bin, 'getent'),
      `#!/bin/sh\n[ "$1" = hosts ] || exit 2\ncase "$2" in\n${cases}\nesac\nexit 2\n`,
      {
        mode: 0o755,
      },
    );
    chmodSync(join(bin, 'getent'), 0o755);
    const env: Record<string, string> = { PATH: `${bin}:/usr/bin:/bin` };
    for (const e of container['env'] as Json[]) {
      const name = e['name'] as string;
      if (typeof e['value'] === 'string') env[name] = k8sExpand(e['value']);
      const path = ((e['valueFrom'] as Json | undefined)?.['fieldRef'] as Json | undefined)?.['fieldPath'];
      if (path === 'status.podIP') env[name] = podIp;
      else if (path === `metadata.annotations['batch.kubernetes.io/job-completion-index']`)
        env[name] = String(podIndexFor(objects, service, rank));
      else if (path === `metadata.labels['grove.io/podclique-pod-index']`)
        env[name] = String(podIndexFor(objects, service, rank));
      else if (
        path === `metadata.labels['leaderworkerset.sigs.k8s.io/group-index']` ||
        path === `metadata.labels['grove.io/podcliqueset-replica-index']`
      )
        env[name] = String(group);
      else if (typeof path === 'string' && path.startsWith('metadata.labels[')) env[name] = String(rank);
    }
    const command = (container['command'] as string[]).map(k8sExpand);
    const [sh, entry, ...args] = command;
    // `/bin/sh ENTRYPOINT ARGV…`, or (JobSet workers) `/bin/sh -c 'SCRIPT' NAME ARGV…` that execs it.
    const argv =
      sh === '/bin/sh' && entry === `${SHIM_DIR}/entrypoint.sh`
        ? [join(shim, 'entrypoint.sh'), ...args]
        : sh === '/bin/sh' && entry === '-c' && args[0]?.includes(`${SHIM_DIR}/entrypoint.sh`) === true
          ? ['-c', relocate(args[0]), ...args.slice(1)]
          : undefined;
    if (!argv) throw new Error(`unexpected command ${command.join(' ')}`);
    // As the container would run it: confined by its securityContext (when this machine can).
    const confine = confineLikeContainer(container['securityContext'] as Json | undefined);
    const r = spawnSync(
      confine?.[0] ?? '/bin/sh',
      [...(confine?.slice(1) ?? []), ...(confine ? ['/bin/sh'] : []), ...argv],
      {
        env,
        cwd: tmp,
        encoding: 'utf8',
      },
    );
    if (r.status !== 0) throw new Error(`entrypoint failed (${r.status}): ${r.stderr}`);
    const parseNul = (t: string): string[] => t.split('\0').slice(0, -1);
    const envOut: Record<string, string> = {};
    for (const kv of parseNul(readFileSync(join(out, 'env'), 'utf8'))) {
      const i = kv.indexOf('=');
      envOut[kv.slice(0, i)] = kv.slice(i + 1);
    }
    const files: Record<string, string> = {};
    const walk = (d: string): void => {
      for (const f of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, f.name);
        if (f.isDirectory()) {
          if (f.name !== '.k8s') walk(p);
        } else files[filesRoot + p.slice(root.length)] = readFileSync(p, 'utf8');
      }
    };
    walk(root);
    const status = readFileSync(join(out, 'status'), 'utf8');
    const confined = confine
      ? {
          capEff: BigInt(`0x${/CapEff:\s*([0-9a-f]+)/.exec(status)?.[1] ?? 'ffffffffffffffff'}`),
          noNewPrivs: /NoNewPrivs:\s*1/.test(status),
        }
      : undefined;
    return {
      env: envOut,
      argv: parseNul(readFileSync(join(out, 'argv'), 'utf8')),
      files,
      ...(confined ? { confined } : {}),
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Variables a shell or the shim adds that the plan does not own. */
export const SHELL_NOISE = ['PWD', 'OLDPWD', 'SHLVL', '_'];
export { HELPER_ENV };
