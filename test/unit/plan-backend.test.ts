import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BackendKind, ProbeSpec } from '../../src/api/spec.js';
import { defaultPlanOptions, generateInventory, planSpec } from '../../src/plan/index.js';
import { checkParallelism, findParallelFlags } from '../../src/plan/parallelism.js';
import { buildSpec, seed000Vllm, service } from './helpers/spec-builder.js';
import { mustFail, mustPlan, litOf } from './helpers/plan-helpers.js';

const inv = generateInventory({ nodes: 4, gpusPerNode: 4 });
const probe: ProbeSpec = {
  action: { kind: 'http', path: '/health', port: 8000, scheme: 'http' },
  periodSeconds: 10,
  failureThreshold: 3,
  successThreshold: 1,
  initialDelaySeconds: 5,
  timeoutSeconds: 1,
};

function backendService(kind: BackendKind, command: string, nodes = 2, gpus = 4) {
  return service('llm', {
    nodes,
    script: '',
    backend: { kind, command },
    resource: { gpus },
    readinessProbe: probe,
    env: [{ key: 'HF_TOKEN', value: 'x' }],
  });
}

test('vllm: Ray head then the command on the leader, Ray workers block; worker probes dropped', () => {
  const s = litOf(
    mustPlan(buildSpec([backendService('vllm', 'vllm serve m --tensor-parallel-size 8')]), inv),
  );
  assert.deepEqual(s.ranks[0]?.command, {
    kind: 'backend',
    argv: ['/bin/sh', '-c', 'ray start --head --port=6379 && vllm serve m --tensor-parallel-size 8'],
  });
  assert.deepEqual(s.ranks[1]?.command, {
    kind: 'backend',
    argv: ['/bin/sh', '-c', 'ray start --address=llm-0:6379 --block'],
  });
  assert.deepEqual(s.ranks[0]?.probe, probe);
  assert.equal(s.ranks[1]?.probe, undefined);
  assert.equal(s.backend, 'vllm');
});

test('sglang: --dist-init-addr, --nnodes and --node-rank appended on every rank', () => {
  const s = litOf(
    mustPlan(
      buildSpec([backendService('sglang', 'python -m sglang.launch_server --tp 24', 3, 8)]),
      generateInventory({ nodes: 3, gpusPerNode: 8 }),
    ),
  );
  s.ranks.forEach((r) =>
    assert.deepEqual(r.command.argv, [
      '/bin/sh',
      '-c',
      `python -m sglang.launch_server --tp 24 --dist-init-addr llm-0:29500 --nnodes 3 --node-rank ${r.rank}`,
    ]),
  );
  assert.deepEqual(s.ranks[0]?.probe, probe);
  assert.equal(s.ranks[2]?.probe, undefined);
});

test('trtllm: leader under mpirun over the wrapper; workers wait on sshd 2222 with the TCP probe', () => {
  const s = litOf(
    mustPlan(buildSpec([backendService('trtllm', 'trtllm-llmapi-launch trtllm-serve m --tp_size 8')]), inv, {
      runAsRoot: true,
    }),
  );
  const leader = s.ranks[0];
  assert.ok(leader);
  assert.equal(leader.command.kind, 'backend');
  const cmd = leader.command.argv[2] ?? '';
  assert.equal(
    cmd,
    `mpirun --allow-run-as-root --oversubscribe -np 8 -H llm-0:4,llm-1:4 --mca plm_rsh_agent /var/lib/multinode/bin/multinode-ssh --mca btl_tcp_if_include ${s.network.subnet} --mca oob_tcp_if_include ${s.network.subnet} -x OMPI_MCA_orte_keep_fqdn_hostnames -x HF_TOKEN /bin/sh -c 'trtllm-llmapi-launch trtllm-serve m --tp_size 8'`,
  );
  assert.deepEqual(s.ranks[1]?.command, { kind: 'wait', argv: [] });
  assert.equal(s.ranks[1]?.sshPort, 2222);
  assert.deepEqual(s.ranks[1]?.probe, {
    action: { kind: 'tcp', port: 2222 },
    initialDelaySeconds: 20,
    periodSeconds: 20,
    timeoutSeconds: 5,
    failureThreshold: 10,
    successThreshold: 1,
  });
  assert.deepEqual(leader.probe, probe);
  for (const r of s.ranks) assert.equal(r.env['OMPI_MCA_orte_keep_fqdn_hostnames'], '1');
});

