/**
 * Workload kinds on Kubernetes: the rule that makes a service a JobSet (meant to finish) or LWS/Grove
 * (long-running), the orchestrator choice with flags and seed 003's annotation, the restart policy as Job and
 * JobSet fields (exit-code's podFailurePolicy agrees with the local runtime's failover policy code by code),
 * the located warnings for what a controller cannot express, and the validator's JobSet checks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RestartPolicy, RestartSpec } from '../../src/api/spec.js';
import type { Issue } from '../../src/api/issues.js';
import { parseSpec } from '../../src/spec/index.js';
import { defaultPlanOptions, planSpec } from '../../src/plan/index.js';
import { isRetryableExitStatus } from '../../src/plan/failover/policy.js';
import { K8S_FILES_DIR, K8S_SSH_WRAPPER } from '../../src/targets/kubernetes/options.js';
import { kubernetesInventory as inventoryForSpec } from '../../src/targets/kubernetes/target.js';
import type { KubernetesRenderOptions, ManifestObject } from '../../src/targets/kubernetes/index.js';
import {
  buildKubernetes,
  chooseOrchestrator,
  jobFailureMapping,
  validateManifests,
  workloadKind,
} from '../../src/targets/kubernetes/index.js';
import { goldenKeys } from './helpers/k8s-plan-fixtures.js';

type Json = Record<string, unknown>;

const restart = (policy: RestartPolicy, maxRestarts = 5): RestartSpec => ({
  policy,
  maxRestarts,
  maxStartupRestarts: 10,
  backoffSeconds: 1,
  backoffMaxSeconds: 30,
});
const endpoint = {
  name: 'api',
  portName: 'http',
  protocol: 'http',
  rank: 0,
  targetAddress: '',
  targetPort: 8000,
  port: 8000,
} as const;

test('the rule: no endpoints and a policy saying how a run ends (never, exit-code, on-failure) is a batch job', () => {
  const cases: [boolean, RestartPolicy, 'batch' | 'serving'][] = [
    [false, 'never', 'batch'],
    [false, 'exit-code', 'batch'],
    [false, 'on-failure', 'batch'],
    [false, 'recreate-group', 'serving'],
    [true, 'never', 'serving'],
    [true, 'exit-code', 'serving'],
    [true, 'on-failure', 'serving'],
    [true, 'recreate-group', 'serving'],
  ];
  for (const [hasEndpoint, policy, kind] of cases) {
    const svc = { endpoints: hasEndpoint ? [endpoint] : [], restart: restart(policy) };
    assert.equal(workloadKind(svc), kind, `endpoints=${hasEndpoint} ${policy}`);
  }
});

test('orchestrator choice: flags first, seed 003 annotation, then the rule', () => {
  const batch = { endpoints: [], restart: restart('never') };
  const serving = { endpoints: [endpoint], restart: restart('recreate-group') };
  const cases: [typeof batch | typeof serving, string | undefined, string | undefined, string, boolean][] = [
    // [service, annotation nvidia.com/enable-grove, --orchestrator, controller, explicit]
    [batch, undefined, undefined, 'jobset', false],
    [serving, undefined, undefined, 'lws', false],
    [serving, undefined, 'auto', 'lws', false],
    [serving, 'true', undefined, 'grove', true],
    [batch, 'true', undefined, 'grove', true],
    [batch, 'false', undefined, 'jobset', false],
    [serving, 'false', undefined, 'lws', true],
    [serving, 'false', 'grove', 'lws', true],
    [serving, undefined, 'grove', 'grove', true],
    [batch, undefined, 'lws', 'lws', true],
    [serving, 'true', 'jobset', 'jobset', true],
    [serving, 'true', 'lws', 'lws', true],
  ];
  for (const [svc, ann, flag, want, explicit] of cases) {
    const c = chooseOrchestrator(svc, ann, flag as 'auto' | 'lws' | 'grove' | 'jobset' | undefined);
    assert.equal(c.orchestrator, want, `${svc === batch ? 'batch' : 'serving'} ann=${ann} flag=${flag}`);
    assert.equal(
      c.explicit,
      explicit,
      `explicit: ${svc === batch ? 'batch' : 'serving'} ann=${ann} flag=${flag}`,
    );
  }
});

test('restart policy → Job and JobSet fields', () => {
  assert.deepEqual(jobFailureMapping(restart('never', 4)), {
    podRestartPolicy: 'Never',
    backoffLimit: 0,
    maxRestarts: 0,
  });
  assert.deepEqual(jobFailureMapping(restart('on-failure', 4)), {
    podRestartPolicy: 'OnFailure',
    backoffLimit: 4,
    maxRestarts: 0,
  });
  assert.deepEqual(jobFailureMapping(restart('recreate-group', 4)), {
    podRestartPolicy: 'Never',
    backoffLimit: 0,
    maxRestarts: 4,
  });
  const ec = jobFailureMapping(restart('exit-code', 4));
  assert.equal(ec.podRestartPolicy, 'Never');
  assert.equal(ec.backoffLimit, 4);
  assert.equal(ec.maxRestarts, 0);
  const rules = (ec.podFailurePolicy?.['rules'] ?? []) as {
    action: string;
    onExitCodes: { containerName: string; operator: string; values: number[] };
  }[];
  assert.equal(rules.length, 1);
  const rule = rules[0];
  assert.ok(rule);
  assert.equal(rule.action, 'FailJob');
  assert.equal(rule.onExitCodes.operator, 'In');
  assert.equal(rule.onExitCodes.containerName, 'main');
  // Code by code, the Job fails exactly where the local runtime's exit-code policy fails the service.
  for (let code = 1; code <= 255; code++) {
    assert.equal(rule.onExitCodes.values.includes(code), !isRetryableExitStatus(code), `exit ${code}`);
  }
});

function render(text: string, opts: Omit<KubernetesRenderOptions, 'spec' | 'sshKeys'> = {}) {
  const parsed = parseSpec(text, 'svc.yaml');
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.issues));
  const spec = parsed.value;
  const r = planSpec(
    spec,
    inventoryForSpec(spec),
    defaultPlanOptions({
      target: 'kubernetes',
      filesDir: K8S_FILES_DIR,
      sshWrapperPath: K8S_SSH_WRAPPER,
      runAsRoot: true,
    }),
  );
  assert.ok(r.ok, JSON.stringify(r));
  const out = buildKubernetes(r.plan, { ...opts, spec, sshKeys: goldenKeys() });
  assert.ok(out.ok, JSON.stringify(!out.ok && out.issues));
  return out.value;
}

const workload = (objects: readonly ManifestObject[]): ManifestObject => {
  const w = objects.find((o) => ['JobSet', 'LeaderWorkerSet', 'PodCliqueSet'].includes(o.kind));
  assert.ok(w);
  return w;
};

/** The 1-based line of the first line of `text` that contains `needle`. */
const lineOf = (text: string, needle: string): number =>
  text.split('\n').findIndex((l) => l.includes(needle)) + 1;

