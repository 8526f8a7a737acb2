/**
 * Kubernetes hardening on the rendered objects of every golden case and of small specs: every pod template's
 * security contexts and service account token; sshd bound to the pod IP without accepted client environment;
 * the NetworkPolicies (what they select, from where, which ports); the SSH key hash annotation (changes with
 * the keys and only with them); `sshSecret` (no key material rendered, the named Secret mounted).
 * The shim running confined by these contexts is tested in render-k8s-golden and render-k8s-ssh.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { K8S } from '../../src/api/kubernetes-names.js';
import { generateOpenSshEd25519 } from '../../src/app/ssh-keys.js';
import type {
  KubernetesRenderOptions,
  ManifestObject,
  SshKeyMaterial,
} from '../../src/targets/kubernetes/index.js';
import { buildKubernetes, renderKubernetes, validateManifests } from '../../src/targets/kubernetes/index.js';
import { capabilitiesFor, sshKeyHash } from '../../src/targets/kubernetes/hardening.js';
import { SSHD_CAPABILITIES } from '../../src/targets/kubernetes/scripts.js';
import { parseSpec } from '../../src/spec/index.js';
import { defaultPlanOptions, planSpec } from '../../src/plan/index.js';
import { K8S_FILES_DIR, K8S_SSH_WRAPPER } from '../../src/targets/kubernetes/options.js';
import { kubernetesInventory } from '../../src/targets/kubernetes/target.js';
import {
  goldenCaseNames,
  goldenKeys,
  loadCase,
  planCase,
  podTemplateFor,
  workloadFor,
  renderCase,
} from './helpers/k8s-plan-fixtures.js';

type Json = Record<string, unknown>;

interface PodTemplate {
  readonly metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  readonly spec: {
    automountServiceAccountToken?: boolean;
    securityContext?: Json;
    containers: { securityContext?: Json; ports?: { containerPort: number }[] }[];
    volumes: { name: string; secret?: { secretName: string } }[];
    hostNetwork?: boolean;
  };
}

function templates(objects: readonly ManifestObject[], service: string, ranks: number): PodTemplate[] {
  return Array.from(
    { length: ranks },
    (_, r) => podTemplateFor(objects, service, r) as unknown as PodTemplate,
  );
}

function plan(specText: string) {
  const parsed = parseSpec(specText, 't.yaml');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const r = planSpec(
    parsed.value,
    kubernetesInventory(parsed.value),
    defaultPlanOptions({ target: 'kubernetes', filesDir: K8S_FILES_DIR, sshWrapperPath: K8S_SSH_WRAPPER }),
  );
  if (!r.ok) throw new Error(JSON.stringify(r));
  return { spec: parsed.value, plan: r.plan };
}

function render(specText: string, opts: KubernetesRenderOptions = {}) {
  const p = plan(specText);
  return renderKubernetes(p.plan, { spec: p.spec, sshKeys: goldenKeys(), ...opts });
}

const MPI = `
services:
  job:
    image: { uri: docker://img:1 }
    script: mpirun hostname
    multinode: { nodes: 3, implementation: ompi }
    resource: { cpu: { cores: 2 }, memory: { size: 4Gi } }
`;

const WEB = `
services:
  web:
    image: { uri: docker://nginx:1 }
    script: exec nginx
    multinode: { nodes: 2, launch: all }
    ports:
      - { name: http, port: 80 }
      - { name: stats, port: 9100 }
      - { name: admin, port: 9200 }
      - { name: gossip, port: 9300, protocol: udp }
    endpoints:
      - { name: api, port-name: http, protocol: http }
      - { name: stats, port-name: stats, protocol: tcp }
`;

function otherKeys(): SshKeyMaterial {
  const user = generateOpenSshEd25519('t:user');
  const host = generateOpenSshEd25519('t:host');
  return {
    privateKey: user.privateKey,
    publicKey: user.publicKey,
    hostPrivateKey: host.privateKey,
    hostPublicKey: host.publicKey,
  };
}

for (const name of goldenCaseNames()) {
  test(`golden ${name}: every pod template is hardened and sshd is bound to the pod IP`, () => {
    const c = loadCase(name);
    const k8s = planCase(c, 'kubernetes');
    const out = renderCase(c, k8s);
    for (const svc of k8s.services) {
      const cm = out.objects.find(
        (o) => o.kind === 'ConfigMap' && o.metadata.name === `${svc.name}-multinode`,
      );
      const data = (cm?.['data'] ?? {}) as Record<string, string>;
      const sshd = data['sshd.sh'];
      const fabric = svc.ranks.some((r) => r.fabricNics.length > 0);
      for (const [rank, t] of templates(out.objects, svc.name, svc.ranks.length).entries()) {
        const at = `${svc.name} rank ${rank}`;
        assert.equal(t.spec.automountServiceAccountToken, false, at);
        assert.deepEqual(t.spec.securityContext, { seccompProfile: { type: 'RuntimeDefault' } }, at);
        const sc = t.spec.containers[0]?.securityContext ?? {};
        assert.equal(sc['allowPrivilegeEscalation'], false, at);
        const caps = sc['capabilities'] as { add?: string[]; drop: string[] };
        assert.deepEqual(caps.drop, ['ALL'], at);
        const lowPort = (t.spec.containers[0]?.ports ?? []).some((p) => p.containerPort < 1024);
        assert.deepEqual(
          caps.add ?? [],
          capabilitiesFor({ sshd: sshd !== undefined, fabric, lowPort }),
          `${at}: only what a feature needs`,
        );
        assert.equal((caps.add ?? []).includes('IPC_LOCK'), fabric, `${at}: IPC_LOCK iff fabric NICs`);
      }
      if (sshd !== undefined) {
        assert.match(sshd, / -o ListenAddress="\$mn_ip" /);
        assert.match(sshd, /-o DisableForwarding=yes/);
        assert.doesNotMatch(sshd, /AcceptEnv/);
        assert.match(data['entrypoint.sh'] ?? '', /> '\/etc\/multinode\/\.k8s\/pod-ip'\n/);
      }
    }
  });

  test(`golden ${name}: NetworkPolicies admit the service's own pods, and anyone only on endpoint ports`, () => {
    const c = loadCase(name);
    const k8s = planCase(c, 'kubernetes');
    const out = renderCase(c, k8s);
    for (const svc of k8s.services) {
      // Replicas sharing one workload: a replica's pods are the set's pods of its group (the controller's
      // group-index label, which the template does not carry).
      const at = workloadFor(out.objects, svc.name);
      const set = at && at.workload.metadata.name !== svc.name ? at.workload.metadata.name : undefined;
      const groupLabel =
        at?.workload.kind === 'PodCliqueSet'
          ? 'grove.io/podcliqueset-replica-index'
          : 'leaderworkerset.sigs.k8s.io/group-index';
      const own: Record<string, string> = set
        ? { [K8S.labelService]: set, [groupLabel]: String(at?.group) }
        : { [K8S.labelService]: svc.name };
      const group = out.objects.find(
        (o) => o.kind === 'NetworkPolicy' && o.metadata.name === `${svc.name}-group`,
      );
      assert.ok(group, `${svc.name}: group policy`);
      assert.deepEqual(group['spec'], {
        podSelector: { matchLabels: own },
        policyTypes: ['Ingress'],
        ingress: [{ from: [{ podSelector: { matchLabels: own } }] }],
      });
      const ep = out.objects.find(
        (o) => o.kind === 'NetworkPolicy' && o.metadata.name === `${svc.name}-endpoints`,
      );
      const leader = svc.ranks[0];
      const wantPorts = [...new Set(svc.endpoints.map((e) => e.targetPort))].sort((a, b) => a - b);
      if (wantPorts.length === 0) {
        assert.equal(ep, undefined, `${svc.name}: no endpoint policy without endpoints`);
      } else {
        const spec = ep?.['spec'] as {
          podSelector: { matchLabels: Record<string, string> };
          policyTypes: string[];
          ingress: { from?: unknown; ports: { port: number; protocol: string }[] }[];
        };
        assert.deepEqual(spec.podSelector.matchLabels, { ...own, [K8S.labelRank]: '0' });
        assert.deepEqual(spec.policyTypes, ['Ingress']);
        assert.equal(spec.ingress.length, 1);
        assert.equal(spec.ingress[0]?.from, undefined, 'endpoint ports are open to any source');
        assert.deepEqual(
          spec.ingress[0]?.ports.map((p) => p.port),
          wantPorts,
        );
        for (const p of spec.ingress[0]?.ports ?? []) {
          const decl = leader?.ports.find(
            (x) => x.name === svc.endpoints.find((e) => e.targetPort === p.port)?.portName,
          );
          assert.equal(p.protocol, (decl?.protocol ?? 'tcp').toUpperCase());
        }
      }
      // The selectors select what they mean: every pod of the service, and among them rank 0's only.
      for (const [rank, t] of templates(out.objects, svc.name, svc.ranks.length).entries()) {
        const labels = t.metadata.labels ?? {};
        assert.equal(labels[K8S.labelService], set ?? svc.name);
        assert.equal(labels[K8S.labelRank] === '0', rank === 0, `rank ${rank}: rank label`);
      }
    }
  });
}

test('endpoint policy: each endpoint target port with its protocol, host ports with hostNetwork', () => {
  const overlay = render(WEB);
  const np = overlay.objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'web-endpoints');
  assert.deepEqual((np?.['spec'] as Json)['ingress'], [
    {
      ports: [
        { port: 80, protocol: 'TCP' },
        { port: 9100, protocol: 'TCP' },
      ],
    },
  ]);
  // 9200 (admin) and 9300/udp (gossip) are no endpoints: only the group reaches them.
  const host = render(`${WEB}    network: { host: true }\n`);
  const hnp = host.objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'web-endpoints');
  const p0 = plan(`${WEB}    network: { host: true }\n`).plan.services[0]?.ranks[0];
  const hostPortOf = (n: string): number | undefined => p0?.ports.find((p) => p.name === n)?.hostPort;
  assert.deepEqual(
    ((hnp?.['spec'] as Json)['ingress'] as { ports: { port: number }[] }[])[0]?.ports.map((p) => p.port),
    [hostPortOf('http'), hostPortOf('stats')].sort((a, b) => (a ?? 0) - (b ?? 0)),
  );
});

test('a port below 1024 adds NET_BIND_SERVICE; nothing else is added without a feature', () => {
  const out = render(WEB);
  const t = templates(out.objects, 'web', 2)[0];
  const caps = (t?.spec.containers[0]?.securityContext?.['capabilities'] ?? {}) as { add?: string[] };
  assert.deepEqual(caps.add, ['NET_BIND_SERVICE']);
  const high = render(WEB.replace('port: 80 }', 'port: 8080 }'));
  const th = templates(high.objects, 'web', 2)[0];
  assert.deepEqual(th?.spec.containers[0]?.securityContext?.['capabilities'], { drop: ['ALL'] });
  assert.deepEqual(
    capabilitiesFor({ sshd: true, fabric: false, lowPort: false }),
    [...SSHD_CAPABILITIES].sort(),
  );
});

test('NetworkPolicies pass the networking.k8s.io/v1 schema, and a malformed one is refused', async () => {
  const out = render(WEB);
  const policies = out.objects.filter((o) => o.kind === 'NetworkPolicy');
  assert.equal(policies.length, 2);
  assert.deepEqual(await validateManifests(policies), []);
  const bad = {
    ...policies[0],
    spec: { podSelector: { matchLabels: { a: 'b' } }, ingress: [{ ports: [{ port: 80, protocol: 7 }] }] },
  } as ManifestObject;
  const issues = await validateManifests([bad]);
  assert.ok(
    issues.some((i) => i.code === 'k8s-schema' && /NetworkPolicy/.test(i.path)),
    JSON.stringify(issues),
  );
});

test('SSH key hash: on every pod template of an SSH service; changes with the keys, not otherwise', () => {
  const p = plan(MPI);
  const hashes = (keys: SshKeyMaterial) =>
    templates(renderKubernetes(p.plan, { spec: p.spec, sshKeys: keys }).objects, 'job', 3).map(
      (t) => t.metadata.annotations?.[K8S.annotationSshKeyHash],
    );
  const a = hashes(goldenKeys());
  assert.equal(a[0], sshKeyHash(goldenKeys()));
  assert.match(a[0] ?? '', /^[0-9a-f]{64}$/);
  assert.ok(a.every((h) => h === a[0]));
  // Same keys with other comments and whitespace: same hash, same bytes.
  const k = goldenKeys();
  const recommented = {
    ...k,
    publicKey: k.publicKey.replace(/ \S+\n?$/, ' someone@else\n'),
    hostPublicKey: `  ${k.hostPublicKey.trim()}  \n`,
  };
  assert.deepEqual(hashes(recommented), a);
  // A new user key or a new host key: a new hash, and the template differs only there.
  const fresh = otherKeys();
  assert.notEqual(hashes({ ...k, publicKey: fresh.publicKey, privateKey: fresh.privateKey })[0], a[0]);
  assert.notEqual(
    hashes({ ...k, hostPublicKey: fresh.hostPublicKey, hostPrivateKey: fresh.hostPrivateKey })[0],
    a[0],
  );
  // A service without SSH carries none.
  const web = render(WEB);
  for (const t of templates(web.objects, 'web', 2))
    assert.equal(t.metadata.annotations?.[K8S.annotationSshKeyHash], undefined);
});

test('sshSecret: no Secret and no key material rendered; every pod mounts the named Secret', async () => {
  const p = plan(MPI);
  const out = renderKubernetes(p.plan, { spec: p.spec, sshSecret: 'team-ssh' });
  assert.equal(out.objects.filter((o) => o.kind === 'Secret').length, 0);
  assert.doesNotMatch(out.yaml, /PRIVATE KEY|ssh-ed25519/);
  for (const t of templates(out.objects, 'job', 3)) {
    const vol = t.spec.volumes.find((v) => v.name === 'ssh-key');
    assert.deepEqual(vol?.secret, { defaultMode: 0o600, secretName: 'team-ssh' });
    assert.equal(t.metadata.annotations?.[K8S.annotationSshKeyHash], undefined);
  }
  assert.deepEqual(await validateManifests(out.objects), []);
  // Keys given as well: the Secret still wins, and nothing of the keys is printed.
  const both = renderKubernetes(p.plan, { spec: p.spec, sshSecret: 'team-ssh', sshKeys: goldenKeys() });
  assert.equal(both.yaml, out.yaml);
  // A name the API server refuses, and neither keys nor a Secret: errors.
  const bad = buildKubernetes(p.plan, { spec: p.spec, sshSecret: 'Team_SSH' });
  assert.equal(bad.ok, false);
  assert.ok(!bad.ok && bad.issues.some((i) => i.code === 'k8s-ssh-secret'));
  const none = buildKubernetes(p.plan, { spec: p.spec });
  assert.ok(!none.ok && none.issues.some((i) => i.code === 'k8s-ssh-keys'));
});
