/**
 * The symbolic plan: no Kubernetes or Slurm output names an emulator address or subnet (198.18.0.0/15), the
 * plan grows linearly with the number of ranks, and every rank of a service resolves the same variables.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseSpec } from '../../src/spec/index.js';
import {
  defaultPlanOptions,
  generateInventory,
  localLeaves,
  planSpec,
  resolveRankEnv,
  serializePlan,
} from '../../src/plan/index.js';
import { slurmInventory, slurmPlanOptions } from '../../src/targets/slurm/target.js';
import { renderSlurm } from '../../src/targets/slurm/index.js';
import { goldenCaseNames, loadCase, renderCase } from './helpers/k8s-plan-fixtures.js';
import { buildSpec, service } from './helpers/spec-builder.js';

/** An IPv4 address or CIDR in 198.18.0.0/15 (the emulator's underlay and overlay pool). */
const EMULATOR = /(?<![0-9.])198\.1[89]\.\d{1,3}\.\d{1,3}(?:\/\d+)?(?![0-9])/;

const EXAMPLES = join(import.meta.dirname, '..', '..', 'examples');

for (const name of goldenCaseNames()) {
  test(`golden ${name}: the Kubernetes and Slurm output name no emulator address`, (t) => {
    const c = loadCase(name);
    const k8s = renderCase(c).yaml;
    assert.doesNotMatch(k8s, EMULATOR, `kubernetes: ${EMULATOR.exec(k8s)?.[0]}`);
    const r = planSpec(c.spec, slurmInventory(c.spec), slurmPlanOptions(c.config.seed ?? 0));
    if (!r.ok) {
      // Known: the Slurm inventory has no fabric NICs, so a spec asking for them does not plan for Slurm.
      assert.ok(
        r.reasons.some((x) => x.summary.includes('fabric NIC')),
        JSON.stringify(r.reasons),
      );
      t.diagnostic(`${name}: not plannable for Slurm (fabric NICs)`);
      return;
    }
    const slurm = renderSlurm(r.plan);
    assert.doesNotMatch(slurm, EMULATOR, `slurm: ${EMULATOR.exec(slurm)?.[0]}`);
  });
}

for (const f of readdirSync(EXAMPLES).filter((x) => x.endsWith('.yaml'))) {
  test(`examples/${f}: the Slurm script names no emulator address`, () => {
    const p = parseSpec(readFileSync(join(EXAMPLES, f), 'utf8'), f);
    assert.ok(p.ok);
    const r = planSpec(p.value, slurmInventory(p.value), slurmPlanOptions(0));
    assert.ok(r.ok);
    const slurm = renderSlurm(r.plan);
    assert.doesNotMatch(slurm, EMULATOR, `${EMULATOR.exec(slurm)?.[0]}`);
  });
}

function hostModePlan(n: number): string {
  const spec = buildSpec([
    service('big', {
      nodes: n,
      implementation: 'ompi',
      launch: 'all',
      hostNetwork: true,
      envCompat: ['slurm', 'skypilot', 'volcano', 'backendai'],
      ports: [{ name: 'http', port: 8000, protocol: 'tcp', hostPort: 'auto' }],
    }),
  ]);
  const r = planSpec(spec, generateInventory({ nodes: n }), defaultPlanOptions({ seed: 1 }));
  assert.ok(r.ok);
  return serializePlan(r.plan);
}

test('plan size is linear in ranks: bytes per rank about the same from 100 to 2,000 host-mode ranks', () => {
  const per = [100, 2000].map((n) => hostModePlan(n).length / n);
  const [small, large] = per;
  assert.ok(small !== undefined && large !== undefined);
  assert.ok(large < small * 1.3, `bytes per rank: ${per.map((x) => x.toFixed(0)).join(' → ')}`);
});

test('the symbolic env holds no host name or address of any rank; every rank resolves the same names', () => {
  const spec = buildSpec([
    service('s', { nodes: 4, implementation: 'ompi', envCompat: ['slurm', 'skypilot'] }),
  ]);
  const r = planSpec(spec, generateInventory({ nodes: 4 }), defaultPlanOptions());
  assert.ok(r.ok);
  const svc = r.plan.services[0];
  assert.ok(svc);
  const text = JSON.stringify([svc.env, svc.lists, svc.files, svc.ranks.map((x) => x.command)]);
  assert.doesNotMatch(text, EMULATOR);
  assert.doesNotMatch(text, /s-\d/);
  const l = localLeaves(svc);
  const names = svc.ranks.map((x) => Object.keys(resolveRankEnv(svc, x.rank, l)).join(' '));
  assert.ok(names.every((x) => x === names[0]));
  assert.equal(resolveRankEnv(svc, 2, l)['MULTINODE_NODE_HOSTNAME'], 's-2');
});