const serving = (restartBlock: string) => `services:
  api:
    image: { uri: docker://x:1 }
    script: serve
    multinode: { nodes: 2 }
    ports: [{ name: http, port: 8000 }]
    endpoints: [{ name: api, port-name: http, protocol: http }]
${restartBlock}`;

test('a serving service with restart never or exit-code: LWS, and a warning located at the policy', () => {
  for (const policy of ['never', 'exit-code']) {
    const text = serving(`    restart:\n      policy: ${policy}\n`);
    const out = render(text);
    assert.equal(workload(out.objects).kind, 'LeaderWorkerSet');
    const w = out.warnings.find((i) => i.code === 'k8s-restart-policy');
    assert.ok(w, JSON.stringify(out.warnings));
    assert.equal(w.severity, 'warning');
    assert.equal(w.path, 'services.api.restart.policy');
    assert.equal(w.pos?.file, 'svc.yaml');
    assert.equal(w.pos?.line, lineOf(text, `policy: ${policy}`));
    assert.match(w.message, new RegExp(`\`${policy}\` cannot be expressed by a LeaderWorkerSet`));
    assert.match(w.hint ?? '', /remove the endpoints/);
    // Grove cannot either.
    const grove = render(text, { orchestrator: 'grove' });
    assert.equal(workload(grove.objects).kind, 'PodCliqueSet');
    assert.match(
      grove.warnings.find((i) => i.code === 'k8s-restart-policy')?.message ?? '',
      /a Grove PodCliqueSet/,
    );
    // With --orchestrator jobset the policy is applied: no warning.
    const js = render(text, { orchestrator: 'jobset' });
    assert.equal(workload(js.objects).kind, 'JobSet');
    assert.deepEqual(
      js.warnings.filter((i) => i.code.startsWith('k8s-restart')),
      [],
    );
  }
});

