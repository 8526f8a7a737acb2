/**
 * Every file in examples/ is a spec a user may copy: it must validate without errors, plan on an inventory
 * generated for it, and render for Kubernetes and Slurm. The commands an example's header tells a user to
 * run that need no cluster (`plan`, `render`, `validate`) run here, through the CLI, and print what the
 * header says; the ones that run it (`up`, `curl`) run in test/root/examples.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSpec } from '../../src/spec/index.js';
import { defaultPlanOptions, generateInventoryForSpec, planSpec } from '../../src/plan/index.js';
import { renderSlurm } from '../../src/targets/slurm/index.js';
import { buildKubernetes } from '../../src/targets/kubernetes/index.js';
import { exampleUsage, runsLocally } from './helpers/example-usage.js';

const dir = 'examples';
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

test('examples/ holds the quickstart and both seed-000 examples', () => {
  for (const f of ['quickstart.yaml', 'seed-000-mpi-inference.yaml', 'seed-000-vllm.yaml'])
    assert.ok(files.includes(f), f);
});

for (const file of files) {
  test(`example ${file}: validates, plans, renders for Kubernetes and Slurm`, () => {
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
      if (target === 'kubernetes') {
        // SSH keys come from an existing Secret, as `render --ssh-secret` does. A file without an image
        // runs on the local target's file system only: Kubernetes says so, and nothing else.
        const k = buildKubernetes(r.plan, { sshSecret: 'example-ssh' });
        if (parsed.value.services.every((s) => s.imageUri !== undefined))
          assert.ok(k.ok, k.ok ? '' : JSON.stringify(k.issues, null, 2));
        else assert.deepEqual(k.ok ? [] : [...new Set(k.issues.map((i) => i.code))], ['k8s-no-image']);
      }
    }
  });

  const steps = exampleUsage(join(dir, file));
  if (steps.length === 0 || runsLocally(steps)) continue;
  test(`example ${file}: the commands its header documents print what it says`, () => {
    for (const step of steps) {
      assert.equal(step.kind, 'multinode');
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...step.args], {
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1' },
      });
      assert.equal(r.status, 0, `multinode ${step.args.join(' ')}:\n${r.stderr}`);
      for (const text of step.prints)
        assert.ok(r.stdout.includes(text), `${step.args.join(' ')} prints ${text}`);
    }
  });
}
