/**
 * Semantic rules: what the schema's shape cannot say. They run on the normalized spec (defaults applied) and
 * see the schema-checked raw service where the written form matters (was a field given at all?). Every rule
 * adds to one list; none stops the others.
 */
import type { Issue, Severity, SourcePos } from '../api/issues.js';
import type { ResourceSpec, RoleSpec, ServiceSpec, Spec, VolumeSpec } from '../api/spec.js';
import type { RawService } from './schema.js';
import { CODES } from './codes.js';
import type { SpecCode } from './codes.js';
import { joinPath } from './paths.js';
import { locate } from './locate.js';
import { closest } from './suggest.js';
import { FABRIC_DEVICE_RE } from './normalize.js';
import { ENV } from '../api/env-names.js';

/** Our variables whose value differs from rank to rank: one value in `env` would replace all of them. */
const PER_RANK_ENV: ReadonlySet<string> = new Set([
  ENV.nodeRank,
  ENV.nodeIp,
  ENV.nodeHostname,
  ENV.roleIndex,
]);

/** RFC 1123 label, as Kubernetes uses it for names. */
export const DNS_LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const BUILTIN_VOLUME = 'data';
const URI_RE = /^[a-z][a-z0-9+.-]*:\/\/\S+$/;
/** A Kubernetes extended-resource name: `domain/name`. */
const DEVICE_KEY_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const KNOWN_DEVICES = ['nvidia.com/gpu', 'amd.com/gpu', 'rdma/fabric0'];

export function isDnsLabel(name: string): boolean {
  return name.length <= 63 && DNS_LABEL_RE.test(name);
}

export interface RuleContext {
  readonly file: string;
  readonly positions: Readonly<Record<string, SourcePos>>;
  readonly keyPositions: Readonly<Record<string, SourcePos>>;
}

class Collector {
  readonly issues: Issue[] = [];
  constructor(private readonly ctx: RuleContext) {}
  add(
    severity: Severity,
    code: SpecCode,
    path: string,
    message: string,
    extra: { hint?: string; atKey?: boolean } = {},
  ): void {
    const pos =
      (extra.atKey ? this.ctx.keyPositions[path] : undefined) ??
      locate(this.ctx.positions, path, this.ctx.file);
    this.issues.push({ code, severity, path, message, pos, ...(extra.hint ? { hint: extra.hint } : {}) });
  }
  error(code: SpecCode, path: string, message: string, extra: { hint?: string; atKey?: boolean } = {}): void {
    this.add('error', code, path, message, extra);
  }
  warn(code: SpecCode, path: string, message: string, extra: { hint?: string; atKey?: boolean } = {}): void {
    this.add('warning', code, path, message, extra);
  }
}

function checkLabel(c: Collector, kind: string, name: string, path: string, atKey: boolean): void {
  if (isDnsLabel(name)) return;
  // Accents dropped (`wéb` → `web`), other characters → '-', trimmed to 63 without a '-' at either end.
  const suggestion = name
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  c.error(
    CODES.dnsLabel,
    path,
    `${kind} name ${JSON.stringify(name)} is not a DNS-1123 label; allowed: 1–63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit`,
    { atKey, ...(suggestion && isDnsLabel(suggestion) ? { hint: `try ${JSON.stringify(suggestion)}` } : {}) },
  );
}

/** Rules about top-level volumes; `mountedVolumes` are every volume name any service mounts. */
export function checkVolumes(
  volumes: Readonly<Record<string, VolumeSpec>>,
  mountedVolumes: ReadonlySet<string>,
  ctx: RuleContext,
): Issue[] {
  const c = new Collector(ctx);
  for (const [name, v] of Object.entries(volumes)) {
    const path = joinPath('volumes', name);
    checkLabel(c, 'volume', name, path, true);
    if (name === BUILTIN_VOLUME) {
      c.error(
        CODES.reservedVolume,
        path,
        `"${BUILTIN_VOLUME}" is every service's built-in persistent volume and cannot be declared; pick another name`,
        { atKey: true },
      );
    }
    if (!URI_RE.test(v.reference)) {
      c.error(
        CODES.volumeReference,
        joinPath(path, 'reference'),
        `found ${JSON.stringify(v.reference)}; allowed: a URI such as volume://user/persistent/<name>`,
      );
    }
    if (!mountedVolumes.has(name)) {
      c.warn(CODES.unusedVolume, path, `volume "${name}" is declared but no service mounts it`, {
        atKey: true,
      });
    }
  }
  return c.issues;
}

