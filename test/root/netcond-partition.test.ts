/**
 * A partition against a real job: a torch gloo all-reduce loop across 2 emulated nodes (overlay), a fault
 * schedule that partitions node-2 for 25 s. Gloo fails with its own timeout error, the restart policy
 * (recreate-group) acts, and once the schedule heals the restarted group finishes. The schedule's changes are
 * logged with timestamps in net.log beside the rank logs. Nothing is left afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EMPTY_SNAPSHOT,
  cleanupStateDir,
  cli,
  hashesFor,
  makeStateDir,
  skipReason,
  sleep,
  snapshot,
} from './runtime-helpers.js';
import { NOTHING_LEFT, switchLeftovers, switchNs } from './netcond-helpers.js';

function torchSkip(): string | false {
  const base = skipReason(['tc']);
  if (base) return base;
  const r = spawnSync('/usr/bin/python3', [
    '-c',
    'import torch.distributed as d; assert d.is_gloo_available()',
  ]);
  return r.status === 0 ? false : 'needs Debian python3-torch with gloo (/usr/bin/python3)';
}
const skip = torchSkip();

/** All-reduce until the test has healed the network (a file appears; the ranks agree by a MAX reduction). */
function script(mark: string): string {
  return `#!/usr/bin/python3
import datetime, os, time, torch, torch.distributed as dist
rank = int(os.environ["MULTINODE_NODE_RANK"]); world = int(os.environ["MULTINODE_NUM_NODES"])
dist.init_process_group("gloo", init_method="env://", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=8))
i = 0
while True:
    stop = torch.tensor([1.0 if os.path.exists("${mark}") else 0.0])
    dist.all_reduce(stop, op=dist.ReduceOp.MAX)
    x = torch.ones(4) * (rank + 1)
    dist.all_reduce(x)
    print(f"{datetime.datetime.utcnow().isoformat()}Z iter {i} allreduce={x.tolist()}", flush=True)
    if stop.item() > 0 and i >= 5:
        break
    i += 1
    time.sleep(0.25)
print("DONE", flush=True)
dist.destroy_process_group()
`;
}

const spec = (mark: string): string => `version: v1
services:
  gl:
    script: |
${script(mark)
  .trimEnd()
  .split('\n')
  .map((l) => `      ${l}`)
  .join('\n')}
    multinode:
      nodes: 2
      launch: all
    resource:
      memory:
        size: 1GB
    restart:
      policy: recreate-group
      max-restarts: 8
      max-startup-restarts: 8
      backoff-seconds: 0.5
`;

const SCHEDULE = `faults:
  - at: 0s
    action: partition
    groups: [[node-2]]
    duration: 25s
`;

interface Ps {
  status: string;
  restart: { history?: { action: string; trigger: string }[] };
}

test(
  'a partition fails gloo with its timeout, the group restarts, and finishes once healed',
  { skip, timeout: 600_000 },
  async () => {
    const state = makeStateDir('netcond-part');
    // World-readable, so the ranks see the file whatever user they run as.
    const markDir = mkdtempSync(join(tmpdir(), 'mn-nc-mark-'));
    chmodSync(markDir, 0o755);
    try {
      const file = join(state, 'gl.yaml');
      const mark = join(markDir, 'healed');
      writeFileSync(file, spec(mark));
      const sched = join(state, 'partition.yaml');
      writeFileSync(sched, SCHEDULE);
      assert.equal(cli(state, ['cluster', 'create', 'np', '--nodes', '2']).code, 0);
      const up = cli(state, ['up', '-d', file], 180_000);
      assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
      const logs = join(state, 'services', 'gl', 'logs');
      const rank0 = () =>
        existsSync(join(logs, 'rank-0.log')) ? readFileSync(join(logs, 'rank-0.log'), 'utf8') : '';
      const rank1 = () =>
        existsSync(join(logs, 'rank-1.log')) ? readFileSync(join(logs, 'rank-1.log'), 'utf8') : '';
      for (let i = 0; i < 240 && !/iter 2 /.test(rank0()); i++) await sleep(500);
      assert.match(rank0(), /iter 2 allreduce=\[3\.0, 3\.0, 3\.0, 3\.0\]/, 'the job runs before the fault');

      const s = cli(state, ['net', 'schedule', 'np', sched], 120_000);
      assert.equal(s.code, 0, s.stderr);
      assert.match(
        s.stdout,
        /\d{4}-\d\d-\d\dT[\d:.]+Z \+\S+ set #1 partition node-2 \| node-1: drop all \[schedule\]/,
      );
      assert.match(s.stdout, /Z \+2\d(\.\d+)?s cleared #1 partition/);

      writeFileSync(mark, '');
      // Gloo's own timeout error, seen by a rank during the partition.
      assert.match(
        `${rank0()}\n${rank1()}`,
        /Timed out waiting \d+ms for (recv|send) operation to complete|gloo.*[Tt]imed? ?out/,
      );
      let ps: Ps | undefined;
      for (let i = 0; i < 360; i++) {
        ps = (JSON.parse(cli(state, ['ps', '-o', 'json']).stdout) as Ps[])[0];
        if (ps && (ps.status === 'completed' || ps.status === 'failed')) break;
        await sleep(1000);
      }
      assert.equal(ps?.status, 'completed', `${rank0()}\n${rank1()}`);
      const history = ps?.restart.history ?? [];
      assert.ok(
        history.some((h) => h.action === 'recreate-group'),
        JSON.stringify(history),
      );
      assert.match(rank0(), /DONE/);

      // The log beside the rank logs: the schedule's changes, each with its time.
      const netLog = readFileSync(join(logs, 'net.log'), 'utf8');
      assert.match(netLog, /^\d{4}-\d\d-\d\dT[\d:.]+Z net: schedule .*partition.yaml: schedule .* started/m);
      assert.match(
        netLog,
        /Z net: set #1 partition node-2 \| node-1: drop all \[schedule\] \(.*faults\[0\] at \+0ms\)/,
      );
      assert.match(netLog, /Z net: cleared #1 partition/);
      assert.match(netLog, /schedule done/);

      assert.deepEqual(switchLeftovers(switchNs(state, 'np')), NOTHING_LEFT);
      cli(state, ['down', 'gl']);
      assert.equal(cli(state, ['cluster', 'delete', 'np']).code, 0);
      assert.deepEqual(snapshot(state, hashesFor(state, ['np'], [['np', 'gl']])), EMPTY_SNAPSHOT);
    } finally {
      rmSync(markDir, { recursive: true, force: true });
      cleanupStateDir(state);
    }
  },
);
