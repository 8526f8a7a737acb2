/**
 * renderSlurm: the sbatch header (golden-ish line checks) and the run-time behaviour of the script, run
 * under bash with fake `srun`/`scontrol` (a fake stands in for Slurm here; test/root/slurm-*.test.ts runs
 * the same scripts on a real Slurm cluster).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  PMIX_FENCE_LINES,
  renderSlurm,
  renderSlurmJobs,
  SLURM_SCRIPT_SEPARATOR,
} from '../../src/targets/slurm/index.js';
import { SlurmValues } from '../../src/targets/slurm/resolve.js';
import { extractRankProgram, fakeSlurmBin, fixturePlan } from './render-slurm-helpers.js';

function sbatchLines(script: string): string[] {
  return script.split('\n').filter((l) => l.startsWith('#SBATCH '));
}

test('header: nodes, one task per node, cpus, mem, gres with model constraint, options', () => {
  const plan = fixturePlan({ name: 'vllm', nodes: 2, gpus: 1, gpuModel: 'NVIDIA L4' });
  const script = renderSlurm(plan, { exclusive: true, partition: 'gpu', time: '1:00:00', account: 'ml' });
  assert.ok(script.startsWith('#!/bin/bash\n'));
  assert.deepEqual(sbatchLines(script), [
    '#SBATCH --job-name=vllm',
    '#SBATCH --nodes=2',
    '#SBATCH --ntasks-per-node=1',
    '#SBATCH --cpus-per-task=2',
    '#SBATCH --mem=2048M',
    '#SBATCH --gres=gpu:1',
    '#SBATCH --constraint=NVIDIA_L4',
    '#SBATCH --exclusive',
    '#SBATCH --partition=gpu',
    '#SBATCH --time=1:00:00',
    '#SBATCH --account=ml',
  ]);
  assert.match(script, /image docker:\/\/example\/image:1 is not used/);
});

test('header: no gres, constraint or exclusive unless asked; output is deterministic', () => {
  const plan = fixturePlan({ nodes: 3, gpuModel: 'NVIDIA L4' });
  const a = renderSlurm(plan);
  assert.equal(a, renderSlurm(plan));
  const lines = sbatchLines(a);
  assert.ok(lines.includes('#SBATCH --nodes=3'));
  assert.ok(!lines.some((l) => /gres|constraint|exclusive|partition/.test(l)), lines.join('\n'));
});

test('launch modes: srun for all (with --mpi per flavour), batch step for the leader', () => {
  const all = renderSlurmJobs(fixturePlan({ launch: 'all', implementation: 'ompi' }))[0];
  assert.equal(all?.launch, 'srun-all');
  assert.match(
    all?.script ?? '',
    /\nsrun --label --kill-on-bad-exit=1 --nodes=2 --ntasks=2 --ntasks-per-node=1 .*--mpi=pmix /,
  );
  // One PMIx fence algorithm for the ompi step (Slurm's "mixed" default races MPI_Init), set before srun.
  assert.match(
    all?.script ?? '',
    /\nexport SLURM_PMIX_FENCE=\$\{SLURM_PMIX_FENCE:-tree\}\nsrun .*--mpi=pmix /,
  );
  const mpich = renderSlurmJobs(fixturePlan({ launch: 'all', implementation: 'mpich' }))[0];
  assert.match(mpich?.script ?? '', /--mpi=pmi2 /);
  const gen = renderSlurmJobs(fixturePlan({ launch: 'all' }))[0];
  assert.doesNotMatch(gen?.script ?? '', /--mpi=/);
  for (const s of [mpich, gen]) assert.doesNotMatch(s?.script ?? '', /SLURM_PMIX_FENCE/);
  const leader = renderSlurmJobs(fixturePlan({ launch: 'leader' }))[0];
  assert.equal(leader?.launch, 'leader');
  assert.doesNotMatch(leader?.script ?? '', /\nsrun /);
  const active = renderSlurmJobs(fixturePlan({ launch: 'leader', workersWait: false }))[0];
  assert.equal(active?.launch, 'leader-and-workers');
  assert.match(active?.script ?? '', /--exclude="\$\{MN_H\[0\]\}"/);
});

test('endpoints are printed as rank 0 serving them', () => {
  const script = renderSlurm(fixturePlan());
  assert.match(script, /echo "multinode: endpoint api: http:\/\/\$\{MN_H\[0\]\}:8080 \(rank 0 on/);
});

test('several services: one script each, separated', () => {
  const one = fixturePlan({ name: 'a' });
  const two = fixturePlan({ name: 'b' });
  const plan = { ...one, services: [...one.services, ...two.services] };
  const text = renderSlurm(plan);
  assert.equal(text.split(SLURM_SCRIPT_SEPARATOR).length, 2);
  assert.match(renderSlurm(plan, { service: 'b' }), /--job-name=b\n/);
  assert.doesNotMatch(renderSlurm(plan, { service: 'b' }), /--job-name=a\n/);
});

test('symbolic values become bash expansions: hosts, addresses, self, lists, files, iface; text escaped', () => {
  const svc = fixturePlan({ nodes: 3 }).services[0];
  assert.ok(svc);
  const v = new SlurmValues(svc);
  assert.equal(v.dq([{ host: 1 }, ',', { host: 'self' }]), '${MN_H[1]},${MN_H[$MN_RANK]}');
  assert.equal(v.dq([{ addr: 0 }, ':', { port: 'http', of: 'self' }]), '${MN_A[0]}:8080');
  assert.equal(v.dq([{ rank: 'self' }]), '${MN_RANK}');
  assert.equal(v.dq([{ file: 'hostfile' }]), '${MN_DIR}/files/hostfile');
  assert.equal(v.dq([{ iface: true }]), '${MN_IFACE}');
  assert.equal(v.dq(['a "b" $c `d` \\e']), 'a \\"b\\" \\$c \\`d\\` \\\\e');
  assert.equal(v.dq([{ list: 'hosts' }]), '${MN_L_hosts}');
  // The list is built once by a loop over the job's ranks.
  assert.deepEqual(v.declarations(), [
    'MN_L_hosts=',
    'for mn_i in "${!MN_H[@]}"; do',
    '  [ "$mn_i" = 0 ] || MN_L_hosts+=","',
    '  MN_L_hosts+="${MN_H[$mn_i]}"',
    'done',
  ]);
});

test('the script and its rank program are valid bash', () => {
  for (const launch of ['all', 'leader'] as const) {
    const script = renderSlurm(fixturePlan({ launch }));
    const r1 = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
    assert.equal(r1.status, 0, r1.stderr);
    const r2 = spawnSync('bash', ['-n'], { input: extractRankProgram(script), encoding: 'utf8' });
    assert.equal(r2.status, 0, r2.stderr);
  }
});

function readEnv0(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readFileSync(file, 'utf8').split('\0')) {
    const i = entry.indexOf('=');
    if (i > 0) out[entry.slice(0, i)] = entry.slice(i + 1);
  }
  return out;
}

test('under fake Slurm: every rank gets the planned env with Slurm node names, addresses and job paths', () => {
  const fake = fakeSlurmBin();
  try {
    const out = join(fake, 'out');
    const plan = fixturePlan({
      name: 'tr',
      nodes: 3,
      launch: 'all',
      argv: ['/bin/sh', '-c', 'env -0 > "$OUT/env-$MULTINODE_NODE_RANK"'],
    });
    const script = renderSlurm(plan);
    writeFileSync(join(fake, 'job.sh'), script);
    spawnSync('mkdir', ['-p', out]);
    const r = spawnSync('bash', [join(fake, 'job.sh')], {
      encoding: 'utf8',
      env: {
        PATH: `${fake}/bin:/usr/bin:/bin`,
        OUT: out,
        SLURM_JOB_ID: '77',
        SLURM_JOB_NODELIST: 'cn[1-3]',
        SLURMD_NODENAME: 'cn1',
        TMPDIR: fake,
        FAKE_NODES: 'cn1 cn2 cn3',
        FAKE_ADDRS: '10.1.0.1 10.1.0.2 10.1.0.3',
        FAKE_LOG: join(fake, 'srun.log'),
      },
    });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /multinode: endpoint api: http:\/\/cn1:8080 \(rank 0 on cn1, 10\.1\.0\.1:8080\)/);
    assert.match(readFileSync(join(fake, 'srun.log'), 'utf8'), /--nodelist=cn1,cn2,cn3/);
    // The job directory is fresh and unguessable (mktemp -d): multinode-<job id>.<10 random characters>.
    const hostfile = readEnv0(join(out, 'env-0'))['MULTINODE_HOSTFILE'] ?? '';
    assert.match(hostfile, new RegExp(`^${fake}/multinode-77\\.[A-Za-z0-9]{10}/files/hostfile$`));
    const jobDir = hostfile.slice(0, -'/files/hostfile'.length);
    for (let i = 0; i < 3; i++) {
      const env = readEnv0(join(out, `env-${i}`));
      assert.equal(env['MULTINODE_NODE_RANK'], String(i));
      assert.equal(env['MULTINODE_NODE_HOSTNAME'], `cn${i + 1}`);
      assert.equal(env['MULTINODE_NODE_IP'], `10.1.0.${i + 1}`);
      assert.equal(env['MULTINODE_LEADER_HOST'], 'cn1');
      assert.equal(env['MULTINODE_LEADER_IP'], '10.1.0.1');
      assert.equal(env['MULTINODE_HOSTLIST'], 'cn1:1,cn2:1,cn3:1');
      assert.equal(env['MULTINODE_HOSTLIST_NOSLOTS'], 'cn1,cn2,cn3');
      assert.equal(env['MASTER_ADDR'], 'cn1');
      assert.equal(env['MASTER_PORT'], '29500');
      assert.deepEqual(JSON.parse(env['TF_CONFIG'] ?? '{}'), {
        cluster: { worker: ['cn1:29500', 'cn2:29501', 'cn3:29502'] },
        task: { type: 'worker', index: i },
      });
      assert.equal(env['MULTINODE_HOSTFILE'], `${jobDir}/files/hostfile`);
      assert.equal(env['MULTINODE_CLUSTER_FILE'], `${jobDir}/files/cluster.json`);
      assert.equal(env['MULTINODE_SSH_WRAPPER'], `${jobDir}/bin/multinode-ssh`);
      assert.equal(env['USER_VAR'], 'has "quotes" and $dollar and `ticks`');
      assert.equal(env['CUDA_VISIBLE_DEVICES'], undefined, 'left to Slurm');
      // Only when the interface carrying the node's address is found (not here: fake addresses).
      assert.equal(env['OMPI_MCA_btl_tcp_if_include'], undefined);
    }
    // The job directory is removed at the end; the hostfile content was mapped while it ran.
    assert.equal(existsSync(jobDir), false);
  } finally {
    rmSync(fake, { recursive: true, force: true });
  }
});

test("under fake Slurm: OpenMPI's interface is the one carrying the node's own address", () => {
  const fake = fakeSlurmBin();
  try {
    const out = join(fake, 'out');
    // `ip -o -4 addr show` as each node would answer it: the node's NodeAddr on eth<i>.
    writeFileSync(
      join(fake, 'bin', 'ip'),
      '#!/bin/bash\nread -r -a a <<< "$FAKE_ADDRS"\necho "1: lo    inet 127.0.0.1/8 scope host lo"\n' +
        'for i in "${!a[@]}"; do echo "$((i + 2)): eth$i    inet ${a[$i]}/24 scope global eth$i"; done\n',
      { mode: 0o755 },
    );
    const plan = fixturePlan({
      name: 'tr',
      nodes: 3,
      launch: 'all',
      argv: ['/bin/sh', '-c', 'env -0 > "$OUT/env-$MULTINODE_NODE_RANK"'],
    });
    writeFileSync(join(fake, 'job.sh'), renderSlurm(plan));
    spawnSync('mkdir', ['-p', out]);
    const r = spawnSync('bash', [join(fake, 'job.sh')], {
      encoding: 'utf8',
      env: {
        PATH: `${fake}/bin:/usr/bin:/bin`,
        OUT: out,
        SLURM_JOB_ID: '78',
        SLURM_JOB_NODELIST: 'cn[1-3]',
        SLURMD_NODENAME: 'cn1',
        TMPDIR: fake,
        FAKE_NODES: 'cn1 cn2 cn3',
        FAKE_ADDRS: '10.1.0.1 10.1.0.2 10.1.0.3',
        FAKE_LOG: join(fake, 'srun.log'),
      },
    });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    for (let i = 0; i < 3; i++)
      assert.equal(readEnv0(join(out, `env-${i}`))['OMPI_MCA_btl_tcp_if_include'], `eth${i}`, `rank ${i}`);
  } finally {
    rmSync(fake, { recursive: true, force: true });
  }
});

test('under fake Slurm: leader launch runs rank 0 in the batch step; the wrapper runs on the named node with its env', () => {
  const fake = fakeSlurmBin();
  try {
    const out = join(fake, 'out');
    spawnSync('mkdir', ['-p', out]);
    const plan = fixturePlan({
      name: 'ld',
      nodes: 2,
      launch: 'leader',
      argv: [
        '/bin/sh',
        '-c',
        'cat "$MULTINODE_HOSTFILE" > "$OUT/hostfile"; for h in $(echo $MULTINODE_HOSTLIST_NOSLOTS | tr , " "); do $MULTINODE_SSH_WRAPPER -p 2222 $h echo \'$MULTINODE_NODE_RANK\' on \'$MULTINODE_NODE_HOSTNAME\' ">>" "$OUT/wrapped"; done',
      ],
    });
    const script = renderSlurm(plan);
    writeFileSync(join(fake, 'job.sh'), script);
    const r = spawnSync('bash', [join(fake, 'job.sh')], {
      encoding: 'utf8',
      env: {
        PATH: `${fake}/bin:/usr/bin:/bin`,
        OUT: out,
        SLURM_JOB_ID: '78',
        SLURM_JOB_NODELIST: 'cn[1-2]',
        SLURMD_NODENAME: 'cn1',
        TMPDIR: fake,
        FAKE_NODES: 'cn1 cn2',
        FAKE_ADDRS: '10.1.0.1 10.1.0.2',
        FAKE_LOG: join(fake, 'srun.log'),
      },
    });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.equal(readFileSync(join(out, 'hostfile'), 'utf8'), 'cn1 slots=1\ncn2 slots=1\n');
    const wrapped = readFileSync(join(out, 'wrapped'), 'utf8').trim().split('\n').sort();
    assert.deepEqual(wrapped, ['0 on cn1', '1 on cn2']);
    const log = readFileSync(join(fake, 'srun.log'), 'utf8');
    assert.match(log, /srun --jobid=78 --nodes=1 --ntasks=1 --overlap --nodelist=cn2 /);
  } finally {
    rmSync(fake, { recursive: true, force: true });
  }
});

test('under fake Slurm: a failing rank fails the job with its exit code', () => {
  const fake = fakeSlurmBin();
  try {
    const plan = fixturePlan({
      name: 'bad',
      nodes: 2,
      launch: 'all',
      argv: ['/bin/sh', '-c', '[ "$MULTINODE_NODE_RANK" = 1 ] && exit 3; exit 0'],
    });
    writeFileSync(join(fake, 'job.sh'), renderSlurm(plan));
    const r = spawnSync('bash', [join(fake, 'job.sh')], {
      encoding: 'utf8',
      env: {
        PATH: `${fake}/bin:/usr/bin:/bin`,
        SLURM_JOB_ID: '79',
        SLURM_JOB_NODELIST: 'cn[1-2]',
        SLURMD_NODENAME: 'cn1',
        TMPDIR: fake,
        FAKE_NODES: 'cn1 cn2',
        FAKE_ADDRS: '10.1.0.1 10.1.0.2',
      },
    });
    assert.equal(r.status, 3);
    assert.match(r.stderr, /multinode: service bad failed \(exit 3\)/);
  } finally {
    rmSync(fake, { recursive: true, force: true });
  }
});

test('under fake Slurm: leader with active workers runs workers in their own step and lasts as long as rank 0', () => {
  const fake = fakeSlurmBin();
  try {
    const out = join(fake, 'out');
    spawnSync('mkdir', ['-p', out]);
    const plan = fixturePlan({
      name: 'lw',
      nodes: 3,
      launch: 'leader',
      workersWait: false,
      argv: [
        '/bin/sh',
        '-c',
        'echo "$MULTINODE_NODE_RANK" >> "$OUT/started"; if [ "$MULTINODE_NODE_RANK" = 0 ]; then sleep 0.5; echo done > "$OUT/leader"; fi',
      ],
    });
    writeFileSync(join(fake, 'job.sh'), renderSlurm(plan));
    const r = spawnSync('bash', [join(fake, 'job.sh')], {
      encoding: 'utf8',
      env: {
        PATH: `${fake}/bin:/usr/bin:/bin`,
        OUT: out,
        SLURM_JOB_ID: '80',
        SLURM_JOB_NODELIST: 'cn[1-3]',
        SLURMD_NODENAME: 'cn1',
        TMPDIR: fake,
        FAKE_NODES: 'cn1 cn2 cn3',
        FAKE_ADDRS: '10.1.0.1 10.1.0.2 10.1.0.3',
        FAKE_LOG: join(fake, 'srun.log'),
      },
    });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.deepEqual(readFileSync(join(out, 'started'), 'utf8').trim().split('\n').sort(), ['0', '1', '2']);
    assert.equal(readFileSync(join(out, 'leader'), 'utf8'), 'done\n', 'rank 0 ran to its end');
    assert.match(
      readFileSync(join(fake, 'srun.log'), 'utf8'),
      /--nodes=2 --ntasks=2 --ntasks-per-node=1 --cpus-per-task=\d+ --exclude=cn1 /,
    );
  } finally {
    rmSync(fake, { recursive: true, force: true });
  }
});

test('the script grows linearly: 128 ranks stay far below the 128 KiB argument limit and parse', () => {
  const sizes = [16, 64, 128].map((n) => {
    const script = renderSlurm(fixturePlan({ name: 'big', nodes: n, launch: 'all' }));
    const program = extractRankProgram(script);
    const r = spawnSync('bash', ['-n'], { input: program, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return program.length;
  });
  assert.ok((sizes[2] ?? 0) < 64 * 1024, `128 ranks: ${sizes[2]} bytes`);
  // Doubling the ranks roughly doubles the program (not quadruples it).
  assert.ok((sizes[2] ?? 0) < 2.6 * (sizes[1] ?? 0), sizes.join(' '));
});

test('the PMIx fence default is tree, and a SLURM_PMIX_FENCE already set wins', () => {
  const run = (env: Record<string, string>): string =>
    spawnSync('/bin/bash', ['-c', `${PMIX_FENCE_LINES.join('\n')}\nprintf %s "$SLURM_PMIX_FENCE"`], {
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin', ...env },
    }).stdout;
  assert.equal(run({}), 'tree');
  assert.equal(run({ SLURM_PMIX_FENCE: 'ring' }), 'ring');
});