/** Rules for one service. `declaredVolumes` are the names under top-level `volumes`. */
export function checkService(
  svc: ServiceSpec,
  raw: RawService,
  declaredVolumes: readonly string[],
  ctx: RuleContext,
): Issue[] {
  const c = new Collector(ctx);
  const base = joinPath('services', svc.name);
  const p = (...segs: (string | number)[]): string => segs.reduce<string>((acc, s) => joinPath(acc, s), base);

  checkLabel(c, 'service', svc.name, base, true);

  // Command
  checkRoles(c, svc, raw, base);
  if (svc.script.trim() === '' && !svc.backend && !svc.roles) {
    c.error(
      CODES.noCommand,
      base,
      `service "${svc.name}" has nothing to run; set script or backend.command`,
      {
        atKey: true,
      },
    );
  }

  // Env
  const seenEnv = new Map<string, number>();
  svc.env.forEach((e, i) => {
    const prev = seenEnv.get(e.key);
    if (prev !== undefined) {
      c.warn(CODES.duplicateEnv, p('env', i), `${e.key} is also set by env[${prev}]; this later entry wins`);
    }
    seenEnv.set(e.key, i);
    if (svc.nodes > 1 && PER_RANK_ENV.has(e.key))
      c.warn(
        CODES.envPerRank,
        p('env', i),
        `${e.key} differs per rank (the planner gives each of the ${svc.nodes} ranks its own); this entry gives every rank the same value`,
        { hint: `drop it, or give your value a name of your own` },
      );
  });

  // Ports
  const portNames = new Map<string, number>();
  const portNumbers = new Map<string, number>();
  const hostPorts = new Map<number, number>();
  svc.ports.forEach((port, i) => {
    checkLabel(c, 'port', port.name, p('ports', i, 'name'), false);
    const dupName = portNames.get(port.name);
    if (dupName !== undefined) {
      c.error(
        CODES.duplicatePortName,
        p('ports', i, 'name'),
        `port name "${port.name}" is already used by ports[${dupName}]; names must be unique within a service`,
      );
    } else portNames.set(port.name, i);
    const numKey = `${port.port}/${port.protocol}`;
    const dupNum = portNumbers.get(numKey);
    if (dupNum !== undefined) {
      c.error(
        CODES.duplicatePortNumber,
        p('ports', i, 'port'),
        `port ${numKey} is already declared by ports[${dupNum}]; each number may appear once per protocol`,
      );
    } else portNumbers.set(numKey, i);
    if (port.hostPort !== undefined) {
      if (!svc.hostNetwork) {
        c.error(
          CODES.hostPortNeedsHostNetwork,
          p('ports', i, 'host-port'),
          'host-port only applies with host networking; set network.host: true or remove host-port (without host networking, ports are reached through endpoints)',
        );
      }
      if (typeof port.hostPort === 'number') {
        const dupHost = hostPorts.get(port.hostPort);
        if (dupHost !== undefined) {
          c.error(
            CODES.duplicateHostPort,
            p('ports', i, 'host-port'),
            `host port ${port.hostPort} is already pinned by ports[${dupHost}]`,
          );
        } else hostPorts.set(port.hostPort, i);
      }
    }
  });

  // Endpoints
  const endpointNames = new Map<string, number>();
  const declaredPortNames = svc.ports.map((x) => x.name);
  svc.endpoints.forEach((ep, i) => {
    checkLabel(c, 'endpoint', ep.name, p('endpoints', i, 'name'), false);
    const dup = endpointNames.get(ep.name);
    if (dup !== undefined) {
      c.error(
        CODES.duplicateEndpointName,
        p('endpoints', i, 'name'),
        `endpoint name "${ep.name}" is already used by endpoints[${dup}]`,
      );
    } else endpointNames.set(ep.name, i);
    const port = svc.ports.find((x) => x.name === ep.portName);
    if (!port) {
      const guess = closest(ep.portName, declaredPortNames);
      c.error(
        CODES.unknownPortName,
        p('endpoints', i, 'port-name'),
        `no port named "${ep.portName}"; allowed: ${declaredPortNames.length > 0 ? declaredPortNames.map((n) => JSON.stringify(n)).join(', ') : 'none declared (add one under ports)'}`,
        guess ? { hint: `did you mean "${guess}"?` } : {},
      );
    } else if (port.protocol !== 'tcp') {
      c.error(
        CODES.endpointProtocol,
        p('endpoints', i, 'protocol'),
        `a ${ep.protocol} endpoint needs a tcp port, but port "${port.name}" is ${port.protocol}`,
      );
    }
  });

  // Readiness probe
  const probe = raw['readiness-probe'];
  if (probe) {
    const hasTcp = probe['tcp-socket'] !== undefined;
    const hasHttp = probe['http-get'] !== undefined;
    if (hasTcp === hasHttp) {
      c.error(
        CODES.probeAction,
        p('readiness-probe'),
        hasTcp
          ? 'give either tcp-socket or http-get, not both'
          : 'a readiness probe needs tcp-socket.port or http-get.port',
        { atKey: true },
      );
    }
    const tcpPorts = svc.ports.filter((x) => x.protocol === 'tcp').map((x) => x.port);
    const checkProbePort = (port: number, path: string): void => {
      if (!tcpPorts.includes(port)) {
        c.error(
          CODES.probePort,
          path,
          `probe port ${port} is not a declared tcp port; allowed: ${tcpPorts.length > 0 ? tcpPorts.join(', ') : 'none declared (add it under ports)'}`,
        );
      }
    };
    const tcp = probe['tcp-socket'];
    const http = probe['http-get'];
    if (tcp) checkProbePort(tcp.port, p('readiness-probe', 'tcp-socket', 'port'));
    if (http) checkProbePort(http.port, p('readiness-probe', 'http-get', 'port'));
  }

  // Working directory: an absolute path, as a container runtime requires (OCI `cwd`, Kubernetes
  // `workingDir`); a relative one would mean the supervisor's, the batch host's or no directory at all.
  if (svc.cwd !== undefined && !svc.cwd.startsWith('/'))
    c.error(
      CODES.format,
      p('cwd'),
      `found ${JSON.stringify(svc.cwd)}; allowed: an absolute path such as /workspace`,
      {
        hint: 'write the full path; a relative one would mean a different directory on each target',
      },
    );

  // Mounts
  const locations = new Map<string, string>();
  for (const m of svc.mounts) {
    const mp = p('mounts', m.volume);
    if (m.volume !== BUILTIN_VOLUME && !declaredVolumes.includes(m.volume)) {
      const allowed = [BUILTIN_VOLUME, ...declaredVolumes];
      const guess = closest(m.volume, allowed);
      c.error(
        CODES.mountVolume,
        mp,
        `volume "${m.volume}" is not declared; allowed: ${allowed.map((n) => JSON.stringify(n)).join(', ')} (declare it under top-level volumes)`,
        { atKey: true, ...(guess ? { hint: `did you mean "${guess}"?` } : {}) },
      );
    }
    if (!m.location.startsWith('/')) {
      c.error(
        CODES.mountLocation,
        joinPath(mp, 'location'),
        `found ${JSON.stringify(m.location)}; allowed: an absolute path such as /data`,
      );
    }
    const prev = locations.get(m.location);
    if (prev !== undefined) {
      c.error(
        CODES.duplicateMountLocation,
        joinPath(mp, 'location'),
        `location ${m.location} is already used by mount "${prev}"`,
      );
    } else locations.set(m.location, m.volume);
    if (m.volume === BUILTIN_VOLUME && !svc.persist) {
      c.warn(
        CODES.dataNotPersisted,
        mp,
        `the built-in "data" volume is discarded when the service goes down; set persist: true to keep it`,
        { atKey: true },
      );
    }
  }

  // Devices and fabric
  checkResource(
    c,
    raw.resource,
    svc.resource,
    raw.network?.['fabric-nics'] !== undefined,
    (...segs) => p(...segs),
    () => p('network', 'fabric-nics'),
  );

  // Restart
  if (svc.restart.backoffMaxSeconds < svc.restart.backoffSeconds) {
    c.error(
      CODES.backoffRange,
      p(
        'restart',
        raw.restart?.['backoff-max-seconds'] !== undefined ? 'backoff-max-seconds' : 'backoff-seconds',
      ),
      `backoff-max-seconds (${svc.restart.backoffMaxSeconds}) must be >= backoff-seconds (${svc.restart.backoffSeconds})`,
    );
  }

  // Warnings
  if (svc.hostNetwork) {
    c.warn(
      CODES.hostNetwork,
      p('network', 'host'),
      "host networking shares the node's network namespace: the service sees and is reachable on all of the node's interfaces, and its ports must be free on every node",
    );
  }
  return c.issues;
}

