/**
 * The plan: everything an executor needs to run a spec, decided by the pure planner. The local runtime,
 * the Kubernetes renderer and the Slurm target consume it unchanged. Serialized canonically (sorted keys)
 * with a content hash, so the same input always yields the same bytes.
 */
import type {
  BackendKind,
  EndpointProtocol,
  Implementation,
  LaunchMode,
  PortProtocol,
  ProbeSpec,
  ResourceSpec,
  RestartSpec,
  MountSpec,
  EnvCompatFamily,
} from './spec.js';
import type { Issue } from './issues.js';

export type Target = 'local' | 'kubernetes' | 'slurm';

export interface PlanOptions {
  /** Seed for every tie-break that is not otherwise decided; same seed, same plan. */
  readonly seed: number;
  readonly target: Target;
  /** Safe host-port range for `host-port: auto` (inclusive). Default 20000–29999. */
  readonly hostPortRange: { readonly from: number; readonly to: number };
  /** Pool overlay subnets (/24 each) are cut from. Default `198.18.128.0/17`. */
  readonly overlayPool: string;
  /** VXLAN ids are picked from this range (inclusive). Default 4096–16777215 by seed. */
  readonly vniRange: { readonly from: number; readonly to: number };
  /**
   * Directory where a rank finds the files the plan describes (hostfile, cluster file), with `{service}`
   * substituted. Local: `<state>/services/{service}/files`; Kubernetes: `/etc/multinode`.
   */
  readonly filesDir: string;
  /** Absolute path of the SSH wrapper as the rank sees it. */
  readonly sshWrapperPath: string;
  /** Ports that must not be picked on any node even if they look free (e.g. cooling down after failover). */
  readonly coolingPorts?: Readonly<Record<string, readonly number[]>>;
  /** Whether the rank processes run as root (decides OpenMPI's run-as-root consent). */
  readonly runAsRoot: boolean;
}

export type RankRole = 'leader' | 'worker';

export interface PortAssignment {
  readonly name: string;
  /** The port as declared in the spec (what the program is told to bind in overlay mode). */
  readonly port: number;
  /** The port actually bound on the node in host mode (declared, pinned or auto-picked); = `port` in overlay. */
  readonly hostPort: number;
  readonly protocol: PortProtocol;
  readonly auto: boolean;
}

export interface FabricAttachment {
  /** Interface name on the node (`fabric3`). */
  readonly device: string;
  /** Name inside the rank (same as `device`). */
  readonly ifname: string;
  readonly address?: string;
}

/**
 * A reference to a rank: its number, or `self` — the rank whose value is being resolved (for a list member:
 * that member).
 */
export type RankRef = number | 'self';

/**
 * One part of a symbolic value. The planner never writes a host name, address, subnet or per-rank port
 * into text; it writes these parts, and each target resolves them when it knows the answer (local: at spawn;
 * Slurm: in the job script from the allocation; Kubernetes: per-rank Service names and the Downward API).
 * - a string: literal text;
 * - `host`: the host name other ranks reach the rank by; `addr`: its address on the cluster network;
 * - `port`: the port the rank binds under a name: a declared port name (its bound host port), or one of
 *   `PORT_REF` (`@tf`: its TF_CONFIG port, `@ssh`: its sshd port);
 * - `rank`: the resolving rank's index; `gpus`: its GPU list as `CUDA_VISIBLE_DEVICES` writes it;
 * - `list`: a list of the service (`ServicePlan.lists`), joined; `file`: the path of a plan file as the rank
 *   sees it (a `PlanFile.name`, or `ssh-wrapper`);
 * - `iface`: the cluster network as OpenMPI's `*_if_include` wants it (local: the service subnet; elsewhere
 *   the interface that carries the rank's address, found at run time).
 */
export type Part =
  | string
  | { readonly host: RankRef }
  | { readonly addr: RankRef }
  | { readonly port: string; readonly of: RankRef }
  | { readonly rank: 'self' }
  | { readonly gpus: 'self' }
  | { readonly list: string }
  | { readonly file: string }
  | { readonly iface: true }
  | RoleIndexPart;