test('a serving service with written budget and backoff fields: each is a located warning', () => {
  const text = serving(
    '    restart:\n      policy: recreate-group\n      max-restarts: 2\n      max-startup-restarts: 4\n      backoff-seconds: 3\n',
  );
  const out = render(text);
  const byPath = new Map(out.warnings.map((i): [string, Issue] => [i.path, i]));
  for (const [field, code] of [
    ['max-restarts', 'k8s-restart-budget'],
    ['max-startup-restarts', 'k8s-restart-budget'],
    ['backoff-seconds', 'k8s-restart-backoff'],
  ]) {
    const w = byPath.get(`services.api.restart.${field}`);
    assert.ok(w, `${field}: ${JSON.stringify(out.warnings)}`);
    assert.equal(w.code, code);
    assert.equal(w.pos?.line, lineOf(text, `${field}:`));
  }
  // Defaults (not written) are documented, not warned about.
  assert.equal(render(serving('')).warnings.length, 0, JSON.stringify(render(serving('')).warnings));
});

const batch = (extra: string, nodes = 3) => `services:
  train:
    image: { uri: docker://x:1 }
    script: ./train
    multinode: { nodes: ${nodes}, implementation: ompi }
${extra}`;

test('no endpoints and the default recreate-group: LWS with a warning that points to JobSet; none when chosen', () => {
  const text = batch('');
  const out = render(text);
  assert.equal(workload(out.objects).kind, 'LeaderWorkerSet');
  const w = out.warnings.find((i) => i.code === 'k8s-restart-after-success');
  assert.ok(w, JSON.stringify(out.warnings));
  // No restart block in the file: located at the service.
  assert.equal(w.pos?.line, lineOf(text, 'train:'));
  assert.match(w.hint ?? '', /--orchestrator jobset/);
  assert.deepEqual(render(text, { orchestrator: 'lws' }).warnings, []);
  // --orchestrator jobset keeps the whole-group restarts: JobSet maxRestarts = max-restarts, Jobs never retry.
  const js = workload(
    render(batch('    restart: { max-restarts: 7 }\n'), { orchestrator: 'jobset' }).objects,
  );
  const spec = js['spec'] as { failurePolicy: Json; replicatedJobs: { template: { spec: Json } }[] };
  assert.deepEqual(spec.failurePolicy, { maxRestarts: 7 });
  for (const j of spec.replicatedJobs) assert.equal(j.template.spec['backoffLimit'], 0);
});

test('a batch job: JobSet with leader and indexed workers, success by launch mode, valid against the CRD', async () => {
  for (const launch of ['leader', 'all'] as const) {
    const text = `services:
  train:
    image: { uri: docker://x:1 }
    script: ./train
    multinode: { nodes: 4, launch: ${launch} }
    restart: { policy: never }
`;
    const out = render(text);
    const js = workload(out.objects);
    assert.equal(js.kind, 'JobSet');
    assert.equal(js.apiVersion, 'jobset.x-k8s.io/v1alpha2');
    const spec = js['spec'] as {
      successPolicy: { operator: string; targetReplicatedJobs: string[] };
      replicatedJobs: { name: string; replicas: number; template: { spec: Json } }[];
    };
    assert.deepEqual(
      spec.replicatedJobs.map((j) => [
        j.name,
        j.replicas,
        j.template.spec['completions'],
        j.template.spec['parallelism'],
        j.template.spec['completionMode'],
      ]),
      [
        ['leader', 1, 1, 1, 'Indexed'],
        ['worker', 1, 3, 3, 'Indexed'],
      ],
    );
    assert.deepEqual(spec.successPolicy, {
      operator: 'All',
      targetReplicatedJobs: launch === 'leader' ? ['leader'] : ['leader', 'worker'],
    });
    // Rank r ≥ 1 is the worker Job's completion index r − 1.
    const rank2 = out.objects.find((o) => o.kind === 'Service' && o.metadata.name === 'train-2');
    assert.deepEqual((rank2?.['spec'] as Json)['selector'], {
      'batch.kubernetes.io/job-completion-index': '1',
      'jobset.sigs.k8s.io/jobset-name': 'train',
      'jobset.sigs.k8s.io/replicatedjob-name': 'worker',
    });
    assert.deepEqual(await validateManifests(out.objects), []);
    assert.deepEqual(out.warnings, []);
  }
  // One rank: the leader's Job only.
  const one = workload(render(batch('    restart: { policy: on-failure }\n', 1)).objects);
  assert.deepEqual(
    (one['spec'] as { replicatedJobs: { name: string }[] }).replicatedJobs.map((j) => j.name),
    ['leader'],
  );
});

