/**
 * Leader launch and backend presets with STAND-INS: vLLM, Ray, SGLang and TensorRT-LLM cannot be installed
 * here, so `test/programs/standins/` puts programs of those names on PATH that record their argv and
 * environment and behave like a server (bind the port, answer HTTP; workers reach their head and block).
 * The commands and environments are the real planner's (parseSpec → planSpec), run on a namespace fixture
 * whose nodes carry the planned host names and addresses, through the real sshd + multinode-ssh layer.
 */
import { test } from 'node:test';
import { plannedArgv, plannedEnv, plannedFiles } from '../../src/targets/local/resolve.js';
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { ServicePlan } from '../../src/api/plan.js';
import { parseSpec } from '../../src/spec/index.js';
import { defaultPlanOptions, planSpec } from '../../src/plan/index.js';
import { generateInventory } from '../../src/plan/inventory-gen.js';
import { createCluster, rootSkipReason, startSshService, type NetnsCluster } from './ssh-fixture.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const STANDINS = join(ROOT, 'test', 'programs', 'standins');
const skip = rootSkipReason(['/usr/bin/python3', '/usr/bin/curl', '/usr/bin/mpirun.openmpi']);
const NET = '198.18.250';

interface Planned {
  readonly work: string;
  readonly plan: ServicePlan;
}

/** Plans a spec on a generated inventory whose node addresses match the fixture's. */
function planFor(text: string, nodes: number): Planned {
  const work = mkdtempSync(join(tmpdir(), 'mn-sb-'));
  const spec = parseSpec(text, 'inline.yaml');
  if (!spec.ok) throw new Error(JSON.stringify(spec.issues));
  const inventory = generateInventory({ nodes, gpusPerNode: 1, addressBase: `${NET}.10` });
  const result = planSpec(
    spec.value,
    inventory,
    defaultPlanOptions({
      runAsRoot: true,
      filesDir: join(work, 'files', '{service}'),
      sshWrapperPath: join(work, 'wrapper', 'multinode-ssh'),
    }),
  );
  if (!result.ok) throw new Error(JSON.stringify(result));
  const plan = result.plan.services[0];
  if (plan === undefined) throw new Error('no service planned');
  for (const f of plannedFiles(plan)) {
    mkdirSync(dirname(f.path), { recursive: true });
    writeFileSync(f.path, f.content);
    chmodSync(f.path, f.mode);
  }
  return { work, plan };
}

interface Record_ {
  readonly prog: string;
  readonly argv: string[];
  readonly env: Record<string, string>;
  readonly hostname: string;
  readonly cwd: string;
  readonly reached?: boolean;
}

function records(dir: string): Record_[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record_);
}

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function argAfter(argv: readonly string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i < 0 ? undefined : argv[i + 1];
}

/**
 * Brings the planned service up on a fresh fixture: sshd on every rank (the wrapper is written where the
 * plan says), then each rank's planned command with its planned env (+ PATH with the stand-ins), the way
 * the supervisor will. Returns the cluster and where the stand-ins record.
 */
async function upPlanned(
  p: Planned,
  tag: string,
): Promise<{ c: NetnsCluster; recordDir: string; cleanup: () => Promise<void> }> {
  const { plan, work } = p;
  const c = await createCluster({
    nodes: plan.ranks.length,
    net: NET,
    hostnames: plan.ranks.map((r) => r.hostname),
    tag,
  });
  const recordDir = join(work, 'records');
  const cwd = join(work, 'home'); // the spec's cwd (/home/vllm) does not exist on this machine
  mkdirSync(cwd, { recursive: true });
  // Each rank's own TMPDIR in the work dir (as the runtime gives it), so OpenMPI's session directories of
  // the TRT-LLM mpirun go away with the test instead of staying in /tmp.
  for (const r of plan.ranks) mkdirSync(join(work, 'tmp', `rank-${r.rank}`), { recursive: true });
  const env = (i: number): Record<string, string> => ({
    ...(plan.ranks[i] ? plannedEnv(plan, plan.ranks[i]) : {}),
    PATH: `${STANDINS}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    HOME: '/root',
    TMPDIR: join(work, 'tmp', `rank-${i}`),
    STANDIN_RECORD_DIR: recordDir,
    STANDIN_LIFETIME: '120',
  });
  try {
    for (const r of plan.ranks) {
      assert.equal(c.nodes[r.rank]?.address, r.address, 'fixture addresses follow the plan');
    }
    const svc = await startSshService(c, {
      serviceName: plan.name,
      cwd,
      env: (n) => env(n.index),
      wrapperPath: plan.sshWrapperPath,
    });
    for (const r of plan.ranks) {
      if (r.command.kind === 'wait') continue;
      c.start(
        r.rank,
        ['/usr/bin/env', '-C', cwd, ...plannedArgv(plan, r)],
        join(work, `rank-${r.rank}.out`),
        env(r.rank),
      );
    }
    return {
      c,
      recordDir,
      cleanup: async () => {
        await svc.ssh.cleanup();
        await c.teardown();
        rmSync(work, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await c.teardown();
    rmSync(work, { recursive: true, force: true });
    throw e;
  }
}

async function httpOk(c: NetnsCluster, url: string): Promise<string | undefined> {
  const r = await c.run(0, ['/usr/bin/curl', '-sf', '--max-time', '2', url]);
  return r.code === 0 ? r.stdout : undefined;
}

test(
  "seed 000's vLLM script, unchanged, with a stand-in `vllm`",
  { skip: skip ?? false, timeout: 90_000 },
  async () => {
    const p = planFor(readFileSync(join(ROOT, 'examples', 'seed-000-vllm.yaml'), 'utf8'), 2);
    const up = await upPlanned(p, 'sv');
    try {
      const { c, recordDir } = up;
      const body = await waitFor('the head endpoint on vllm-0:8080', () =>
        httpOk(c, `http://${c.nodes[0]?.address}:8080/health`),
      );
      assert.match(body, /"host": "vllm-0"/);
      const worker = await waitFor('the worker record', () =>
        records(recordDir).find((r) => r.hostname === 'vllm-1'),
      );
      const head = records(recordDir).find((r) => r.hostname === 'vllm-0');
      assert.ok(head, 'rank 0 started the head itself');
      assert.equal(argAfter(head.argv, '--node-rank'), '0');
      assert.ok(!head.argv.includes('--headless'));
      // Rank 1 was started by the script through $MULTINODE_SSH_WRAPPER, in its own namespaces and env.
      assert.equal(worker.prog, 'vllm');
      assert.deepEqual(worker.argv.slice(0, 2), ['serve', 'openai/gpt-oss-20b']);
      assert.equal(argAfter(worker.argv, '--node-rank'), '1');
      assert.ok(worker.argv.includes('--headless'));
      assert.equal(argAfter(worker.argv, '--master-addr'), c.nodes[0]?.address);
      assert.equal(worker.env.MULTINODE_NODE_RANK, '1');
      assert.equal(worker.env.MULTINODE_NODE_IP, c.nodes[1]?.address);
      assert.equal(worker.cwd, join(p.work, 'home'));
    } finally {
      await up.cleanup();
    }
  },
);

