/**
 * Roles on Slurm (docs/guides/slurm.md "Roles"): one allocation, every rank's role picked by rank range in
 * the job script; roles with their own resources make the allocation ask every node for the largest role's
 * cores, memory and GPUs (one allocation has one per-node request).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSpec } from '../../src/spec/index.js';
import { planSpec } from '../../src/plan/index.js';
import { renderSlurm } from '../../src/targets/slurm/index.js';
import { slurmInventory, slurmPlanOptions } from '../../src/targets/slurm/target.js';

function script(text: string): string {
  const parsed = parseSpec(text, 'roles.yaml');
  if (!parsed.ok) assert.fail(JSON.stringify(parsed.issues));
  const r = planSpec(parsed.value, slurmInventory(parsed.value), slurmPlanOptions(0));
  if (!r.ok) assert.fail(JSON.stringify(r));
  return renderSlurm(r.plan);
}

const sbatch = (s: string): string[] => s.split('\n').filter((l) => l.startsWith('#SBATCH '));

const SPEC = `
services:
  app:
    script: serve
    resource: { cpu: { cores: 2 }, memory: { size: 2Gi } }
    roles:
      - name: frontend
        nodes: 1
      - name: decode
        nodes: 2
        resource: { cpu: { cores: 4 }, memory: { size: 6Gi }, devices: { nvidia.com/gpu: 2 } }
`;

test('slurm roles: the allocation asks every node for the largest role', () => {
  const s = script(SPEC);
  assert.deepEqual(sbatch(s), [
    '#SBATCH --job-name=app',
    '#SBATCH --nodes=3',
    // The plan's MPI slots (rank 0's cores: 2) × 2 CPUs each = the decode role's 4 cores on every node.
    '#SBATCH --ntasks-per-node=2',
    '#SBATCH --cpus-per-task=2',
    '#SBATCH --mem=6144M',
    '#SBATCH --gres=gpu:2',
  ]);
  assert.match(s, /# note: the roles ask for different resources/);
});

test("slurm roles: without role resources the header is the service's", () => {
  const s = script(SPEC.replace(/ {8}resource: .*\n/, ''));
  assert.ok(sbatch(s).includes('#SBATCH --mem=2048M'));
  assert.ok(!sbatch(s).some((l) => l.includes('gres')));
  assert.doesNotMatch(s, /roles ask for different resources/);
});
