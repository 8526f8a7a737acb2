/**
 * Unit tests of the Kubernetes renderer's decisions (names, canonical YAML, orchestrator and gang choice,
 * networking, SSH, resources) and of the schema validator catching bad objects.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ManifestObject } from '../../src/targets/kubernetes/index.js';
import {
  buildKubernetes,
  commonDir,
  cpuQuantity,
  escapeK8sExpansion,
  memoryQuantity,
  renderKubernetes,
  validateManifests,
} from '../../src/targets/kubernetes/index.js';
import { dnsName, isDnsLabel, portName } from '../../src/targets/kubernetes/names.js';
import { canonicalYaml } from '../../src/targets/kubernetes/yaml.js';
import { parseSpec } from '../../src/spec/index.js';
import { defaultPlanOptions, generateInventory, planSpec } from '../../src/plan/index.js';
import type { GenerateInventoryOptions } from '../../src/plan/index.js';
import type { KubernetesRenderOptions } from '../../src/targets/kubernetes/index.js';
import { K8S_FILES_DIR, K8S_SSH_WRAPPER } from '../../src/targets/kubernetes/options.js';
import { kubernetesInventory as inventoryForSpec } from '../../src/targets/kubernetes/target.js';
import { goldenKeys, loadCase, planCase, renderCase } from './helpers/k8s-plan-fixtures.js';

type Json = Record<string, unknown>;

function render(specText: string, opts: KubernetesRenderOptions = {}, inv?: GenerateInventoryOptions) {
  const parsed = parseSpec(specText, 't.yaml');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const spec = parsed.value;
  const r = planSpec(
    spec,
    inv ? generateInventory(inv) : inventoryForSpec(spec),
    defaultPlanOptions({ target: 'kubernetes', filesDir: K8S_FILES_DIR, sshWrapperPath: K8S_SSH_WRAPPER }),
  );
  if (!r.ok) throw new Error(JSON.stringify(r));
  return { plan: r.plan, out: renderKubernetes(r.plan, { spec, sshKeys: goldenKeys(), ...opts }) };
}

function find(objects: readonly ManifestObject[], kind: string, name?: string): Json {
  const o = objects.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  assert.ok(o, `no ${kind} ${name ?? ''}`);
  return o;
}

function get(o: unknown, path: string): unknown {
  let cur: unknown = o;
  for (const k of path.split('.')) cur = (cur as Record<string, unknown> | undefined)?.[k];
  return cur;
}

const MPI = `
services:
  job:
    image: { uri: docker://img:1 }
    script: mpirun hostname
    multinode: { nodes: 3, implementation: ompi }
    resource: { cpu: { cores: 2 }, memory: { size: 4Gi } }
`;

test('names: DNS-1123, at most 63, stable hash when shortened', () => {
  assert.equal(dnsName(['vllm', 'endpoints']), 'vllm-endpoints');
  assert.equal(dnsName(['My_Service']), 'my-service');
  const long = dnsName(['x'.repeat(80), 'gang']);
  assert.equal(long.length, 63);
  assert.ok(isDnsLabel(long));
  assert.equal(long, dnsName(['x'.repeat(80), 'gang']));
  assert.notEqual(long, dnsName(['x'.repeat(81), 'gang']));
  assert.equal(portName('openai-api'), 'openai-api');
  assert.ok(portName('a-very-long-port-name-indeed').length <= 15);
  assert.equal(portName('8080'), 'p-8080');
});

test('canonical YAML: sorted keys, no wrapping, document separators, trailing newline', () => {
  const long = 'x'.repeat(300);
  const y = canonicalYaml([
    { b: 1, a: { d: long, c: [2, 1] } },
    { kind: 'K', apiVersion: 'v1' },
  ]);
  assert.equal(y, `---\na:\n  c:\n    - 2\n    - 1\n  d: ${long}\nb: 1\n---\napiVersion: v1\nkind: K\n`);
});

test('helpers: memory quantities, $( escaping, common directory', () => {
  assert.equal(memoryQuantity(64 * 2 ** 30), '64Gi');
  assert.equal(memoryQuantity(120e9), '120G');
  assert.equal(memoryQuantity(1500), '1500');
  assert.equal(cpuQuantity(16), '16');
  assert.equal(cpuQuantity(0.5), '500m');
  assert.equal(escapeK8sExpansion('HOSTNAME=$(hostname) $x'), 'HOSTNAME=$$(hostname) $$x');
  assert.equal(escapeK8sExpansion('plain $x'), 'plain $x');
  assert.equal(commonDir(['/etc/multinode/hostfile', '/etc/multinode/bin/multinode-ssh']), '/etc/multinode');
  assert.equal(commonDir(['/a/x', '/b/y']), '/');
});

test('LWS: size = nodes, leader = rank 0, recreate-group, Volcano PodGroup with minMember = all ranks', () => {
  const { out } = render(MPI);
  const lws = find(out.objects, 'LeaderWorkerSet', 'job');
  assert.equal(get(lws, 'spec.leaderWorkerTemplate.size'), 3);
  assert.equal(get(lws, 'spec.leaderWorkerTemplate.restartPolicy'), 'RecreateGroupOnPodRestart');
  assert.equal(get(lws, 'spec.startupPolicy'), 'LeaderReady');
  const pg = find(out.objects, 'PodGroup');
  assert.equal(get(pg, 'spec.minMember'), 3);
  for (const t of ['leaderTemplate', 'workerTemplate']) {
    const tmpl = get(lws, `spec.leaderWorkerTemplate.${t}`);
    assert.equal(get(tmpl, 'spec.schedulerName'), 'volcano');
    assert.equal(
      (get(tmpl, 'metadata.annotations') as Json)['scheduling.k8s.io/group-name'],
      pg['metadata'] && (pg['metadata'] as Json)['name'],
    );
  }
  // Every object carries the plan hash.
  for (const o of out.objects) {
    if (o.kind === 'NetworkAttachmentDefinition') continue;
    assert.ok((o.metadata as unknown as Json)['annotations'], `${o.kind} annotated`);
  }
});

test('one headless Service per rank, named like the plan host names, publishing not-ready addresses', () => {
  const { plan, out } = render(MPI);
  for (const r of plan.services[0]?.ranks ?? []) {
    const s = find(out.objects, 'Service', r.hostname);
    assert.equal(get(s, 'spec.clusterIP'), 'None');
    assert.equal(get(s, 'spec.publishNotReadyAddresses'), true);
    assert.equal(
      (get(s, 'spec.selector') as Json)['leaderworkerset.sigs.k8s.io/worker-index'],
      String(r.rank),
    );
  }
});

test('SSH: Secret mpirun-ssh-key-<name>, mounted read-only with mode 0600; workers run sshd', () => {
  const { out } = render(MPI);
  const secret = find(out.objects, 'Secret', 'mpirun-ssh-key-job');
  assert.match(
    String(get(secret, 'stringData.known_hosts')),
    /^multinode-rank ssh-ed25519 \S+\n\[job-0\]:2222 ssh-ed25519 /,
  );
  const worker = get(find(out.objects, 'LeaderWorkerSet'), 'spec.leaderWorkerTemplate.workerTemplate.spec');
  const vols = get(worker, 'volumes') as Json[];
  const v = vols.find((x) => x['name'] === 'ssh-key');
  assert.equal(get(v, 'secret.defaultMode'), 0o600);
  const c = (get(worker, 'containers') as Json[])[0];
  const m = (c?.['volumeMounts'] as Json[]).find((x) => x['name'] === 'ssh-key');
  assert.equal(m?.['readOnly'], true);
  assert.deepEqual((c?.['command'] as string[]).slice(-1), ['/opt/multinode-k8s/sshd.sh']);
  // Without key material the render fails with a located issue instead of emitting a broken Secret.
  const parsed = parseSpec(MPI, 't.yaml');
  assert.ok(parsed.ok);
  const pr = planSpec(
    parsed.value,
    inventoryForSpec(parsed.value),
    defaultPlanOptions({ target: 'kubernetes', filesDir: K8S_FILES_DIR, sshWrapperPath: K8S_SSH_WRAPPER }),
  );
  assert.ok(pr.ok);
  const r = buildKubernetes(pr.plan, {});
  assert.equal(r.ok, false);
  if (!r.ok) assert.ok(r.issues.some((i) => i.code === 'k8s-ssh-keys'));
});

test('KAI: schedulerName, queue label, default queue dynamo, flag, and service annotation wins', () => {
  const q = (o: KubernetesRenderOptions, spec = MPI) => {
    const lws = find(render(spec, { gang: 'kai', ...o }).out.objects, 'LeaderWorkerSet');
    const t = get(lws, 'spec.leaderWorkerTemplate.leaderTemplate');
    assert.equal(get(t, 'spec.schedulerName'), 'kai-scheduler');
    return (get(t, 'metadata.labels') as Json)['kai.scheduler/queue'];
  };
  assert.equal(q({}), 'dynamo');
  assert.equal(q({ kaiQueue: 'team-a' }), 'team-a');
  const annotated = MPI.replace(
    'resource: {',
    "resource: { annotations: { 'nvidia.com/kai-scheduler-queue': gpu-intensive }, ",
  );
  assert.equal(q({ kaiQueue: 'team-a' }, annotated), 'gpu-intensive');
  assert.equal(render(MPI, { gang: 'kai' }).out.objects.filter((o) => o.kind === 'PodGroup').length, 0);
});

test('Grove: one clique per rank, KAI by default; enable-grove "false" forces LWS; Grove + Volcano refused', () => {
  const grove = render(MPI, { orchestrator: 'grove' }).out.objects;
  const pcs = find(grove, 'PodCliqueSet', 'job');
  const cliques = get(pcs, 'spec.template.cliques') as Json[];
  assert.deepEqual(
    cliques.map((c) => c['name']),
    ['r0', 'r1', 'r2'],
  );
  assert.ok(cliques.every((c) => get(c, 'spec.minAvailable') === 1 && get(c, 'spec.replicas') === 1));
  assert.equal(get(cliques[0], 'spec.podSpec.schedulerName'), 'kai-scheduler');
  assert.equal(
    (get(find(grove, 'Service', 'job-2'), 'spec.selector') as Json)['grove.io/podclique'],
    'job-0-r2',
  );
  const forced = MPI.replace(
    'resource: {',
    "resource: { annotations: { 'nvidia.com/enable-grove': 'false' }, ",
  );
  const lws = render(forced, { orchestrator: 'grove' }).out.objects;
  assert.ok(lws.some((o) => o.kind === 'LeaderWorkerSet'));
  assert.ok(!lws.some((o) => o.kind === 'PodCliqueSet'));
  assert.throws(() => render(MPI, { orchestrator: 'grove', gang: 'volcano' }), /cannot be rendered/);
});

test('host network: hostNetwork, ClusterFirstWithHostNet, hostPort = containerPort, rank-0 Service maps port → host port', () => {
  const c = loadCase('tfjob-hostnet-auto-ports');
  const out = renderCase(c);
  // restart policy exit-code and no endpoints: a JobSet (leader Job, then the workers' Indexed Job).
  const js = find(out.objects, 'JobSet', 'mnist');
  const leader = get(js, 'spec.replicatedJobs.0.template.spec.template.spec') as Json;
  assert.equal(leader['hostNetwork'], true);
  assert.equal(leader['dnsPolicy'], 'ClusterFirstWithHostNet');
  const port = ((leader['containers'] as Json[])[0]?.['ports'] as Json[])[0];
  assert.equal(port?.['hostPort'], port?.['containerPort']);
  const svc = find(out.objects, 'Service', 'mnist-endpoints');
  const sp = (get(svc, 'spec.ports') as Json[])[0];
  assert.equal(sp?.['port'], 2222);
  assert.equal(sp?.['targetPort'], port?.['hostPort']);
  // Workers share one template: it reserves every worker's host ports (declared `tf` and TF_CONFIG's).
  const worker = get(js, 'spec.replicatedJobs.1.template.spec.template.spec') as Json;
  const wports = ((worker['containers'] as Json[])[0]?.['ports'] as Json[]).map((p) => [
    p['name'],
    p['hostPort'],
  ]);
  const plan = planCase(c, 'kubernetes');
  for (const r of plan.services[0]?.ranks.slice(1) ?? []) {
    for (const port of [r.ports[0]?.hostPort, r.tfPort]) {
      assert.ok(
        wports.some(([, p]) => p === port),
        `worker template reserves ${port}`,
      );
    }
  }
  assert.equal(new Set(wports.map(([n]) => n)).size, wports.length, 'port names unique');
  // The leader reserves MASTER_PORT too.
  const lports = ((leader['containers'] as Json[])[0]?.['ports'] as Json[]).map((p) => p['name']);
  assert.ok(lports.includes('master'));
});

test('fabric NICs: one NetworkAttachmentDefinition per NIC, networks annotation, rdma/fabricN requests and limits', () => {
  const out = renderCase(loadCase('fabric-8-nics'));
  const nads = out.objects.filter((o) => o.kind === 'NetworkAttachmentDefinition');
  assert.equal(nads.length, 8);
  assert.deepEqual(JSON.parse(String(get(nads[3], 'spec.config'))), {
    cniVersion: '0.3.1',
    type: 'host-device',
    device: 'fabric3',
  });
  const t = get(find(out.objects, 'LeaderWorkerSet'), 'spec.leaderWorkerTemplate.workerTemplate');
  assert.match(
    String((get(t, 'metadata.annotations') as Json)['k8s.v1.cni.cncf.io/networks']),
    /^roce-net-fabric0@fabric0, roce-net-fabric1@fabric1, .*roce-net-fabric7@fabric7$/,
  );
  const res = get((get(t, 'spec.containers') as Json[])[0], 'resources') as Json;
  for (const k of ['requests', 'limits']) {
    const q = res[k] as Json;
    assert.equal(q['nvidia.com/gpu'], '8');
    for (let i = 0; i < 8; i++) assert.equal(q[`rdma/fabric${i}`], '1');
  }
});

test('backends: leader keeps probes, vLLM/SGLang workers have none, TRT-LLM workers TCP 2222 with the seed timings', () => {
  for (const b of ['vllm', 'sglang', 'trtllm']) {
    const out = renderCase(loadCase(`backend-${b}-tp8`));
    const lwt = get(find(out.objects, 'LeaderWorkerSet'), 'spec.leaderWorkerTemplate');
    const probe = (t: string) =>
      get((get(lwt, `${t}.spec.containers`) as Json[])[0], 'readinessProbe') as Json;
    assert.ok(probe('leaderTemplate')['httpGet'], b);
    if (b === 'trtllm') {
      assert.deepEqual(probe('workerTemplate'), {
        tcpSocket: { port: 2222 },
        initialDelaySeconds: 20,
        periodSeconds: 20,
        timeoutSeconds: 5,
        failureThreshold: 10,
        successThreshold: 1,
      });
    } else {
      assert.equal(probe('workerTemplate'), undefined, b);
    }
    // A leader with a readiness probe needs its workers to become ready: LeaderCreated, not a deadlock.
    assert.equal(get(find(out.objects, 'LeaderWorkerSet'), 'spec.startupPolicy'), 'LeaderCreated');
    const aff = get(
      lwt,
      'leaderTemplate.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution',
    );
    assert.match(JSON.stringify(aff), /"nvidia.com\/gpu.product".*"NVIDIA-H100-80GB-HBM3"/);
  }
});

test('validation rejects objects that break the schemas (CRD and core)', async () => {
  const out = renderCase(loadCase('backend-vllm-tp8'));
  const objects = JSON.parse(JSON.stringify(out.objects)) as Json[];
  const lws = objects.find((o) => o['kind'] === 'LeaderWorkerSet') as Json;
  const lwt = get(lws, 'spec.leaderWorkerTemplate') as Json;
  lwt['restartPolicy'] = 'Sometimes';
  lwt['sizee'] = 2;
  const container = (get(lwt, 'workerTemplate.spec.containers') as Json[])[0] as Json;
  container['ports'] = [{ containerPort: 'eighty' }];
  const svc = objects.find((o) => o['kind'] === 'Service') as Json;
  (svc['spec'] as Json)['publishNotReadyAddresses'] = 'yes';
  const pg = objects.find((o) => o['kind'] === 'PodGroup') as Json;
  (pg['spec'] as Json)['minMember'] = 'all';
  const cm = objects.find((o) => o['kind'] === 'ConfigMap') as Json;
  (cm['metadata'] as Json)['name'] = 'Bad_Name';
  ((cm['metadata'] as Json)['labels'] as Json)['multinode.dev/service'] = 'no spaces allowed';
  const issues = await validateManifests(objects as unknown as ManifestObject[]);
  const text = issues.map((i) => `${i.path}: ${i.message}`).join('\n');
  assert.match(
    text,
    /LeaderWorkerSet\/llm\.spec\.leaderWorkerTemplate\.restartPolicy: must be equal to one of/,
  );
  assert.match(
    text,
    /LeaderWorkerSet\/llm\.spec\.leaderWorkerTemplate: must NOT have additional properties \(sizee\)/,
  );
  assert.match(text, /containerPort: must be integer/);
  assert.match(text, /Service\/llm-0\.spec\.publishNotReadyAddresses: must be boolean/);
  assert.match(text, /PodGroup\/llm-gang\.spec\.minMember: must be integer/);
  assert.match(text, /ConfigMap\/Bad_Name\.metadata\.name: `Bad_Name` is not a valid name/);
  assert.match(text, /metadata\.labels\.multinode\.dev\/service: label value `no spaces allowed` is invalid/);
  assert.ok(issues.every((i) => i.severity === 'error' && ['k8s-schema', 'k8s-metadata'].includes(i.code)));
});

test('rendering is pure and deterministic: same plan, same bytes', () => {
  const a = render(MPI);
  const b = renderKubernetes(a.plan, { spec: parseSpecOk(MPI), sshKeys: goldenKeys() });
  assert.equal(a.out.yaml, b.yaml);
  assert.match(a.out.yaml, new RegExp(`multinode.dev/plan-hash: ${a.plan.hash}`));
});

function parseSpecOk(text: string) {
  const p = parseSpec(text, 't.yaml');
  if (!p.ok) throw new Error('bad spec');
  return p.value;
}

const ENDPOINTS = (scope: string, type: string) => `
services:
  web:
    image: { uri: docker://img:1 }
    script: serve
    ports: [{ name: http, port: 8080 }]
    endpoints: [{ name: api, port-name: http, protocol: https, type: ${type}, scope: ${scope} }]
`;

test('a public https endpoint gets an Ingress with TLS under --ingress-domain and ingressClassName', async () => {
  const { out } = render(ENDPOINTS('public', 'subdomain'), {
    ingressDomain: 'apps.corp.test',
    ingressClass: 'nginx',
  });
  const ing = find(out.objects, 'Ingress', 'web-api');
  assert.equal(get(ing, 'spec.ingressClassName'), 'nginx');
  assert.deepEqual(get(ing, 'spec.tls'), [{ hosts: ['api.web.apps.corp.test'] }]);
  assert.deepEqual(out.warnings, []);
  assert.deepEqual(await validateManifests(out.objects), []);
});

test('an unknown endpoint scope or type renders as group/subdomain with a located warning', () => {
  const group = render(ENDPOINTS('team', 'subdomain')).out;
  assert.equal(group.objects.filter((o) => o.kind === 'Ingress').length, 0);
  assert.deepEqual(
    group.warnings.map((w) => [w.code, w.path]),
    [['k8s-endpoint-scope', 'services.web.endpoints[0].scope']],
  );
  const other = render(ENDPOINTS('public', 'path')).out;
  assert.equal(other.objects.filter((o) => o.kind === 'Ingress').length, 1);
  assert.deepEqual(
    other.warnings.map((w) => w.code),
    ['k8s-endpoint-type'],
  );
});

test('the validator rejects a malformed Ingress', async () => {
  const bad: ManifestObject = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: 'x' },
    spec: { rules: [{ host: 'a.b', http: { paths: [{ path: '/' }] } }] },
  };
  assert.ok((await validateManifests([bad])).length > 0);
});

test('a data volume size that is not a quantity is a located error', () => {
  const r = buildKubernetes(
    render(`
services:
  db:
    image: { uri: docker://img:1 }
    script: serve
    mounts: { data: { location: /var/lib/db } }
    persist: true
`).plan,
    { dataVolumeSize: 'ten gigs' },
  );
  assert.equal(r.ok, false);
  if (!r.ok)
    assert.deepEqual(
      r.issues.map((i) => i.code),
      ['k8s-data-size'],
    );
});
