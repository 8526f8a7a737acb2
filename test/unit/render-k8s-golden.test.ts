/**
 * Golden tests of the Kubernetes target: for every `test/golden/<case>/spec.yaml`, parse → plan (target
 * kubernetes) → render must equal `kubernetes.yaml` byte for byte, pass schema validation (core objects with
 * kubernetes-models, custom resources against the official CRD schemas), and give every rank — after the
 * pod's real entrypoint shim runs with the local plan's addresses standing in for the Downward API and DNS —
 * exactly the environment, command and files the local-target plan gives the same rank. As root with setpriv(1),
 * the shim runs confined as the pod's securityContext confines it (no_new_privs, only the added capabilities), so
 * the hardening is shown not to stop a rank from starting.
 * Regenerate the golden files only with `UPDATE_GOLDEN=1 node scripts/run-tests.mjs unit render-k8s-golden`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { localLeaves, resolveArgv, resolveFiles, resolveRankEnv } from '../../src/plan/index.js';
import { K8S_ONLY_ENV, kubernetesEnv, validateManifests } from '../../src/targets/kubernetes/index.js';
import {
  CAPABILITY_BITS,
  POD_IFACE,
  SHELL_NOISE,
  goldenCaseNames,
  loadCase,
  planCase,
  renderCase,
  podTemplateFor,
  runPodEntrypoint,
} from './helpers/k8s-plan-fixtures.js';

const update = process.env['UPDATE_GOLDEN'] === '1';
const cases = goldenCaseNames();

test('there are golden cases', () => {
  assert.ok(cases.length >= 10, `found ${cases.length}`);
});

for (const name of cases) {
  test(`golden ${name}: output matches kubernetes.yaml`, () => {
    const c = loadCase(name);
    const out = renderCase(c);
    const path = join(c.dir, 'kubernetes.yaml');
    if (update) writeFileSync(path, out.yaml);
    assert.ok(existsSync(path), `${path} missing; run with UPDATE_GOLDEN=1 to create it`);
    assert.equal(out.yaml, readFileSync(path, 'utf8'));
    // Deterministic: a second rendering of a fresh plan is byte-identical.
    assert.equal(renderCase(loadCase(name)).yaml, out.yaml);
    assert.ok(out.yaml.endsWith('\n'));
  });

  test(`golden ${name}: passes schema validation`, async () => {
    const c = loadCase(name);
    const issues = await validateManifests(renderCase(c).objects);
    assert.deepEqual(issues, []);
  });

  test(`golden ${name}: every pod sees the local plan's rank env, command and files`, () => {
    const c = loadCase(name);
    const k8s = planCase(c, 'kubernetes');
    const local = planCase(c, 'local');
    const out = renderCase(c, k8s);
    for (const svc of local.services) {
      const addresses = Object.fromEntries(svc.ranks.map((r) => [r.hostname, r.address]));
      const leaves = localLeaves(svc);
      for (const rank of svc.ranks) {
        const run = runPodEntrypoint(out.objects, svc.name, rank.rank, rank.address, addresses);
        if (run.confined) {
          const pod = podTemplateFor(out.objects, svc.name, rank.rank)['spec'] as {
            containers: { securityContext: { capabilities: { add?: string[] } } }[];
          };
          const add = pod.containers[0]?.securityContext.capabilities.add ?? [];
          const mask = add.reduce((m, c) => m | (1n << BigInt(CAPABILITY_BITS[c] ?? 63)), 0n);
          assert.equal(run.confined.capEff, mask, `${name} rank ${rank.rank}: effective capabilities`);
          assert.equal(run.confined.noNewPrivs, true, `${name} rank ${rank.rank}: no_new_privs`);
        }
        const got = { ...run.env };
        for (const k of [...K8S_ONLY_ENV, ...SHELL_NOISE]) delete got[k];
        // Documented rewrite: the plan's service subnet names the pod's interface on Kubernetes.
        const inPod = (v: string): string => v.split(svc.network.subnet).join(POD_IFACE);
        const want = Object.fromEntries(
          Object.entries(kubernetesEnv(resolveRankEnv(svc, rank.rank, leaves))).map(([k, v]) => [
            k,
            inPod(v),
          ]),
        );
        assert.deepEqual(got, want, `${name} ${svc.name} rank ${rank.rank}: env`);
        const k8sRank = k8s.services.find((s) => s.name === svc.name)?.ranks[rank.rank];
        if (rank.command.kind !== 'wait') {
          assert.deepEqual(
            run.argv,
            resolveArgv(svc, rank.rank, leaves).map(inPod),
            `${name} rank ${rank.rank}: argv`,
          );
        } else {
          assert.equal(k8sRank?.command.kind, 'wait');
        }
        const files = Object.fromEntries(resolveFiles(svc.files, leaves).map((f) => [f.path, f.content]));
        for (const [path, content] of Object.entries(files)) {
          assert.equal(run.files[path], inPod(content), `${name} rank ${rank.rank}: ${path}`);
        }
      }
    }
  });
}
