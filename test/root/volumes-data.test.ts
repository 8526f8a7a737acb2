/**
 * Volumes on the local target, on 3 emulated nodes: the `data` volume is one directory shared by every
 * rank (a file rank 0 writes there is read by rank 2), mounted at a location that does not exist on this
 * machine without creating it in the host tree (`/mnvol-data` under `/`, `/home/vllm` as in seed 000's
 * vLLM example, whose cwd exists only through its mount); `persist: true` keeps it across down/up and
 * `down --volumes` removes it; without `persist` `down` removes it; nothing stays mounted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  EMPTY_SNAPSHOT,
  cleanupStateDir,
  cli,
  hashesFor,
  makeStateDir,
  skipReason,
  snapshot,
} from './runtime-helpers.js';

const skip = skipReason(['/usr/sbin/sshd', 'ssh', 'pivot_root']);

/** Every mount of any process whose source or target names `needle` (namespaces of ranks included). */
function mountsAnywhere(needle: string): string[] {
  const out: string[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      for (const l of readFileSync(`/proc/${d}/mountinfo`, 'utf8').split('\n'))
        if (l.includes(needle)) out.push(`${d}: ${l}`);
    } catch {
      /* gone */
    }
  }
  return out;
}

test(
  'data volume: shared by all ranks, persists across down/up, removed by down --volumes, host tree untouched',
  { skip, timeout: 300_000 },
  () => {
    const state = makeStateDir('vol');
    assert.equal(existsSync('/mnvol-data'), false, '/mnvol-data must not exist before the test');
    try {
      const file = join(state, 'vol.yaml');
      writeFileSync(
        file,
        `version: v1
services:
  vol:
    script: |
      #!/bin/sh
      set -e
      case $MULTINODE_NODE_RANK in
        0) [ -f /mnvol-data/runs ] && echo "rank 0 found: $(cat /mnvol-data/runs)"
           echo "run by $(hostname)" >> /mnvol-data/runs
           echo "written by $(hostname)" > /mnvol-data/hello.tmp && mv /mnvol-data/hello.tmp /mnvol-data/hello ;;
        2) i=0; while [ ! -f /mnvol-data/hello ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
           echo "rank 2 read: $(cat /mnvol-data/hello)"
           rm /mnvol-data/hello ;;
      esac
    mounts:
      data:
        location: /mnvol-data
    persist: true
    multinode:
      nodes: 3
      launch: all
`,
      );
      assert.equal(cli(state, ['cluster', 'create', 'vo', '--nodes', '3']).code, 0);
      const up = cli(state, ['up', file], 200_000);
      assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
      assert.match(up.stdout, /vol-2 +\| rank 2 read: written by vol-0/);
      assert.doesNotMatch(up.stdout, /rank 0 found/);
      const data = join(state, 'volumes', 'data', 'vol');
      assert.equal(readFileSync(join(data, 'runs'), 'utf8'), 'run by vol-0\n', 'persisted after down');
      assert.equal(existsSync('/mnvol-data'), false, 'the host tree is untouched');

      // persist: the second run finds what the first one left.
      const again = cli(state, ['up', file], 200_000);
      assert.equal(again.code, 0, `${again.stdout}\n${again.stderr}`);
      assert.match(again.stdout, /vol-0 +\| rank 0 found: run by vol-0/);
      assert.equal(readFileSync(join(data, 'runs'), 'utf8'), 'run by vol-0\nrun by vol-0\n');

      // down --volumes removes a persisted volume (the service is not up: by name).
      const down = cli(state, ['down', '--volumes', 'vol']);
      assert.equal(down.code, 0, down.stderr);
      assert.match(down.stdout, /removed volume .*volumes\/data\/vol/);
      assert.equal(existsSync(data), false);

      assert.equal(cli(state, ['cluster', 'delete', 'vo']).code, 0);
      assert.deepEqual(snapshot(state, hashesFor(state, ['vo'], [['vo', 'vol']])), EMPTY_SNAPSHOT);
      assert.deepEqual(mountsAnywhere(state), []);
      assert.equal(existsSync('/mnvol-data'), false);
    } finally {
      cleanupStateDir(state);
    }
  },
);

test(
  "seed 000's vLLM shape: cwd /home/vllm exists only through its data mount; without persist down removes it",
  { skip, timeout: 300_000 },
  () => {
    const state = makeStateDir('volcwd');
    const hostHadIt = existsSync('/home/vllm');
    try {
      const file = join(state, 'vllm.yaml');
      writeFileSync(
        file,
        `version: v1
volumes:
  models:
    reference: volume://user/persistent/vllm-cache
services:
  vllm:
    cwd: /home/vllm
    env:
      - MULTINODE_WRAPPER_FORWARD_STREAMS=1
    mounts:
      data:
        location: /home/vllm
      models:
        location: /home/vllm/models
    script: |
      #!/bin/sh
      echo "cwd $(pwd)"
      echo from-rank-0 > note
      IFS=','
      for HOST in \${MULTINODE_HOSTLIST_NOSLOTS}; do
        if [ "$(hostname)" != "$HOST" ]; then
          $MULTINODE_SSH_WRAPPER $HOST sh -c '"echo remote cwd \\$(pwd) sees \\$(cat note); ls /home"'
        fi
      done
    multinode:
      nodes: 2
`,
      );
      assert.equal(cli(state, ['cluster', 'create', 'vc', '--nodes', '2']).code, 0);
      const up = cli(state, ['up', '-d', file], 200_000);
      assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
      // While it runs: nothing of it in the root mount namespace, and /home/vllm not on this machine.
      const rootMounts = readFileSync('/proc/self/mountinfo', 'utf8');
      assert.doesNotMatch(rootMounts, /\/home\/vllm/);
      assert.equal(existsSync('/home/vllm'), hostHadIt);
      let logs = '';
      for (let i = 0; i < 100 && !/remote cwd/.test(logs); i++) {
        logs = cli(state, ['logs', 'vllm']).stdout;
        spawnWait(200);
      }
      assert.match(logs, /cwd \/home\/vllm/);
      assert.match(logs, /remote cwd \/home\/vllm sees from-rank-0/);
      assert.match(logs, /cloudsdk|vllm/);
      // exec enters the same mounts and cwd.
      const ex = cli(state, ['exec', 'vllm', '--rank', '1', '--', 'sh', '-c', 'pwd; cat note; ls -d models']);
      assert.equal(ex.code, 0, ex.stderr);
      assert.equal(ex.stdout, '/home/vllm\nfrom-rank-0\nmodels\n');
      const named = join(state, 'volumes', 'named', 'user.persistent.vllm-cache');
      assert.equal(existsSync(named), true, 'the named volume is created on first use');
      const down = cli(state, ['down', 'vllm']);
      assert.equal(down.code, 0, down.stderr);
      assert.equal(existsSync(join(state, 'volumes', 'data', 'vllm')), false, 'no persist: removed on down');
      assert.equal(existsSync(named), true, 'a named volume stays without --volumes');
      assert.equal(existsSync('/home/vllm'), hostHadIt);
      assert.equal(cli(state, ['cluster', 'delete', 'vc']).code, 0);
      assert.deepEqual(snapshot(state, hashesFor(state, ['vc'], [['vc', 'vllm']])), EMPTY_SNAPSHOT);
      assert.deepEqual(mountsAnywhere(state), []);
    } finally {
      cleanupStateDir(state);
    }
  },
);

function spawnWait(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
