/**
 * The planner: `planSpec(spec, inventory, options)` → a Plan every executor runs unchanged, or the located
 * issues and the placement reasons why not. Pure: no I/O, clock, environment or `Math.random`; the only
 * source of variation is `options.seed`. Same input → byte-identical canonical JSON and the same `hash`.
 *
 * Services are planned in file order against one working copy of the inventory, so each sees what the
 * previous took. Per service: check the spec against the planner's rules (parallelism, overlay size), place
 * the gang (`placement.ts`), allocate cores/GPUs/NICs (`allocate.ts`), address it (`network.ts`), bind
 * ports (`ports.ts`), then build files, the rank environment (`env.ts`), commands and probes (`backend.ts`).
 */
import type { Inventory } from '../api/inventory.js';
import type { Issue, SourcePos } from '../api/issues.js';
import { DEFAULTS, PLAN_FILES, SERVICE_PLACEHOLDER, STATE } from '../api/names.js';
import type {
  EndpointPlan,
  InfeasibleReason,
  ListPlan,
  NetworkPlan,
  Plan,
  PlanFile,
  PlanOptions,
  PlanResult,
  PortAssignment,
  RankCommand,
  RankPlan,
  ServicePlan,
  Value,
} from '../api/plan.js';
import type { ProbeSpec, ResourceSpec, ServiceSpec, Spec } from '../api/spec.js';
import { allocateRank } from './allocate.js';
import { bindPorts } from './ports.js';
import type { PortPicker, RankResources } from './allocate.js';
import { backendCommand, backendCommandError, backendLaunch, rankProbe } from './backend.js';
import type { BackendContext } from './backend.js';
import { canonicalJson, contentHashStreamed } from '../lib/canonical.js';
import { ClusterState } from './cluster-state.js';
import { rankNeedFor } from './cluster-state.js';
import {
  LIST,
  buildServiceEnv,
  clusterRankObject,
  clusterRanksValue,
  hostfileValue,
  roleLists,
  serviceLists,
  slotsPerHost,
} from './env.js';
import type { RankShape } from './env.js';
import { listsOf, val } from './resolve.js';
import { formatCidr, parseIpv4 } from '../lib/ipv4.js';
import { AddressBook, MAX_OVERLAY_RANKS, hostSubnet, overlayAddress, overlayGateway } from './network.js';
import { checkParallelism } from './parallelism.js';
import { placeGang } from './placement.js';
import {
  roleAt,
  roleHostnames,
  rolePlans,
  rolePorts,
  roleScriptFile,
  shiftCommand,
  startOrder,
  usesFor,
  placementGangs,
  roleResource,
} from './roles.js';
import type { UsedService } from './roles.js';
import type { RolePlan } from '../api/plan.js';

export { canonicalJson } from '../lib/canonical.js';
export { generateInventory, generateInventoryForSpec } from './inventory-gen.js';
export type { GenerateInventoryOptions } from './inventory-gen.js';
export { compressHostlist } from './hostlist.js';
export { portEnvName } from './env.js';
export { applyPlanToInventory } from './apply.js';
export {
  describeLeaves,
  isLiteral,
  literalText,
  localLeaves,
  rankEnvValues,
  resolveArgv,
  resolveFiles,
  resolveList,
  resolveRankEnv,
  resolveValue,
} from './resolve.js';
export type { Leaves, LocalResolveOptions, ResolvedFile } from './resolve.js';
export { compressCpuList } from './format.js';
export { startOrder, usesEnvPrefix } from './roles.js';

/** Stable issue codes of the planner. */
export const PLAN_CODES = {
  parallelism: 'plan-parallelism',
  parallelismLayout: 'plan-parallelism-layout',
  overlayTooLarge: 'plan-overlay-too-large',
  unknownPortName: 'plan-unknown-port-name',
  duplicateHostPort: 'plan-duplicate-host-port',
  poolExhausted: 'plan-pool-exhausted',
  badOptions: 'plan-bad-options',
  topologySpread: 'plan-topology-spread',
  backendCommand: 'plan-backend-command',
} as const;

export type PlanCode = (typeof PLAN_CODES)[keyof typeof PLAN_CODES];

