/**
 * Services that use each other on Kubernetes (docs/guides/roles-and-dependencies.md). Pure.
 *
 * For every service U that a service S uses:
 * - a headless Service `<U>-ready` selecting U's leader (rank 0) pod that publishes **ready** addresses only
 *   (unlike the per-rank Services, which publish not-ready ones so a gang can meet before it is ready): its
 *   name resolves once the leader's readiness probe passes — Kubernetes' own notion of ready. Identical for
 *   every service using U (rendered once);
 * - an init container `wait-uses` in every pod of S, in S's own image, that waits until each `<U>-ready`
 *   resolves (`getent hosts`, as the entrypoint shim resolves rank names): S's program starts only when every
 *   service it uses is ready, on whichever node and in whichever order the controllers start the pods.
 *   JobSet's `dependsOn` orders replicated jobs inside one JobSet only, and services are separate objects
 *   (LeaderWorkerSet, JobSet or PodCliqueSet), so it cannot carry this;
 * - a NetworkPolicy `<S>-uses-<U>` admitting S's pods to the declared ports of U's leader, and nothing else.
 *   Every service's pods are already isolated for ingress by the service's own policy (hardening.ts: only its
 *   own pods, plus its endpoints), so no separate default-deny is rendered: unrelated services stay fenced.
 *   Policies do not apply to host-network pods (`network: { host: true }`), as everywhere in Kubernetes.
 * The environment (`MULTINODE_USES_<U>_ADDR` = `_HOST` = U's leader's per-rank Service name, a DNS name in
 * the namespace) comes from the plan unchanged.
 */
import type { ServicePlan, UsePlan } from '../../api/plan.js';
import { K8S } from '../../api/names.js';
import { dnsName, labelValue } from './names.js';
import type { ManifestObject } from './validate.js';
import type { Json } from './values.js';

/** The name of the Service that resolves once `service`'s leader is ready. */
export function readyServiceName(service: string): string {
  return dnsName([service, 'ready']);
}

/** Labels that select a service's leader pod (every template labels rank 0 with its rank). */
function leaderSelector(service: string): Record<string, string> {
  return { [K8S.labelService]: labelValue(service), [K8S.labelRank]: '0' };
}

function uniquePorts(use: UsePlan): Json[] {
  const seen = new Set<string>();
  const out: Json[] = [];
  for (const p of use.ports) {
    const protocol = p.protocol === 'udp' ? 'UDP' : 'TCP';
    const key = `${protocol}/${p.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ port: p.port, protocol });
  }
  return out.sort((a, b) => Number(a['port']) - Number(b['port']));
}

/**
 * The objects the uses of `svc` add: per used service the `<U>-ready` Service and the NetworkPolicy.
 * `meta(name, labels)` builds metadata as the service's other objects carry it.
 */
export function usesObjects(
  svc: ServicePlan,
  meta: (name: string, labels?: Record<string, string>) => Json,
): ManifestObject[] {
  const out: ManifestObject[] = [];
  for (const use of svc.uses ?? []) {
    out.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(readyServiceName(use.service)) as ManifestObject['metadata'],
      spec: {
        clusterIP: 'None',
        publishNotReadyAddresses: false,
        selector: leaderSelector(use.service),
      },
    });
    const ports = uniquePorts(use);
    out.push({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(dnsName([svc.name, 'uses', use.service])) as ManifestObject['metadata'],
      spec: {
        podSelector: { matchLabels: leaderSelector(use.service) },
        policyTypes: ['Ingress'],
        ingress: [
          {
            from: [{ podSelector: { matchLabels: { [K8S.labelService]: labelValue(svc.name) } } }],
            ...(ports.length > 0 ? { ports } : {}),
          },
        ],
      },
    });
  }
  return out;
}

/**
 * The init container that holds `svc`'s pods until every service it uses is ready, or undefined when it
 * uses none. `main` is the pod's main container (its image and security context are reused).
 */
export function usesInitContainer(svc: ServicePlan, main: Json): Json | undefined {
  const names = (svc.uses ?? []).map((u) => readyServiceName(u.service));
  if (names.length === 0) return undefined;
  return {
    name: 'wait-uses',
    image: main['image'],
    command: [
      '/bin/sh',
      '-c',
      'for h in "$@"; do echo "waiting for $h"; until getent hosts "$h" >/dev/null 2>&1; do sleep 1; done; done',
      'wait-uses',
      ...names,
    ],
    resources: { limits: { cpu: '100m', memory: '32Mi' }, requests: { cpu: '10m', memory: '16Mi' } },
    ...(main['securityContext'] !== undefined ? { securityContext: main['securityContext'] } : {}),
  };
}