test('a JobSet: max-startup-restarts and backoff fields, when written, are located warnings', () => {
  const text = batch(
    '    restart:\n      policy: exit-code\n      max-startup-restarts: 2\n      backoff-max-seconds: 9\n',
  );
  const out = render(text);
  assert.equal(workload(out.objects).kind, 'JobSet');
  assert.deepEqual(
    out.warnings.map((i) => [i.code, i.path, i.pos?.line]),
    [
      [
        'k8s-restart-budget',
        'services.train.restart.max-startup-restarts',
        lineOf(text, 'max-startup-restarts'),
      ],
      [
        'k8s-restart-backoff',
        'services.train.restart.backoff-max-seconds',
        lineOf(text, 'backoff-max-seconds'),
      ],
    ],
  );
});

test('a service name too long for JobSet pod names is a located error', () => {
  const name = `t${'x'.repeat(50)}`;
  const parsed = parseSpec(
    batch('    restart: { policy: never }\n').replace('train:', `${name}:`),
    'svc.yaml',
  );
  assert.ok(parsed.ok);
  const r = planSpec(
    parsed.value,
    inventoryForSpec(parsed.value),
    defaultPlanOptions({ target: 'kubernetes', filesDir: K8S_FILES_DIR, sshWrapperPath: K8S_SSH_WRAPPER }),
  );
  assert.ok(r.ok);
  const out = buildKubernetes(r.plan, { spec: parsed.value, sshKeys: goldenKeys() });
  assert.ok(!out.ok);
  const e = out.issues.find((i) => i.code === 'k8s-jobset-name');
  assert.ok(e, JSON.stringify(out.issues));
  assert.equal(e.pos?.line, 2);
});

test('the validator refuses what the Job API and the JobSet webhook refuse', async () => {
  const good = workload(render(batch('    restart: { policy: exit-code }\n')).objects);
  assert.deepEqual(await validateManifests([good]), []);
  const mutate = (
    f: (spec: { replicatedJobs: { template: { spec: Json } }[]; successPolicy: Json }) => void,
  ) => {
    const copy = structuredClone<ManifestObject>(good);
    f(copy['spec'] as never);
    return copy;
  };
  const podSpec = (j: { template: { spec: Json } }) => (j.template.spec['template'] as { spec: Json }).spec;
  const cases: [string, ManifestObject][] = [
    [
      'Never or OnFailure',
      mutate((s) => {
        for (const j of s.replicatedJobs) podSpec(j)['restartPolicy'] = 'Always';
      }),
    ],
    [
      'podFailurePolicy needs',
      mutate((s) => {
        for (const j of s.replicatedJobs) podSpec(j)['restartPolicy'] = 'OnFailure';
      }),
    ],
    [
      'sorted',
      mutate((s) => {
        const rules = (s.replicatedJobs[0]?.template.spec['podFailurePolicy'] as { rules: Json[] }).rules;
        (rules[0]?.['onExitCodes'] as { values: number[] }).values.reverse();
      }),
    ],
    [
      'no container named',
      mutate((s) => {
        const rules = (s.replicatedJobs[0]?.template.spec['podFailurePolicy'] as { rules: Json[] }).rules;
        (rules[0]?.['onExitCodes'] as Json)['containerName'] = 'sidecar';
      }),
    ],
    [
      'no replicated job named',
      mutate((s) => {
        s.successPolicy['targetReplicatedJobs'] = ['leaders'];
      }),
    ],
    [
      'parallelism exceeds completions',
      mutate((s) => {
        const w = s.replicatedJobs[1];
        if (w) w.template.spec['parallelism'] = 9;
      }),
    ],
  ];
  for (const [want, obj] of cases) {
    const issues = await validateManifests([obj]);
    assert.ok(
      issues.some((i) => i.message.includes(want)),
      `${want}: ${JSON.stringify(issues)}`,
    );
  }
});
