/** Labels, annotations and third-party Kubernetes names the renderer writes or selects on. */

/** Labels and annotations on rendered Kubernetes objects. */
export const K8S = {
  labelName: 'app.kubernetes.io/name',
  labelManagedBy: 'app.kubernetes.io/managed-by',
  labelService: 'multinode.dev/service',
  labelRank: 'multinode.dev/rank',
  /** Replicas: on every pod of a replica `<service>-<i>`, the replicated service's name. */
  labelReplicaOf: 'multinode.dev/replica-of',
  annotationPlanHash: 'multinode.dev/plan-hash',
  /** Pod-template annotation: sha256 of the SSH public keys, so new keys give a new template (pods roll). */
  annotationSshKeyHash: 'multinode.dev/ssh-key-hash',
} as const;

/** Third-party Kubernetes names the renderer writes or selects on (each defined by its project). */
export const K8S_WELL_KNOWN = {
  /** LeaderWorkerSet pod labels. */
  lwsName: 'leaderworkerset.sigs.k8s.io/name',
  lwsGroupIndex: 'leaderworkerset.sigs.k8s.io/group-index',
  lwsWorkerIndex: 'leaderworkerset.sigs.k8s.io/worker-index',
  /** Grove pod label: `<podcliqueset>-<replica>-<clique>`. */
  grovePodClique: 'grove.io/podclique',
  /** Grove pod label: the pod's index within its clique (0…replicas-1, reused by a replacement pod). */
  grovePodIndex: 'grove.io/podclique-pod-index',
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

/** More third-party Kubernetes names the renderer writes (placement, ingress, storage); see docs/guides/kubernetes.md. */
export const K8S_WELL_KNOWN_PLACEMENT = {
  /** LeaderWorkerSet: one group per domain of this node label, no other LWS group in it. */
  lwsExclusiveTopology: 'leaderworkerset.sigs.k8s.io/exclusive-topology',
  /** The node's host name label (one domain per node). */
  hostnameKey: 'kubernetes.io/hostname',
} as const;

/** JobSet and Job names the renderer writes or selects on (a service that finishes); see docs/guides/kubernetes.md. */
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