/**
 * The resolving rank's index within its role: its rank minus `from` (the role's first rank, or one less for
 * 1-based numbering). Only services with roles use it (docs/guides/roles-and-dependencies.md).
 */
export interface RoleIndexPart {
  readonly index: 'self';
  readonly from: number;
}

/** A symbolic value: its parts, concatenated. JSON-serialisable and canonical (hashed with the plan). */
export type Value = readonly Part[];

/** Port names a `port` part may use besides the declared ones (`@` is not allowed in a declared name). */
export const PORT_REF = { tf: '@tf', ssh: '@ssh' } as const;

/** The `file` name of the SSH wrapper (not a plan file: each target installs its own). */
export const SSH_WRAPPER_FILE = 'ssh-wrapper';

/**
 * Something that grows with the number of ranks, stored once per service: `each` resolved for every rank
 * in order (`self` = that rank), joined with `sep`. `compress: 'hostlist'` writes the joined members in
 * Slurm's compressed host-list form (`svc-[0-3]`).
 */
export interface ListPlan {
  readonly each: Value;
  readonly sep: string;
  readonly compress?: 'hostlist';
  /** Members are ranks `from`…`from + count - 1` only (a role's list); all ranks when absent. */
  readonly from?: number;
  readonly count?: number;
}

/** What a rank runs. `argv` is exec'd directly (no shell built from user input beyond the user's own script). */
export interface RankCommand {
  /** `script`: the user's script; `backend`: a rewritten backend command; `wait`: nothing, the rank waits for the leader. */
  readonly kind: 'script' | 'backend' | 'wait';
  readonly argv: readonly Value[];
}

export interface RankPlan {
  readonly rank: number;
  readonly role: RankRole;
  /*
   * Placement facts. Real for the local target; for Kubernetes and Slurm they are computed against an
   * invented inventory and must never appear in their output (use the symbolic values instead).
   */
  /** Inventory node the rank is placed on. */
  readonly node: string;
  readonly nodeAddress: string;
  /** Host name other ranks use for it (`<service>-<rank>` unless the target says otherwise). */
  readonly hostname: string;
  /** The rank's address on the cluster network: its overlay address, or the node address in host mode. */
  readonly address: string;
  readonly cpus: readonly number[];
  readonly numaNode?: number;
  readonly memoryBytes: number;
  readonly gpus: readonly number[];
  readonly fabricNics: readonly FabricAttachment[];
  readonly ports: readonly PortAssignment[];
  /** SSH port this rank's sshd listens on (leader launch, MPI). */
  readonly sshPort: number;
  readonly command: RankCommand;
  /** Readiness probe for this rank, if any (the leader's from the spec; backend rules for workers). */
  readonly probe?: ProbeSpec;
  /** This rank's `TF_CONFIG` worker port (base + rank in overlay, allocated in host mode); more than one rank only. */
  readonly tfPort?: number;
  /** The name of the rank's role (`ServicePlan.roles`); absent for a service without roles. */
  readonly roleName?: string;
}

export interface NetworkPlan {
  readonly mode: 'overlay' | 'host';
  /** Overlay: the service subnet (`198.18.131.0/24`). Host: the underlay subnet the node addresses are on. */
  readonly subnet: string;
  readonly gateway?: string;
  readonly vni?: number;
  readonly mtu: number;
}

export interface EndpointPlan {
  readonly name: string;
  readonly portName: string;
  readonly protocol: EndpointProtocol;
  readonly type?: string;
  readonly scope?: string;
  /** Always 0: endpoints map to rank 0 only. */
  readonly rank: 0;
  readonly targetAddress: string;
  readonly targetPort: number;
  /** The port a user expects it on (the declared port). */
  readonly port: number;
}

export interface PlanFile {
  /** What a `file` part names it by (`hostfile`, `cluster.json`, `script`). */
  readonly name: string;
  /** Absolute path as a local or Kubernetes rank sees it (the Slurm target puts it in its job directory). */
  readonly path: string;
  /** Service-wide: no `self` outside list members. */
  readonly content: Value;
  readonly mode: number;
}

