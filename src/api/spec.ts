/**
 * The normalized spec: what `spec/` hands to every later layer after parsing, schema checks, defaults and
 * semantic rules. Nothing downstream sees raw YAML. Every default is applied here, in `spec/normalize.ts`,
 * so a field that is optional in the file is either required or explicitly optional below.
 */
import type { SourcePos } from './issues.js';

export type Implementation = 'ompi' | 'mpich' | 'gasnet' | 'generic';
export type LaunchMode = 'leader' | 'all';
export type PortProtocol = 'tcp' | 'udp';
export type EndpointProtocol = 'http' | 'https' | 'tcp';
export type RestartPolicy = 'never' | 'on-failure' | 'exit-code' | 'recreate-group';
export type PlacementStrategy = 'spread' | 'pack';
export type BackendKind = 'vllm' | 'sglang' | 'trtllm';
export type EnvCompatFamily = 'slurm' | 'skypilot' | 'lws' | 'volcano' | 'backendai' | 'dstack';

export interface Spec {
  readonly version: 'v1';
  /** The file the spec came from, as given on the command line. */
  readonly file: string;
  readonly volumes: Readonly<Record<string, VolumeSpec>>;
  /** In file order. */
  readonly services: readonly ServiceSpec[];
  /** Field path (`services.vllm.ports[0].port`) → where it is written; lets later layers locate their errors. */
  readonly positions: Readonly<Record<string, SourcePos>>;
}

export interface VolumeSpec {
  readonly reference: string;
}

export interface EnvEntry {
  readonly key: string;
  readonly value: string;
}

export interface MountSpec {
  /** A declared volume, or `data`, the service's built-in persistent volume. */
  readonly volume: string;
  readonly location: string;
  /** `read-only: true`: ranks may read but not write the volume. Absent = read-write. */
  readonly readOnly?: boolean;
}

export interface ResourceSpec {
  /** Cores per node. Default 1. */
  readonly cpuCores: number;
  /** `NUMA`: take the rank's cores from one NUMA domain where possible. */
  readonly cpuAffinity: 'NUMA' | 'none';
  /** Bytes per node. Default 1 GiB. */
  readonly memoryBytes: number;
  /** The memory size as written (`120GB`), for rendering. */
  readonly memoryText: string;
  /** Every device request as written, e.g. `nvidia.com/gpu: 2`, `rdma/fabric0: 1`. */
  readonly devices: Readonly<Record<string, number>>;
  /** GPUs per node: the `nvidia.com/gpu` (or `amd.com/gpu`) count, 0 when absent. */
  readonly gpus: number;
  /** The resource key the GPU count came from (`nvidia.com/gpu` when none). */
  readonly gpuResource: string;
  /** `nvidia.com/gpu.model` annotation, when given. */
  readonly gpuModel?: string;
  readonly annotations: Readonly<Record<string, string>>;
  /**
   * Fabric NICs each rank needs, by node interface name (`fabric0`…): from `rdma/fabricN` device requests
   * or `network.fabric-nics: K` (→ `fabric0`..`fabricK-1`). Empty when none.
   */
  readonly fabricNics: readonly string[];
}

export interface PortSpec {
  readonly name: string;
  readonly port: number;
  readonly protocol: PortProtocol;
  /** Host mode only: `auto` picks a free port from the safe range; a number pins it; absent = `port`. */
  readonly hostPort?: number | 'auto';
}

export interface EndpointSpec {
  readonly name: string;
  readonly portName: string;
  readonly protocol: EndpointProtocol;
  readonly type?: string;
  readonly scope?: string;
}

export type ProbeAction =
  | { readonly kind: 'tcp'; readonly port: number }
  | {
      readonly kind: 'http';
      readonly path: string;
      readonly port: number;
      readonly scheme: 'http' | 'https';
    };

export interface ProbeSpec {
  readonly action: ProbeAction;
  readonly periodSeconds: number;
  readonly failureThreshold: number;
  readonly successThreshold: number;
  readonly initialDelaySeconds: number;
  readonly timeoutSeconds: number;
}

