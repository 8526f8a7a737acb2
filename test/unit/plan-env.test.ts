import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EnvCompatFamily, Implementation } from '../../src/api/spec.js';
import { ENV_DOCS, NEVER_PRESET } from '../../src/api/names.js';
import { compressHostlist, generateInventory } from '../../src/plan/index.js';
import { compressCounts } from '../../src/plan/hostlist.js';
import { buildSpec, seed000Vllm, service } from './helpers/spec-builder.js';
import { litOf, literal, mustPlan } from './helpers/plan-helpers.js';

const inv = generateInventory({ nodes: 4, gpusPerNode: 2, cores: 32, memoryBytes: 256e9 });
const FILES = '/var/lib/multinode/services/vllm/files';

test('seed 000: our variables on every rank', () => {
  const s = litOf(mustPlan(buildSpec([seed000Vllm()]), inv));
  const [r0, r1] = s.ranks;
  assert.ok(r0 && r1);
  const common = {
    MULTINODE_SERVICE: 'vllm',
    MULTINODE_NUM_NODES: '2',
    MULTINODE_LEADER_HOST: 'vllm-0',
    MULTINODE_LEADER_IP: '198.18.0.1',
    MULTINODE_GPUS_PER_NODE: '1',
    MULTINODE_HOSTLIST: 'vllm-0:1,vllm-1:1',
    MULTINODE_HOSTLIST_NOSLOTS: 'vllm-0,vllm-1',
    MULTINODE_HOSTFILE: `${FILES}/hostfile`,
    MULTINODE_CLUSTER_FILE: `${FILES}/cluster.json`,
    MULTINODE_SSH_WRAPPER: '/var/lib/multinode/bin/multinode-ssh',
    MULTINODE_PORT_OPENAI_API: '8080',
    MULTINODE_WRAPPER_FORWARD_STREAMS: '1',
    MASTER_ADDR: 'vllm-0',
    MASTER_PORT: '29500',
    CUDA_VISIBLE_DEVICES: '0',
  };
  for (const [k, v] of Object.entries(common)) {
    assert.equal(r0.env[k], v, `rank 0 ${k}`);
    assert.equal(r1.env[k], v, `rank 1 ${k}`);
  }
  assert.equal(r0.env['MULTINODE_NODE_RANK'], '0');
  assert.equal(r1.env['MULTINODE_NODE_RANK'], '1');
  assert.equal(r1.env['MULTINODE_NODE_IP'], '198.18.0.2');
  assert.equal(r1.env['MULTINODE_NODE_HOSTNAME'], 'vllm-1');
  for (const name of NEVER_PRESET) assert.ok(!(name in r0.env), `${name} is never preset`);
  assert.deepEqual(Object.keys(r0.env), Object.keys(r0.env).sort(), 'env sorted by name');
});

test('one rank: no MASTER_ADDR, MASTER_PORT or TF_CONFIG', () => {
  const r = litOf(mustPlan(buildSpec([service('solo', { nodes: 1 })]), inv)).ranks[0];
  assert.ok(r);
  for (const k of ['MASTER_ADDR', 'MASTER_PORT', 'TF_CONFIG']) assert.ok(!(k in r.env), k);
  assert.equal(r.tfPort, undefined);
});

test('no GPUs: no CUDA_VISIBLE_DEVICES, slots 1', () => {
  const r = litOf(mustPlan(buildSpec([service('c', { nodes: 2 })]), inv)).ranks[0];
  assert.ok(r);
  assert.ok(!('CUDA_VISIBLE_DEVICES' in r.env));
  assert.equal(r.env['MULTINODE_HOSTLIST'], 'c-0:1,c-1:1');
});

interface ImplCase {
  impl: Implementation;
  runAsRoot: boolean;
  hostfile: string;
  env: Record<string, string | undefined>;
}

