/**
 * `multinode plan` end to end (the CLI run as a child process, as a user runs it) plus the seed-000 example
 * files through the real spec parser.
 */
import { test } from 'node:test';
import { literal } from './helpers/plan-helpers.js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseSpec } from '../../src/spec/index.js';
import { defaultPlanOptions, generateInventoryForSpec, planSpec } from '../../src/plan/index.js';
import type { Plan } from '../../src/api/plan.js';

const VLLM = 'examples/seed-000-vllm.yaml';
const MPI = 'examples/seed-000-mpi-inference.yaml';

function cli(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'plan', ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function parsed(file: string) {
  const r = parseSpec(readFileSync(file, 'utf8'), file);
  if (!r.ok) assert.fail(JSON.stringify(r.issues));
  return r.value;
}

test('seed 000 vLLM example: parses, plans on a fitting inventory, tp 2 = 2 nodes × 1 GPU', () => {
  const spec = parsed(VLLM);
  const r = planSpec(spec, generateInventoryForSpec(spec), defaultPlanOptions());
  assert.ok(r.ok, JSON.stringify(r.ok ? '' : [r.issues, r.reasons]));
  const s = r.plan.services[0] && literal(r.plan.services[0]);
  assert.ok(s);
  assert.equal(s.network.mode, 'host');
  assert.deepEqual(
    s.ranks.map((x) => [x.hostname, x.gpus, x.env['MULTINODE_HOSTLIST_NOSLOTS']]),
    [
      ['vllm-0', [0], 'vllm-0,vllm-1'],
      ['vllm-1', [0], 'vllm-0,vllm-1'],
    ],
  );
  assert.equal(s.ranks[0]?.env['MULTINODE_WRAPPER_FORWARD_STREAMS'], '1');
  assert.equal(s.endpoints[0]?.targetPort, 8080);
});

test('seed 000 MPI example: ompi hostfile with 2 slots per host on 4 nodes', () => {
  const spec = parsed(MPI);
  const r = planSpec(spec, generateInventoryForSpec(spec), defaultPlanOptions());
  assert.ok(r.ok);
  const s = r.plan.services[0] && literal(r.plan.services[0]);
  assert.ok(s);
  assert.equal(s.ranks.length, 4);
  assert.match(
    s.files.find((f) => f.path.endsWith('/hostfile'))?.content ?? '',
    /^distributed-inference-0 slots=2\n/,
  );
});

test('cli: table shows the rank table, network, endpoints and commands', () => {
  const r = cli(VLLM);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /RANK\s+ROLE\s+NODE\s+HOST\s+IP\s+GPUS\s+CPUSET\s+PORTS\s+SSH/);
  assert.match(
    r.stdout,
    /0\s+leader\s+node-1\s+vllm-0\s+198\.18\.0\.1\s+0\s+0-15 \(numa0\)\s+openai-api=8080\s+2222/,
  );
  assert.match(r.stdout, /network: host 198\.18\.0\.0\/16/);
  assert.match(r.stdout, /openai-vllm: http port 8080 → vllm-0 198\.18\.0\.1:8080/);
  assert.match(r.stdout, /1 {2}wait/);
  assert.doesNotMatch(r.stdout, /MULTINODE_NODE_RANK=/);
});

test('cli: --env prints every variable of every rank', () => {
  const r = cli(VLLM, '--env');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /env of rank 1 \(vllm-1\):[\s\S]*MULTINODE_NODE_RANK=1/);
  assert.match(r.stdout, /MASTER_ADDR=vllm-0/);
});

test('cli: --output json is the canonical plan, same bytes for the same seed', () => {
  const a = cli(VLLM, '--output', 'json', '--seed', '3');
  const b = cli(VLLM, '--output', 'json', '--seed', '3');
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout, b.stdout);
  const plan = JSON.parse(a.stdout) as Plan;
  assert.equal(plan.kind, 'Plan');
  assert.equal(plan.seed, 3);
  assert.match(plan.hash, /^[0-9a-f]{16}$/);
});

test('cli: an inventory too small exits 1 and says why', () => {
  const r = cli(VLLM, '--nodes', '1');
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /cannot place vllm: needs 2 nodes with 1× NVIDIA L4, 16 cores, 120GB memory and host ports 8080 free; 1 of 1 qualifies/,
  );
});

test('cli: a wrong GPU model is named per node', () => {
  const r = cli(VLLM, '--gpu-model', 'NVIDIA T4');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /node-1: lacks GPU model NVIDIA L4 \(has NVIDIA T4\)/);
});

test('cli: --inventory reads a file; mixing it with sizing flags is bad input', () => {
  const ok = cli(MPI, '--inventory', 'test/fixtures/inventory/lab.yaml');
  // lab.yaml has three nodes; the MPI example needs four.
  assert.equal(ok.code, 1);
  assert.match(ok.stderr, /needs 4 nodes/);
  const bad = cli(MPI, '--inventory', 'test/fixtures/inventory/lab.yaml', '--nodes', '4');
  assert.equal(bad.code, 2);
});

test('cli: bad flags are bad input', () => {
  assert.equal(cli(VLLM, '--output', 'yaml').code, 2);
  assert.equal(cli(VLLM, '--nodes', 'two').code, 2);
  assert.equal(cli(VLLM, '--memory', 'lots').code, 2);
});

test('seed 000 vLLM with 4 nodes: the parallelism error points at the flag in the file', () => {
  const text = readFileSync(VLLM, 'utf8').replace('nodes: 2', 'nodes: 4');
  const r = parseSpec(text, VLLM);
  assert.ok(r.ok);
  const p = planSpec(r.value, generateInventoryForSpec(r.value), defaultPlanOptions());
  assert.equal(p.ok, false);
  if (p.ok) return;
  const pos = p.issues[0]?.pos;
  assert.ok(pos);
  const line = text.split('\n')[pos.line - 1] ?? '';
  assert.equal(
    line.slice(pos.col - 1, pos.col - 1 + '--tensor-parallel-size 2'.length),
    '--tensor-parallel-size 2',
  );
});

test('cli: --target slurm|kubernetes plans as that target would and shows no invented node or address', () => {
  for (const target of ['slurm', 'kubernetes']) {
    const r = cli('examples/mpi-allreduce.yaml', '--target', target, '--env');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`decided by ${target} at run time`));
    assert.match(r.stdout, /MULTINODE_LEADER_IP=<addr 0>/);
    assert.doesNotMatch(r.stdout, /198\.1[89]\./);
  }
  const bad = cli('examples/mpi-allreduce.yaml', '--target', 'nomad');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--target must be local, kubernetes or slurm/);
});
