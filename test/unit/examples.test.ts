/**
 * Every file in examples/ is a spec a user may copy: it must validate without errors, plan on an inventory
 * generated for it, and render for Kubernetes and Slurm.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSpec } from '../../src/spec/index.js';
import { defaultPlanOptions, generateInventoryForSpec, planSpec } from '../../src/plan/index.js';
import { renderSlurm } from '../../src/targets/slurm/index.js';

const dir = 'examples';
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

test('examples/ holds the quickstart and both seed-000 examples', () => {
  for (const f of ['quickstart.yaml', 'seed-000-mpi-inference.yaml', 'seed-000-vllm.yaml'])
    assert.ok(files.includes(f), f);
});

for (const file of files) {
  test(`example ${file}: validates, plans, renders for Slurm`, () => {
    const path = join(dir, file);
    const parsed = parseSpec(readFileSync(path, 'utf8'), path);
    assert.ok(parsed.ok, parsed.ok ? '' : JSON.stringify(parsed.issues, null, 2));
    for (const target of ['local', 'kubernetes', 'slurm'] as const) {
      const r = planSpec(
        parsed.value,
        generateInventoryForSpec(parsed.value),
        defaultPlanOptions({ target }),
      );
      assert.ok(r.ok, r.ok ? '' : JSON.stringify({ issues: r.issues, reasons: r.reasons }, null, 2));
      if (target === 'slurm') assert.match(renderSlurm(r.plan, {}), /^#!\/bin\/bash\n#SBATCH --job-name=/);
    }
  });
}