// ---- replicas and rolling updates ----
/**
 * Replica names (`<service>-<i>` for every replica plus one surge) must be labels and must not be another
 * service of the file; an update strategy must be able to make progress.
 */
export function checkReplicas(services: readonly ServiceSpec[], ctx: RuleContext): Issue[] {
  const c = new Collector(ctx);
  const names = new Set(services.map((s) => s.name));
  for (const svc of services) {
    const base = joinPath('services', svc.name);
    if (svc.replicas !== undefined) {
      const last = `${svc.name}-${svc.replicas}`;
      if (!isDnsLabel(last))
        c.error(
          CODES.replicaName,
          joinPath(base, 'replicas'),
          `replica name ${JSON.stringify(last)} would not be a DNS-1123 label (at most 63 characters); shorten the service name`,
        );
      for (let i = 0; i <= svc.replicas; i++) {
        const r = `${svc.name}-${i}`;
        if (names.has(r)) {
          c.error(
            CODES.replicaName,
            joinPath(base, 'replicas'),
            `replica ${i} of "${svc.name}" is named "${r}", which is also a service of this file; rename one of them`,
          );
          break;
        }
      }
    }
    if (svc.update && svc.update.maxSurge === 0 && svc.update.maxUnavailable === 0)
      c.error(
        CODES.updateNoProgress,
        joinPath(base, 'update'),
        'update.max-surge and update.max-unavailable are both 0, so no replica could ever be replaced; allow at least one of them (e.g. max-surge: 1)',
        { atKey: true },
      );
  }
  return c.issues;
}

