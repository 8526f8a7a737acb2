/**
 * Replicas on Kubernetes (src/targets/kubernetes/replicas.ts): one LeaderWorkerSet / PodCliqueSet with
 * `replicas: K` when one pod template holds every replica, each pod picking its replica's files by group index;
 * the guard for a group index the render did not plan; and the cases that stay one workload per replica.
 * Every pod's env against the local plan is checked by the golden cases `replicas-*` (render-k8s-golden).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ManifestObject } from '../../src/targets/kubernetes/index.js';
import { renderKubernetes, validateManifests } from '../../src/targets/kubernetes/index.js';
import { parseSpec } from '../../src/spec/index.js';
import { defaultPlanOptions, planSpec } from '../../src/plan/index.js';
import { expandReplicas } from '../../src/plan/replicas.js';
import type { KubernetesRenderOptions } from '../../src/targets/kubernetes/index.js';
import { K8S_FILES_DIR, K8S_SSH_WRAPPER } from '../../src/targets/kubernetes/options.js';
import { kubernetesInventory as inventoryForSpec } from '../../src/targets/kubernetes/target.js';
import { localLeaves, resolveArgv, resolveRankEnv } from '../../src/plan/index.js';
import { K8S_ONLY_ENV, kubernetesEnv } from '../../src/targets/kubernetes/index.js';
import type { GoldenCase } from './helpers/k8s-plan-fixtures.js';
import {
  POD_IFACE,
  SHELL_NOISE,
  goldenKeys,
  loadCase,
  planCase,
  renderCase,
  runPodEntrypoint,
} from './helpers/k8s-plan-fixtures.js';

type Json = Record<string, unknown>;

function render(specText: string, opts: KubernetesRenderOptions = {}) {
  const parsed = parseSpec(specText, 't.yaml');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const spec = expandReplicas(parsed.value);
  const r = planSpec(
    spec,
    inventoryForSpec(spec),
    defaultPlanOptions({ target: 'kubernetes', filesDir: K8S_FILES_DIR, sshWrapperPath: K8S_SSH_WRAPPER }),
  );
  if (!r.ok) throw new Error(JSON.stringify(r));
  return renderKubernetes(r.plan, { spec, sshKeys: goldenKeys(), ...opts });
}

const names = (objs: readonly ManifestObject[], kind: string): string[] =>
  objs.filter((o) => o.kind === kind).map((o) => o.metadata.name);
const get = (o: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((x, k) => (x as Json | undefined)?.[k], o);

function web(extra = '', nodes = 2, replicas = 3): string {
  return `version: v1
services:
  web:
    image:
      uri: docker://nginx:1.27
    script: |
      #!/bin/sh
      exec nginx -g 'daemon off;'
    multinode:
      nodes: ${nodes}
      launch: all
    resource:
      cpu:
        cores: 1
      memory:
        size: 1Gi
    ports:
      - name: http
        port: 8080
    endpoints:
      - name: api
        port-name: http
        protocol: http
    readiness-probe:
      tcp-socket:
        port: 8080
    replicas: ${replicas}
${extra}`;
}

test('replicas, LWS: one LeaderWorkerSet with replicas: K; per-rank Services select group g, rank r', async () => {
  const out = render(web(), { gang: 'none' });
  assert.deepEqual(names(out.objects, 'LeaderWorkerSet'), ['web']);
  const lws = out.objects.find((o) => o.kind === 'LeaderWorkerSet');
  assert.equal(get(lws, 'spec.replicas'), 3);
  assert.equal(get(lws, 'spec.leaderWorkerTemplate.size'), 2);
  assert.deepEqual(
    out.warnings.filter((w) => w.code === 'k8s-replicas-split'),
    [],
  );
  // Every replica keeps its ConfigMap and its per-rank Services, named as the plan names its hosts.
  assert.deepEqual(names(out.objects, 'ConfigMap'), [
    'web-0-multinode',
    'web-1-multinode',
    'web-2-multinode',
  ]);
  const svc = out.objects.find((o) => o.kind === 'Service' && o.metadata.name === 'web-2-1');
  assert.deepEqual(get(svc, 'spec.selector'), {
    'leaderworkerset.sigs.k8s.io/group-index': '2',
    'leaderworkerset.sigs.k8s.io/name': 'web',
    'leaderworkerset.sigs.k8s.io/worker-index': '1',
  });
  const shared = out.objects.find((o) => o.kind === 'Service' && o.metadata.name === 'web-endpoints');
  assert.deepEqual(get(shared, 'spec.selector'), {
    'multinode.dev/rank': '0',
    'multinode.dev/replica-of': 'web',
  });
  // The template mounts the pod's own replica's directory of the projected ConfigMaps.
  const pod = get(lws, 'spec.leaderWorkerTemplate.workerTemplate.spec') as Json;
  const vol = (pod['volumes'] as Json[]).find((v) => v['name'] === 'multinode');
  const sources = get(vol, 'projected.sources') as {
    configMap: { name: string; items: { path: string }[] };
  }[];
  assert.deepEqual(
    sources.map((s) => s.configMap.name),
    ['web-0-multinode', 'web-1-multinode', 'web-2-multinode'],
  );
  assert.ok(sources.every((s, i) => s.configMap.items.every((it) => it.path.startsWith(`${i}/`))));
  const container = (pod['containers'] as Json[])[0] as Json;
  const mount = (container['volumeMounts'] as Json[]).find((m) => m['name'] === 'multinode');
  assert.equal(mount?.['subPathExpr'], '$(MULTINODE_K8S_GROUP)');
  const groupEnv = (container['env'] as Json[]).find((e) => e['name'] === 'MULTINODE_K8S_GROUP');
  assert.equal(
    get(groupEnv, 'valueFrom.fieldRef.fieldPath'),
    "metadata.labels['leaderworkerset.sigs.k8s.io/group-index']",
  );
  // No literal naming one replica in the shared template.
  // No literal naming one replica in the shared container (its host names moved to each rank-env.sh).
  assert.ok(!/web-[0-9]/.test(JSON.stringify(container)), 'the container names no replica');
  assert.deepEqual(await validateManifests(out.objects), []);
});

test('replicas: a pod of a group the render did not plan (kubectl scale) stops with a message to re-render', () => {
  const c = loadCase('replicas-lws-rollout');
  const plan = planCase(c, 'kubernetes');
  const out = renderCase(c, plan);
  const svc = plan.services.find((s) => s.name === 'web-1');
  const addresses = Object.fromEntries((svc?.ranks ?? []).map((r) => [r.hostname, r.address]));
  // Group 1 is planned: it runs.
  const ok = runPodEntrypoint(out.objects, 'web-1', 1, '10.0.0.9', addresses, K8S_FILES_DIR, 1);
  assert.equal(ok.env['MULTINODE_SERVICE'], 'web-1');
  assert.equal(ok.env['MULTINODE_K8S_GROUP'], undefined);
  // Group 2 of a workload rendered for 2: no planned files.
  assert.throws(
    () => runPodEntrypoint(out.objects, 'web-1', 0, '10.0.0.9', addresses, K8S_FILES_DIR, 2),
    /web: this pod is replica 2, but the manifests were rendered for 2 replicas \(0-1\).*render again with `replicas: N`/,
  );
});

test('replicas, Grove: one PodCliqueSet with replicas: K; Services select the clique of replica g', () => {
  const out = render(web('', 2, 2), { orchestrator: 'grove' });
  assert.deepEqual(names(out.objects, 'PodCliqueSet'), ['web']);
  const pcs = out.objects.find((o) => o.kind === 'PodCliqueSet');
  assert.equal(get(pcs, 'spec.replicas'), 2);
  const svc = out.objects.find((o) => o.kind === 'Service' && o.metadata.name === 'web-1-1');
  assert.deepEqual(get(svc, 'spec.selector'), { 'grove.io/podclique': 'web-1-r1' });
  const pod = (get(pcs, 'spec.template.cliques') as Json[])[0] as Json;
  const env = get(pod, 'spec.podSpec.containers.0.env');
  assert.ok(JSON.stringify(env).includes("metadata.labels['grove.io/podcliqueset-replica-index']"));
});

test('replicas stay one workload each: Volcano gang, a persisted data volume, a batch JobSet', () => {
  const volcano = render(web());
  assert.deepEqual(names(volcano.objects, 'LeaderWorkerSet'), ['web-0', 'web-1', 'web-2']);
  const w = volcano.warnings.find((x) => x.code === 'k8s-replicas-split');
  assert.equal(w?.path, 'services.web.replicas');
  assert.match(w?.message ?? '', /Volcano/);
  assert.ok(w?.pos, 'located in the file');

  const persisted = render(
    web(`    persist: true
    mounts:
      data:
        location: /data
`),
    { gang: 'none' },
  );
  assert.deepEqual(names(persisted.objects, 'LeaderWorkerSet'), ['web-0', 'web-1', 'web-2']);
  assert.match(persisted.warnings.find((x) => x.code === 'k8s-replicas-split')?.message ?? '', /data/);

  const batch = render(
    `version: v1
services:
  job:
    image:
      uri: docker://busybox:1
    script: |
      #!/bin/sh
      exit 0
    multinode:
      nodes: 2
    restart:
      policy: on-failure
    replicas: 2
`,
    { gang: 'none' },
  );
  assert.deepEqual(names(batch.objects, 'JobSet'), ['job-0', 'job-1']);
  assert.equal(
    batch.warnings.some((x) => x.code === 'k8s-replicas-split'),
    false,
  );
});

test('replicas with host networking and auto host ports stay one workload each, located warning', () => {
  const out = render(
    web(`    network:
      host: true
`).replace('        port: 8080\n    endpoints', '        port: 8080\n        host-port: auto\n    endpoints'),
    { gang: 'none' },
  );
  assert.deepEqual(names(out.objects, 'LeaderWorkerSet'), ['web-0', 'web-1', 'web-2']);
  const w = out.warnings.find((x) => x.code === 'k8s-replicas-split');
  assert.match(w?.message ?? '', /host ports the planner picked/);
  assert.equal(w?.path, 'services.web.replicas');
  // As before: each replica's own per-rank Services and workload, one endpoint Service over all.
  const svc = out.objects.find((o) => o.kind === 'Service' && o.metadata.name === 'web-1-0');
  assert.equal(get(svc, 'spec.selector')?.constructor, Object);
  assert.equal((get(svc, 'spec.selector') as Json)['leaderworkerset.sigs.k8s.io/name'], 'web-1');
});

test('replicas on LWS with update.max-surge ≥ 1 stay one workload each: a surge group has no planned gang', () => {
  const out = render(
    web(`    update:
      max-surge: 1
      max-unavailable: 0
`),
    { gang: 'none' },
  );
  assert.deepEqual(names(out.objects, 'LeaderWorkerSet'), ['web-0', 'web-1', 'web-2']);
  assert.match(
    out.warnings.find((x) => x.code === 'k8s-replicas-split')?.message ?? '',
    /surges by adding groups at index 3…3/,
  );
  // max-surge 0: one workload, the rollout LWS's own.
  const one = render(
    web(`    update:
      max-surge: 0
      max-unavailable: 1
`),
    { gang: 'none' },
  );
  const lws = one.objects.find((o) => o.kind === 'LeaderWorkerSet');
  assert.equal(lws?.metadata.name, 'web');
  assert.deepEqual(get(lws, 'spec.rolloutStrategy'), {
    rollingUpdateConfiguration: { maxSurge: 0, maxUnavailable: 1 },
    type: 'RollingUpdate',
  });
});

const ROLES = `version: v1
services:
  app:
    image:
      uri: docker://nvcr.io/nvidia/ai-dynamo/vllm-runtime:0.4.0
    script: |
      #!/bin/sh
      exec python3 -m dynamo.frontend --http-port 8000
    resource:
      cpu:
        cores: 4
      memory:
        size: 8Gi
    ports:
      - name: http
        port: 8000
    endpoints:
      - name: openai
        port-name: http
        protocol: http
    readiness-probe:
      http-get:
        path: /health
        port: 8000
    roles:
      - name: frontend
        nodes: 2
        ports: [http]
      - name: decode
        nodes: 2
        script: exec python3 -m dynamo.vllm --model Qwen/Qwen3-0.6B
        resource:
          cpu:
            cores: 16
          memory:
            size: 64Gi
          devices:
            nvidia.com/gpu: 4
    replicas: 2
`;

test("replicas of a service with roles on Grove: one PodCliqueSet; every pod sees its replica's local env", async () => {
  const parsed = parseSpec(ROLES, 't.yaml');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const spec = expandReplicas(parsed.value);
  const c: GoldenCase = { name: 'roles', dir: '', config: {}, spec, inventory: inventoryForSpec(spec) };
  const local = planCase(c, 'local');
  const out = renderCase(c);
  assert.deepEqual(names(out.objects, 'PodCliqueSet'), ['app']);
  assert.equal(
    get(
      out.objects.find((o) => o.kind === 'PodCliqueSet'),
      'spec.replicas',
    ),
    2,
  );
  const svc = out.objects.find((o) => o.kind === 'Service' && o.metadata.name === 'app-1-decode-1');
  assert.deepEqual(get(svc, 'spec.selector'), {
    'grove.io/podclique': 'app-1-decode',
    'grove.io/podclique-pod-index': '1',
  });
  assert.deepEqual(await validateManifests(out.objects), []);
  // As the golden cases check it: the pod's env and argv (after the guard and the role's rank offset) are
  // the local plan's for that replica and rank.
  for (const s of local.services) {
    const addresses = Object.fromEntries(s.ranks.map((r) => [r.hostname, r.address]));
    const leaves = localLeaves(s);
    for (const rank of s.ranks) {
      const run = runPodEntrypoint(out.objects, s.name, rank.rank, rank.address, addresses);
      const got = { ...run.env };
      for (const k of [...K8S_ONLY_ENV, ...SHELL_NOISE]) delete got[k];
      const inPod = (v: string): string => v.split(s.network.subnet).join(POD_IFACE);
      const want = Object.fromEntries(
        Object.entries(kubernetesEnv(resolveRankEnv(s, rank.rank, leaves))).map(([k, v]) => [k, inPod(v)]),
      );
      assert.deepEqual(got, want, `${s.name} rank ${rank.rank}: env`);
      assert.deepEqual(
        run.argv,
        resolveArgv(s, rank.rank, leaves).map(inPod),
        `${s.name} rank ${rank.rank}: argv`,
      );
    }
  }
});

test("replicas: an issue every replica has is said once, at the replicated service's field", () => {
  const spec = `version: v1
services:
  api:
    replicas: 3
    script: exec sleep 100
    multinode: { nodes: 2 }
`;
  assert.throws(
    () => render(spec),
    (e: unknown) => {
      const issues =
        (e as { issues?: { code: string; path: string; pos?: { line: number } }[] }).issues ?? [];
      const noImage = issues.filter((i) => i.code === 'k8s-no-image');
      assert.deepEqual(
        noImage.map((i) => [i.path, i.pos?.line]),
        [['services.api.image.uri', 3]],
      );
      return true;
    },
  );
});
