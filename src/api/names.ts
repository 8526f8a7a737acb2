/**
 * Every string that crosses a boundary, defined once: the environment variables a rank sees, labels and
 * annotations, file names in the state directory. The README's environment table is generated from
 * `ENV_DOCS` (`scripts/gen-env-table.ts`); add a variable here, never retype its name elsewhere.
 */

export const PRODUCT = 'multinode';

/** Our own variables (`MULTINODE_*`), always set. */
export const ENV = {
  service: 'MULTINODE_SERVICE',
  nodeRank: 'MULTINODE_NODE_RANK',
  numNodes: 'MULTINODE_NUM_NODES',
  nodeIp: 'MULTINODE_NODE_IP',
  nodeHostname: 'MULTINODE_NODE_HOSTNAME',
  leaderHost: 'MULTINODE_LEADER_HOST',
  leaderIp: 'MULTINODE_LEADER_IP',
  gpusPerNode: 'MULTINODE_GPUS_PER_NODE',
  hostlist: 'MULTINODE_HOSTLIST',
  hostlistNoSlots: 'MULTINODE_HOSTLIST_NOSLOTS',
  hostfile: 'MULTINODE_HOSTFILE',
  sshWrapper: 'MULTINODE_SSH_WRAPPER',
  clusterFile: 'MULTINODE_CLUSTER_FILE',
  /** Prefix: `MULTINODE_PORT_<NAME>` per declared port (name upper-cased, `-` → `_`). */
  portPrefix: 'MULTINODE_PORT_',
  /** Set by the user: `1` sends a wrapper command's remote stdout/stderr back to the caller. */
  wrapperForwardStreams: 'MULTINODE_WRAPPER_FORWARD_STREAMS',
  cudaVisibleDevices: 'CUDA_VISIBLE_DEVICES',
} as const;

/** Framework variables for more than one rank. */
export const DIST_ENV = {
  masterAddr: 'MASTER_ADDR',
  masterPort: 'MASTER_PORT',
  tfConfig: 'TF_CONFIG',
} as const;

/** Never preset by multinode (launchers such as torchrun set them per process). */
export const NEVER_PRESET = ['WORLD_SIZE', 'RANK', 'LOCAL_RANK'] as const;

export const DEFAULTS = {
  masterPort: 29500,
  sshPort: 2222,
  hostPortRange: { from: 20000, to: 29999 },
  overlayPool: '198.18.128.0/17',
  underlaySubnet: '198.18.0.0/16',
  vniRange: { from: 4096, to: 16_777_215 },
  overlayMtu: 1450,
  rayPort: 6379,
  sglangDistPort: 29500,
} as const;

/** State directory layout (local runtime). */
export const STATE = {
  envVar: 'MULTINODE_STATE_DIR',
  defaultRootDir: '/var/lib/multinode',
  clustersDir: 'clusters',
  servicesDir: 'services',
  lockFile: 'lock',
  stateFile: 'state.json',
} as const;

/** Labels and annotations on rendered Kubernetes objects. */
export const K8S = {
  labelName: 'app.kubernetes.io/name',
  labelManagedBy: 'app.kubernetes.io/managed-by',
  labelService: 'multinode.dev/service',
  labelRank: 'multinode.dev/rank',
  annotationPlanHash: 'multinode.dev/plan-hash',
} as const;

export type EnvFamily =
  | 'multinode'
  | 'distributed'
  | 'ompi'
  | 'mpich'
  | 'gasnet'
  | 'slurm'
  | 'skypilot'
  | 'lws'
  | 'volcano'
  | 'backendai'
  | 'backend';

/** One documented variable: the README table is generated from this list. */
export interface EnvVarDoc {
  readonly name: string;
  readonly family: EnvFamily;
  /** When it is set (`always`, `nodes > 1`, `implementation: ompi`, `env-compat: slurm`…). */
  readonly when: string;
  readonly meaning: string;
  readonly example: string;
}

