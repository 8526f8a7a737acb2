/**
 * The inventory: the nodes a plan may use and what is already taken on them. Read from a YAML file
 * (`--inventory`), generated for emulated clusters, or read from a live local cluster by the runtime.
 */

export interface NumaDomain {
  readonly id: number;
  /** CPU (core) ids in this domain. */
  readonly cpus: readonly number[];
}

export interface GpuDevice {
  readonly index: number;
  readonly model: string;
  /** NUMA domain the GPU hangs off, when known. */
  readonly numa?: number;
}

export interface FabricNic {
  /** Interface name on the node (`fabric0`…). */
  readonly name: string;
  /** Address with prefix (`198.19.0.1/24`) the NIC carries, when it has one. */
  readonly address?: string;
  readonly numa?: number;
}

/** What placed services already hold on a node. */
export interface TakenResources {
  readonly cpus: readonly number[];
  readonly memoryBytes: number;
  readonly gpus: readonly number[];
  readonly fabricNics: readonly string[];
  /** Host ports bound by placed host-network services. */
  readonly ports: readonly number[];
  /** Services with a rank on this node (for exclusive placement). */
  readonly services: readonly string[];
  /** The services in `services` hold the node exclusively: nothing else may be placed on it. */
  readonly exclusive?: boolean;
}

export interface InventoryNode {
  readonly name: string;
  /** Underlay address (no prefix). */
  readonly address: string;
  readonly numa: readonly NumaDomain[];
  readonly memoryBytes: number;
  readonly gpus: readonly GpuDevice[];
  readonly fabricNics: readonly FabricNic[];
  /** Topology and other labels, e.g. `{ block: 'b0', rack: 'r1' }`. */
  readonly labels: Readonly<Record<string, string>>;
  readonly taken: TakenResources;
  /** TCP/UDP ports the runtime saw listening on the node (not owned by placed services). */
  readonly listening: readonly number[];
}

/** A service already placed, whose overlay subnet and VXLAN id a new plan must not reuse. */
export interface PlacedService {
  readonly name: string;
  readonly subnet?: string;
  readonly vni?: number;
}

export interface Inventory {
  readonly name: string;
  readonly nodes: readonly InventoryNode[];
  readonly services: readonly PlacedService[];
  /** Link profile an emulated cluster built from this inventory applies (docs/guides/network-conditions.md). */
  readonly links?: LinkProfile;
}

/** A link condition: rate in bit/s, loss in percent (0–100), delay in milliseconds (needs netem). */
export interface LinkShape {
  readonly rate?: number;
  readonly loss?: number;
  readonly delayMs?: number;
}

/** Link profile of a cluster: its underlay NICs, its fabric NICs (every rail), and traffic between blocks. */
export interface LinkProfile {
  readonly underlay?: LinkShape;
  readonly fabric?: LinkShape;
  readonly betweenBlocks?: LinkShape;
}
