/** Options and result of the Kubernetes renderer. */
import type { Issue } from '../../api/issues.js';
import type { Spec } from '../../api/spec.js';
import type { ManifestObject } from './validate.js';

/**
 * Where a pod finds the plan's files and the SSH wrapper: plan for Kubernetes with these as `filesDir` and
 * `sshWrapperPath` (the renderer mounts one directory holding both).
 */
export const K8S_FILES_DIR = '/etc/multinode';
export const K8S_SSH_WRAPPER = `${K8S_FILES_DIR}/bin/multinode-ssh`;

/**
 * Placeholder DNS domain for public HTTP endpoints (`<endpoint>.<service>.<domain>`): override it with the
 * cluster's wildcard ingress domain (`--ingress-domain`).
 */
export const DEFAULT_INGRESS_DOMAIN = 'example.com';

/** Size of the PersistentVolumeClaim for a service's built-in `data` volume (`persist: true`). */
export const DEFAULT_DATA_VOLUME_SIZE = '10Gi';

/** The controller a service renders as (see workload.ts for how it is chosen). */
export type Orchestrator = 'lws' | 'grove' | 'jobset';
/** What `--orchestrator` accepts: one controller for every service, or `auto` (the rule in workload.ts). */
export type OrchestratorOption = Orchestrator | 'auto';
export type GangScheduler = 'volcano' | 'kai' | 'none';
export type StartupPolicy = 'LeaderCreated' | 'LeaderReady';

/** SSH key material (OpenSSH format) for ranks that the leader reaches over SSH. The CLI generates it. */
export interface SshKeyMaterial {
  /** Client key the leader uses (`id_ed25519`). */
  readonly privateKey: string;
  readonly publicKey: string;
  /** Host key every sshd presents; pinned in `known_hosts`. */
  readonly hostPrivateKey: string;
  readonly hostPublicKey: string;
}

export interface KubernetesRenderOptions {
  /** Namespace written on every object; omitted when absent (kubectl's context decides). */
  readonly namespace?: string;
  /**
   * Default `auto`: a service meant to finish is a JobSet, any other LWS, or Grove when the service annotation
   * `nvidia.com/enable-grove` is `"true"` (workload.ts). `grove` still gives LWS for a service annotated `"false"`.
   */
  readonly orchestrator?: OrchestratorOption;
  /** Default: `volcano` with LWS and JobSet, `kai` with Grove (seed 003's pairing). */
  readonly gang?: GangScheduler;
  /** KAI queue when the service has no `nvidia.com/kai-scheduler-queue` annotation. Default `dynamo`. */
  readonly kaiQueue?: string;
  /** Volcano queue. Default `default`. */
  readonly volcanoQueue?: string;
  /** LWS startup policy. Default: `LeaderReady` unless the leader has a readiness probe (then `LeaderCreated`). */
  readonly startupPolicy?: StartupPolicy;
  readonly sshKeys?: SshKeyMaterial;
  /**
   * Name of an existing Secret holding the SSH keys (`id_ed25519`, `authorized_keys`, `ssh_host_ed25519_key`,
   * `known_hosts`; see docs/guides/kubernetes.md). Pods mount it; no Secret is rendered and `sshKeys` is not needed.
   */
  readonly sshSecret?: string;
  /** The spec the plan came from: volume references (PVC names), annotations, device requests, positions. */
  readonly spec?: Spec;
  /** Domain public HTTP(S) endpoints get their Ingress host under. Default `DEFAULT_INGRESS_DOMAIN`. */
  readonly ingressDomain?: string;
  /** `spec.ingressClassName` of rendered Ingresses; omitted when absent (the cluster's default class). */
  readonly ingressClass?: string;
  /** Requested size of the `data` volume's claim (a Kubernetes quantity). Default `DEFAULT_DATA_VOLUME_SIZE`. */
  readonly dataVolumeSize?: string;
  /** `storageClassName` of the `data` volume's claim; omitted when absent (the cluster's default class). */
  readonly storageClass?: string;
  /** Seconds a pod waits for a peer's DNS name before failing. Default 600. */
  readonly resolveTimeoutSeconds?: number;
}

export interface KubernetesRender {
  readonly objects: ManifestObject[];
  readonly yaml: string;
  readonly warnings: readonly Issue[];
}