export const ENV_DOCS: readonly EnvVarDoc[] = [
  { name: ENV.service, family: 'multinode', when: 'always', meaning: 'Service name.', example: 'vllm' },
  {
    name: ENV.nodeRank,
    family: 'multinode',
    when: 'always',
    meaning: 'This rank, 0 = leader.',
    example: '1',
  },
  {
    name: ENV.numNodes,
    family: 'multinode',
    when: 'always',
    meaning: 'Number of ranks (nodes).',
    example: '2',
  },
  {
    name: ENV.nodeIp,
    family: 'multinode',
    when: 'always',
    meaning: "This rank's address on the cluster network.",
    example: '198.18.128.3',
  },
  {
    name: ENV.nodeHostname,
    family: 'multinode',
    when: 'always',
    meaning: "This rank's host name.",
    example: 'vllm-1',
  },
  {
    name: ENV.leaderHost,
    family: 'multinode',
    when: 'always',
    meaning: "Rank 0's host name.",
    example: 'vllm-0',
  },
  {
    name: ENV.leaderIp,
    family: 'multinode',
    when: 'always',
    meaning: "Rank 0's address.",
    example: '198.18.128.2',
  },
  { name: ENV.gpusPerNode, family: 'multinode', when: 'always', meaning: 'GPUs per rank.', example: '1' },
  {
    name: ENV.hostlist,
    family: 'multinode',
    when: 'always',
    meaning: 'All ranks as `host:slots`, rank order, comma-separated (slots = GPUs per node, at least 1).',
    example: 'vllm-0:1,vllm-1:1',
  },
  {
    name: ENV.hostlistNoSlots,
    family: 'multinode',
    when: 'always',
    meaning: 'All rank host names, rank order, comma-separated.',
    example: 'vllm-0,vllm-1',
  },
  {
    name: ENV.hostfile,
    family: 'multinode',
    when: 'always',
    meaning:
      "Path of the hostfile in the implementation's format (`host slots=N` for ompi, `host:N` for mpich, one host per line otherwise).",
    example: '/var/lib/multinode/services/vllm/files/hostfile',
  },
  {
    name: ENV.sshWrapper,
    family: 'multinode',
    when: 'always',
    meaning:
      'Path of the launch agent: `$MULTINODE_SSH_WRAPPER HOST CMD…` runs CMD on that rank, like `ssh host cmd`.',
    example: '/var/lib/multinode/bin/multinode-ssh',
  },
  {
    name: ENV.clusterFile,
    family: 'multinode',
    when: 'always',
    meaning: 'Path of a JSON view of all ranks (hosts, addresses, ports, version), re-published on failover.',
    example: '/var/lib/multinode/services/vllm/files/cluster.json',
  },
  {
    name: `${ENV.portPrefix}<NAME>`,
    family: 'multinode',
    when: 'per declared port',
    meaning:
      'The port this rank binds for port `<name>` (upper-cased, `-` → `_`); the allocated host port in host mode.',
    example: 'MULTINODE_PORT_OPENAI_API=8080',
  },
  {
    name: ENV.cudaVisibleDevices,
    family: 'multinode',
    when: 'GPUs requested',
    meaning: 'GPU indices placed for this rank.',
    example: '0,1',
  },
  {
    name: ENV.wrapperForwardStreams,
    family: 'multinode',
    when: 'set by the user',
    meaning:
      '`1`: wrapper commands send remote stdout/stderr back to the caller instead of the remote rank log.',
    example: '1',
  },
  {
    name: DIST_ENV.masterAddr,
    family: 'distributed',
    when: 'nodes > 1',
    meaning: "Rank 0's host name (torch.distributed env:// rendezvous).",
    example: 'vllm-0',
  },
  {
    name: DIST_ENV.masterPort,
    family: 'distributed',
    when: 'nodes > 1',
    meaning: '29500 unless set by the user or taken in host mode (then allocated).',
    example: '29500',
  },
  {
    name: DIST_ENV.tfConfig,
    family: 'distributed',
    when: 'nodes > 1',
    meaning:
      'TensorFlow cluster spec: workers `host:port` with port = base + rank (allocated ports in host mode).',
    example: '{"cluster":{"worker":["t-0:29500","t-1:29501"]},"task":{"type":"worker","index":1}}',
  },
];
