/**
 * Roles on Kubernetes (docs/guides/roles-and-dependencies.md "What each target does"): which controller
 * `auto` picks for a service with roles, one template per role with its own restart policy and resources,
 * and the located error when LWS is forced on roles of different shapes. The golden cases
 * `roles-jobset-tf-ps-worker` and `roles-grove-disagg` show the whole output and run every pod's shim.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildKubernetes, validateManifests } from '../../src/targets/kubernetes/index.js';
import type { KubernetesRenderOptions, ManifestObject } from '../../src/targets/kubernetes/index.js';
import { parseSpec } from '../../src/spec/index.js';
import { defaultPlanOptions, planSpec } from '../../src/plan/index.js';
import { K8S_FILES_DIR, K8S_SSH_WRAPPER } from '../../src/targets/kubernetes/options.js';
import { kubernetesInventory } from '../../src/targets/kubernetes/target.js';
import { goldenKeys } from './helpers/k8s-plan-fixtures.js';

type Json = Record<string, unknown>;

function build(specText: string, opts: KubernetesRenderOptions = {}) {
  const parsed = parseSpec(specText, 'roles.yaml');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const r = planSpec(
    parsed.value,
    kubernetesInventory(parsed.value),
    defaultPlanOptions({ target: 'kubernetes', filesDir: K8S_FILES_DIR, sshWrapperPath: K8S_SSH_WRAPPER }),
  );
  if (!r.ok) throw new Error(JSON.stringify(r));
  return buildKubernetes(r.plan, { spec: parsed.value, sshKeys: goldenKeys(), ...opts });
}

function objects(specText: string, opts: KubernetesRenderOptions = {}): readonly ManifestObject[] {
  const r = build(specText, opts);
  if (!r.ok) assert.fail(JSON.stringify(r.issues));
  return r.value.objects;
}

const workload = (objs: readonly ManifestObject[]): ManifestObject | undefined =>
  objs.find((o) => ['JobSet', 'LeaderWorkerSet', 'PodCliqueSet'].includes(o.kind));

const TF = `
services:
  tf:
    image: { uri: docker://img:1 }
    script: run ps
    resource: { cpu: { cores: 2 }, memory: { size: 2Gi } }
    restart: { policy: recreate-group, max-restarts: 4 }
    roles:
      - name: ps
        nodes: 2
        restart: { policy: never }
      - name: worker
        nodes: 2
        script: run worker
        resource: { cpu: { cores: 4 }, memory: { size: 8Gi }, devices: { nvidia.com/gpu: 1 } }
      - name: chief
        nodes: 1
        restart: { policy: on-failure, max-restarts: 2 }
`;

test('roles, auto: a service with roles and a group policy is served by Grove, one clique per role', async () => {
  const objs = objects(TF);
  const w = workload(objs);
  assert.equal(w?.kind, 'PodCliqueSet');
  const cliques = ((w?.['spec'] as Json)['template'] as { cliques: { name: string; spec: Json }[] }).cliques;
  assert.deepEqual(
    cliques.map((c) => [c.name, c.spec['roleName'], c.spec['replicas']]),
    [
      ['ps-leader', 'ps', 1],
      ['ps', 'ps', 1],
      ['worker', 'worker', 2],
      ['chief', 'chief', 1],
    ],
  );
  // Each member's stable name selects its clique and its pod index there.
  const svc = objs.find((o) => o.kind === 'Service' && o.metadata.name === 'tf-worker-1');
  assert.deepEqual((svc?.['spec'] as Json)['selector'], {
    'grove.io/podclique': 'tf-0-worker',
    'grove.io/podclique-pod-index': '1',
  });
  assert.deepEqual(await validateManifests(objs), []);
});

test('roles, JobSet: one replicated job per role with its own restart policy; FailJobSet for non-group roles', async () => {
  const objs = objects(TF, { orchestrator: 'jobset' });
  const spec = workload(objs)?.['spec'] as Json;
  const jobs = spec['replicatedJobs'] as { name: string; template: { spec: Json } }[];
  const shape = jobs.map((j) => {
    const pod = (j.template.spec['template'] as { spec: { restartPolicy: string; containers: Json[] } }).spec;
    const limits = (pod.containers[0]?.['resources'] as { limits: Record<string, string> }).limits;
    return [
      j.name,
      j.template.spec['completions'],
      j.template.spec['backoffLimit'],
      pod.restartPolicy,
      limits,
    ];
  });
  assert.deepEqual(shape, [
    ['ps-leader', 1, 0, 'Never', { cpu: '2', memory: '2Gi' }],
    ['ps', 1, 0, 'Never', { cpu: '2', memory: '2Gi' }],
    ['worker', 2, 0, 'Never', { cpu: '4', memory: '8Gi', 'nvidia.com/gpu': '1' }],
    ['chief', 1, 2, 'OnFailure', { cpu: '2', memory: '2Gi' }],
  ]);
  // The workers recreate the group (4 times); a parameter server's or the chief's failure ends the JobSet.
  assert.deepEqual(spec['failurePolicy'], {
    maxRestarts: 4,
    rules: [
      { action: 'FailJobSet', name: 'ps-leader-fails', targetReplicatedJobs: ['ps-leader'] },
      { action: 'FailJobSet', name: 'ps-fails', targetReplicatedJobs: ['ps'] },
      { action: 'FailJobSet', name: 'chief-fails', targetReplicatedJobs: ['chief'] },
    ],
  });
  assert.deepEqual((spec['successPolicy'] as Json)['targetReplicatedJobs'], [
    'ps-leader',
    'ps',
    'worker',
    'chief',
  ]);
  assert.deepEqual(await validateManifests(objs), []);
});

test('roles, auto: a batch service with roles (every role batch, no endpoints) is a JobSet', () => {
  const batch = TF.replace('policy: recreate-group, max-restarts: 4', 'policy: exit-code');
  assert.equal(workload(objects(batch))?.kind, 'JobSet');
});

test('roles, LWS forced: roles of different shapes are a located error; a role restart policy a warning', () => {
  const r = build(TF, { orchestrator: 'lws' });
  assert.equal(r.ok, false);
  const issues = r.ok ? [] : r.issues.filter((i) => i.code === 'k8s-roles-lws');
  assert.deepEqual(
    issues.map((i) => [i.severity, i.path, i.pos?.line]),
    [
      ['warning', 'services.tf.roles[0].restart', 11],
      ['error', 'services.tf.roles[1].resource', 15],
      ['warning', 'services.tf.roles[2].restart', 18],
    ],
  );
  // Same shapes: LWS renders (the warning stays).
  const same = build(TF.replace(/ {8}resource: .*\n/, ''), { orchestrator: 'lws' });
  assert.ok(same.ok, JSON.stringify(same.ok ? '' : same.issues));
  assert.equal(workload(same.value.objects)?.kind, 'LeaderWorkerSet');
});