export interface RestartSpec {
  /** Default `recreate-group` for more than one rank, `on-failure` for one. */
  readonly policy: RestartPolicy;
  /** Restarts allowed after the group first became ready. Default 5. */
  readonly maxRestarts: number;
  /** Restarts allowed before the group first became ready (slow starts do not burn `maxRestarts`). Default 10. */
  readonly maxStartupRestarts: number;
  /** First backoff, doubled per consecutive failure up to `backoffMaxSeconds`. */
  readonly backoffSeconds: number;
  readonly backoffMaxSeconds: number;
}

export interface PlacementSpec {
  readonly strategy: PlacementStrategy;
  /** Topology label key all ranks should share (`block`, `rack`), when asked. */
  readonly topologyKey?: string;
  /** `preferred` (default) or `required`. */
  readonly topologyMode: 'preferred' | 'required';
  /** Whole nodes only: no other service may share a node with a rank. */
  readonly exclusive: boolean;
}

export interface BackendSpec {
  readonly kind: BackendKind;
  /** The serving command, as one shell string (e.g. `vllm serve … --tensor-parallel-size 8`). */
  readonly command: string;
}

export interface ServiceSpec {
  readonly name: string;
  readonly imageUri?: string;
  /** The script as written; empty when the service only has a backend command. */
  readonly script: string;
  readonly cwd?: string;
  /** In file order; later duplicates win when applied. */
  readonly env: readonly EnvEntry[];
  readonly mounts: readonly MountSpec[];
  readonly resource: ResourceSpec;
  readonly nodes: number;
  readonly implementation: Implementation;
  readonly launch: LaunchMode;
  readonly hostNetwork: boolean;
  readonly ports: readonly PortSpec[];
  readonly endpoints: readonly EndpointSpec[];
  readonly readinessProbe?: ProbeSpec;
  readonly persist: boolean;
  readonly restart: RestartSpec;
  readonly placement: PlacementSpec;
  readonly backend?: BackendSpec;
  readonly envCompat: readonly EnvCompatFamily[];
  // ---- replicas and rolling updates (docs/guides/replicas-and-updates.md) ----
  /** Independent gangs of this service; absent when the file does not say (one gang, run as before). */
  readonly replicas?: number;
  /** How `up` of a changed file replaces running replicas; absent when the file does not say. */
  readonly update?: UpdateSpec;
  /** Set on a replica (`<service>-<i>`, src/plan/replicas.ts): the replicated service it is one gang of. */
  readonly replicaOf?: string;
  /** Roles (`roles:`), in declaration order; absent for a service of identical ranks. */
  readonly roles?: readonly RoleSpec[];
  /** Services this one uses (`uses:`), in file order; absent when none. */
  readonly uses?: readonly UseSpec[];
}

// --- roles and uses (docs/guides/roles-and-dependencies.md) ----------------------------------------------

/**
 * One role of a service: a run of consecutive ranks with its own command and restart policy. Ranks are
 * numbered across roles in declaration order: the first role's members are ranks 0…n₀-1, the next role's
 * follow, so rank 0 is the first role's first member.
 */
export interface RoleSpec {
  /** DNS-1123 label, unique within the service. */
  readonly name: string;
  readonly nodes: number;
  /** The role's own script; the service's when not given (and no role backend). */
  readonly script: string;
  readonly backend?: BackendSpec;
  /** The role's restart policy; the service's when not given. */
  readonly restart: RestartSpec;
  /** What each member needs (the role's `resource`, replacing the service's whole); absent: the service's. */
  readonly resource?: ResourceSpec;
  /** Names of the service's declared ports the role's members bind; all of them when not given. */
  readonly ports?: readonly string[];
}

/** A service this one uses: it starts after that service is ready and may reach `ports` of its leader. */
export interface UseSpec {
  readonly service: string;
  /** Names of the used service's declared ports this one may reach; absent: all of them. */
  readonly ports?: readonly string[];
}

/** Rolling update: gangs replaced one at a time, in the spirit of Deployments and LWS's rolloutStrategy. */
export interface UpdateSpec {
  /** Extra gangs allowed above `replicas` during an update (used when the cluster has room). Default 1. */
  readonly maxSurge: number;
  /** Gangs allowed below `replicas` during an update (used when there is no room to surge). Default 1. */
  readonly maxUnavailable: number;
}