export interface ServicePlan {
  readonly name: string;
  readonly nodes: number;
  readonly implementation: Implementation;
  readonly launch: LaunchMode;
  readonly backend?: BackendKind;
  readonly imageUri?: string;
  readonly cwd?: string;
  readonly mounts: readonly MountSpec[];
  readonly persist: boolean;
  readonly envCompat: readonly EnvCompatFamily[];
  readonly gpusPerNode: number;
  readonly gpuModel?: string;
  readonly network: NetworkPlan;
  readonly ranks: readonly RankPlan[];
  readonly endpoints: readonly EndpointPlan[];
  /**
   * Every variable a rank sees, stored once for the service (parts naming `self` resolve per rank), sorted by
   * name; user `env` already applied (it wins).
   */
  readonly env: Readonly<Record<string, Value>>;
  /** Rank 0's own values for a few variables (Backend.AI's role and index), over `env`. */
  readonly leaderEnv: Readonly<Record<string, Value>>;
  /** What grows with the number of ranks (host lists, hostfile lines, TF_CONFIG workers), by name. */
  readonly lists: Readonly<Record<string, ListPlan>>;
  /** Files every rank sees (hostfile, cluster file), identical across ranks. */
  readonly files: readonly PlanFile[];
  /** Absolute path of the SSH wrapper as a local or Kubernetes rank sees it (`file: ssh-wrapper`). */
  readonly sshWrapperPath: string;
  /** `MASTER_PORT` for more than one rank. */
  readonly masterPort?: number;
  readonly restart: RestartSpec;
  readonly probe?: ProbeSpec;
  /** The ranks hold their nodes exclusively (`placement.exclusive`). */
  readonly exclusive?: boolean;
  /** Roles in declaration order (consecutive ranks each); absent for a service of identical ranks. */
  readonly roles?: readonly RolePlan[];
  /** Per role name: that role's members' own values for a few variables (TF_CONFIG, role names), over `env`. */
  readonly roleEnv?: Readonly<Record<string, Readonly<Record<string, Value>>>>;
  /** Services this one uses, and what of them it may reach (their leader's declared ports). */
  readonly uses?: readonly UsePlan[];
}

/** A role of a service: ranks `first`…`first + nodes - 1`. */
export interface RolePlan {
  readonly first: number;
  readonly name: string;
  readonly nodes: number;
  /** What each member needs, when the role declares its own `resource`; absent: the service's. */
  readonly resource?: ResourceSpec;
  readonly restart: RestartSpec;
}

/** A used service: this service starts after it is ready and may reach `ports` of its leader (rank 0). */
export interface UsePlan {
  /** Its ports as they are reached: the leader's bound port (the host port in host mode). */
  readonly ports: readonly {
    readonly name: string;
    readonly port: number;
    readonly protocol: PortProtocol;
  }[];
  readonly service: string;
}

export interface Plan {
  readonly apiVersion: 'multinode.dev/v1';
  readonly kind: 'Plan';
  /** sha256 (hex, first 16) of the canonical JSON of the plan without this field. */
  readonly hash: string;
  readonly seed: number;
  readonly target: Target;
  readonly inventory: string;
  readonly services: readonly ServicePlan[];
}

/** Why a service could not be placed, in words a person can act on. */
export interface InfeasibleReason {
  readonly service: string;
  readonly summary: string;
  /** One line per node that did not qualify (`node-3: lacks GPU model NVIDIA L4`). */
  readonly nodes: readonly string[];
}

/** Outcome of planning: a plan, or located issues (bad input) and reasons (no placement fits). */
export type PlanResult =
  | { readonly ok: true; readonly plan: Plan; readonly warnings: readonly Issue[] }
  | {
      readonly ok: false;
      readonly issues: readonly Issue[];
      readonly reasons: readonly InfeasibleReason[];
    };