/** What each planner code means, once (docs/reference/errors.md is generated from it). */
export const PLAN_CODE_DOCS: readonly {
  readonly code: PlanCode;
  readonly severity: 'error' | 'warning';
  readonly meaning: string;
}[] = [
  {
    code: 'plan-parallelism',
    severity: 'error',
    meaning:
      "Parallel sizes (tensor × pipeline × data) do not multiply to the service's GPUs; the message shows the arithmetic at the flag.",
  },
  {
    code: 'plan-parallelism-layout',
    severity: 'warning',
    meaning:
      'The product is right but tp neither divides nor is a multiple of the GPUs per node, so tensor-parallel groups straddle nodes unevenly.',
  },
  { code: 'plan-overlay-too-large', severity: 'error', meaning: 'More than 253 ranks on one overlay /24.' },
  {
    code: 'plan-unknown-port-name',
    severity: 'error',
    meaning: 'An endpoint names a port the service does not declare.',
  },
  { code: 'plan-duplicate-host-port', severity: 'error', meaning: 'Two ports bind the same host port.' },
  {
    code: 'plan-pool-exhausted',
    severity: 'error',
    meaning: 'No free /24 in the overlay pool or no free VXLAN id.',
  },
  {
    code: 'plan-bad-options',
    severity: 'error',
    meaning: 'Planner options out of range (seed, port range, VNI range, pool).',
  },
  {
    code: 'plan-topology-spread',
    severity: 'warning',
    meaning: 'A preferred topology group could not hold every rank.',
  },
  {
    code: 'plan-backend-command',
    severity: 'error',
    meaning:
      'The SGLang launch in `backend.command` cannot be found (none or two), the text is not readable shell, or it sets a flag multinode must pass to a different value.',
  },
];

export function defaultPlanOptions(partial: Partial<PlanOptions> = {}): PlanOptions {
  const base: PlanOptions = {
    seed: 0,
    target: 'local',
    hostPortRange: { ...DEFAULTS.hostPortRange },
    overlayPool: DEFAULTS.overlayPool,
    vniRange: { ...DEFAULTS.vniRange },
    filesDir: `${STATE.defaultRootDir}/${STATE.servicesDir}/${SERVICE_PLACEHOLDER}/files`,
    sshWrapperPath: `${STATE.defaultRootDir}/bin/multinode-ssh`,
    runAsRoot: false,
  };
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(partial)) if (v !== undefined) out[k] = v;
  return out as unknown as PlanOptions;
}

export function planSpec(spec: Spec, inventory: Inventory, options: PlanOptions): PlanResult {
  const issues: Issue[] = [];
  const warnings: Issue[] = [];
  const reasons: InfeasibleReason[] = [];
  const optionIssue = checkOptions(options);
  if (optionIssue) return { ok: false, issues: [optionIssue], reasons: [] };

  const cluster = new ClusterState(inventory);
  const book = new AddressBook(inventory, options.overlayPool, options.vniRange);
  const picker: PortPicker = {
    seed: options.seed,
    range: options.hostPortRange,
    cooling: options.coolingPorts ?? {},
  };
  const planned = new Map<string, ServicePlan>();
  // Used services first (roles-and-dependencies); a file without `uses` keeps file order exactly.
  for (const svc of startOrder(spec.services)) {
    const r = planService(spec, svc, cluster, book, picker, options, usedServices(planned, options.target));
    issues.push(...r.issues);
    warnings.push(...r.warnings);
    if (r.reason) reasons.push(r.reason);
    if (r.plan) planned.set(svc.name, r.plan);
  }
  const services = spec.services.flatMap((s) => {
    const p = planned.get(s.name);
    return p ? [p] : [];
  });
  if (issues.some((i) => i.severity === 'error') || reasons.length > 0) {
    return { ok: false, issues: [...issues, ...warnings], reasons };
  }
  // Plan objects are built with their keys in canonical (sorted) order, so hashing copies nothing.
  const unhashed: Omit<Plan, 'hash'> = {
    apiVersion: 'multinode.dev/v1',
    inventory: inventory.name,
    kind: 'Plan',
    seed: options.seed,
    services,
    target: options.target,
  };
  const plan: Plan = {
    apiVersion: unhashed.apiVersion,
    hash: contentHashStreamed(unhashed, 'services'),
    inventory: unhashed.inventory,
    kind: unhashed.kind,
    seed: unhashed.seed,
    services,
    target: unhashed.target,
  };
  return { ok: true, plan, warnings: [...issues, ...warnings] };
}

