/**
 * Schema-checked data → the normalized `Spec` (src/api/spec.ts). EVERY default of the spec lives in this
 * file (`SPEC_DEFAULTS` and the few that depend on other fields, such as the restart policy); later layers
 * never guess. Normalization cannot fail: anything that could (memory sizes) was checked by the schema.
 */
import type {
  EndpointSpec,
  EnvCompatFamily,
  EnvEntry,
  Implementation,
  MountSpec,
  PlacementSpec,
  PortSpec,
  ProbeSpec,
  ResourceSpec,
  RestartSpec,
  RoleSpec,
  ServiceSpec,
  UseSpec,
  Spec,
  UpdateSpec,
  VolumeSpec,
} from '../api/spec.js';
import type { SourcePos } from '../api/issues.js';
import type { RawService, RawSpec } from './schema.js';
import { parseMemorySize } from './units.js';
import { joinPath } from './paths.js';

/** Defaults for absent fields; documented in docs/reference/spec.md. */
export const SPEC_DEFAULTS = {
  version: 'v1',
  cpuCores: 1,
  cpuAffinity: 'none',
  memory: '1Gi',
  gpuResource: 'nvidia.com/gpu',
  nodes: 1,
  implementation: 'generic',
  launch: 'leader',
  hostNetwork: false,
  portProtocol: 'tcp',
  endpointProtocol: 'tcp',
  probe: {
    httpPath: '/',
    httpScheme: 'http',
    periodSeconds: 10,
    failureThreshold: 3,
    successThreshold: 1,
    initialDelaySeconds: 0,
    timeoutSeconds: 1,
  },
  persist: false,
  restart: {
    /** `recreate-group` when nodes > 1, else `on-failure` (see `defaultRestartPolicy`). */
    maxRestarts: 5,
    maxStartupRestarts: 10,
    backoffSeconds: 1,
    backoffMaxSeconds: 30,
  },
  placement: { strategy: 'spread', topologyMode: 'preferred', exclusive: false },
  // ---- replicas and rolling updates ----
  replicas: 1,
  update: { maxSurge: 1, maxUnavailable: 1 },
} as const;

/** Device keys that count as GPUs, in order of preference. */
export const GPU_RESOURCES = ['nvidia.com/gpu', 'amd.com/gpu'] as const;
/** Annotation keys naming the GPU model. */
export const GPU_MODEL_ANNOTATIONS = ['nvidia.com/gpu.model', 'amd.com/gpu.model'] as const;
/** `rdma/fabric3` → interface `fabric3`. */
export const FABRIC_DEVICE_RE = /^rdma\/(fabric(\d+))$/;

export function defaultRestartPolicy(nodes: number): RestartSpec['policy'] {
  return nodes > 1 ? 'recreate-group' : 'on-failure';
}

/** Keys of a mapping in the order the file wrote them (JS objects reorder integer-like keys). */
export function fileOrder(
  obj: Readonly<Record<string, unknown>>,
  basePath: string,
  positions: Readonly<Record<string, SourcePos>>,
): string[] {
  const rank = (k: string): number => {
    const p = positions[joinPath(basePath, k)];
    return p ? p.line * 1_000_000 + p.col : Number.MAX_SAFE_INTEGER;
  };
  return Object.keys(obj).sort((a, b) => rank(a) - rank(b));
}

export function normalizeSpec(
  raw: RawSpec,
  file: string,
  positions: Readonly<Record<string, SourcePos>>,
): Spec {
  const volumes: Record<string, VolumeSpec> = {};
  const rawVolumes = raw.volumes ?? {};
  for (const name of fileOrder(rawVolumes, 'volumes', positions)) {
    const v = rawVolumes[name];
    if (v) volumes[name] = { reference: v.reference };
  }
  const services = fileOrder(raw.services, 'services', positions).flatMap((name) => {
    const s = raw.services[name];
    return s ? [normalizeService(name, s, positions)] : [];
  });
  return { version: 'v1', file, volumes, services, positions };
}