/**
 * Device names, fabric counts and the GPU model of one `resource` block: the service's, or a role's
 * (`at('resource', …)` locates inside it).
 */
function checkResource(
  c: Collector,
  rawRes: RawService['resource'],
  res: ResourceSpec,
  fabricNicsGiven: boolean,
  at: (...segs: (string | number)[]) => string,
  conflictAt: (fabricKey: string) => string,
): void {
  const devices = rawRes?.devices ?? {};
  for (const key of Object.keys(devices)) {
    if (DEVICE_KEY_RE.test(key)) continue;
    const guess = closest(key, KNOWN_DEVICES);
    c.error(
      CODES.deviceName,
      at('resource', 'devices', key),
      `device ${JSON.stringify(key)} is not <domain>/<name>; allowed: e.g. nvidia.com/gpu, amd.com/gpu, rdma/fabric0`,
      { atKey: true, ...(guess ? { hint: `did you mean ${JSON.stringify(guess)}?` } : {}) },
    );
  }
  const fabricKeys = Object.keys(devices).filter((k) => FABRIC_DEVICE_RE.test(k));
  for (const k of fabricKeys) {
    const n = devices[k] ?? 0;
    if (n > 1) {
      c.error(
        CODES.fabricCount,
        at('resource', 'devices', k),
        `found ${n}; allowed: 0 or 1 (each fabric NIC is moved into one rank)`,
      );
    }
  }
  if (fabricKeys.length > 0 && fabricNicsGiven) {
    c.error(
      CODES.fabricConflict,
      conflictAt(fabricKeys[0] ?? ''),
      `give fabric NICs either as network.fabric-nics or as rdma/fabricN devices (${fabricKeys.join(', ')}), not both`,
    );
  }
  if (res.gpuModel !== undefined && res.gpus === 0) {
    c.warn(
      CODES.gpuModelWithoutGpu,
      at('resource', 'annotations'),
      `a GPU model (${res.gpuModel}) is given but no GPUs are requested; add nvidia.com/gpu under resource.devices`,
    );
  }
}

// --- roles and uses (docs/guides/roles-and-dependencies.md) ----------------------------------------------

