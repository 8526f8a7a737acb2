/**
 * Property: for generated services (1–4 ranks, overlay or host network, leader or all launch, MPI flavours,
 * declared and auto ports, env values full of shell and Kubernetes metacharacters, LWS or Grove, each gang
 * scheduler), the rendering is valid against the schemas, and every pod — running the real entrypoint shim
 * with /bin/sh — sees exactly the local-target plan's environment, command and files for its rank.
 */
import { test } from 'node:test';
import { literal } from './helpers/plan-helpers.js';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseSpec } from '../../src/spec/index.js';
import { defaultPlanOptions, planSpec } from '../../src/plan/index.js';
import type { Target } from '../../src/api/plan.js';
import { K8S_FILES_DIR, K8S_SSH_WRAPPER } from '../../src/targets/kubernetes/options.js';
import { kubernetesInventory as inventoryForSpec } from '../../src/targets/kubernetes/target.js';
import {
  K8S_ONLY_ENV,
  kubernetesEnv,
  renderKubernetes,
  validateManifests,
} from '../../src/targets/kubernetes/index.js';
import { POD_IFACE, SHELL_NOISE, goldenKeys, runPodEntrypoint } from './helpers/k8s-plan-fixtures.js';

const tricky = fc.constantFrom(
  'plain',
  '$(NOT_EXPANDED) x',
  "it's 'quoted'",
  'a "double" \\ back',
  '$$ and $HOME',
  '  spaced  out  ',
  '',
  'semi;colon|pipe&amp',
);

const serviceArb = fc.record({
  nodes: fc.integer({ min: 1, max: 4 }),
  host: fc.boolean(),
  launch: fc.constantFrom('leader', 'all'),
  implementation: fc.constantFrom('generic', 'ompi', 'mpich'),
  ports: fc.integer({ min: 0, max: 2 }),
  auto: fc.boolean(),
  env: fc.array(tricky, { maxLength: 3 }),
  orchestrator: fc.constantFrom('lws', 'grove', 'jobset', 'auto'),
  gang: fc.constantFrom('volcano', 'kai', 'none'),
});

type Gen = typeof serviceArb extends fc.Arbitrary<infer T> ? T : never;

function specText(g: Gen): string {
  const ports = Array.from(
    { length: g.ports },
    (_, i) => `      - { name: p${i}, port: ${8000 + i}${g.host && g.auto ? ', host-port: auto' : ''} }`,
  );
  const env = g.env.map((v, i) => `      - ${JSON.stringify(`E${i}=${v}`)}`);
  return [
    'services:',
    '  svc:',
    '    image: { uri: docker://img:1 }',
    '    script: \'echo "$(hostname)" "$MULTINODE_NODE_RANK"\'',
    `    multinode: { nodes: ${g.nodes}, implementation: ${g.implementation}, launch: ${g.launch} }`,
    `    network: { host: ${g.host} }`,
    ...(ports.length > 0 ? ['    ports:', ...ports] : []),
    ...(env.length > 0 ? ['    env:', ...env] : []),
    '',
  ].join('\n');
}

test('generated services: valid manifests, and every pod sees the local plan of its rank', async () => {
  await fc.assert(
    fc.asyncProperty(serviceArb, async (g) => {
      const parsed = parseSpec(specText(g), 'gen.yaml');
      assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.issues));
      const spec = parsed.value;
      const inventory = inventoryForSpec(spec);
      const plan = (target: Target) => {
        const r = planSpec(
          spec,
          inventory,
          defaultPlanOptions({
            target,
            filesDir: K8S_FILES_DIR,
            sshWrapperPath: K8S_SSH_WRAPPER,
            runAsRoot: true,
          }),
        );
        assert.ok(r.ok, JSON.stringify(r));
        return r.plan;
      };
      const k8s = plan('kubernetes');
      const local = plan('local');
      const out = renderKubernetes(k8s, {
        spec,
        sshKeys: goldenKeys(),
        orchestrator: g.orchestrator,
        gang: g.orchestrator === 'grove' && g.gang === 'volcano' ? 'kai' : g.gang,
      });
      assert.deepEqual(await validateManifests(out.objects), []);
      const svc = local.services[0] && literal(local.services[0]);
      assert.ok(svc);
      const addresses = Object.fromEntries(svc.ranks.map((r) => [r.hostname, r.address]));
      const inPod = (v: string): string => v.split(svc.network.subnet).join(POD_IFACE);
      for (const rank of svc.ranks) {
        const run = runPodEntrypoint(out.objects, 'svc', rank.rank, rank.address, addresses);
        const got = { ...run.env };
        for (const k of [...K8S_ONLY_ENV, ...SHELL_NOISE]) delete got[k];
        const want = Object.fromEntries(
          Object.entries(kubernetesEnv(rank.env)).map(([k, v]) => [k, inPod(v)]),
        );
        assert.deepEqual(got, want, `rank ${rank.rank} env`);
        if (rank.command.kind !== 'wait') assert.deepEqual(run.argv, rank.command.argv.map(inPod));
        for (const f of svc.files) assert.equal(run.files[f.path], inPod(f.content), f.path);
      }
    }),
    { numRuns: 25, seed: 7 },
  );
});