/** The hash a plan should carry (for checking a plan read back from disk). */
export function computePlanHash(plan: Plan): string {
  const { hash: _hash, ...rest } = plan;
  return contentHashStreamed(rest, 'services');
}

/** The canonical JSON of a plan followed by a newline: what `--output json` prints and state files hold. */
export function serializePlan(plan: Plan): string {
  return `${canonicalJson(plan)}\n`;
}

function checkOptions(o: PlanOptions): Issue | undefined {
  const bad = (message: string): Issue => ({
    code: PLAN_CODES.badOptions,
    severity: 'error',
    path: '',
    message,
  });
  if (!Number.isInteger(o.seed)) return bad(`seed must be an integer, got ${o.seed}`);
  const r = o.hostPortRange;
  if (!(Number.isInteger(r.from) && Number.isInteger(r.to) && r.from >= 1 && r.to <= 65535 && r.from <= r.to))
    return bad(`hostPortRange must be 1 ≤ from ≤ to ≤ 65535, got ${r.from}–${r.to}`);
  const v = o.vniRange;
  if (!(
    Number.isInteger(v.from) &&
    Number.isInteger(v.to) &&
    v.from >= 1 &&
    v.to <= 16_777_215 &&
    v.from <= v.to
  ))
    return bad(`vniRange must be 1 ≤ from ≤ to ≤ 16777215, got ${v.from}–${v.to}`);
  const m = /^(.+)\/(\d+)$/.exec(o.overlayPool);
  if (!m || parseIpv4(m[1] ?? '') === undefined || Number(m[2]) > 24)
    return bad(`overlayPool must be an IPv4 CIDR of /24 or larger, got ${o.overlayPool}`);
  return undefined;
}

interface ServiceOutcome {
  readonly plan?: ServicePlan;
  readonly reason?: InfeasibleReason;
  readonly issues: Issue[];
  readonly warnings: Issue[];
}

