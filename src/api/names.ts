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
  /** Set by the user: `0` makes one wrapper call open a fresh SSH connection instead of sharing one. */
  sshMux: 'MULTINODE_SSH_MUX',
  cudaVisibleDevices: 'CUDA_VISIBLE_DEVICES',
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
} as const;

/** Files the plan puts in every rank's files directory (`PlanOptions.filesDir`). */
export const PLAN_FILES = {
  hostfile: 'hostfile',
  clusterFile: 'cluster.json',
  script: 'script',
} as const;

/** The `{service}` placeholder in `PlanOptions.filesDir`. */
export const SERVICE_PLACEHOLDER = '{service}';

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
  /** `<state>/locks/`: one lock file per cluster and per service (flock(2)); never removed. */
  locksDir: 'locks',
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
      'TensorFlow cluster spec: workers `host:port` with port = base + rank (allocated ports in host mode).',
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
      'Role counts: `main:1,sub:N-1` (`main:1` for one rank).',
      'main:1,sub:3',
    ],
    [COMPAT_ENV.backendaiClusterHost, "This rank's host name.", 'train-2'],
    [COMPAT_ENV.backendaiClusterIdx, '1-based index within the role (rank 0 → 1; rank r > 0 → r).', '2'],
    [COMPAT_ENV.backendaiClusterRole, '`main` for rank 0, `sub` otherwise.', 'sub'],
    [
      COMPAT_ENV.backendaiClusterLocalRank,
      "Zero-based GLOBAL index (Backend.AI's name says local; it is the rank).",
      '2',
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

/** Third-party Kubernetes names the renderer writes or selects on (each defined by its project). */
export const K8S_WELL_KNOWN = {
  /** LeaderWorkerSet pod labels. */
  lwsName: 'leaderworkerset.sigs.k8s.io/name',
  lwsGroupIndex: 'leaderworkerset.sigs.k8s.io/group-index',
  lwsWorkerIndex: 'leaderworkerset.sigs.k8s.io/worker-index',
  /** Grove pod label: `<podcliqueset>-<replica>-<clique>`. */
  grovePodClique: 'grove.io/podclique',
  /** Dynamo/seed 003: `"false"` on a service forces LWS; `"true"` asks for Grove. */
  enableGrove: 'nvidia.com/enable-grove',
  /** Dynamo/seed 003: KAI queue for the service (default `dynamo`). */
  kaiQueueAnnotation: 'nvidia.com/kai-scheduler-queue',
  /** KAI-Scheduler pod/workload label naming the queue. */
  kaiQueueLabel: 'kai.scheduler/queue',
  kaiSchedulerName: 'kai-scheduler',
  kaiDefaultQueue: 'dynamo',
  volcanoSchedulerName: 'volcano',
  /** Volcano: the PodGroup a pod belongs to. */
  volcanoGroupName: 'scheduling.k8s.io/group-name',
  volcanoDefaultQueue: 'default',
  /** Multus: secondary networks of a pod (`nad@ifname, …`). */
  multusNetworks: 'k8s.v1.cni.cncf.io/networks',
  /** NVIDIA GPU feature discovery: GPU product (model with spaces as `-`). */
  gpuProduct: 'nvidia.com/gpu.product',
  /** Resource prefix of the RDMA shared device plugin (`rdma/fabric0`). */
  rdmaPrefix: 'rdma/',
  /** Our annotation: how NUMA affinity is handled (best effort through the kubelet's Topology Manager). */
  annotationNuma: 'multinode.dev/numa-affinity',
  annotationRank: 'multinode.dev/rank',
  /** OpenMPI on Kubernetes: keep FQDN host names (seed 003, TRT-LLM). */
  ompiKeepFqdn: 'OMPI_MCA_orte_keep_fqdn_hostnames',
  vllmCacheRoot: 'VLLM_CACHE_ROOT',
} as const;

/** The Slurm target (docs/slurm.md): names its sbatch scripts and job records use. */
export const SLURM_TARGET = {
  /** Set by the user: per-job directory for the hostfile, cluster file and wrapper on every node. */
  jobDirEnv: 'MULTINODE_JOB_DIR',
  /** Default job directory, under `${TMPDIR:-/tmp}`, suffixed with the Slurm job id. */
  jobDirPrefix: 'multinode-',
  /** Under the state directory: job records, submitted scripts and batch output. */
  jobsDir: 'slurm/jobs',
  /** Under an emulated cluster's directory: its Slurm (configs, munge, spool, logs). */
  clusterDir: 'slurm',
  /** The Slurm partition `cluster create --slurm` defines. */
  partition: 'multinode',
} as const;

/** More third-party Kubernetes names the renderer writes (placement, ingress, storage); see docs/kubernetes.md. */
export const K8S_WELL_KNOWN_PLACEMENT = {
  /** LeaderWorkerSet: one group per domain of this node label, no other LWS group in it. */
  lwsExclusiveTopology: 'leaderworkerset.sigs.k8s.io/exclusive-topology',
  /** The node's host name label (one domain per node). */
  hostnameKey: 'kubernetes.io/hostname',
} as const;

/** JobSet and Job names the renderer writes or selects on (a service that finishes); see docs/kubernetes.md. */
export const K8S_WELL_KNOWN_JOBSET = {
  /** JobSet pod label: the JobSet's name. */
  jobSetName: 'jobset.sigs.k8s.io/jobset-name',
  /** JobSet pod label: the replicated job (`leader` or `worker`). */
  replicatedJobName: 'jobset.sigs.k8s.io/replicatedjob-name',
  /** Job (Indexed) pod label and annotation: the pod's completion index (label since Kubernetes 1.28). */
  completionIndex: 'batch.kubernetes.io/job-completion-index',
  /** Env var the Job controller sets in every container of an Indexed Job (the completion index). */
  completionIndexEnv: 'JOB_COMPLETION_INDEX',
} as const;
