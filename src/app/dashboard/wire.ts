/**
 * What the dashboard server sends its page (JSON over server-sent events and GETs). Types only: the browser
 * bundle (src/ui) imports them too, so nothing here may pull in Node code.
 */

export interface DashFabricNic {
  readonly name: string;
  readonly address: string;
}

export interface DashHeld {
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly gpus: number;
  readonly ranks: readonly { readonly service: string; readonly rank: number }[];
}

export interface DashNode {
  readonly name: string;
  readonly index: number;
  readonly address: string;
  readonly netns: string;
  readonly block?: string;
  readonly fabric: readonly DashFabricNic[];
  readonly held: DashHeld;
  /** Fields of the node record the dashboard does not know (e.g. link conditions), shown as they are. */
  readonly extra: Readonly<Record<string, unknown>>;
}

export interface DashCluster {
  readonly name: string;
  readonly createdAt: string;
  readonly underlaySubnet: string;
  readonly hostAddress: string;
  readonly cores: number;
  readonly memoryBytes: number;
  readonly gpusPerNode: number;
  readonly gpuModel: string;
  readonly fabricNics: number;
  readonly blocks: number;
  readonly nodes: readonly DashNode[];
  readonly services: readonly string[];
  /** Fields of the cluster record the dashboard does not know (e.g. link conditions), shown as they are. */
  readonly extra: Readonly<Record<string, unknown>>;
}

export interface DashPort {
  readonly name: string;
  readonly port: number;
  readonly hostPort: number;
}

export interface DashRank {
  readonly rank: number;
  readonly role: string;
  readonly hostname: string;
  readonly node: string;
  readonly address: string;
  readonly pid?: number;
  readonly status: string;
  readonly alive: boolean;
  readonly exitCode?: number;
  readonly signal?: string;
  readonly restarts: number;
  readonly missingSince?: string;
  readonly startedAt?: string;
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly gpus: readonly number[];
  readonly fabric: readonly DashFabricNic[];
  readonly ports: readonly DashPort[];
}

export interface DashEndpoint {
  readonly name: string;
  readonly protocol: string;
  readonly url: string;
  readonly hostAddress: string;
  readonly hostPort: number;
  readonly targetAddress: string;
  readonly targetPort: number;
  readonly published: boolean;
}

export interface DashRestart {
  readonly at: string;
  readonly trigger: string;
  readonly action: string;
  readonly ranks: readonly number[];
  readonly reason: string;
  readonly timings: Readonly<Record<string, number>>;
  readonly moved: readonly string[];
}

export interface DashNetwork {
  readonly mode: 'overlay' | 'host';
  readonly subnet: string;
  readonly gateway?: string;
  readonly vni?: number;
  readonly mtu: number;
}

export interface DashService {
  readonly name: string;
  readonly cluster: string;
  readonly file: string;
  readonly createdAt: string;
  readonly status: string;
  /** A sentence when the status needs one (supervisor gone, group not ready). */
  readonly statusNote?: string;
  readonly supervisorAlive: boolean;
  readonly degraded: boolean;
  readonly network: DashNetwork;
  readonly ranks: readonly DashRank[];
  readonly endpoints: readonly DashEndpoint[];
  readonly probe: { readonly status: string; readonly last?: string; readonly lastAt?: string };
  readonly groupReady?: boolean;
  readonly missing: readonly { readonly rank: number; readonly since: string; readonly why: string }[];
  readonly restart: {
    readonly policy: string;
    readonly maxRestarts: number;
    readonly restartsAfterStart: number;
    readonly restartsBeforeStart: number;
    readonly history: readonly DashRestart[];
  };
  readonly timings: Readonly<Record<string, number>>;
  readonly message?: string;
}

export interface DashSnapshot {
  readonly host: string;
  readonly allowActions: boolean;
  /** The file given to `multinode dashboard FILE`, whose plan /api/plan returns. */
  readonly planFile?: string;
  readonly clusters: readonly DashCluster[];
  readonly services: readonly DashService[];
}

/** Bytes per second through each interface of each node namespace, since the previous sample. */
export interface DashTraffic {
  readonly at: string;
  readonly intervalMs: number;
  /** cluster → node → interface → rates */
  readonly nodes: Readonly<
    Record<
      string,
      Readonly<Record<string, Readonly<Record<string, { readonly rx: number; readonly tx: number }>>>>
    >
  >;
}

export interface DashLogBatch {
  readonly lines: readonly { readonly rank: number; readonly line: string }[];
}

export interface DashPlanRank {
  readonly rank: number;
  readonly role: string;
  readonly node: string;
  readonly hostname: string;
  readonly address: string;
  readonly cpus: string;
  readonly memoryBytes: number;
  readonly gpus: readonly number[];
  readonly fabric: readonly DashFabricNic[];
  readonly ports: readonly DashPort[];
  readonly command: string;
  readonly env: Readonly<Record<string, string>>;
}

export interface DashPlanService {
  readonly name: string;
  readonly implementation: string;
  readonly launch: string;
  readonly network: DashNetwork;
  readonly ranks: readonly DashPlanRank[];
  readonly endpoints: readonly {
    readonly name: string;
    readonly protocol: string;
    readonly port: number;
    readonly targetAddress: string;
    readonly targetPort: number;
  }[];
}

export interface DashPlan {
  readonly file: string;
  readonly hash: string;
  readonly inventory: {
    readonly name: string;
    readonly nodes: readonly {
      readonly name: string;
      readonly address: string;
      readonly cores: number;
      readonly memoryBytes: number;
      readonly gpus: number;
      readonly fabric: readonly DashFabricNic[];
    }[];
  };
  readonly services: readonly DashPlanService[];
  readonly warnings: readonly string[];
}

/** A plan that could not be made: the message and located issues. */
export interface DashPlanError {
  readonly file: string;
  readonly error: string;
  readonly issues: readonly { readonly where: string; readonly message: string }[];
}
