/**
 * An HTTP client hammering the endpoint sees no failed request while a worker is restarted under
 * `on-failure` (rank 0 untouched): the endpoint stays published because rank 0 keeps serving.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { httpGet } from './runtime-helpers.js';
import {
  cleanupAll,
  kill,
  makeCluster,
  skipReason,
  sleep,
  state,
  supervisorLog,
  upDetached,
  useStateDir,
  waitFor,
  waitStatus,
} from './failover-helpers.js';

const skip = skipReason();

test(
  'no failed request through the endpoint while a worker is recreated (on-failure)',
  { skip, timeout: 120_000 },
  async () => {
    const dir = useStateDir('ham');
    const C = 'foham';
    try {
      await makeCluster(C, 2, 4);
      const [name = ''] = await upDetached(
        `version: v1
services:
  ham:
    script: |
      #!/bin/sh
      [ "$MULTINODE_NODE_RANK" = 0 ] && exec /usr/bin/python3 -m http.server 8080
      exec sleep infinity
    multinode:
      nodes: 2
      launch: all
    resource:
      cpu:
        cores: 1
      memory:
        size: 64MB
    ports:
      - name: http
        port: 8080
    endpoints:
      - name: web
        port-name: http
        protocol: http
    readiness-probe:
      tcp-socket:
        port: 8080
      period-seconds: 1
    restart:
      policy: on-failure
      backoff-seconds: 0.2
`,
        C,
        dir,
      );
      const s = await waitStatus(name, ['ready', 'failed'], 60_000);
      assert.equal(s.status, 'ready', `${s.message}\n${supervisorLog(name)}`);
      const ep = s.endpoints[0];
      assert.ok(ep);
      const url = `http://${ep.hostAddress}:${ep.hostPort}/`;
      let ok = 0;
      const failures: string[] = [];
      let stop = false;
      const hammer = async () => {
        while (!stop) {
          try {
            const r = await httpGet(url, 5000);
            if (r.status === 200) ok++;
            else failures.push(`HTTP ${r.status}`);
          } catch (e) {
            failures.push(String(e));
          }
        }
      };
      const clients = [hammer(), hammer()];
      await sleep(500);
      kill(s.ranks[1]?.pid);
      const after = await waitFor('rank 1 restarted', async () => {
        const x = await state(name);
        return (x.failover?.history.length ?? 0) > 0 && x.group?.ready ? x : undefined;
      });
      await sleep(500);
      stop = true;
      await Promise.all(clients);
      assert.equal(after.ranks[0]?.pid, s.ranks[0]?.pid, 'rank 0 untouched');
      assert.notEqual(after.ranks[1]?.pid, s.ranks[1]?.pid, 'rank 1 restarted');
      assert.equal(after.failover?.history.at(-1)?.action, 'restart-rank');
      assert.deepEqual(failures.slice(0, 5), [], `${failures.length} failed of ${ok + failures.length}`);
      assert.ok(ok > 20, `only ${ok} requests went through`);
    } finally {
      await cleanupAll(dir, [C]);
    }
  },
);