const W = '/var/lib/multinode/bin/multinode-ssh';
const HF = '/var/lib/multinode/services/mpi/files/hostfile';
const implCases: ImplCase[] = [
  {
    impl: 'ompi',
    runAsRoot: false,
    hostfile: 'mpi-0 slots=2\nmpi-1 slots=2\n',
    env: {
      OMPI_MCA_plm_rsh_agent: W,
      OMPI_MCA_orte_default_hostfile: HF,
      OMPI_MCA_orte_keep_fqdn_hostnames: '1',
      OMPI_ALLOW_RUN_AS_ROOT: undefined,
      OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: undefined,
    },
  },
  {
    impl: 'ompi',
    runAsRoot: true,
    hostfile: 'mpi-0 slots=2\nmpi-1 slots=2\n',
    env: { OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' },
  },
  {
    impl: 'mpich',
    runAsRoot: true,
    hostfile: 'mpi-0:2\nmpi-1:2\n',
    env: {
      HYDRA_HOST_FILE: HF,
      HYDRA_LAUNCHER: 'ssh',
      HYDRA_LAUNCHER_EXEC: W,
      OMPI_MCA_plm_rsh_agent: undefined,
    },
  },
  {
    impl: 'gasnet',
    runAsRoot: false,
    hostfile: 'mpi-0\nmpi-1\n',
    env: {
      GASNET_SPAWNFN: 'S',
      GASNET_SSH_SERVERS: 'mpi-0 mpi-1',
      GASNET_SSH_CMD: W,
      GASNET_SSH_OPTIONS: '',
    },
  },
  {
    impl: 'generic',
    runAsRoot: true,
    hostfile: 'mpi-0\nmpi-1\n',
    env: {
      HYDRA_LAUNCHER: undefined,
      GASNET_SPAWNFN: undefined,
      OMPI_MCA_plm_rsh_agent: undefined,
      MULTINODE_SSH_WRAPPER: W,
    },
  },
];

for (const c of implCases) {
  test(`implementation ${c.impl}${c.runAsRoot ? ' as root' : ''}: hostfile and launcher env`, () => {
    const s = litOf(
      mustPlan(
        buildSpec([service('mpi', { nodes: 2, implementation: c.impl, resource: { gpus: 2 } })]),
        inv,
        {
          runAsRoot: c.runAsRoot,
        },
      ),
    );
    assert.equal(s.files.find((f) => f.path.endsWith('/hostfile'))?.content, c.hostfile);
    for (const r of s.ranks)
      for (const [k, v] of Object.entries(c.env)) assert.equal(r.env[k], v, `rank ${r.rank} ${k}`);
    if (c.impl === 'ompi') {
      assert.equal(s.ranks[0]?.env['OMPI_MCA_btl_tcp_if_include'], s.network.subnet);
      assert.equal(s.ranks[0]?.env['OMPI_MCA_oob_tcp_if_include'], s.network.subnet);
    }
  });
}

interface CompatCase {
  family: EnvCompatFamily;
  nodes: number;
  rank: number;
  expect: Record<string, string>;
}

const compatCases: CompatCase[] = [
  {
    family: 'slurm',
    nodes: 2,
    rank: 1,
    expect: {
      SLURM_JOB_NODELIST: 'svc-[0-1]',
      SLURM_NODELIST: 'svc-[0-1]',
      SLURM_NNODES: '2',
      SLURM_JOB_NUM_NODES: '2',
      SLURM_NTASKS: '2',
      SLURM_NODEID: '1',
      SLURM_PROCID: '1',
      SLURM_LOCALID: '0',
      SLURM_TASKS_PER_NODE: '1(x2)',
      SLURM_CPUS_ON_NODE: '1',
      SLURM_GPUS_ON_NODE: '2',
      SLURM_STEP_GPUS: '0,1',
      SLURM_JOB_NAME: 'svc',
    },
  },
  {
    family: 'skypilot',
    nodes: 3,
    rank: 2,
    expect: {
      SKYPILOT_NODE_RANK: '2',
      SKYPILOT_NUM_NODES: '3',
      SKYPILOT_NUM_GPUS_PER_NODE: '2',
    },
  },
  {
    family: 'lws',
    nodes: 3,
    rank: 1,
    expect: { LWS_LEADER_ADDRESS: 'svc-0', LWS_GROUP_SIZE: '3', LWS_WORKER_INDEX: '1' },
  },
  {
    family: 'volcano',
    nodes: 2,
    rank: 1,
    expect: { VC_TASK_INDEX: '1', VK_TASK_INDEX: '1', VC_SVC_HOSTS: 'svc-0,svc-1', VC_SVC_NUM: '2' },
  },
  {
    family: 'backendai',
    nodes: 4,
    rank: 0,
    expect: {
      BACKENDAI_CLUSTER_SIZE: '4',
      BACKENDAI_CLUSTER_HOSTS: 'svc-0,svc-1,svc-2,svc-3',
      BACKENDAI_CLUSTER_REPLICAS: 'main:1,sub:3',
      BACKENDAI_CLUSTER_HOST: 'svc-0',
      BACKENDAI_CLUSTER_IDX: '1',
      BACKENDAI_CLUSTER_ROLE: 'main',
      BACKENDAI_CLUSTER_LOCAL_RANK: '0',
    },
  },
  {
    family: 'backendai',
    nodes: 4,
    rank: 2,
    expect: {
      BACKENDAI_CLUSTER_HOST: 'svc-2',
      BACKENDAI_CLUSTER_IDX: '2',
      BACKENDAI_CLUSTER_ROLE: 'sub',
      BACKENDAI_CLUSTER_LOCAL_RANK: '2',
      MASTER_ADDR: 'svc-0',
      MASTER_PORT: '29500',
    },
  },
  {
    family: 'backendai',
    nodes: 1,
    rank: 0,
    expect: { BACKENDAI_CLUSTER_REPLICAS: 'main:1', BACKENDAI_CLUSTER_IDX: '1' },
  },
  {
    family: 'dstack',
    nodes: 3,
    rank: 2,
    expect: {
      DSTACK_RUN_NAME: 'svc',
      DSTACK_NODES_NUM: '3',
      DSTACK_GPUS_PER_NODE: '2',
      DSTACK_GPUS_NUM: '6',
      DSTACK_NODE_RANK: '2',
      DSTACK_MPI_HOSTFILE: '/var/lib/multinode/services/svc/files/hostfile',
    },
  },
];

for (const c of compatCases) {
  test(`env-compat ${c.family}: ${c.nodes} ranks, rank ${c.rank}`, () => {
    const s = litOf(
      mustPlan(
        buildSpec([service('svc', { nodes: c.nodes, envCompat: [c.family], resource: { gpus: 2 } })]),
        inv,
      ),
    );
    const r = s.ranks[c.rank];
    assert.ok(r);
    for (const [k, v] of Object.entries(c.expect)) assert.equal(r.env[k], v, k);
    if (c.family === 'skypilot')
      assert.equal(
        r.env['SKYPILOT_NODE_IPS'],
        s.ranks.map((x) => x.address).join('\n'),
        'newline-separated, head first',
      );
    if (c.family === 'dstack') {
      // dstack's documented formats: the master's IP, and every node's IP separated by "\n".
      assert.equal(r.env['DSTACK_MASTER_NODE_IP'], s.ranks[0]?.address);
      assert.equal(r.env['DSTACK_NODES_IPS'], s.ranks.map((x) => x.address).join('\n'));
      assert.equal(r.env['DSTACK_MPI_HOSTFILE'], r.env['MULTINODE_HOSTFILE']);
    }
  });
}

test('env-compat families are off unless asked', () => {
  const r = litOf(mustPlan(buildSpec([service('svc', { nodes: 2 })]), inv)).ranks[0];
  assert.ok(r);
  assert.deepEqual(
    Object.keys(r.env).filter((k) => /^(SLURM|SKYPILOT|LWS|VC_|VK_|BACKENDAI)/.test(k)),
    [],
  );
});

test('user env wins over every family', () => {
  const env = [
    { key: 'MASTER_ADDR', value: 'elsewhere' },
    { key: 'SLURM_NNODES', value: '99' },
    { key: 'MULTINODE_NODE_IP', value: '1.2.3.4' },
    { key: 'LWS_GROUP_SIZE', value: 'x' },
    { key: 'OMPI_MCA_plm_rsh_agent', value: 'ssh' },
    { key: 'CUDA_VISIBLE_DEVICES', value: '' },
    { key: 'DUP', value: 'first' },
    { key: 'DUP', value: 'second' },
  ];
  const s = litOf(
    mustPlan(
      buildSpec([
        service('u', {
          nodes: 2,
          env,
          implementation: 'ompi',
          envCompat: ['slurm', 'lws'],
          resource: { gpus: 1 },
        }),
      ]),
      inv,
    ),
  );
  for (const r of s.ranks) {
    assert.equal(r.env['MASTER_ADDR'], 'elsewhere');
    assert.equal(r.env['SLURM_NNODES'], '99');
    assert.equal(r.env['MULTINODE_NODE_IP'], '1.2.3.4');
    assert.equal(r.env['LWS_GROUP_SIZE'], 'x');
    assert.equal(r.env['OMPI_MCA_plm_rsh_agent'], 'ssh');
    assert.equal(r.env['CUDA_VISIBLE_DEVICES'], '');
    assert.equal(r.env['DUP'], 'second', 'later duplicates win');
  }
});

const hostlistCases: [string[], string][] = [
  [['vllm-0'], 'vllm-0'],
  [['vllm-0', 'vllm-1'], 'vllm-[0-1]'],
  [['a-0', 'a-1', 'a-2', 'a-4', 'a-6', 'a-7'], 'a-[0-2,4,6-7]'],
  [['n01', 'n02', 'n03'], 'n[01-03]'],
  [['x-1', 'y-1', 'x-2'], 'x-[1-2],y-1'],
  [['head', 'w-3', 'w-1'], 'head,w-[1,3]'],
];
for (const [hosts, want] of hostlistCases) {
  test(`compressHostlist ${hosts.join(',')} → ${want}`, () => assert.equal(compressHostlist(hosts), want));
}

test('compressCounts uses Slurm’s N(xM) form', () => {
  assert.equal(compressCounts([1, 1, 1]), '1(x3)');
  assert.equal(compressCounts([2, 2, 1]), '2(x2),1');
});

test('every variable a plan can set is documented in ENV_DOCS', () => {
  const spec = buildSpec([
    service('doc', {
      nodes: 2,
      implementation: 'ompi',
      envCompat: ['slurm', 'skypilot', 'lws', 'volcano', 'backendai', 'dstack'],
      resource: { gpus: 1 },
      ports: [{ name: 'http', port: 80, protocol: 'tcp' }],
    }),
    service('m', { nodes: 2, implementation: 'mpich' }),
    service('g', { nodes: 2, implementation: 'gasnet' }),
  ]);
  const documented = new Set(ENV_DOCS.map((d) => d.name));
  const plan = mustPlan(spec, inv, { runAsRoot: true });
  for (const s of plan.services.map(literal))
    for (const r of s.ranks)
      for (const k of Object.keys(r.env)) {
        const generic = k
          .replace(/^MULTINODE_PORT_.*/, 'MULTINODE_PORT_<NAME>')
          .replace(/^VC_(?!TASK_INDEX).*_HOSTS$/, 'VC_<TASK>_HOSTS')
          .replace(/^VC_.*_NUM$/, 'VC_<TASK>_NUM');
        assert.ok(documented.has(generic), `${k} is documented`);
      }
});

test('a user variable named __proto__ is an ordinary variable on every rank', () => {
  const s = litOf(
    mustPlan(buildSpec([service('p', { nodes: 3, env: [{ key: '__proto__', value: 'x' }] })]), inv),
  );
  for (const r of s.ranks) {
    assert.ok(Object.prototype.hasOwnProperty.call(r.env, '__proto__'), `rank ${r.rank}`);
    assert.equal(Object.getOwnPropertyDescriptor(r.env, '__proto__')?.value, 'x');
    assert.equal(r.env['MULTINODE_NODE_RANK'], String(r.rank));
  }
});