export function normalizeService(
  name: string,
  raw: RawService,
  positions: Readonly<Record<string, SourcePos>>,
): ServiceSpec {
  const base = joinPath('services', name);
  const roleNodes = raw.roles?.reduce((sum, r) => sum + r.nodes, 0);
  const nodes = roleNodes ?? raw.multinode?.nodes ?? SPEC_DEFAULTS.nodes;
  const env: EnvEntry[] = (raw.env ?? []).map((entry) => {
    const eq = entry.indexOf('=');
    return { key: entry.slice(0, eq), value: entry.slice(eq + 1) };
  });
  const rawMounts = raw.mounts ?? {};
  const mounts: MountSpec[] = fileOrder(rawMounts, joinPath(base, 'mounts'), positions).flatMap((volume) => {
    const m = rawMounts[volume];
    return m
      ? [{ volume, location: m.location, ...(m['read-only'] === true ? { readOnly: true } : {}) }]
      : [];
  });
  const ports: PortSpec[] = (raw.ports ?? []).map((p) => ({
    name: p.name,
    port: p.port,
    protocol: p.protocol ?? SPEC_DEFAULTS.portProtocol,
    ...(p['host-port'] !== undefined ? { hostPort: p['host-port'] } : {}),
  }));
  const endpoints: EndpointSpec[] = (raw.endpoints ?? []).map((e) => ({
    name: e.name,
    portName: e['port-name'],
    protocol: e.protocol ?? SPEC_DEFAULTS.endpointProtocol,
    ...(e.type !== undefined ? { type: e.type } : {}),
    ...(e.scope !== undefined ? { scope: e.scope } : {}),
  }));
  const probe = normalizeProbe(raw['readiness-probe']);
  const restart = normalizeRestart(raw.restart ?? {}, defaultRestartPolicy(nodes));
  const pl = raw.placement ?? {};
  const placement: PlacementSpec = {
    strategy: pl.strategy ?? SPEC_DEFAULTS.placement.strategy,
    ...(pl.topology ? { topologyKey: pl.topology.key } : {}),
    topologyMode: pl.topology?.mode ?? SPEC_DEFAULTS.placement.topologyMode,
    exclusive: pl.exclusive ?? SPEC_DEFAULTS.placement.exclusive,
  };
  const envCompat: EnvCompatFamily[] = [...new Set(raw['env-compat'] ?? [])];
  const implementation: Implementation =
    raw.multinode?.implementation === 'openmpi'
      ? 'ompi'
      : (raw.multinode?.implementation ?? SPEC_DEFAULTS.implementation);
  return {
    name,
    ...(raw.image ? { imageUri: raw.image.uri } : {}),
    script: raw.script ?? '',
    ...(raw.cwd !== undefined ? { cwd: raw.cwd } : {}),
    env,
    mounts,
    resource: normalizeResource(raw),
    nodes,
    implementation,
    launch: raw.multinode?.launch ?? (raw.roles ? 'all' : SPEC_DEFAULTS.launch),
    hostNetwork: raw.network?.host ?? SPEC_DEFAULTS.hostNetwork,
    ports,
    endpoints,
    ...(probe ? { readinessProbe: probe } : {}),
    persist: raw.persist ?? SPEC_DEFAULTS.persist,
    restart,
    placement,
    ...(raw.backend ? { backend: { kind: raw.backend.kind, command: raw.backend.command } } : {}),
    envCompat,
    ...normalizeReplicas(raw),
    ...normalizeRolesAndUses(raw, restart),
  };
}

function normalizeRestart(r: NonNullable<RawService['restart']>, policy: RestartSpec['policy']): RestartSpec {
  return {
    policy: r.policy ?? policy,
    maxRestarts: r['max-restarts'] ?? SPEC_DEFAULTS.restart.maxRestarts,
    maxStartupRestarts: r['max-startup-restarts'] ?? SPEC_DEFAULTS.restart.maxStartupRestarts,
    backoffSeconds: r['backoff-seconds'] ?? SPEC_DEFAULTS.restart.backoffSeconds,
    backoffMaxSeconds: r['backoff-max-seconds'] ?? SPEC_DEFAULTS.restart.backoffMaxSeconds,
  };
}

/**
 * `roles:` and `uses:` (docs/guides/roles-and-dependencies.md). A role's script, backend and restart policy
 * default to the service's; a role's restart fields default one by one to the service's. A `uses` entry
 * that names only a service may reach all of that service's declared ports (`ports` absent).
 */
