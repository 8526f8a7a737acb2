/**
 * The environment variables a rank sees, by family, and their documentation (`ENV_DOCS`): the README's
 * environment table is generated from it. Add a variable here, never retype its name elsewhere.
 */

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
  /** Set by the user: `0` makes one wrapper call open a fresh SSH connection instead of sharing one. */
  sshMux: 'MULTINODE_SSH_MUX',
  cudaVisibleDevices: 'CUDA_VISIBLE_DEVICES',
  // Roles and uses (docs/guides/roles-and-dependencies.md)
  roles: 'MULTINODE_ROLES',
  role: 'MULTINODE_ROLE',
  roleIndex: 'MULTINODE_ROLE_INDEX',
  roleNodes: 'MULTINODE_ROLE_NODES',
  roleFirstRank: 'MULTINODE_ROLE_FIRST_RANK',
  /** Prefix: `MULTINODE_USES_<SERVICE>_HOST`, `_ADDR`, `_PORT_<NAME>` per used service. */
  usesPrefix: 'MULTINODE_USES_',
} as const;

/** Framework variables for more than one rank. */
export const DIST_ENV = {
  masterAddr: 'MASTER_ADDR',
  masterPort: 'MASTER_PORT',
  tfConfig: 'TF_CONFIG',
} as const;

/** Implementation (launcher) variables, per `multinode.implementation`. */
export const IMPL_ENV = {
  ompiRshAgent: 'OMPI_MCA_plm_rsh_agent',
  ompiHostfile: 'OMPI_MCA_orte_default_hostfile',
  ompiBtlTcpIfInclude: 'OMPI_MCA_btl_tcp_if_include',
  ompiOobTcpIfInclude: 'OMPI_MCA_oob_tcp_if_include',
  ompiKeepFqdn: 'OMPI_MCA_orte_keep_fqdn_hostnames',
  ompiAllowRoot: 'OMPI_ALLOW_RUN_AS_ROOT',
  ompiAllowRootConfirm: 'OMPI_ALLOW_RUN_AS_ROOT_CONFIRM',
  hydraHostFile: 'HYDRA_HOST_FILE',
  hydraLauncher: 'HYDRA_LAUNCHER',
  hydraLauncherExec: 'HYDRA_LAUNCHER_EXEC',
  gasnetSpawnFn: 'GASNET_SPAWNFN',
  gasnetSshServers: 'GASNET_SSH_SERVERS',
  gasnetSshCmd: 'GASNET_SSH_CMD',
  gasnetSshOptions: 'GASNET_SSH_OPTIONS',
} as const;

/** Compatibility families, emitted only when `env-compat` lists them. */
export const COMPAT_ENV = {
  slurmJobNodelist: 'SLURM_JOB_NODELIST',
  slurmNodelist: 'SLURM_NODELIST',
  slurmStepNodelist: 'SLURM_STEP_NODELIST',
  slurmNnodes: 'SLURM_NNODES',
  slurmJobNumNodes: 'SLURM_JOB_NUM_NODES',
  slurmNtasks: 'SLURM_NTASKS',
  slurmNprocs: 'SLURM_NPROCS',
  slurmNodeId: 'SLURM_NODEID',
  slurmProcId: 'SLURM_PROCID',
  slurmLocalId: 'SLURM_LOCALID',
  slurmTasksPerNode: 'SLURM_TASKS_PER_NODE',
  slurmCpusOnNode: 'SLURM_CPUS_ON_NODE',
  slurmGpusOnNode: 'SLURM_GPUS_ON_NODE',
  slurmStepGpus: 'SLURM_STEP_GPUS',
  slurmLaunchNodeIpaddr: 'SLURM_LAUNCH_NODE_IPADDR',
  slurmJobName: 'SLURM_JOB_NAME',
  slurmdNodename: 'SLURMD_NODENAME',
  skypilotNodeRank: 'SKYPILOT_NODE_RANK',
  skypilotNodeIps: 'SKYPILOT_NODE_IPS',
  skypilotNumNodes: 'SKYPILOT_NUM_NODES',
  skypilotNumGpusPerNode: 'SKYPILOT_NUM_GPUS_PER_NODE',
  lwsLeaderAddress: 'LWS_LEADER_ADDRESS',
  lwsGroupSize: 'LWS_GROUP_SIZE',
  lwsWorkerIndex: 'LWS_WORKER_INDEX',
  vcTaskIndex: 'VC_TASK_INDEX',
  vkTaskIndex: 'VK_TASK_INDEX',
  /** `VC_<TASK>_HOSTS`: `<TASK>` is the service name upper-cased, non-alphanumerics → `_`. */
  vcHostsPrefix: 'VC_',
  vcHostsSuffix: '_HOSTS',
  vcNumSuffix: '_NUM',
  backendaiClusterSize: 'BACKENDAI_CLUSTER_SIZE',
  backendaiClusterHosts: 'BACKENDAI_CLUSTER_HOSTS',
  backendaiClusterReplicas: 'BACKENDAI_CLUSTER_REPLICAS',
  backendaiClusterHost: 'BACKENDAI_CLUSTER_HOST',
  backendaiClusterIdx: 'BACKENDAI_CLUSTER_IDX',
  backendaiClusterRole: 'BACKENDAI_CLUSTER_ROLE',
  backendaiClusterLocalRank: 'BACKENDAI_CLUSTER_LOCAL_RANK',
  /** Read, not set: a user value overrides `MASTER_PORT` (Backend.AI's convention). */
  backendaiDistMasterPort: 'BACKENDAI_DIST_MASTER_PORT',
  /** dstack's system variables of multi-node tasks (dstack docs, "System environment variables"). */
  dstackRunName: 'DSTACK_RUN_NAME',
  dstackNodesNum: 'DSTACK_NODES_NUM',
  dstackGpusPerNode: 'DSTACK_GPUS_PER_NODE',
  dstackGpusNum: 'DSTACK_GPUS_NUM',
  dstackNodeRank: 'DSTACK_NODE_RANK',
  dstackMasterNodeIp: 'DSTACK_MASTER_NODE_IP',
  dstackNodesIps: 'DSTACK_NODES_IPS',
  dstackMpiHostfile: 'DSTACK_MPI_HOSTFILE',
} as const;