test('launch leader: rank 0 runs the script, the others wait; launch all: every rank runs it', () => {
  const leader = litOf(
    mustPlan(buildSpec([service('s', { nodes: 3 })]), inv, { filesDir: '/run/{service}/f' }),
  );
  assert.deepEqual(
    leader.ranks.map((r) => r.command),
    [
      { kind: 'script', argv: ['/run/s/f/script'] },
      { kind: 'wait', argv: [] },
      { kind: 'wait', argv: [] },
    ],
  );
  const all = litOf(
    mustPlan(buildSpec([service('s', { nodes: 3, launch: 'all' })]), inv, { filesDir: '/run/{service}/f' }),
  );
  assert.ok(all.ranks.every((r) => r.command.kind === 'script' && r.command.argv[0] === '/run/s/f/script'));
  const script = all.files.find((f) => f.path === '/run/s/f/script');
  assert.equal(script?.mode, 0o755);
  assert.equal(script?.content, '#!/bin/sh\necho hello\n');
});

test('files: hostfile and cluster.json with every rank; identical for all ranks', () => {
  const s = litOf(
    mustPlan(
      buildSpec([service('c', { nodes: 2, ports: [{ name: 'http', port: 80, protocol: 'tcp' }] })]),
      inv,
    ),
  );
  const cluster = JSON.parse(s.files.find((f) => f.path.endsWith('/cluster.json'))?.content ?? '{}') as {
    version: number;
    ranks: { rank: number; host: string; address: string; ports: Record<string, number> }[];
  };
  assert.equal(cluster.version, 1);
  assert.deepEqual(
    cluster.ranks.map((r) => [r.rank, r.host, r.address, r.ports['http']]),
    s.ranks.map((r) => [r.rank, r.hostname, r.address, 80]),
  );
});

interface ParCase {
  name: string;
  text: string;
  backend?: BackendKind;
  nodes: number;
  gpus: number;
  ok: boolean | undefined;
  message?: RegExp;
}

const parCases: ParCase[] = [
  {
    name: 'seed 000: tp 2 = 2 nodes × 1 GPU',
    text: '--tensor-parallel-size 2 \\\n--tensor-parallel-size 2',
    nodes: 2,
    gpus: 1,
    ok: true,
  },
  {
    name: 'vLLM tp = GPUs per node, pp = nodes',
    text: 'vllm serve m --tensor-parallel-size 8 --pipeline-parallel-size 2',
    backend: 'vllm',
    nodes: 2,
    gpus: 8,
    ok: true,
  },
  {
    name: 'tp too small',
    text: 'vllm serve m --tensor-parallel-size 4',
    nodes: 2,
    gpus: 4,
    ok: false,
    message:
      /--tensor-parallel-size 4 × pp 1 × dp 1 = 4, but the service has 2 nodes × 4 GPUs per node = 8 GPUs/,
  },
  { name: '= form', text: 'x --tp-size=8', nodes: 2, gpus: 4, ok: true },
  { name: '--tp and --dp', text: 'x --tp 4 --dp 2', nodes: 2, gpus: 4, ok: true },
  {
    name: 'trtllm underscores',
    text: 'trtllm-serve --tp_size 4 --pp_size 2',
    backend: 'trtllm',
    nodes: 2,
    gpus: 4,
    ok: true,
  },
  {
    name: 'SGLang: --tp is the total',
    text: 'sglang --tp 16',
    backend: 'sglang',
    nodes: 2,
    gpus: 8,
    ok: true,
  },
  {
    name: 'SGLang: dp divides tp rather than multiplying',
    text: 'sglang --tp 16 --dp 4 --enable-dp-attention',
    backend: 'sglang',
    nodes: 2,
    gpus: 8,
    ok: true,
  },
  {
    name: 'SGLang: dp that does not divide tp',
    text: 'sglang --tp 16 --dp 3',
    backend: 'sglang',
    nodes: 2,
    gpus: 8,
    ok: false,
    message: /must divide/,
  },
  {
    name: 'conflicting values',
    text: '--tp 2\n--tp 4',
    nodes: 2,
    gpus: 1,
    ok: false,
    message: /set to both 2 and 4/,
  },
  {
    name: 'a variable is not checked',
    text: 'vllm serve --tensor-parallel-size $TP',
    nodes: 2,
    gpus: 1,
    ok: undefined,
  },
  { name: 'no GPUs: skipped', text: '--tp 3', nodes: 2, gpus: 0, ok: undefined },
  { name: 'no flags: nothing to check', text: 'python train.py --tpx 3', nodes: 2, gpus: 1, ok: undefined },
];