function planService(
  spec: Spec,
  svc: ServiceSpec,
  cluster: ClusterState,
  book: AddressBook,
  picker: PortPicker,
  options: PlanOptions,
  usedBy: ReadonlyMap<string, UsedService> = new Map(),
): ServiceOutcome {
  const issues: Issue[] = [];
  const warnings: Issue[] = [];
  const base = `services.${svc.name}`;
  const at = (path: string): Pick<Issue, 'pos'> => {
    const pos = spec.positions[path] ?? spec.positions[base];
    return pos ? { pos } : {};
  };
  const error = (code: string, path: string, message: string, hint?: string): void => {
    issues.push({ code, severity: 'error', path, message, ...at(path), ...(hint ? { hint } : {}) });
  };

  // --- rules the spec layer cannot know -------------------------------------------------------------
  if (!svc.hostNetwork && svc.nodes > MAX_OVERLAY_RANKS)
    error(
      PLAN_CODES.overlayTooLarge,
      `${base}.multinode.nodes`,
      `${svc.nodes} ranks do not fit in one overlay /24 (at most ${MAX_OVERLAY_RANKS})`,
      'use fewer nodes or network.host: true',
    );
  const portNames = new Set(svc.ports.map((p) => p.name));
  svc.endpoints.forEach((e, k) => {
    if (!portNames.has(e.portName))
      error(
        PLAN_CODES.unknownPortName,
        `${base}.endpoints[${k}].port-name`,
        `endpoint ${e.name} refers to port ${e.portName}, which is not declared; declared: ${[...portNames].join(', ') || 'none'}`,
      );
  });
  const fixedPorts: number[] = [];
  if (svc.hostNetwork) {
    svc.ports.forEach((p, k) => {
      if (p.hostPort === 'auto') return;
      const hp = p.hostPort ?? p.port;
      if (fixedPorts.includes(hp))
        error(
          PLAN_CODES.duplicateHostPort,
          `${base}.ports[${k}]`,
          `host port ${hp} is declared twice; each port binds once per node`,
        );
      else fixedPorts.push(hp);
    });
  }
  const parallelText = svc.backend ? svc.backend.command : svc.script;
  const parallelPath = svc.backend ? `${base}.backend.command` : `${base}.script`;
  const verdict = svc.roles
    ? undefined
    : checkParallelism(parallelText, svc.backend?.kind, svc.nodes, svc.resource.gpus);
  if (verdict && !verdict.ok) {
    const pos = spec.positions[parallelPath];
    const multiLine = parallelText.includes('\n');
    issues.push({
      code: PLAN_CODES.parallelism,
      severity: 'error',
      path: parallelPath,
      message: `parallelism does not match the GPUs: ${verdict.message}`,
      hint: 'make tensor × pipeline × data parallel sizes equal multinode.nodes × GPUs per node',
      ...(pos ? { pos: multiLine ? blockScalarPos(pos, parallelPath, verdict) : pos } : {}),
    });
  }
  if (verdict?.ok === true && verdict.warning !== undefined) {
    const pos = spec.positions[parallelPath];
    warnings.push({
      code: PLAN_CODES.parallelismLayout,
      severity: 'warning',
      path: parallelPath,
      message: verdict.warning,
      ...(pos ? { pos: parallelText.includes('\n') ? blockScalarPos(pos, parallelPath, verdict) : pos } : {}),
    });
  }
  const backendPath = `${base}.backend.command`;
  const backendError = (e: { line: number; column: number; message: string; hint: string }): void => {
    const pos = spec.positions[backendPath];
    issues.push({
      code: PLAN_CODES.backendCommand,
      severity: 'error',
      path: backendPath,
      message: e.message,
      hint: e.hint,
      ...(pos
        ? { pos: svc.backend?.command.includes('\n') ? blockScalarPos(pos, backendPath, e) : pos }
        : {}),
    });
  };
  const launch = svc.backend && !svc.roles ? backendLaunch(svc.backend.kind, svc.backend.command) : undefined;
  if (launch?.ok === false) backendError(launch);
  const roles = rolePlans(svc);
  if (svc.roles) checkRoleBackends(svc, error);
  if (issues.length > 0) return { issues, warnings };

  // --- placement ------------------------------------------------------------------------------------
  // One gang, or one role after the other when a role declares its own resource (roles.ts placementGangs);
  // under `spread` a later role avoids the nodes an earlier one took.
  const resources: RankResources[] = new Array<RankResources>(svc.nodes);
  const rankResource: ResourceSpec[] = new Array<ResourceSpec>(svc.nodes);
  const placedNodes: number[] = new Array<number>(svc.nodes);
  const taken: number[] = [];
  for (const gang of placementGangs(svc)) {
    const need = rankNeedFor(svc, gang.resource);
    const placed = placeGang(cluster, {
      need,
      ranks: gang.ranks,
      strategy: svc.placement.strategy,
      ...(svc.placement.topologyKey === undefined ? {} : { topologyKey: svc.placement.topologyKey }),
      topologyMode: svc.placement.topologyMode,
      formatBytes: bytesFormatter(gang.resource.memoryBytes, gang.resource.memoryText),
      ...(svc.placement.strategy === 'spread' && taken.length > 0 ? { avoid: new Set(taken) } : {}),
    });
    if (!placed.ok) {
      const reason = gang.role
        ? { ...placed.reason, summary: `role ${gang.role}: ${placed.reason.summary}` }
        : placed.reason;
      return { reason, issues, warnings };
    }
    for (const w of placed.warnings)
      warnings.push({
        code: PLAN_CODES.topologySpread,
        severity: 'warning',
        path: `${base}.placement`,
        message: w,
        ...at(`${base}.placement`),
      });
    placed.nodes.forEach((i, k) => {
      const res = allocateRank(cluster, i, need, gang.resource.cpuAffinity === 'NUMA');
      cluster.take(i, svc.name, res.cpus, need.memoryBytes, res.gpus, res.nics, need.exclusive);
      resources[gang.first + k] = res;
      rankResource[gang.first + k] = gang.resource;
      placedNodes[gang.first + k] = i;
      taken.push(i);
    });
  }
  const placed = { nodes: placedNodes };

  // --- network ------------------------------------------------------------------------------------------
  const n = svc.nodes;
  const hostnames = roles ? roleHostnames(svc.name, roles) : placed.nodes.map((_, r) => `${svc.name}-${r}`);
  let network: NetworkPlan;
  let addresses: string[];
  if (svc.hostNetwork) {
    addresses = placed.nodes.map((i) => cluster.node(i).address);
    network = { mode: 'host', mtu: 1500, subnet: hostSubnet(addresses) };
  } else {
    const subnet = book.takeSubnet(options.seed, svc.name);
    const vni = book.takeVni(options.seed, svc.name);
    if (!subnet || vni === undefined) {
      error(
        PLAN_CODES.poolExhausted,
        base,
        subnet
          ? `no free VXLAN id left in ${options.vniRange.from}–${options.vniRange.to}`
          : `no free /24 left in the overlay pool ${options.overlayPool}`,
        'remove stopped services or widen the pool',
      );
      return { issues, warnings };
    }
    addresses = placed.nodes.map((_, r) => overlayAddress(subnet, r));
    network = {
      gateway: overlayGateway(subnet),
      mode: 'overlay',
      mtu: DEFAULTS.overlayMtu,
      subnet: formatCidr(subnet),
      vni,
    };
  }

  // --- ports --------------------------------------------------------------------------------------------
  const noPort = (i: number, what: string): ServiceOutcome => ({
    issues,
    warnings,
    reason: {
      service: svc.name,
      summary: `no free host port for ${what} on ${cluster.node(i).name} in ${picker.range.from}–${picker.range.to}`,
      nodes: [
        `${cluster.node(i).name}: every port in ${picker.range.from}–${picker.range.to} is in use or cooling down`,
      ],
    },
  });
  const userEnv = new Map(svc.env.map((e) => [e.key, e.value]));
  const bound = bindPorts(cluster, picker, svc, placed.nodes, userEnv);
  if ('failure' in bound) return noPort(bound.failure.node, bound.failure.what);
  const { rankPorts, masterPort, sshPorts, tfPorts } = bound;

  // --- files, env, commands -----------------------------------------------------------------------------
  const filesDir = options.filesDir.split(SERVICE_PLACEHOLDER).join(svc.name).replace(/\/+$/, '');
  const hostfilePath = `${filesDir}/${PLAN_FILES.hostfile}`;
  const clusterFilePath = `${filesDir}/${PLAN_FILES.clusterFile}`;
  const scriptPath = `${filesDir}/${PLAN_FILES.script}`;
  const slots = slotsPerHost(svc.resource.gpus, svc.resource.cpuCores);
  const declaredPorts = svc.ports.map((p) => p.name);
  const rolePortsOf = narrowedRolePorts(svc)?.rolePorts;
  const allLists = serviceLists(svc.implementation, slots, declaredPorts, n > 1);
  const clusterFile = val(
    '{"leader":"',
    { host: 0 },
    '",',
    masterPort === undefined ? '' : `"masterPort":${masterPort},`,
    `"network":{"mode":"${network.mode}","subnet":"`,
    { iface: true },
    '"},"ranks":[',
    // Roles that narrow their ports: each role's entries name only the ports its members bind.
    clusterRanksValue(rolePortsOf ? roles : undefined),
    `],"service":${JSON.stringify(svc.name)},"version":1}\n`,
  );
  const roleShapes = roles ? shapesOfRoles(svc, roles, resources) : undefined;
  const shapedRoles = roleShapes ? roles : undefined;
  const files: PlanFile[] = [
    { content: hostfileValue(shapedRoles), mode: 0o644, name: PLAN_FILES.hostfile, path: hostfilePath },
    { content: clusterFile, mode: 0o644, name: PLAN_FILES.clusterFile, path: clusterFilePath },
  ];
  if (svc.script.length > 0)
    files.push({ content: val(svc.script), mode: 0o755, name: PLAN_FILES.script, path: scriptPath });
  for (const role of svc.roles ?? [])
    if (role.script.length > 0 && role.script !== svc.script)
      files.push({
        content: val(role.script),
        mode: 0o755,
        name: roleScriptFile(role.name),
        path: `${filesDir}/${roleScriptFile(role.name)}`,
      });
  const uses = usesFor(svc, usedBy);

  const { env, leaderEnv, roleEnv } = buildServiceEnv({
    service: svc.name,
    nodes: n,
    gpusPerNode: svc.resource.gpus,
    cpusPerRank: resources[0]?.cpus.length ?? 0,
    gpusPerRank: resources[0]?.gpus.length ?? 0,
    portNames: declaredPorts,
    implementation: svc.implementation,
    ...(svc.backend ? { backend: svc.backend.kind } : {}),
    envCompat: svc.envCompat,
    userEnv: svc.env,
    ...(masterPort === undefined ? {} : { masterPort }),
    runAsRoot: options.runAsRoot,
    ...(roles ? { roles } : {}),
    ...(roleShapes ? { roleShapes } : {}),
    ...(narrowedRolePorts(svc) ?? {}),
    ...(uses ? { usesEnv: uses.env } : {}),
  });

  const backendCtx: BackendContext | undefined =
    svc.backend && svc.roles === undefined
      ? {
          kind: svc.backend.kind,
          command: svc.backend.command,
          nodes: n,
          gpusPerNode: svc.resource.gpus,
          sshWrapperPath: options.sshWrapperPath,
          userEnvKeys: [...userEnv.keys()],
          runAsRoot: options.runAsRoot,
          masterPort,
          ...(launch?.ok ? { launch } : {}),
        }
      : undefined;
  if (backendCtx)
    for (let r = 0; r < n; r++) {
      const e = backendCommandError(backendCtx, r);
      if (e) {
        backendError({ ...e, message: `rank ${r}: ${e.message}` });
        return { issues, warnings };
      }
    }
  const command = (r: number): RankCommand => {
    if (roles && svc.roles) return roleCommand(svc, roles, r, options.runAsRoot, options.sshWrapperPath);
    if (backendCtx) return backendCommand(backendCtx, r);
    if (svc.script.length > 0 && (svc.launch === 'all' || r === 0))
      return { argv: [val({ file: PLAN_FILES.script })], kind: 'script' };
    return { argv: [], kind: 'wait' };
  };

  // Keep only the lists the values name (a list may name another only through its members, which it does not).
  const used = new Set<string>();
  const collect = (v: Value): void => {
    for (const name of listsOf(v)) used.add(name);
  };
  for (const v of Object.values(env)) collect(v);
  for (const v of Object.values(leaderEnv)) collect(v);
  for (const own of Object.values(roleEnv ?? {})) for (const v of Object.values(own)) collect(v);
  if (roles) Object.assign(allLists, roleLists(roles, svc.implementation, roleShapes));
  if (roles && rolePortsOf)
    for (const r of roles)
      allLists[`${LIST.clusterRanks}@${r.name}`] = {
        count: r.nodes,
        each: clusterRankObject(rolePortsOf.get(r.name) ?? declaredPorts, n > 1),
        from: r.first,
        sep: ',',
      };
  for (const f of files) collect(f.content);
  const commands = hostnames.map((_, r) => command(r));
  for (const c of commands) for (const a of c.argv) collect(a);
  const lists: Record<string, ListPlan> = {};
  for (const k of Object.keys(allLists).sort()) {
    const l = allLists[k];
    if (l && used.has(k)) lists[k] = l;
  }

  const leaderProbe = svc.readinessProbe ? bindProbe(svc.readinessProbe, rankPorts[0] ?? []) : undefined;
  const ranks: RankPlan[] = hostnames.map((hostname, r) => {
    const i = placed.nodes[r] ?? 0;
    const node = cluster.node(i);
    const res = resources[r];
    const role = roles ? roleAt(roles, r) : undefined;
    const roleSpec = role ? svc.roles?.find((x) => x.name === role.name) : undefined;
    const probe = role
      ? rankProbe(
          roleSpec?.backend?.kind,
          r === 0 ? 0 : Math.max(1, r - role.first),
          leaderProbe,
          sshPorts[r] ?? DEFAULTS.sshPort,
        )
      : rankProbe(svc.backend?.kind, r, leaderProbe, sshPorts[r] ?? DEFAULTS.sshPort);
    return {
      address: addresses[r] ?? '',
      command: commands[r] ?? { argv: [], kind: 'wait' },
      cpus: res?.cpus ?? [],
      fabricNics: (res?.nics ?? []).map((nic) => {
        const addr = node.fabricNics.find((f) => f.name === nic)?.address;
        return addr === undefined
          ? { device: nic, ifname: nic }
          : { address: addr, device: nic, ifname: nic };
      }),
      gpus: res?.gpus ?? [],
      hostname,
      memoryBytes: (rankResource[r] ?? svc.resource).memoryBytes,
      node: node.name,
      nodeAddress: node.address,
      ...(res?.numaNode === undefined ? {} : { numaNode: res.numaNode }),
      ports: role ? rolePorts(rankPorts[r] ?? [], roleSpec?.ports) : (rankPorts[r] ?? []),
      ...(probe ? { probe } : {}),
      rank: r,
      role: r === 0 ? 'leader' : 'worker',
      ...(role ? { roleName: role.name } : {}),
      sshPort: sshPorts[r] ?? DEFAULTS.sshPort,
      ...(n > 1 ? { tfPort: tfPorts[r] ?? 0 } : {}),
    };
  });

  const leader = ranks[0];
  const endpoints: EndpointPlan[] = svc.endpoints.map((e) => {
    const p = (rankPorts[0] ?? []).find((x) => x.name === e.portName);
    return {
      name: e.name,
      port: p?.port ?? 0,
      portName: e.portName,
      protocol: e.protocol,
      rank: 0,
      ...(e.scope === undefined ? {} : { scope: e.scope }),
      targetAddress: leader?.address ?? '',
      targetPort: p?.hostPort ?? 0,
      ...(e.type === undefined ? {} : { type: e.type }),
    };
  });

  // Keys in canonical (sorted) order: see planSpec.
  const plan: ServicePlan = {
    ...(svc.backend ? { backend: svc.backend.kind } : {}),
    ...(svc.cwd === undefined ? {} : { cwd: svc.cwd }),
    endpoints,
    env,
    envCompat: svc.envCompat,
    ...(svc.placement.exclusive ? { exclusive: true } : {}),
    files,
    ...(svc.resource.gpuModel === undefined ? {} : { gpuModel: svc.resource.gpuModel }),
    gpusPerNode: svc.resource.gpus,
    ...(svc.imageUri === undefined ? {} : { imageUri: svc.imageUri }),
    implementation: svc.implementation,
    launch: svc.launch,
    leaderEnv,
    lists,
    ...(masterPort === undefined ? {} : { masterPort }),
    mounts: svc.mounts,
    name: svc.name,
    network,
    nodes: n,
    persist: svc.persist,
    ...(leaderProbe ? { probe: leaderProbe } : {}),
    ranks,
    restart: svc.restart,
    ...(roleEnv ? { roleEnv } : {}),
    ...(roles ? { roles } : {}),
    sshWrapperPath: options.sshWrapperPath,
    ...(uses ? { uses: uses.uses } : {}),
  };
  return { plan, issues, warnings };
}