function normalizeRolesAndUses(
  raw: RawService,
  restart: RestartSpec,
): { roles?: RoleSpec[]; uses?: UseSpec[] } {
  const out: { roles?: RoleSpec[]; uses?: UseSpec[] } = {};
  if (raw.roles) {
    out.roles = raw.roles.map((r) => {
      const rr = r.restart ?? {};
      const backend = r.backend ?? (r.script === undefined ? raw.backend : undefined);
      return {
        name: r.name,
        nodes: r.nodes,
        script: r.script ?? (r.backend === undefined ? (raw.script ?? '') : ''),
        ...(backend ? { backend: { kind: backend.kind, command: backend.command } } : {}),
        restart: {
          policy: rr.policy ?? restart.policy,
          maxRestarts: rr['max-restarts'] ?? restart.maxRestarts,
          maxStartupRestarts: rr['max-startup-restarts'] ?? restart.maxStartupRestarts,
          backoffSeconds: rr['backoff-seconds'] ?? restart.backoffSeconds,
          backoffMaxSeconds: rr['backoff-max-seconds'] ?? restart.backoffMaxSeconds,
        },
        ...(r.resource
          ? { resource: normalizeResource({ resource: r.resource, network: raw.network }) }
          : {}),
        ...(r.ports ? { ports: [...r.ports] } : {}),
      };
    });
  }
  if (raw.uses) {
    out.uses = raw.uses.map((u) =>
      typeof u === 'string'
        ? { service: u }
        : { service: u.service, ...(u.ports ? { ports: [...u.ports] } : {}) },
    );
  }
  return out;
}

function normalizeResource(raw: Pick<RawService, 'resource' | 'network'>): ResourceSpec {
  const res = raw.resource ?? {};
  const size = res.memory?.size ?? SPEC_DEFAULTS.memory;
  const devices: Record<string, number> = { ...(res.devices ?? {}) };
  const annotations: Record<string, string> = { ...(res.annotations ?? {}) };
  const gpuResource = GPU_RESOURCES.find((k) => devices[k] !== undefined) ?? SPEC_DEFAULTS.gpuResource;
  const gpuModel = GPU_MODEL_ANNOTATIONS.map((k) => annotations[k]).find((v) => v !== undefined);
  const fromDevices = Object.keys(devices)
    .flatMap((k) => {
      const m = FABRIC_DEVICE_RE.exec(k);
      return m && (devices[k] ?? 0) > 0 ? [{ nic: m[1] ?? k, index: Number(m[2]) }] : [];
    })
    .sort((a, b) => a.index - b.index)
    .map((f) => f.nic);
  const count = raw.network?.['fabric-nics'] ?? 0;
  const fabricNics =
    fromDevices.length > 0 ? fromDevices : Array.from({ length: count }, (_, i) => `fabric${i}`);
  return {
    cpuCores: res.cpu?.cores ?? SPEC_DEFAULTS.cpuCores,
    cpuAffinity: res.cpu?.affinity ?? SPEC_DEFAULTS.cpuAffinity,
    // The schema guarantees the size parses; 0 is unreachable.
    memoryBytes: parseMemorySize(size) ?? 0,
    memoryText: String(size),
    devices,
    gpus: devices[gpuResource] ?? 0,
    gpuResource,
    ...(gpuModel !== undefined ? { gpuModel } : {}),
    annotations,
    fabricNics,
  };
}

function normalizeProbe(raw: RawService['readiness-probe']): ProbeSpec | undefined {
  if (!raw) return undefined;
  const d = SPEC_DEFAULTS.probe;
  const tcp = raw['tcp-socket'];
  const http = raw['http-get'];
  const action: ProbeSpec['action'] | undefined = tcp
    ? { kind: 'tcp', port: tcp.port }
    : http
      ? { kind: 'http', path: http.path ?? d.httpPath, port: http.port, scheme: http.scheme ?? d.httpScheme }
      : undefined;
  if (!action) return undefined;
  return {
    action,
    periodSeconds: raw['period-seconds'] ?? d.periodSeconds,
    failureThreshold: raw['failure-threshold'] ?? d.failureThreshold,
    successThreshold: raw['success-threshold'] ?? d.successThreshold,
    initialDelaySeconds: raw['initial-delay-seconds'] ?? d.initialDelaySeconds,
    timeoutSeconds: raw['timeout-seconds'] ?? d.timeoutSeconds,
  };
}

// ---- replicas and rolling updates ----
/** Only what the file says: a file without `replicas`/`update` normalizes exactly as before. */
function normalizeReplicas(raw: RawService): { replicas?: number; update?: UpdateSpec } {
  return {
    ...(raw.replicas !== undefined ? { replicas: raw.replicas } : {}),
    ...(raw.update !== undefined
      ? {
          update: {
            maxSurge: raw.update['max-surge'] ?? SPEC_DEFAULTS.update.maxSurge,
            maxUnavailable: raw.update['max-unavailable'] ?? SPEC_DEFAULTS.update.maxUnavailable,
          },
        }
      : {}),
  };
}