for (const c of parCases) {
  test(`parallelism: ${c.name}`, () => {
    const v = checkParallelism(c.text, c.backend, c.nodes, c.gpus);
    assert.equal(v?.ok, c.ok, v?.message);
    if (c.message) assert.match(v?.message ?? '', c.message);
    assert.equal(v?.warning, undefined, 'no layout warning');
  });
}

test('parallelism: right product, but tp groups straddle nodes → a warning, still a plan', () => {
  const v = checkParallelism('x --tp 3 --pp 2', undefined, 3, 2);
  assert.equal(v?.ok, true);
  assert.match(v?.warning ?? '', /--tp 3 neither divides nor is a multiple of the 2 GPUs per node/);
  const r = planSpec(
    buildSpec([service('w', { nodes: 3, resource: { gpus: 2 }, script: 'x --tp 3 --pp 2' })]),
    generateInventory({ nodes: 3, gpusPerNode: 2 }),
    defaultPlanOptions(),
  );
  assert.ok(r.ok);
  assert.deepEqual(
    r.warnings.map((w) => w.code),
    ['plan-parallelism-layout'],
  );
});

test('parallelism flags carry their line', () => {
  assert.deepEqual(findParallelFlags('a\nb --pp=2\n'), [
    { kind: 'pp', flag: '--pp', value: 2, line: 1, column: 2 },
  ]);
});

test('parallelism: seed 000 plans; a mismatch is a located error with the arithmetic', () => {
  mustPlan(
    buildSpec([seed000Vllm()]),
    generateInventory({ nodes: 2, gpusPerNode: 1, cores: 32, memoryBytes: 256e9 }),
  );
  const bad = { ...seed000Vllm(), nodes: 4 };
  const spec = buildSpec([bad], { 'services.vllm.script': { file: 'seed.yaml', line: 12, col: 11 } });
  const { issues } = mustFail(
    spec,
    generateInventory({ nodes: 4, gpusPerNode: 1, cores: 32, memoryBytes: 256e9 }),
  );
  assert.equal(issues.length, 1);
  const i = issues[0];
  assert.ok(i);
  assert.equal(i.code, 'plan-parallelism');
  assert.equal(i.path, 'services.vllm.script');
  // The flag is on the script's 4th line (index 3): block scalar content starts one line below the key,
  // two columns deeper than the key (key column = 11 - len('script: ') = 3).
  assert.deepEqual(i.pos, { file: 'seed.yaml', line: 16, col: 5 });
  assert.match(
    i.message,
    /--tensor-parallel-size 2 × pp 1 × dp 1 = 2, but the service has 4 nodes × 1 GPU per node = 4 GPUs/,
  );
});

test('parallelism: checked on the backend command when there is one', () => {
  const { issues } = mustFail(
    buildSpec([backendService('vllm', 'vllm serve m --tensor-parallel-size 3')]),
    inv,
  );
  assert.equal(issues[0]?.path, 'services.llm.backend.command');
});