/** Never preset by multinode (launchers such as torchrun set them per process). */
export const NEVER_PRESET = ['WORLD_SIZE', 'RANK', 'LOCAL_RANK'] as const;

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
  | 'dstack'
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
    meaning:
      'All ranks as `host:slots`, rank order, comma-separated (slots = GPUs per node, or CPU cores when the service has no GPUs).',
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
    when: 'per declared port the rank binds',
    meaning:
      'The port this rank binds for port `<name>` (upper-cased, `-` → `_`); the allocated host port in host mode. A rank whose role does not bind the port (`roles[].ports`) has no such variable.',
    example: 'MULTINODE_PORT_OPENAI_API=8080',
  },
  {
    name: ENV.roles,
    family: 'multinode',
    when: 'service with roles',
    meaning:
      'Every role and its node count, in declaration order (ranks are numbered across roles in that order).',
    example: 'ps:2,worker:3',
  },
  {
    name: ENV.role,
    family: 'multinode',
    when: 'service with roles',
    meaning: "This rank's role.",
    example: 'worker',
  },
  {
    name: ENV.roleIndex,
    family: 'multinode',
    when: 'service with roles',
    meaning: "This rank's 0-based index within its role (its rank minus the role's first rank).",
    example: '1',
  },
  {
    name: ENV.roleNodes,
    family: 'multinode',
    when: 'service with roles',
    meaning: "Members of this rank's role.",
    example: '3',
  },
  {
    name: ENV.roleFirstRank,
    family: 'multinode',
    when: 'service with roles',
    meaning: "Rank of the first member of this rank's role.",
    example: '2',
  },
  {
    name: `${ENV.usesPrefix}<SERVICE>_HOST`,
    family: 'multinode',
    when: 'per used service (`uses`)',
    meaning:
      "Host name of the used service's leader (rank 0); `<SERVICE>` upper-cased, anything but A–Z 0–9 → `_`.",
    example: 'MULTINODE_USES_DB_HOST=db-0',
  },
  {
    name: `${ENV.usesPrefix}<SERVICE>_ADDR`,
    family: 'multinode',
    when: 'per used service (`uses`)',
    meaning:
      "Address this service reaches the used service's leader at (its cluster address locally; its Service's DNS name on Kubernetes).",
    example: 'MULTINODE_USES_DB_ADDR=198.18.131.1',
  },
  {
    name: `${ENV.usesPrefix}<SERVICE>_PORT_<NAME>`,
    family: 'multinode',
    when: 'per port a used service lets this one reach',
    meaning: "The used leader's port `<name>` as it is reached (its bound host port in host mode).",
    example: 'MULTINODE_USES_DB_PORT_PG=5432',
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
    name: ENV.sshMux,
    family: 'multinode',
    when: 'set by the user',
    meaning: '`0`: a wrapper call opens a fresh SSH connection instead of sharing one (ControlMaster).',
    example: '0',
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
      'TensorFlow cluster spec: workers `host:port` with port = base + rank (allocated ports in host mode). With `roles`: one list per role (`"ps":[…],"worker":[…]`) and the rank\'s own role and index within it as `task`.',
    example: '{"cluster":{"worker":["t-0:29500","t-1:29501"]},"task":{"type":"worker","index":1}}',
  },
  ...doc('ompi', 'implementation: ompi', [
    [
      IMPL_ENV.ompiRshAgent,
      'The SSH wrapper: mpirun starts remote ranks through it.',
      '/var/lib/multinode/bin/multinode-ssh',
    ],
    [
      IMPL_ENV.ompiHostfile,
      'The hostfile (`host slots=N` lines).',
      '/var/lib/multinode/services/mpi/files/hostfile',
    ],
    [
      IMPL_ENV.ompiBtlTcpIfInclude,
      'The cluster subnet: MPI traffic stays on the service network.',
      '198.18.131.0/24',
    ],
    [IMPL_ENV.ompiOobTcpIfInclude, 'The cluster subnet, for the out-of-band channel.', '198.18.131.0/24'],
    [IMPL_ENV.ompiKeepFqdn, 'Keep host names as written (also set on every rank by `backend: trtllm`).', '1'],
    [IMPL_ENV.ompiAllowRoot, 'Consent to run as root; only when the ranks run as root.', '1'],
    [IMPL_ENV.ompiAllowRootConfirm, 'Second consent to run as root; only when the ranks run as root.', '1'],
  ]),
  ...doc('mpich', 'implementation: mpich', [
    [
      IMPL_ENV.hydraHostFile,
      'The hostfile (`host:N` lines).',
      '/var/lib/multinode/services/mpi/files/hostfile',
    ],
    [IMPL_ENV.hydraLauncher, 'Hydra launches remote ranks over ssh…', 'ssh'],
    [IMPL_ENV.hydraLauncherExec, '…through the SSH wrapper.', '/var/lib/multinode/bin/multinode-ssh'],
  ]),
  ...doc('gasnet', 'implementation: gasnet', [
    [IMPL_ENV.gasnetSpawnFn, 'Spawn over ssh.', 'S'],
    [IMPL_ENV.gasnetSshServers, 'All rank host names, space-separated, rank order.', 'pgas-0 pgas-1'],
    [IMPL_ENV.gasnetSshCmd, 'The SSH wrapper.', '/var/lib/multinode/bin/multinode-ssh'],
    [IMPL_ENV.gasnetSshOptions, 'Extra ssh options: none (the wrapper needs none).', ''],
  ]),
  ...doc('slurm', 'env-compat: slurm', [
    [COMPAT_ENV.slurmJobNodelist, "All rank host names in Slurm's compressed form.", 'vllm-[0-1]'],
    [COMPAT_ENV.slurmNodelist, 'Same as `SLURM_JOB_NODELIST`.', 'vllm-[0-1]'],
    [COMPAT_ENV.slurmStepNodelist, 'Same as `SLURM_JOB_NODELIST`.', 'vllm-[0-1]'],
    [COMPAT_ENV.slurmNnodes, 'Number of ranks (nodes).', '2'],
    [COMPAT_ENV.slurmJobNumNodes, 'Number of ranks (nodes).', '2'],
    [COMPAT_ENV.slurmNtasks, 'One task per rank: the number of ranks.', '2'],
    [COMPAT_ENV.slurmNprocs, 'Same as `SLURM_NTASKS`.', '2'],
    [COMPAT_ENV.slurmNodeId, 'This rank (node index).', '1'],
    [COMPAT_ENV.slurmProcId, 'This rank (task index; one task per node).', '1'],
    [COMPAT_ENV.slurmLocalId, 'Task index on the node: always 0.', '0'],
    [COMPAT_ENV.slurmTasksPerNode, "Tasks per node in Slurm's `N(xM)` form.", '1(x2)'],
    [COMPAT_ENV.slurmCpusOnNode, 'Cores given to this rank.', '16'],
    [COMPAT_ENV.slurmGpusOnNode, 'GPUs given to this rank (GPUs requested).', '1'],
    [COMPAT_ENV.slurmStepGpus, 'GPU indices given to this rank (GPUs requested).', '0'],
    [COMPAT_ENV.slurmLaunchNodeIpaddr, "Rank 0's address.", '198.18.0.1'],
    [COMPAT_ENV.slurmJobName, 'Service name.', 'vllm'],
    [COMPAT_ENV.slurmdNodename, "This rank's host name.", 'vllm-1'],
  ]),
  ...doc('skypilot', 'env-compat: skypilot', [
    [COMPAT_ENV.skypilotNodeRank, 'This rank.', '1'],
    [COMPAT_ENV.skypilotNodeIps, 'Rank addresses, newline-separated, head first.', '198.18.0.1\\n198.18.0.2'],
    [COMPAT_ENV.skypilotNumNodes, 'Number of ranks.', '2'],
    [COMPAT_ENV.skypilotNumGpusPerNode, 'GPUs per rank.', '1'],
  ]),
  ...doc('lws', 'env-compat: lws', [
    [COMPAT_ENV.lwsLeaderAddress, "Rank 0's host name.", 'vllm-0'],
    [COMPAT_ENV.lwsGroupSize, 'Number of ranks.', '2'],
    [COMPAT_ENV.lwsWorkerIndex, 'This rank, 0 = leader.', '1'],
  ]),
  ...doc('volcano', 'env-compat: volcano', [
    [COMPAT_ENV.vcTaskIndex, 'This rank.', '1'],
    [COMPAT_ENV.vkTaskIndex, 'This rank (older name).', '1'],
    [
      'VC_<TASK>_HOSTS',
      'All rank host names, comma-separated; `<TASK>` = service name upper-cased, non-alphanumerics → `_`.',
      'VC_VLLM_HOSTS=vllm-0,vllm-1',
    ],
    ['VC_<TASK>_NUM', 'Number of ranks.', 'VC_VLLM_NUM=2'],
  ]),
  ...doc('backendai', 'env-compat: backendai', [
    [COMPAT_ENV.backendaiClusterSize, 'Number of ranks (containers).', '4'],
    [
      COMPAT_ENV.backendaiClusterHosts,
      'All rank host names, comma-separated, rank order.',
      'train-0,train-1,train-2,train-3',
    ],
    [
      COMPAT_ENV.backendaiClusterReplicas,
      'Role counts: `main:1,sub:N-1` (`main:1` for one rank); with `roles`: each role and its nodes (`ps:2,worker:3`).',
      'main:1,sub:3',
    ],
    [COMPAT_ENV.backendaiClusterHost, "This rank's host name.", 'train-2'],
    [
      COMPAT_ENV.backendaiClusterIdx,
      "1-based index within the role (rank 0 → 1; rank r > 0 → r; with `roles`: within the rank's role).",
      '2',
    ],
    [
      COMPAT_ENV.backendaiClusterRole,
      "`main` for rank 0, `sub` otherwise; with `roles`: the rank's role.",
      'sub',
    ],
    [
      COMPAT_ENV.backendaiClusterLocalRank,
      "Zero-based GLOBAL index (Backend.AI's name says local; it is the rank).",
      '2',
    ],
  ]),
  ...doc('dstack', 'env-compat: dstack', [
    [COMPAT_ENV.dstackRunName, 'Service name.', 'train'],
    [COMPAT_ENV.dstackNodesNum, 'Number of ranks (nodes).', '2'],
    [COMPAT_ENV.dstackGpusPerNode, 'GPUs per rank.', '8'],
    [COMPAT_ENV.dstackGpusNum, 'GPUs of the whole service (nodes × GPUs per rank).', '16'],
    [COMPAT_ENV.dstackNodeRank, 'This rank, 0 = master.', '1'],
    [COMPAT_ENV.dstackMasterNodeIp, "Rank 0's address.", '198.18.0.1'],
    [COMPAT_ENV.dstackNodesIps, 'Rank addresses, newline-separated, rank order.', '198.18.0.1\\n198.18.0.2'],
    [
      COMPAT_ENV.dstackMpiHostfile,
      'The MPI hostfile (same file as `MULTINODE_HOSTFILE`).',
      '/etc/multinode/hostfile',
    ],
  ]),
];

function doc(
  family: EnvFamily,
  when: string,
  rows: readonly (readonly [string, string, string])[],
): EnvVarDoc[] {
  return rows.map(([name, meaning, example]) => ({ name, family, when, meaning, example }));
}
