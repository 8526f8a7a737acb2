/**
 * The rank environment: every variable a rank sees, computed from the placed service. Families, in the
 * order they are applied (a later family never overrides an earlier one except user `env`, which wins over
 * everything): ours (`MULTINODE_*`, `CUDA_VISIBLE_DEVICES`), distributed (`MASTER_ADDR`, `MASTER_PORT`,
 * `TF_CONFIG`; more than one rank only), the implementation's launcher variables, the backend's, the
 * compatibility families the spec asks for, then the user's `env` (later duplicates win). Never set:
 * `WORLD_SIZE`, `RANK`, `LOCAL_RANK`. Every name comes from `api/names.ts`.
 */
import type { Implementation, EnvCompatFamily, EnvEntry, BackendKind } from '../api/spec.js';
import { COMPAT_ENV, DIST_ENV, ENV, IMPL_ENV } from '../api/names.js';
import type { ListPlan, Value } from '../api/plan.js';
import { PORT_REF, SSH_WRAPPER_FILE } from '../api/plan.js';
import { compressCounts } from './hostlist.js';
import { val } from './resolve.js';

export interface EnvContext {
  readonly service: string;
  readonly nodes: number;
  readonly gpusPerNode: number;
  /** Cores and GPUs each rank holds (the same for every rank of a service). */
  readonly cpusPerRank: number;
  readonly gpusPerRank: number;
  readonly portNames: readonly string[];
  readonly implementation: Implementation;
  readonly backend?: BackendKind;
  readonly envCompat: readonly EnvCompatFamily[];
  readonly userEnv: readonly EnvEntry[];
  readonly masterPort?: number;
  readonly runAsRoot: boolean;
  /** Roles in declaration order (ranks `first`…`first + nodes - 1` each); absent for identical ranks. */
  readonly roles?: readonly { readonly name: string; readonly first: number; readonly nodes: number }[];
  /**
   * Each role's own shape, by role name, when some role declares its own `resource`: the variables that
   * describe a rank's GPUs and cores (`resourceEnv`) and its hostfile slots then follow its role.
   */
  readonly roleShapes?: ReadonlyMap<string, RankShape>;
  /**
   * The declared ports each role binds, by role name, for roles that narrow them (`roles[].ports`): a
   * rank's `MULTINODE_PORT_<NAME>` is set only for the ports its role binds.
   */
  readonly rolePorts?: ReadonlyMap<string, readonly string[]>;
  /** Variables naming the services this one uses (`MULTINODE_USES_*`), already built. */
  readonly usesEnv?: Readonly<Record<string, Value>>;
}

/** What one rank holds, as the resource variables describe it. */
export interface RankShape {
  readonly gpusPerNode: number;
  readonly cpusPerRank: number;
  readonly gpusPerRank: number;
  /** Hostfile slots of the rank's host (`slotsPerHost`). */
  readonly slots: number;
}

/** `MULTINODE_PORT_<NAME>` for a port name: upper-cased, anything but A–Z 0–9 → `_`. */
export function portEnvName(name: string): string {
  return `${ENV.portPrefix}${envToken(name)}`;
}

