/**
 * Pure parts of the Slurm runtime: reading `scontrol show job`, naming the failed rank from a job's output,
 * and the slurm.conf of an emulated cluster.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  isTerminal,
  parseFailure,
  parseScontrolJob,
  pruneSlurmJobRecords,
  readSlurmJobRecords,
  SLURM_JOB_RECORD_KEEP_MS,
  slurmJobRecordPath,
  slurmJobsDir,
} from '../../src/targets/slurm/jobs.js';
import type { SlurmJobRecord } from '../../src/targets/slurm/jobs.js';
import { STATE } from '../../src/api/names.js';
import { buildSlurmConf, slurmMungeDir } from '../../src/targets/slurm/cluster.js';

test('parseScontrolJob reads state, reason, exit code, nodes, batch host', () => {
  const line =
    'JobId=5 JobName=sl-fail UserId=root(0) GroupId=root(0) Priority=1 JobState=FAILED Reason=NonZeroExitCode Dependency=(null) ExitCode=143:0 RunTime=00:00:01 NodeList=node-[1-2] BatchHost=node-1 NumNodes=2';
  assert.deepEqual(parseScontrolJob(line), {
    state: 'FAILED',
    reason: 'NonZeroExitCode',
    exitCode: '143:0',
    nodeList: 'node-[1-2]',
    batchHost: 'node-1',
  });
  const pending = parseScontrolJob(
    'JobId=7 JobName=x JobState=PENDING Reason=Resources ExitCode=0:0 NodeList=(null)',
  );
  assert.deepEqual(pending, { state: 'PENDING', reason: 'Resources', exitCode: '0:0' });
  assert.equal(parseScontrolJob('slurm_load_jobs error: Invalid job id specified'), undefined);
});

test('parseFailure names the first failing rank, or the leader', () => {
  const out = [
    '0: starting',
    '1: rank 1 gives up',
    'srun: error: node-2: task 1: Exited with exit code 3',
    'srun: error: node-1: task 0: Terminated',
    'multinode: service sl-fail failed (exit 143)',
  ].join('\n');
  assert.equal(parseFailure(out), 'rank 1 on node-2: exited with exit code 3');
  assert.equal(
    parseFailure('multinode: service a failed (exit 2)\n'),
    'rank 0 (the leader) exited with code 2',
  );
  assert.equal(parseFailure('all good\n'), undefined);
});

test('terminal states', () => {
  for (const s of ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY', 'GONE'])
    assert.ok(isTerminal(s), s);
  for (const s of ['PENDING', 'RUNNING', 'COMPLETING', 'CONFIGURING']) assert.ok(!isTerminal(s), s);
});

test('buildSlurmConf: own paths with %n, per-node TmpFS, no cgroups or accounting, GPUs as gres + feature', () => {
  const conf = buildSlurmConf({
    name: 'My-Cluster',
    stateDir: '/st',
    nodes: [
      { name: 'node-1', address: '198.18.3.1', execArgv: [] },
      { name: 'node-2', address: '198.18.3.2', execArgv: [] },
    ],
    controller: { name: 'node-1', address: '198.18.3.1', execArgv: [] },
    cpus: 16,
    memoryMb: 4096,
    gpus: 2,
    gpuModel: 'NVIDIA L4',
  });
  const lines = conf.split('\n');
  for (const l of [
    'ClusterName=mycluster',
    'SlurmctldHost=node-1(198.18.3.1)',
    `AuthInfo=socket=${slurmMungeDir('/st')}/run/munge.sock`,
    'SlurmdSpoolDir=/st/spool/%n',
    'SlurmdPidFile=/st/run/slurmd-%n.pid',
    'TmpFS=/st/tmp/%n',
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'AccountingStorageType=accounting_storage/none',
    'GresTypes=gpu',
    'NodeName=node-2 NodeAddr=198.18.3.2 NodeHostname=node-2 CPUs=16 RealMemory=4096 Gres=gpu:2 Feature=NVIDIA_L4 State=UNKNOWN',
    'PartitionName=multinode Nodes=node-1,node-2 Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES',
  ])
    assert.ok(lines.includes(l), `missing: ${l}\n${conf}`);
  assert.doesNotMatch(conf, /cgroup/i);
});

test('pruning drops records of jobs that ended over 7 days ago, with their script and output', async () => {
  const root = mkdtempSync(join(tmpdir(), 'mn-slurm-prune-'));
  const before = process.env[STATE.envVar];
  process.env[STATE.envVar] = root;
  try {
    const dir = slurmJobsDir();
    mkdirSync(dir, { recursive: true });
    const now = Date.parse('2026-06-10T12:00:00Z');
    const ago = (days: number): string => new Date(now - days * 24 * 3600 * 1000).toISOString();
    const elsewhere = join(root, 'user-output.out');
    writeFileSync(elsewhere, 'mine\n');
    const rec = (
      id: string,
      state: string,
      times: Partial<SlurmJobRecord>,
      output?: string,
    ): SlurmJobRecord => {
      const r: SlurmJobRecord = {
        id,
        jobId: id.split('-')[0] ?? id,
        service: 's',
        file: '/x.yaml',
        planHash: 'h',
        submittedAt: ago(40),
        client: { argv: [] },
        output: output ?? join(dir, `s-${id}.out`),
        scriptPath: join(dir, `s-${id}.sh`),
        endpoints: [],
        state,
        updatedAt: ago(40),
        ...times,
      };
      for (const f of [slurmJobRecordPath(r), r.scriptPath, ...(output ? [] : [r.output])])
        writeFileSync(f, f.endsWith('.json') ? JSON.stringify(r) : 'x\n');
      return r;
    };
    const recs = [
      rec('1-aa', 'COMPLETED', { endedAt: ago(8) }),
      rec('2-aa', 'FAILED', { endedAt: ago(6) }),
      rec('3-aa', 'GONE', { updatedAt: ago(30) }, elsewhere), // older record: no endedAt
      rec('4-aa', 'RUNNING', { updatedAt: ago(30) }),
    ];
    assert.equal(SLURM_JOB_RECORD_KEEP_MS, 7 * 24 * 3600 * 1000);
    const kept = await pruneSlurmJobRecords(recs, { now });
    assert.deepEqual(
      kept.map((r) => r.id),
      ['2-aa', '4-aa'],
    );
    assert.deepEqual((await readSlurmJobRecords()).map((r) => r.id).sort(), ['2-aa', '4-aa']);
    for (const r of recs.filter((x) => x.id === '1-aa'))
      for (const f of [r.scriptPath, r.output]) assert.ok(!existsSync(f), f);
    assert.ok(existsSync(join(dir, 's-2-aa.out')));
    assert.ok(existsSync(elsewhere), 'an output outside the jobs directory is left alone');
  } finally {
    if (before === undefined) delete process.env[STATE.envVar];
    else process.env[STATE.envVar] = before;
    rmSync(root, { recursive: true, force: true });
  }
});
