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
import { compressCounts, compressHostlist } from './hostlist.js';

export interface EnvRank {
  readonly rank: number;
  readonly hostname: string;
  readonly address: string;
  readonly cpus: readonly number[];
  readonly gpus: readonly number[];
  /** Port name → the port the rank binds. */
  readonly boundPorts: readonly { readonly name: string; readonly port: number }[];
  readonly tfPort?: number;
}

export interface EnvContext {
  readonly service: string;
  readonly ranks: readonly EnvRank[];
  readonly gpusPerNode: number;
  /** Slots per host in host lists and hostfiles (`slotsPerHost`). */
  readonly slots: number;
  readonly implementation: Implementation;
  readonly backend?: BackendKind;
  readonly envCompat: readonly EnvCompatFamily[];
  readonly userEnv: readonly EnvEntry[];
  readonly subnet: string;
  readonly hostfilePath: string;
  readonly clusterFilePath: string;
  readonly sshWrapperPath: string;
  readonly masterPort?: number;
  readonly runAsRoot: boolean;
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

/** The hostfile in the implementation's format, one line per rank. */
export function buildHostfile(
  implementation: Implementation,
  hosts: readonly string[],
  slots: number,
): string {
  const line =
    implementation === 'ompi'
      ? (h: string) => `${h} slots=${slots}`
      : implementation === 'mpich'
        ? (h: string) => `${h}:${slots}`
        : (h: string) => h;
  return hosts.map((h) => `${line(h)}\n`).join('');
}

/** `{"cluster":{"worker":[…]},"task":{"type":"worker","index":r}}` in the order TensorFlow documents. */
export function buildTfConfig(workers: readonly string[], index: number): string {
  return JSON.stringify({ cluster: { worker: workers }, task: { type: 'worker', index } });
}

/** Shared values computed once per service. */
interface Shared {
  readonly hosts: readonly string[];
  readonly leader: EnvRank;
  readonly hostlist: string;
  readonly noSlots: string;
  readonly tfWorkers: readonly string[] | undefined;
  readonly nodelist: string;
  readonly userEnv: ReadonlyMap<string, string>;
}

export function buildServiceEnvs(ctx: EnvContext): Record<string, string>[] {
  const leader = ctx.ranks[0];
  if (leader === undefined) return [];
  const hosts = ctx.ranks.map((r) => r.hostname);
  const slots = ctx.slots;
  const multi = ctx.ranks.length > 1;
  const shared: Shared = {
    hosts,
    leader,
    hostlist: hosts.map((h) => `${h}:${slots}`).join(','),
    noSlots: hosts.join(','),
    tfWorkers: multi ? ctx.ranks.map((r) => `${r.hostname}:${r.tfPort ?? 0}`) : undefined,
    nodelist: ctx.envCompat.includes('slurm') ? compressHostlist(hosts) : '',
    userEnv: new Map(ctx.userEnv.map((e) => [e.key, e.value])),
  };
  const envs = ctx.ranks.map((r) => buildRankEnv(ctx, shared, r));
  // Every rank of a service has the same names: sort them once, build rank 0's env in that order, and give
  // the other ranks a copy of it with their own values written over (one object shape per service: cheap to
  // build, serialize and hash).
  const order = [...(envs[0]?.keys() ?? [])].sort();
  let first: Record<string, string> | undefined;
  return envs.map((env) => {
    if (env.size !== order.length) return sortKeys(Object.fromEntries(env));
    if (first === undefined) {
      const out: Record<string, string> = {};
      for (const k of order) {
        const v = env.get(k);
        if (v === undefined) return sortKeys(Object.fromEntries(env));
        setOwn(out, k, v);
      }
      first = out;
      return out;
    }
    const out: Record<string, string> = { ...first };
    for (const k of order) {
      const v = env.get(k);
      if (v === undefined) return sortKeys(Object.fromEntries(env));
      if (v !== out[k]) setOwn(out, k, v);
    }
    return out;
  });
}

function buildRankEnv(ctx: EnvContext, s: Shared, r: EnvRank): Map<string, string> {
  const env = new Map<string, string>();
  const n = ctx.ranks.length;
  env.set(ENV.service, ctx.service);
  env.set(ENV.nodeRank, String(r.rank));
  env.set(ENV.numNodes, String(n));
  env.set(ENV.nodeIp, r.address);
  env.set(ENV.nodeHostname, r.hostname);
  env.set(ENV.leaderHost, s.leader.hostname);
  env.set(ENV.leaderIp, s.leader.address);
  env.set(ENV.gpusPerNode, String(ctx.gpusPerNode));
  env.set(ENV.hostlist, s.hostlist);
  env.set(ENV.hostlistNoSlots, s.noSlots);
  env.set(ENV.hostfile, ctx.hostfilePath);
  env.set(ENV.sshWrapper, ctx.sshWrapperPath);
  env.set(ENV.clusterFile, ctx.clusterFilePath);
  for (const p of r.boundPorts) env.set(portEnvName(p.name), String(p.port));
  if (ctx.gpusPerNode > 0) env.set(ENV.cudaVisibleDevices, r.gpus.join(','));

  if (n > 1) {
    env.set(DIST_ENV.masterAddr, s.leader.hostname);
    if (ctx.masterPort !== undefined) env.set(DIST_ENV.masterPort, String(ctx.masterPort));
    if (s.tfWorkers) env.set(DIST_ENV.tfConfig, buildTfConfig(s.tfWorkers, r.rank));
  }

  switch (ctx.implementation) {
    case 'ompi':
      env.set(IMPL_ENV.ompiRshAgent, ctx.sshWrapperPath);
      env.set(IMPL_ENV.ompiHostfile, ctx.hostfilePath);
      env.set(IMPL_ENV.ompiBtlTcpIfInclude, ctx.subnet);
      env.set(IMPL_ENV.ompiOobTcpIfInclude, ctx.subnet);
      env.set(IMPL_ENV.ompiKeepFqdn, '1');
      if (ctx.runAsRoot) {
        env.set(IMPL_ENV.ompiAllowRoot, '1');
        env.set(IMPL_ENV.ompiAllowRootConfirm, '1');
      }
      break;
    case 'mpich':
      env.set(IMPL_ENV.hydraHostFile, ctx.hostfilePath);
      env.set(IMPL_ENV.hydraLauncher, 'ssh');
      env.set(IMPL_ENV.hydraLauncherExec, ctx.sshWrapperPath);
      break;
    case 'gasnet':
      env.set(IMPL_ENV.gasnetSpawnFn, 'S');
      env.set(IMPL_ENV.gasnetSshServers, s.hosts.join(' '));
      env.set(IMPL_ENV.gasnetSshCmd, ctx.sshWrapperPath);
      env.set(IMPL_ENV.gasnetSshOptions, '');
      break;
    case 'generic':
      break;
  }
  if (ctx.backend === 'trtllm') env.set(IMPL_ENV.ompiKeepFqdn, '1');

  for (const family of ctx.envCompat) addCompat(env, family, ctx, s, r);

  for (const [k, v] of s.userEnv) env.set(k, v);
  return env;
}

function addCompat(
  env: Map<string, string>,
  family: EnvCompatFamily,
  ctx: EnvContext,
  s: Shared,
  r: EnvRank,
): void {
  const n = ctx.ranks.length;
  switch (family) {
    case 'slurm':
      env.set(COMPAT_ENV.slurmJobNodelist, s.nodelist);
      env.set(COMPAT_ENV.slurmNodelist, s.nodelist);
      env.set(COMPAT_ENV.slurmStepNodelist, s.nodelist);
      env.set(COMPAT_ENV.slurmNnodes, String(n));
      env.set(COMPAT_ENV.slurmJobNumNodes, String(n));
      env.set(COMPAT_ENV.slurmNtasks, String(n));
      env.set(COMPAT_ENV.slurmNprocs, String(n));
      env.set(COMPAT_ENV.slurmNodeId, String(r.rank));
      env.set(COMPAT_ENV.slurmProcId, String(r.rank));
      env.set(COMPAT_ENV.slurmLocalId, '0');
      env.set(COMPAT_ENV.slurmTasksPerNode, compressCounts(ctx.ranks.map(() => 1)));
      env.set(COMPAT_ENV.slurmCpusOnNode, String(r.cpus.length));
      if (ctx.gpusPerNode > 0) {
        env.set(COMPAT_ENV.slurmGpusOnNode, String(r.gpus.length));
        env.set(COMPAT_ENV.slurmStepGpus, r.gpus.join(','));
      }
      env.set(COMPAT_ENV.slurmLaunchNodeIpaddr, s.leader.address);
      env.set(COMPAT_ENV.slurmJobName, ctx.service);
      env.set(COMPAT_ENV.slurmdNodename, r.hostname);
      break;
    case 'skypilot':
      env.set(COMPAT_ENV.skypilotNodeRank, String(r.rank));
      env.set(COMPAT_ENV.skypilotNodeIps, ctx.ranks.map((x) => x.address).join('\n'));
      env.set(COMPAT_ENV.skypilotNumNodes, String(n));
      env.set(COMPAT_ENV.skypilotNumGpusPerNode, String(ctx.gpusPerNode));
      break;
    case 'lws':
      env.set(COMPAT_ENV.lwsLeaderAddress, s.leader.hostname);
      env.set(COMPAT_ENV.lwsGroupSize, String(n));
      env.set(COMPAT_ENV.lwsWorkerIndex, String(r.rank));
      break;
    case 'volcano': {
      const task = envToken(ctx.service);
      env.set(COMPAT_ENV.vcTaskIndex, String(r.rank));
      env.set(COMPAT_ENV.vkTaskIndex, String(r.rank));
      env.set(`${COMPAT_ENV.vcHostsPrefix}${task}${COMPAT_ENV.vcHostsSuffix}`, s.noSlots);
      env.set(`${COMPAT_ENV.vcHostsPrefix}${task}${COMPAT_ENV.vcNumSuffix}`, String(n));
      break;
    }
    case 'backendai':
      env.set(COMPAT_ENV.backendaiClusterSize, String(n));
      env.set(COMPAT_ENV.backendaiClusterHosts, s.noSlots);
      env.set(COMPAT_ENV.backendaiClusterReplicas, n > 1 ? `main:1,sub:${n - 1}` : 'main:1');
      env.set(COMPAT_ENV.backendaiClusterHost, r.hostname);
      env.set(COMPAT_ENV.backendaiClusterIdx, String(r.rank === 0 ? 1 : r.rank));
      env.set(COMPAT_ENV.backendaiClusterRole, r.rank === 0 ? 'main' : 'sub');
      env.set(COMPAT_ENV.backendaiClusterLocalRank, String(r.rank));
      break;
  }
}

export function sortKeys(env: Record<string, string>): Record<string, string> {
  const keys = Object.keys(env);
  keys.sort();
  const out: Record<string, string> = {};
  for (const k of keys) setOwn(out, k, env[k] ?? '');
  return out;
}

/** Sets an own property, also for `__proto__` (a user may name a variable anything). */
function setOwn(obj: Record<string, string>, key: string, value: string): void {
  if (key === '__proto__')
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}
