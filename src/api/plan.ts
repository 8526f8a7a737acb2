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

/** What a rank runs. `argv` is exec'd directly (no shell built from user input beyond the user's own script). */
export interface RankCommand {
  /** `script`: the user's script; `backend`: a rewritten backend command; `wait`: nothing, the rank waits for the leader. */
  readonly kind: 'script' | 'backend' | 'wait';
  readonly argv: readonly string[];
}

export interface RankPlan {
  readonly rank: number;
  readonly role: RankRole;
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
  /** Every variable the rank sees, sorted by name; user `env` already applied (it wins). */
  readonly env: Readonly<Record<string, string>>;
  readonly command: RankCommand;
  /** Readiness probe for this rank, if any (the leader's from the spec; backend rules for workers). */
  readonly probe?: ProbeSpec;
  /** This rank's `TF_CONFIG` worker port (base + rank in overlay, allocated in host mode); more than one rank only. */
  readonly tfPort?: number;
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
  /** Absolute path as the rank sees it. */
  readonly path: string;
  readonly content: string;
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
  /** Files every rank sees (hostfile, cluster file), identical across ranks. */
  readonly files: readonly PlanFile[];
  /** `MASTER_PORT` for more than one rank. */
  readonly masterPort?: number;
  readonly restart: RestartSpec;
  readonly probe?: ProbeSpec;
  /** The ranks hold their nodes exclusively (`placement.exclusive`). */
  readonly exclusive?: boolean;
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
