/**
 * Kubernetes target cost, side by side per golden case, interleaved round-robin, median per row:
 * - `render/<case>`: `renderKubernetes` (objects + canonical YAML) from a ready plan;
 * - `validate/<case>`: `validateManifests` on those objects with the schemas already compiled;
 * - `first-validate`: the one-time cost of loading and compiling the shipped CRD schemas (cold, measured once);
 * plus a 64-rank LWS service to show how rendering scales with ranks.
 *
 *   node --import tsx bench/k8s-render.ts [rounds]
 */
import { performance } from 'node:perf_hooks';
import { renderKubernetes, validateManifests } from '../src/targets/kubernetes/index.js';
import { parseSpec } from '../src/spec/index.js';
import { defaultPlanOptions, generateInventory, planSpec } from '../src/plan/index.js';
import { goldenCaseNames, goldenKeys, loadCase, planCase } from '../test/unit/helpers/k8s-plan-fixtures.js';

const rounds = Number(process.argv[2] ?? 7);
const keys = goldenKeys();

interface Row {
  readonly name: string;
  readonly run: () => Promise<void> | void;
  readonly ms: number[];
}

const rows: Row[] = [];
const names = goldenCaseNames();

const t0 = performance.now();
await validateManifests(
  renderKubernetes(planCase(loadCase(names[0] ?? ''), 'kubernetes'), { sshKeys: keys }).objects,
);
const firstValidate = performance.now() - t0;

for (const name of names) {
  const c = loadCase(name);
  const plan = planCase(c, 'kubernetes');
  const objects = renderKubernetes(plan, { ...(c.config.render ?? {}), spec: c.spec, sshKeys: keys }).objects;
  rows.push({
    name: `render/${name}`,
    run: () => void renderKubernetes(plan, { ...(c.config.render ?? {}), spec: c.spec, sshKeys: keys }),
    ms: [],
  });
  rows.push({ name: `validate/${name}`, run: async () => void (await validateManifests(objects)), ms: [] });
}

const big = parseSpec(
  `services:\n  big:\n    image: { uri: docker://x:1 }\n    script: mpirun hostname\n    multinode: { nodes: 64, implementation: ompi }\n    resource: { devices: { nvidia.com/gpu: 8 } }\n`,
  'big.yaml',
);
if (!big.ok) throw new Error('bench spec');
const bigPlan = planSpec(
  big.value,
  generateInventory({ nodes: 64, gpusPerNode: 8, cores: 64 }),
  defaultPlanOptions({
    target: 'kubernetes',
    filesDir: '/etc/multinode',
    sshWrapperPath: '/etc/multinode/bin/multinode-ssh',
  }),
);
if (!bigPlan.ok) throw new Error('bench plan');
rows.push({
  name: 'render/lws-64-ranks',
  run: () => void renderKubernetes(bigPlan.plan, { sshKeys: keys }),
  ms: [],
});

for (let r = 0; r < rounds; r++) {
  for (const row of rows) {
    const s = performance.now();
    await row.run();
    row.ms.push(performance.now() - s);
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};
console.log(`first validate (load + compile CRD schemas): ${firstValidate.toFixed(0)} ms`);
console.log(`${'case'.padEnd(44)} ${'median ms'.padStart(10)}`);
for (const row of rows) console.log(`${row.name.padEnd(44)} ${median(row.ms).toFixed(2).padStart(10)}`);
const renders = rows.filter((r) => r.name.startsWith('render/') && r.name !== 'render/lws-64-ranks');
const validates = rows.filter((r) => r.name.startsWith('validate/'));
const sum = (rs: Row[]): number => rs.reduce((a, r) => a + median(r.ms), 0);
console.log(`validate / render (all golden cases): ${(sum(validates) / sum(renders)).toFixed(1)}×`);