/**
 * Where a flag inside a block scalar (`script: |`) is in the file: the content starts on the line after the
 * key, indented (by YAML convention) two columns deeper than the key; the key's column is the value's column
 * minus `<key>: `. A guess for the caret only — the line is exact.
 */
function blockScalarPos(pos: SourcePos, path: string, at: { line: number; column: number }): SourcePos {
  const key = path.slice(path.lastIndexOf('.') + 1);
  const keyCol = pos.col - (key.length + 2);
  return { ...pos, line: pos.line + 1 + at.line, col: keyCol >= 1 ? keyCol + 2 + at.column : pos.col };
}

/** The ports of each role that narrows them (`roles[].ports`), for `MULTINODE_PORT_<NAME>`; else undefined. */
function narrowedRolePorts(
  svc: ServiceSpec,
): { rolePorts: ReadonlyMap<string, readonly string[]> } | undefined {
  const declared = svc.ports.map((p) => p.name);
  const narrowing = (svc.roles ?? []).filter((r) =>
    declared.some((name) => !(r.ports ?? declared).includes(name)),
  );
  if (narrowing.length === 0) return undefined;
  return { rolePorts: new Map(narrowing.map((r) => [r.name, r.ports ?? []])) };
}

/** In host mode a probe on a declared port must hit the port actually bound. */
function bindProbe(probe: ProbeSpec, ports: readonly PortAssignment[]): ProbeSpec {
  const p = ports.find((x) => x.port === probe.action.port);
  if (!p || p.hostPort === p.port) return probe;
  return { ...probe, action: { ...probe.action, port: p.hostPort } };
}

