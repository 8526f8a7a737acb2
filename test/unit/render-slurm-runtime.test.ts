/**
 * Pure parts of the Slurm runtime: reading `scontrol show job`, naming the failed rank from a job's output,
 * and the slurm.conf of an emulated cluster.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isTerminal, parseFailure, parseScontrolJob } from '../../src/runtime/slurm/jobs.js';
import { buildSlurmConf } from '../../src/runtime/slurm/cluster.js';

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
    'AuthInfo=socket=/st/munge-run/munge.sock',
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