/** Rules for `roles:`: unique DNS-1123 names, nodes agree, each role has a command, role ports declared. */
function checkRoles(c: Collector, svc: ServiceSpec, raw: RawService, base: string): void {
  if (!svc.roles) return;
  const p = (...segs: (string | number)[]): string => segs.reduce<string>((acc, s) => joinPath(acc, s), base);
  const declaredNodes = raw.multinode?.nodes;
  if (declaredNodes !== undefined && declaredNodes !== svc.nodes) {
    c.error(
      CODES.roleNodes,
      p('multinode', 'nodes'),
      `multinode.nodes is ${declaredNodes} but the roles add up to ${svc.nodes} (${svc.roles.map((r) => `${r.name}: ${r.nodes}`).join(', ')})`,
      { hint: `drop multinode.nodes (roles decide it) or set it to ${svc.nodes}` },
    );
  }
  if (raw.multinode?.launch === 'leader') {
    c.error(
      CODES.roleLaunch,
      p('multinode', 'launch'),
      "found launch: leader on a service with roles; allowed: all (or nothing) — every role member runs its role's command",
    );
  }
  const seen = new Map<string, number>();
  const ports = new Set(svc.ports.map((x) => x.name));
  svc.roles.forEach((role, i) => {
    checkLabel(c, 'role', role.name, p('roles', i, 'name'), false);
    const prev = seen.get(role.name);
    if (prev !== undefined)
      c.error(CODES.duplicateRoleName, p('roles', i, 'name'), `role "${role.name}" is also roles[${prev}]`);
    else seen.set(role.name, i);
    if (role.script.trim() === '' && !role.backend)
      c.error(
        CODES.noCommand,
        p('roles', i),
        `role "${role.name}" has nothing to run; set its script or backend, or the service's script`,
      );
    (role.ports ?? []).forEach((name, k) => {
      if (!ports.has(name))
        c.error(
          CODES.unknownPortName,
          p('roles', i, 'ports', k),
          `role "${role.name}" names port "${name}", which the service does not declare; declared: ${[...ports].join(', ') || 'none'}`,
        );
    });
    if (i === 0) checkLeaderRolePorts(c, svc, role, p);
    if (role.backend?.kind === 'trtllm')
      c.error(
        CODES.enum,
        p('roles', i, 'backend', 'kind'),
        `found trtllm in role "${role.name}"; allowed in a role: vllm, sglang (TRT-LLM's mpirun spans the whole service)`,
        { hint: 'give TRT-LLM a service of its own (backend: at the service level, no roles)' },
      );
    if (role.resource)
      checkResource(
        c,
        raw.roles?.[i]?.resource,
        role.resource,
        raw.network?.['fabric-nics'] !== undefined,
        (...segs) => p('roles', i, ...segs),
        (k) => p('roles', i, 'resource', 'devices', k),
      );
    if (role.restart.backoffMaxSeconds < role.restart.backoffSeconds)
      c.error(
        CODES.backoffRange,
        p('roles', i, 'restart'),
        `backoff-max-seconds (${role.restart.backoffMaxSeconds}) must be >= backoff-seconds (${role.restart.backoffSeconds})`,
      );
  });
}

/**
 * Rank 0 is the first role's first member: the service's endpoints and readiness probe are on it, so the
 * ports they name must be ones the first role binds (a role's `ports` narrows what its members bind).
 */
function checkLeaderRolePorts(
  c: Collector,
  svc: ServiceSpec,
  role: RoleSpec,
  p: (...segs: (string | number)[]) => string,
): void {
  if (role.ports === undefined) return;
  const bound = new Set(role.ports);
  const boundText = role.ports.join(', ') || 'none';
  const hint = (name: string): { hint: string } => ({
    hint: `add ${name} to roles[0].ports, or drop roles[0].ports (then the role binds every declared port)`,
  });
  svc.endpoints.forEach((e, k) => {
    if (!bound.has(e.portName) && svc.ports.some((x) => x.name === e.portName))
      c.error(
        CODES.unknownPortName,
        p('endpoints', k, 'port-name'),
        `endpoint "${e.name}" is served by rank 0 (role "${role.name}"), which does not bind port "${e.portName}"; role ${role.name} binds: ${boundText}`,
        hint(e.portName),
      );
  });
  const probe = svc.readinessProbe?.action;
  if (probe) {
    const declared = svc.ports.filter((x) => x.port === probe.port && x.protocol === 'tcp');
    if (declared.length > 0 && !declared.some((x) => bound.has(x.name)))
      c.error(
        CODES.probePort,
        p('readiness-probe', probe.kind === 'tcp' ? 'tcp-socket' : 'http-get', 'port'),
        `the readiness probe runs on rank 0 (role "${role.name}"), which does not bind port ${probe.port} (${declared.map((x) => x.name).join(', ')}); role ${role.name} binds: ${boundText}`,
        hint(declared[0]?.name ?? String(probe.port)),
      );
  }
}