/** Formats bytes in the unit the spec used (`120GB` → `64GB`), falling back to GiB. */
function bytesFormatter(bytes: number, text: string): (b: number) => string {
  const m = /^\s*([0-9.]+)\s*([A-Za-z]*)\s*$/.exec(text);
  const num = m ? Number(m[1]) : NaN;
  const unit = m?.[2] ?? '';
  if (m && num > 0 && unit !== '') {
    const factor = bytes / num;
    if (factor > 1) return (b) => `${trimNum(b / factor)}${unit}`;
  }
  return (b) => `${trimNum(b / 2 ** 30)}GiB`;
}

function trimNum(x: number): string {
  return String(Math.round(x * 10) / 10);
}

// --- roles and uses (docs/guides/roles-and-dependencies.md) ----------------------------------------------

/** Role backends the planner can shift onto a role (TRT-LLM's mpirun spans the whole host list: not yet). */
function checkRoleBackends(
  svc: ServiceSpec,
  error: (code: string, path: string, message: string, hint?: string) => void,
): void {
  svc.roles?.forEach((role, i) => {
    if (!role.backend) return;
    const path = `services.${svc.name}.roles[${i}].backend`;
    if (role.backend.kind === 'trtllm')
      error(
        PLAN_CODES.backendCommand,
        path,
        `role ${role.name}: backend trtllm is not supported inside a role (its mpirun spans the whole service)`,
        'use a service of its own for TRT-LLM',
      );
    const launch = backendLaunch(role.backend.kind, role.backend.command);
    if (launch?.ok === false)
      error(
        PLAN_CODES.backendCommand,
        `${path}.command`,
        `role ${role.name}: ${launch.message}`,
        launch.hint,
      );
  });
}

