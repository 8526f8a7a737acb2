/**
 * Slurm fidelity: the sbatch script asks for as many tasks per node as the local hostfile offers MPI slots
 * (GPUs per node, else cores), so `mpirun -np <nodes × slots>` from rank 0 finds the same slots in
 * OpenMPI's Slurm allocation; every rank step still starts exactly one rank per node.
 * test/conformance/ runs `mpirun -np 6` on a real emulated Slurm cluster.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSpec } from '../../src/spec/index.js';
import { planSpec } from '../../src/plan/index.js';
import { literal } from './helpers/plan-helpers.js';
import { slurmInventory, slurmPlanOptions } from '../../src/targets/slurm/target.js';
import { renderSlurmJobs } from '../../src/targets/slurm/index.js';

function script(text: string): { script: string; hostfile: string } {
  const parsed = parseSpec(text, 't.yaml');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const r = planSpec(parsed.value, slurmInventory(parsed.value), { ...slurmPlanOptions(0), runAsRoot: true });
  if (!r.ok) throw new Error(JSON.stringify(r));
  const svc = r.plan.services[0];
  const hostfile = (svc ? literal(svc).files : []).find((f) => f.path.endsWith('hostfile'))?.content ?? '';
  return { script: renderSlurmJobs(r.plan)[0]?.script ?? '', hostfile };
}

const sbatch = (s: string): string[] => s.split('\n').filter((l) => l.startsWith('#SBATCH '));

test('3 nodes × 2 GPUs (ompi): 2 tasks per node like `slots=2` in the hostfile, one rank per node', () => {
  const { script: s, hostfile } = script(`
services:
  mpi:
    script: mpirun -np 6 ./allreduce
    multinode: { nodes: 3, implementation: ompi }
    resource: { cpu: { cores: 8 }, devices: { nvidia.com/gpu: 2 } }
`);
  assert.deepEqual(
    hostfile
      .trim()
      .split('\n')
      .map((l) => l.split(' ')[1]),
    ['slots=2', 'slots=2', 'slots=2'],
  );
  const head = sbatch(s);
  assert.ok(head.includes('#SBATCH --nodes=3'), head.join('\n'));
  assert.ok(head.includes('#SBATCH --ntasks-per-node=2'), head.join('\n'));
  assert.ok(head.includes('#SBATCH --cpus-per-task=4'), '8 cores shared by 2 slots');
  assert.ok(head.includes('#SBATCH --gres=gpu:2'));
});

test('CPU-only service: slots = cores; rank steps take every CPU of the node, one task per node', () => {
  const { script: s, hostfile } = script(`
services:
  all:
    script: ./probe
    multinode: { nodes: 3, implementation: ompi, launch: all }
    resource: { cpu: { cores: 2 } }
`);
  assert.match(hostfile, /^\S+ slots=2\n/);
  const head = sbatch(s);
  assert.ok(head.includes('#SBATCH --ntasks-per-node=2'), head.join('\n'));
  assert.ok(head.includes('#SBATCH --cpus-per-task=1'), head.join('\n'));
  assert.match(
    s,
    /\nsrun --label --kill-on-bad-exit=1 --nodes=3 --ntasks=3 --ntasks-per-node=1 --cpus-per-task=2 /,
  );
});

test('leader with active workers: the worker step also starts one rank per node', () => {
  const { script: s } = script(`
services:
  sg:
    backend: { kind: sglang, command: python -m sglang.launch_server --model m --tp 4 }
    multinode: { nodes: 2 }
    resource: { cpu: { cores: 4 }, devices: { nvidia.com/gpu: 2 } }
`);
  assert.ok(sbatch(s).includes('#SBATCH --ntasks-per-node=2'));
  assert.match(
    s,
    /\nsrun --kill-on-bad-exit=1 --nodes=1 --ntasks=1 --ntasks-per-node=1 --cpus-per-task=4 --exclude=/,
  );
});