/**
 * Rules for `uses:` across services: every used service exists and is named once, its named ports are
 * declared, and the services do not use each other in a cycle (the start-up order must exist).
 */
export function checkUses(spec: Spec, ctx: RuleContext): Issue[] {
  const c = new Collector(ctx);
  const byName = new Map(spec.services.map((s) => [s.name, s]));
  for (const svc of spec.services) {
    const seen = new Set<string>();
    (svc.uses ?? []).forEach((u, i) => {
      const path = joinPath(joinPath(joinPath('services', svc.name), 'uses'), i);
      const used = byName.get(u.service);
      if (!used) {
        const hint = closest(
          u.service,
          spec.services.map((s) => s.name),
        );
        c.error(
          CODES.unknownService,
          path,
          `service "${svc.name}" uses "${u.service}", which is not a service of this file; services: ${spec.services.map((s) => s.name).join(', ')}`,
          hint ? { hint: `did you mean "${hint}"?` } : {},
        );
        return;
      }
      if (seen.has(u.service))
        c.error(CODES.duplicateUse, path, `service "${svc.name}" names "${u.service}" twice under uses`);
      if (used.replicas !== undefined)
        c.error(
          CODES.usesReplicated,
          path,
          `service "${svc.name}" uses "${u.service}", which runs as replicas; only a service of one gang (no replicas:) can be used`,
          {
            hint: `drop replicas: from "${u.service}", or drop it from uses (using a replica set is not supported)`,
          },
        );
      seen.add(u.service);
      const declared = new Set(used.ports.map((x) => x.name));
      const leaderRole = used.roles?.[0];
      const leaderPorts = leaderRole?.ports;
      (u.ports ?? []).forEach((name, k) => {
        if (!declared.has(name))
          c.error(
            CODES.unknownPortName,
            joinPath(joinPath(path, 'ports'), k),
            `service "${u.service}" declares no port "${name}"; declared: ${[...declared].join(', ') || 'none'}`,
          );
        else if (leaderRole && leaderPorts && !leaderPorts.includes(name))
          c.error(
            CODES.unknownPortName,
            joinPath(joinPath(path, 'ports'), k),
            `a use reaches the leader of "${u.service}" (role "${leaderRole.name}"), which does not bind port "${name}"; it binds: ${leaderPorts.join(', ') || 'none'}`,
            {
              hint: `name one of ${leaderPorts.join(', ') || 'no port'}, or add ${name} to roles[0].ports of "${u.service}"`,
            },
          );
      });
    });
  }
  const cycle = findUsesCycle(spec);
  if (cycle) {
    const first = cycle[0] ?? '';
    const svc = byName.get(first);
    const k = svc?.uses?.findIndex((u) => u.service === cycle[1]) ?? -1;
    c.error(
      CODES.usesCycle,
      joinPath(joinPath(joinPath('services', first), 'uses'), Math.max(0, k)),
      `services use each other in a cycle: ${cycle.join(' → ')}; none of them could start first`,
      { hint: 'remove one of the uses entries' },
    );
  }
  return c.issues;
}

/** A cycle of `uses` (first service repeated at the end), or undefined. Unknown names are ignored. */
export function findUsesCycle(spec: Pick<Spec, 'services'>): string[] | undefined {
  const byName = new Map(spec.services.map((s) => [s.name, s]));
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (name: string): string[] | undefined => {
    const st = state.get(name);
    if (st === 'done') return undefined;
    if (st === 'open') return [...stack.slice(stack.indexOf(name)), name];
    state.set(name, 'open');
    stack.push(name);
    for (const u of byName.get(name)?.uses ?? []) {
      if (!byName.has(u.service)) continue;
      const found = visit(u.service);
      if (found) return found;
    }
    stack.pop();
    state.set(name, 'done');
    return undefined;
  };
  for (const s of spec.services) {
    const found = visit(s.name);
    if (found) return found;
  }
  return undefined;
}