function envToken(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/**
 * Slots per host in host lists and hostfiles: one process per GPU when the service has GPUs, else one per
 * core, so `mpirun -np <nodes × cores>` fits a CPU-only service without oversubscription flags.
 */
export function slotsPerHost(gpusPerNode: number, cpuCores: number): number {
  return gpusPerNode > 0 ? gpusPerNode : Math.max(1, cpuCores);
}

/** The hostfile's line for one rank (`self`) in the implementation's format. */
export function hostfileLine(implementation: Implementation, slots: number): Value {
  const self = { host: 'self' } as const;
  return implementation === 'ompi'
    ? val(self, ` slots=${slots}\n`)
    : implementation === 'mpich'
      ? val(self, `:${slots}\n`)
      : val(self, '\n');
}

/** The names of the lists a service may carry (`ServicePlan.lists`). */
export const LIST = {
  /** `h0:slots,h1:slots,…` */
  hostsSlots: 'hosts-slots',
  /** `h0,h1,…` */
  hosts: 'hosts',
  /** `h0 h1 …` */
  hostsSpace: 'hosts-space',
  /** Addresses, one a line. */
  addressesLines: 'addresses-lines',
  /** `"h0:p0","h1:p1",…` (TF_CONFIG's workers). */
  tfWorkers: 'tf-workers',
  /** The hostfile's lines. */
  hostfile: 'hostfile',
  /** `cluster.json`'s rank objects, comma-separated. */
  clusterRanks: 'cluster-ranks',
  /** Slurm's compressed node list (`svc-[0-3]`). */
  nodelist: 'nodelist',
} as const;

/**
 * A list of every rank whose members may differ by role (`@<role>` lists, `roleLists`): the whole list, or
 * each role's part in rank order, joined by the list's separator.
 */
function perRoleList(
  name: string,
  sep: string,
  roles: readonly { readonly name: string }[] | undefined,
): Value {
  if (!roles) return val({ list: name });
  return val(...roles.flatMap((r, k) => [...(k > 0 && sep ? [sep] : []), { list: `${name}@${r.name}` }]));
}

/** The hostfile's content: every rank's line, with each role's own slots when roles differ in shape. */
export function hostfileValue(roles?: readonly { readonly name: string }[]): Value {
  return perRoleList(LIST.hostfile, '', roles);
}

/** `MULTINODE_HOSTLIST` (`h0:slots,…`), with each role's own slots when roles differ in shape. */
export function hostsSlotsValue(roles?: readonly { readonly name: string }[]): Value {
  return perRoleList(LIST.hostsSlots, ',', roles);
}

/**
 * One rank's entry in the cluster file: address, host, the ports it binds (by name), rank, SSH port and,
 * for several ranks, the TF port.
 */
export function clusterRankObject(portNames: readonly string[], multi: boolean): Value {
  const json = (s: string): string => JSON.stringify(s);
  const ports = [...portNames].sort();
  return val(
    '{"address":"',
    { addr: 'self' },
    '","host":"',
    { host: 'self' },
    '","ports":{',
    ...ports.flatMap((name, k) => [`${k > 0 ? ',' : ''}${json(name)}:`, { port: name, of: 'self' } as const]),
    '},"rank":',
    { rank: 'self' },
    ',"sshPort":',
    { port: PORT_REF.ssh, of: 'self' },
    ...(multi ? [',"tfPort":', { port: PORT_REF.tf, of: 'self' } as const] : []),
    '}',
  );
}

/**
 * The cluster file's `ranks` entries when some role narrows its ports: one list per role, each entry naming
 * only the ports its role binds (a port a rank does not bind has no number to write).
 */
export function clusterRanksValue(roles?: readonly { readonly name: string }[]): Value {
  return perRoleList(LIST.clusterRanks, ',', roles);
}

/** The lists every service can use; the planner keeps only those its values name. */
export function serviceLists(
  implementation: Implementation,
  slots: number,
  portNames: readonly string[],
  multi: boolean,
): Record<string, ListPlan> {
  const self = { host: 'self' } as const;
  const rankObject = clusterRankObject(portNames, multi);
  return {
    [LIST.addressesLines]: { each: val({ addr: 'self' }), sep: '\n' },
    [LIST.clusterRanks]: { each: rankObject, sep: ',' },
    [LIST.hostfile]: { each: hostfileLine(implementation, slots), sep: '' },
    [LIST.hosts]: { each: val(self), sep: ',' },
    [LIST.hostsSlots]: { each: val(self, `:${slots}`), sep: ',' },
    [LIST.hostsSpace]: { each: val(self), sep: ' ' },
    [LIST.nodelist]: { compress: 'hostlist', each: val(self), sep: ',' },
    [LIST.tfWorkers]: { each: val('"', self, ':', { port: PORT_REF.tf, of: 'self' }, '"'), sep: ',' },
  };
}

/** `{"cluster":{"worker":[…]},"task":{"type":"worker","index":r}}` in the order TensorFlow documents. */
export function tfConfigValue(): Value {
  return val(
    '{"cluster":{"worker":[',
    { list: LIST.tfWorkers },
    ']},"task":{"type":"worker","index":',
    {
      rank: 'self',
    },
    '}}',
  );
}

export interface ServiceEnv {
  readonly env: Record<string, Value>;
  readonly leaderEnv: Record<string, Value>;
  /** Per role name (services with roles only). */
  readonly roleEnv?: Record<string, Record<string, Value>>;
}

export function buildServiceEnv(ctx: EnvContext): ServiceEnv {
  const env = new Map<string, Value>();
  const leaderEnv = new Map<string, Value>();
  const n = ctx.nodes;
  const lit = (s: string): Value => val(s);
  const hostfile = val({ file: 'hostfile' });
  const cluster = val({ file: 'cluster.json' });
  const wrapper = val({ file: SSH_WRAPPER_FILE });
  env.set(ENV.service, lit(ctx.service));
  env.set(ENV.nodeRank, val({ rank: 'self' }));
  env.set(ENV.numNodes, lit(String(n)));
  env.set(ENV.nodeIp, val({ addr: 'self' }));
  env.set(ENV.nodeHostname, val({ host: 'self' }));
  env.set(ENV.leaderHost, val({ host: 0 }));
  env.set(ENV.leaderIp, val({ addr: 0 }));
  const shaped = ctx.roles && ctx.roleShapes ? ctx.roles : undefined;
  env.set(ENV.hostlist, hostsSlotsValue(shaped));
  env.set(ENV.hostlistNoSlots, val({ list: LIST.hosts }));
  env.set(ENV.hostfile, hostfile);
  env.set(ENV.sshWrapper, wrapper);
  env.set(ENV.clusterFile, cluster);
  for (const name of ctx.portNames) env.set(portEnvName(name), val({ port: name, of: 'self' }));

  if (n > 1) {
    env.set(DIST_ENV.masterAddr, val({ host: 0 }));
    if (ctx.masterPort !== undefined) env.set(DIST_ENV.masterPort, lit(String(ctx.masterPort)));
    if (!ctx.roles) env.set(DIST_ENV.tfConfig, tfConfigValue());
  }
  const roleEnv = ctx.roles ? buildRoleEnv(env, ctx.roles, n) : undefined;
  if (ctx.roles && roleEnv && ctx.rolePorts) narrowPortEnv(env, roleEnv, ctx.roles, ctx.rolePorts);
  for (const [k, v] of Object.entries(ctx.usesEnv ?? {})) env.set(k, v);

  switch (ctx.implementation) {
    case 'ompi':
      env.set(IMPL_ENV.ompiRshAgent, wrapper);
      env.set(IMPL_ENV.ompiHostfile, hostfile);
      env.set(IMPL_ENV.ompiBtlTcpIfInclude, val({ iface: true }));
      env.set(IMPL_ENV.ompiOobTcpIfInclude, val({ iface: true }));
      env.set(IMPL_ENV.ompiKeepFqdn, lit('1'));
      if (ctx.runAsRoot) {
        env.set(IMPL_ENV.ompiAllowRoot, lit('1'));
        env.set(IMPL_ENV.ompiAllowRootConfirm, lit('1'));
      }
      break;
    case 'mpich':
      env.set(IMPL_ENV.hydraHostFile, hostfile);
      env.set(IMPL_ENV.hydraLauncher, lit('ssh'));
      env.set(IMPL_ENV.hydraLauncherExec, wrapper);
      break;
    case 'gasnet':
      env.set(IMPL_ENV.gasnetSpawnFn, lit('S'));
      env.set(IMPL_ENV.gasnetSshServers, val({ list: LIST.hostsSpace }));
      env.set(IMPL_ENV.gasnetSshCmd, wrapper);
      env.set(IMPL_ENV.gasnetSshOptions, lit(''));
      break;
    case 'generic':
      break;
  }
  if (ctx.backend === 'trtllm') env.set(IMPL_ENV.ompiKeepFqdn, lit('1'));

  for (const family of ctx.envCompat) addCompat(env, leaderEnv, family, ctx);
  if (ctx.roles && roleEnv && ctx.envCompat.includes('backendai'))
    addBackendaiRoles(env, leaderEnv, roleEnv, ctx.roles);

  const own = { cpusPerRank: ctx.cpusPerRank, gpusPerNode: ctx.gpusPerNode, gpusPerRank: ctx.gpusPerRank };
  if (!shaped || !roleEnv) for (const [k, v] of resourceEnv(own, ctx.envCompat)) env.set(k, v);
  else
    for (const r of shaped) {
      const shape = ctx.roleShapes?.get(r.name) ?? own;
      for (const [k, v] of resourceEnv(shape, ctx.envCompat)) roleEnv.get(r.name)?.set(k, v);
    }
  if (ctx.envCompat.includes('dstack')) env.set(COMPAT_ENV.dstackGpusNum, lit(String(totalGpus(ctx))));

  const userEnv = new Map(ctx.userEnv.map((e) => [e.key, e.value]));
  for (const [k, v] of userEnv) {
    env.set(k, lit(v));
    leaderEnv.delete(k);
    for (const own of roleEnv?.values() ?? []) own.delete(k);
  }
  if (!roleEnv) return { env: sortedRecord(env), leaderEnv: sortedRecord(leaderEnv) };
  const roles: Record<string, Record<string, Value>> = {};
  for (const [name, own] of roleEnv) roles[name] = sortedRecord(own);
  return { env: sortedRecord(env), leaderEnv: sortedRecord(leaderEnv), roleEnv: roles };
}

/**
 * The variables that describe what a rank holds: ours (`MULTINODE_GPUS_PER_NODE`, `CUDA_VISIBLE_DEVICES`)
 * and the compatibility families' (Slurm's cores and GPUs on the node, SkyPilot's and dstack's GPUs per
 * node). One set for the service, or one per role when roles differ in shape.
 */
function resourceEnv(
  shape: Omit<RankShape, 'slots'>,
  families: readonly EnvCompatFamily[],
): Map<string, Value> {
  const out = new Map<string, Value>();
  const gpus = String(shape.gpusPerNode);
  out.set(ENV.gpusPerNode, val(gpus));
  if (shape.gpusPerNode > 0) out.set(ENV.cudaVisibleDevices, val({ gpus: 'self' }));
  if (families.includes('slurm')) {
    out.set(COMPAT_ENV.slurmCpusOnNode, val(String(shape.cpusPerRank)));
    if (shape.gpusPerNode > 0) {
      out.set(COMPAT_ENV.slurmGpusOnNode, val(String(shape.gpusPerRank)));
      out.set(COMPAT_ENV.slurmStepGpus, val({ gpus: 'self' }));
    }
  }
  if (families.includes('skypilot')) out.set(COMPAT_ENV.skypilotNumGpusPerNode, val(gpus));
  if (families.includes('dstack')) out.set(COMPAT_ENV.dstackGpusPerNode, val(gpus));
  return out;
}

/** Every GPU the service holds: nodes × GPUs per node, summed role by role when roles differ in shape. */
function totalGpus(ctx: EnvContext): number {
  if (!ctx.roles || !ctx.roleShapes) return ctx.nodes * ctx.gpusPerNode;
  return ctx.roles.reduce((sum, r) => sum + r.nodes * (ctx.roleShapes?.get(r.name)?.gpusPerNode ?? 0), 0);
}

// --- roles (docs/guides/roles-and-dependencies.md) -------------------------------------------------------

/** The list of one role's `"host:tfport"` entries (TF_CONFIG's `cluster.<role>`). */
export function tfRoleList(role: string): string {
  return `${LIST.tfWorkers}@${role}`;
}

/**
 * Lists of a service with roles: one TF_CONFIG member list per role and, when roles differ in shape, each
 * role's hostfile lines and `host:slots` entries with its own slots.
 */
export function roleLists(
  roles: readonly { readonly name: string; readonly first: number; readonly nodes: number }[],
  implementation: Implementation,
  shapes?: ReadonlyMap<string, RankShape>,
): Record<string, ListPlan> {
  const out: Record<string, ListPlan> = {};
  for (const r of roles) {
    const part = { count: r.nodes, from: r.first };
    out[tfRoleList(r.name)] = {
      ...part,
      each: val('"', { host: 'self' }, ':', { port: PORT_REF.tf, of: 'self' }, '"'),
      sep: ',',
    };
    const slots = shapes?.get(r.name)?.slots;
    if (slots === undefined) continue;
    out[`${LIST.hostfile}@${r.name}`] = { ...part, each: hostfileLine(implementation, slots), sep: '' };
    out[`${LIST.hostsSlots}@${r.name}`] = { ...part, each: val({ host: 'self' }, `:${slots}`), sep: ',' };
  }
  return out;
}

/**
 * `{"cluster":{"ps":[…],"worker":[…]},"task":{"type":"ps","index":i}}`: every role in declaration order, each
 * with its members' real TF ports, and the rank's own role and index within it.
 */
export function tfConfigRoleValue(
  roles: readonly { readonly name: string; readonly first: number }[],
  own: { readonly name: string; readonly first: number },
): Value {
  const parts: (string | Value[number])[] = ['{"cluster":{'];
  roles.forEach((r, k) => {
    parts.push(`${k > 0 ? ',' : ''}${JSON.stringify(r.name)}:[`, { list: tfRoleList(r.name) }, ']');
  });
  parts.push(
    `},"task":{"type":${JSON.stringify(own.name)},"index":`,
    { index: 'self', from: own.first },
    '}}',
  );
  return val(...parts);
}

/** `MULTINODE_ROLES` for all, and each role's own `MULTINODE_ROLE*` and `TF_CONFIG`. */
function buildRoleEnv(
  env: Map<string, Value>,
  roles: readonly { readonly name: string; readonly first: number; readonly nodes: number }[],
  n: number,
): Map<string, Map<string, Value>> {
  env.set(ENV.roles, val(roles.map((r) => `${r.name}:${r.nodes}`).join(',')));
  const out = new Map<string, Map<string, Value>>();
  for (const r of roles) {
    const own = new Map<string, Value>();
    own.set(ENV.role, val(r.name));
    own.set(ENV.roleIndex, val({ index: 'self', from: r.first }));
    own.set(ENV.roleNodes, val(String(r.nodes)));
    own.set(ENV.roleFirstRank, val(String(r.first)));
    if (n > 1) own.set(DIST_ENV.tfConfig, tfConfigRoleValue(roles, r));
    out.set(r.name, own);
  }
  return out;
}

/**
 * A port that some role does not bind: its `MULTINODE_PORT_<NAME>` moves from every rank to the roles
 * that bind it (a rank of another role has no such port, so no variable, on every target alike).
 */
function narrowPortEnv(
  env: Map<string, Value>,
  roleEnv: Map<string, Map<string, Value>>,
  roles: readonly { readonly name: string }[],
  rolePorts: ReadonlyMap<string, readonly string[]>,
): void {
  const binds = (role: string, key: string): boolean => {
    const own = rolePorts.get(role);
    return own === undefined || own.some((x) => portEnvName(x) === key);
  };
  for (const [key, value] of [...env].filter(([k]) => k.startsWith(ENV.portPrefix))) {
    if (roles.every((r) => binds(r.name, key))) continue;
    env.delete(key);
    for (const r of roles) if (binds(r.name, key)) roleEnv.get(r.name)?.set(key, value);
  }
}

/** Backend.AI with real roles: replicas per role, each member's role and 1-based index within it. */
function addBackendaiRoles(
  env: Map<string, Value>,
  leaderEnv: Map<string, Value>,
  roleEnv: Map<string, Map<string, Value>>,
  roles: readonly { readonly name: string; readonly first: number; readonly nodes: number }[],
): void {
  env.set(COMPAT_ENV.backendaiClusterReplicas, val(roles.map((r) => `${r.name}:${r.nodes}`).join(',')));
  env.delete(COMPAT_ENV.backendaiClusterRole);
  env.delete(COMPAT_ENV.backendaiClusterIdx);
  leaderEnv.delete(COMPAT_ENV.backendaiClusterRole);
  leaderEnv.delete(COMPAT_ENV.backendaiClusterIdx);
  for (const r of roles) {
    const own = roleEnv.get(r.name);
    own?.set(COMPAT_ENV.backendaiClusterRole, val(r.name));
    own?.set(COMPAT_ENV.backendaiClusterIdx, val({ index: 'self', from: r.first - 1 }));
  }
}

function addCompat(
  env: Map<string, Value>,
  leaderEnv: Map<string, Value>,
  family: EnvCompatFamily,
  ctx: EnvContext,
): void {
  const n = ctx.nodes;
  const lit = (s: string): Value => val(s);
  const rank = val({ rank: 'self' });
  switch (family) {
    case 'slurm': {
      const nodelist = val({ list: LIST.nodelist });
      env.set(COMPAT_ENV.slurmJobNodelist, nodelist);
      env.set(COMPAT_ENV.slurmNodelist, nodelist);
      env.set(COMPAT_ENV.slurmStepNodelist, nodelist);
      env.set(COMPAT_ENV.slurmNnodes, lit(String(n)));
      env.set(COMPAT_ENV.slurmJobNumNodes, lit(String(n)));
      env.set(COMPAT_ENV.slurmNtasks, lit(String(n)));
      env.set(COMPAT_ENV.slurmNprocs, lit(String(n)));
      env.set(COMPAT_ENV.slurmNodeId, rank);
      env.set(COMPAT_ENV.slurmProcId, rank);
      env.set(COMPAT_ENV.slurmLocalId, lit('0'));
      env.set(COMPAT_ENV.slurmTasksPerNode, lit(compressCounts(new Array<number>(n).fill(1))));
      env.set(COMPAT_ENV.slurmLaunchNodeIpaddr, val({ addr: 0 }));
      env.set(COMPAT_ENV.slurmJobName, lit(ctx.service));
      env.set(COMPAT_ENV.slurmdNodename, val({ host: 'self' }));
      break;
    }
    case 'skypilot':
      env.set(COMPAT_ENV.skypilotNodeRank, rank);
      env.set(COMPAT_ENV.skypilotNodeIps, val({ list: LIST.addressesLines }));
      env.set(COMPAT_ENV.skypilotNumNodes, lit(String(n)));
      break;
    case 'lws':
      env.set(COMPAT_ENV.lwsLeaderAddress, val({ host: 0 }));
      env.set(COMPAT_ENV.lwsGroupSize, lit(String(n)));
      env.set(COMPAT_ENV.lwsWorkerIndex, rank);
      break;
    case 'volcano': {
      const task = envToken(ctx.service);
      env.set(COMPAT_ENV.vcTaskIndex, rank);
      env.set(COMPAT_ENV.vkTaskIndex, rank);
      env.set(`${COMPAT_ENV.vcHostsPrefix}${task}${COMPAT_ENV.vcHostsSuffix}`, val({ list: LIST.hosts }));
      env.set(`${COMPAT_ENV.vcHostsPrefix}${task}${COMPAT_ENV.vcNumSuffix}`, lit(String(n)));
      break;
    }
    case 'backendai':
      env.set(COMPAT_ENV.backendaiClusterSize, lit(String(n)));
      env.set(COMPAT_ENV.backendaiClusterHosts, val({ list: LIST.hosts }));
      env.set(COMPAT_ENV.backendaiClusterReplicas, lit(n > 1 ? `main:1,sub:${n - 1}` : 'main:1'));
      env.set(COMPAT_ENV.backendaiClusterHost, val({ host: 'self' }));
      // Backend.AI numbers the main container 1 and the sub containers 1…n-1.
      env.set(COMPAT_ENV.backendaiClusterIdx, rank);
      leaderEnv.set(COMPAT_ENV.backendaiClusterIdx, lit('1'));
      env.set(COMPAT_ENV.backendaiClusterRole, lit('sub'));
      leaderEnv.set(COMPAT_ENV.backendaiClusterRole, lit('main'));
      env.set(COMPAT_ENV.backendaiClusterLocalRank, rank);
      break;
    case 'dstack':
      env.set(COMPAT_ENV.dstackRunName, lit(ctx.service));
      env.set(COMPAT_ENV.dstackNodesNum, lit(String(n)));
      env.set(COMPAT_ENV.dstackNodeRank, rank);
      env.set(COMPAT_ENV.dstackMasterNodeIp, val({ addr: 0 }));
      env.set(COMPAT_ENV.dstackNodesIps, val({ list: LIST.addressesLines }));
      env.set(COMPAT_ENV.dstackMpiHostfile, val({ file: 'hostfile' }));
      break;
  }
}

function sortedRecord(m: ReadonlyMap<string, Value>): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const k of [...m.keys()].sort()) {
    const v = m.get(k) ?? [];
    if (k === '__proto__')
      Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    else out[k] = v;
  }
  return out;
}
