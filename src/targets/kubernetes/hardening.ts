/**
 * Hardening of what a service renders to (docs/security.md, "Kubernetes"), as pure builders:
 *
 * - the security contexts every pod template gets: seccomp `RuntimeDefault` (pod), no privilege escalation and
 *   every capability dropped except those a feature of the service needs (container);
 * - the hash of the SSH public keys written on every pod template that mounts the keys, so new keys give a
 *   new template and the controller replaces the pods instead of leaving them with keys that no longer match;
 * - the service's NetworkPolicies: ingress to its pods only from its own pods (any port: NCCL, Gloo, Ray and
 *   MPI open ephemeral ports between ranks), plus rank 0's endpoint ports from anywhere (endpoints are reached
 *   through their Service, Ingress or load balancer, which keep the client's address or the controller's).
 *   Egress is not restricted.
 */
import { createHash } from 'node:crypto';
import type { ManifestObject } from './validate.js';
import type { SshKeyMaterial } from './options.js';
import { SSHD_CAPABILITIES } from './scripts.js';
import type { Json } from './values.js';

/** What a pod of the service does that needs a capability back after `drop: [ALL]`. */
export interface CapabilityNeeds {
  /** It runs sshd (a service whose ranks are reached over SSH): `SSHD_CAPABILITIES` when root. */
  readonly sshd: boolean;
  /** It holds fabric NICs (RDMA registers memory with the NIC: `IPC_LOCK`, seed 002). */
  readonly fabric: boolean;
  /** It binds a port below 1024 (`NET_BIND_SERVICE`). */
  readonly lowPort: boolean;
}

/** Sorted capabilities the pod's container adds back. */
export function capabilitiesFor(needs: CapabilityNeeds): string[] {
  const caps = new Set<string>();
  if (needs.sshd) for (const c of SSHD_CAPABILITIES) caps.add(c);
  if (needs.fabric) caps.add('IPC_LOCK');
  if (needs.lowPort) caps.add('NET_BIND_SERVICE');
  return [...caps].sort();
}

/** The container's securityContext: no privilege escalation (no_new_privs), capabilities dropped but `needs`. */
export function containerSecurityContext(needs: CapabilityNeeds): Json {
  const add = capabilitiesFor(needs);
  return {
    allowPrivilegeEscalation: false,
    capabilities: { ...(add.length > 0 ? { add } : {}), drop: ['ALL'] },
  };
}

/** The pod's securityContext: the container runtime's default seccomp profile. */
export function podSecurityContext(): Json {
  return { seccompProfile: { type: 'RuntimeDefault' } };
}

/** An SSH public key line without its comment (`type base64`). */
function keyOnly(line: string): string {
  return line.trim().split(/\s+/).slice(0, 2).join(' ');
}

/**
 * sha256 (hex) of the user and host public keys, comments left out. Public keys identify their private keys,
 * so any change of key material changes the hash, and the hash reveals nothing about the private keys.
 */
export function sshKeyHash(keys: SshKeyMaterial): string {
  return createHash('sha256')
    .update(`${keyOnly(keys.publicKey)}\n${keyOnly(keys.hostPublicKey)}\n`)
    .digest('hex');
}

export interface NetworkPolicyInput {
  /** Metadata of the group policy and of the endpoint policy (names, labels, annotations, namespace). */
  readonly groupMeta: Json;
  readonly endpointMeta: Json;
  /** Labels every pod of the service carries (and only its pods). */
  readonly podLabels: Readonly<Record<string, string>>;
  /** Labels only rank 0's pod carries, on top of `podLabels`. */
  readonly rank0Labels: Readonly<Record<string, string>>;
  /** The container ports of rank 0 that endpoints forward to (host ports with hostNetwork). */
  readonly endpointPorts: readonly { readonly port: number; readonly protocol: string }[];
}

/** The group policy, and the endpoint policy when the service has endpoints. */
export function networkPolicies(input: NetworkPolicyInput): ManifestObject[] {
  const group: ManifestObject = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: input.groupMeta as ManifestObject['metadata'],
    spec: {
      podSelector: { matchLabels: { ...input.podLabels } },
      policyTypes: ['Ingress'],
      ingress: [{ from: [{ podSelector: { matchLabels: { ...input.podLabels } } }] }],
    },
  };
  const seen = new Set<string>();
  const ports: Json[] = [];
  for (const p of input.endpointPorts) {
    const key = `${p.protocol}/${p.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    ports.push({ port: p.port, protocol: p.protocol });
  }
  if (ports.length === 0) return [group];
  ports.sort(
    (a, b) =>
      Number(a['port']) - Number(b['port']) || String(a['protocol']).localeCompare(String(b['protocol'])),
  );
  const endpoints: ManifestObject = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: input.endpointMeta as ManifestObject['metadata'],
    spec: {
      podSelector: { matchLabels: { ...input.podLabels, ...input.rank0Labels } },
      policyTypes: ['Ingress'],
      ingress: [{ ports }],
    },
  };
  return [group, endpoints];
}