/**
 * Each role's shape when some role declares its own `resource` (else undefined: every rank has the
 * service's shape): GPUs per node, the cores and GPUs its first member was given, and its hostfile slots.
 */
function shapesOfRoles(
  svc: ServiceSpec,
  roles: readonly RolePlan[],
  resources: readonly (RankResources | undefined)[],
): Map<string, RankShape> | undefined {
  if (!svc.roles?.some((r) => r.resource)) return undefined;
  const out = new Map<string, RankShape>();
  for (const role of roles) {
    const spec = svc.roles.find((x) => x.name === role.name);
    const res = roleResource(svc, spec ?? {});
    const first = resources[role.first];
    out.set(role.name, {
      cpusPerRank: first?.cpus.length ?? 0,
      gpusPerNode: res.gpus,
      gpusPerRank: first?.gpus.length ?? 0,
      slots: slotsPerHost(res.gpus, res.cpuCores),
    });
  }
  return out;
}

/** What a role member runs: its role's backend (led by the role's first member) or its role's script. */
function roleCommand(
  svc: ServiceSpec,
  roles: readonly RolePlan[],
  r: number,
  runAsRoot: boolean,
  sshWrapperPath: string,
): RankCommand {
  const role = roleAt(roles, r);
  const spec = role ? svc.roles?.find((x) => x.name === role.name) : undefined;
  if (!role || !spec) return { argv: [], kind: 'wait' };
  if (spec.backend) {
    const launch = backendLaunch(spec.backend.kind, spec.backend.command);
    const ctx: BackendContext = {
      kind: spec.backend.kind,
      command: spec.backend.command,
      nodes: role.nodes,
      gpusPerNode: roleResource(svc, spec).gpus,
      sshWrapperPath,
      userEnvKeys: svc.env.map((e) => e.key),
      runAsRoot,
      masterPort: undefined,
      ...(launch?.ok ? { launch } : {}),
    };
    return shiftCommand(backendCommand(ctx, r - role.first), role.first);
  }
  if (spec.script.length === 0) return { argv: [], kind: 'wait' };
  const file = spec.script === svc.script ? PLAN_FILES.script : roleScriptFile(role.name);
  return { argv: [val({ file })], kind: 'script' };
}

/** What the services planned so far offer to services that use them. */
function usedServices(
  planned: ReadonlyMap<string, ServicePlan>,
  target: PlanOptions['target'],
): Map<string, UsedService> {
  const out = new Map<string, UsedService>();
  for (const [name, p] of planned) {
    const leader = p.ranks[0];
    if (!leader) continue;
    out.set(name, {
      leaderAddr: target === 'local' ? leader.address : leader.hostname,
      leaderHost: leader.hostname,
      name,
      ports: leader.ports,
    });
  }
  return out;
}