const backendSpec = (kind: string, command: string): string => `version: v1
services:
  llm:
    backend:
      kind: ${kind}
      command: ${JSON.stringify(command)}
    resource:
      devices:
        nvidia.com/gpu: 1
    multinode:
      nodes: 2
    network:
      host: true
    ports:
      - name: http
        port: 8000
`;

test(
  'backend vllm preset: Ray head on rank 0, `ray start --address=… --block` on rank 1 (stand-ins)',
  { skip: skip ?? false, timeout: 90_000 },
  async () => {
    const p = planFor(
      backendSpec('vllm', 'vllm serve m --tensor-parallel-size 2 --host 0.0.0.0 --port 8000'),
      2,
    );
    const up = await upPlanned(p, 'sr');
    try {
      const { c, recordDir } = up;
      await waitFor('vllm on llm-0:8000', () => httpOk(c, `http://${c.nodes[0]?.address}:8000/v1/models`));
      const worker = await waitFor('the ray worker', () =>
        records(recordDir).find((r) => r.prog === 'ray' && r.hostname === 'llm-1'),
      );
      assert.deepEqual(worker.argv, ['start', '--address=llm-0:6379', '--block']);
      assert.equal(worker.reached, true, 'the worker reached the Ray head over the cluster network');
      const head = records(recordDir).find((r) => r.prog === 'ray' && r.hostname === 'llm-0');
      assert.deepEqual(head?.argv, ['start', '--head', '--port=6379']);
    } finally {
      await up.cleanup();
    }
  },
);

test(
  'backend sglang preset: --dist-init-addr/--nnodes/--node-rank on every rank (stand-in `python`)',
  { skip: skip ?? false, timeout: 90_000 },
  async () => {
    const p = planFor(
      backendSpec(
        'sglang',
        'python -m sglang.launch_server --model-path m --tp 2 --host 0.0.0.0 --port 8000',
      ),
      2,
    );
    const up = await upPlanned(p, 'sg');
    try {
      const { c, recordDir } = up;
      await waitFor('sglang on llm-0:8000', () => httpOk(c, `http://${c.nodes[0]?.address}:8000/health`));
      const all = await waitFor('both sglang records', () => {
        const rs = records(recordDir).filter((r) => r.prog === 'sglang');
        return rs.length === 2 ? rs : undefined;
      });
      for (const [rank, r] of [...all].sort((a, b) => a.hostname.localeCompare(b.hostname)).entries()) {
        assert.equal(r.hostname, `llm-${rank}`);
        assert.equal(argAfter(r.argv, '--dist-init-addr'), 'llm-0:29500');
        assert.equal(argAfter(r.argv, '--nnodes'), '2');
        assert.equal(argAfter(r.argv, '--node-rank'), String(rank));
      }
    } finally {
      await up.cleanup();
    }
  },
);

test(
  'backend trtllm preset: leader `mpirun` over sshd:2222 through the wrapper, workers only run sshd (stand-in)',
  { skip: skip ?? false, timeout: 90_000 },
  async () => {
    const p = planFor(backendSpec('trtllm', 'trtllm-serve m --tp_size 2 --host 0.0.0.0 --port 8000'), 2);
    assert.equal(p.plan.ranks[1]?.command.kind, 'wait');
    assert.equal(p.plan.ranks[1]?.probe?.action.kind, 'tcp');
    const up = await upPlanned(p, 'tr');
    try {
      const { c, recordDir } = up;
      await waitFor(
        'trtllm-serve on llm-0:8000',
        () => httpOk(c, `http://${c.nodes[0]?.address}:8000/health`),
        45_000,
      );
      const all = await waitFor('both MPI ranks', () => {
        const rs = records(recordDir).filter((r) => r.prog === 'trtllm-serve');
        return rs.length === 2 ? rs : undefined;
      });
      const byRank = new Map(all.map((r) => [r.env.OMPI_COMM_WORLD_RANK, r]));
      assert.equal(byRank.get('0')?.hostname, 'llm-0');
      assert.equal(byRank.get('1')?.hostname, 'llm-1', 'MPI rank 1 was started on the worker through sshd');
      assert.equal(byRank.get('1')?.env.OMPI_MCA_orte_keep_fqdn_hostnames, '1');
    } finally {
      await up.cleanup();
    }
  },
);
