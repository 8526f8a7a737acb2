/**
 * The quickstart end to end on a real emulated cluster: `up -d` creates a default cluster, the endpoint
 * answers with all three ranks (gathered over the overlay), the host cannot reach rank ports directly, and
 * `down` + `cluster delete` leave no namespace, link, nft table, mount, process or state behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  EMPTY_SNAPSHOT,
  cleanupStateDir,
  hashesFor,
  cli,
  httpGet,
  makeStateDir,
  pidAlive,
  skipReason,
  sleep,
  snapshot,
} from './runtime-helpers.js';

const skip = skipReason(['curl']);

test(
  'quickstart: up -d → endpoint shows all 3 ranks → down leaves nothing',
  { skip, timeout: 180_000 },
  async () => {
    const state = makeStateDir('qs');
    try {
      const up = cli(state, ['up', '-d', 'examples/quickstart.yaml']);
      assert.equal(up.code, 0, `up failed:\n${up.stdout}\n${up.stderr}`);
      assert.match(up.stderr, /created cluster "default"/);
      const m = /127\.0\.0\.1:(\d+)/.exec(up.stdout);
      assert.ok(m, `no endpoint in: ${up.stdout}`);
      const port = Number(m[1]);

      const res = await httpGet(`http://127.0.0.1:${port}/`);
      assert.equal(res.status, 200, res.body);
      const body = JSON.parse(res.body) as {
        ranks: { hostname: string; address: string; rank: number }[];
        sum: number;
      };
      assert.deepEqual(
        body.ranks.map((r) => r.hostname),
        ['quickstart-0', 'quickstart-1', 'quickstart-2'],
      );
      assert.equal(body.sum, 60);
      assert.equal(new Set(body.ranks.map((r) => r.address)).size, 3);

      const ps = JSON.parse(cli(state, ['ps', '--output', 'json']).stdout) as {
        status: string;
        ranks: { pid: number; alive: boolean; address: string }[];
        timings: Record<string, number>;
        endpoints: { published: boolean }[];
      }[];
      const svc = ps[0];
      assert.ok(svc);
      assert.equal(svc.status, 'ready');
      assert.ok(svc.ranks.every((r) => r.alive));
      for (const k of ['place', 'network', 'spawn', 'ready'])
        assert.equal(typeof svc.timings[k], 'number', k);
      assert.ok(svc.endpoints.every((e) => e.published));

      // No direct access to ranks from the host: the node address (where the endpoint's second DNAT hop
      // listens) is unreachable except through the endpoint. (Overlay addresses have no route at all from the
      // host; we do not probe them, as that traffic would leave the machine by its default route.)
      const cluster = (
        JSON.parse(cli(state, ['cluster', 'ls', '--output', 'json']).stdout) as {
          nodes: { address: string }[];
        }[]
      )[0];
      const node1 = cluster?.nodes[0]?.address;
      assert.ok(node1);
      await assert.rejects(httpGet(`http://${node1}:${port}/`, 1500));

      // exec runs inside the rank with its environment.
      const ex = cli(state, [
        'exec',
        'quickstart',
        '--rank',
        '2',
        '--',
        '/bin/sh',
        '-c',
        'hostname; echo $MULTINODE_NODE_RANK',
      ]);
      assert.equal(ex.code, 0, ex.stderr);
      assert.deepEqual(ex.stdout.trim().split('\n'), ['quickstart-2', '2']);

      const logs = cli(state, ['logs', 'quickstart', '--rank', '1']);
      assert.match(logs.stdout, /quickstart-1 \| rank 1\/3 on quickstart-1/);

      // Rank 0 gone → the endpoint is withdrawn.
      const rank0 = svc.ranks[0];
      assert.ok(rank0);
      process.kill(rank0.pid, 'SIGKILL');
      let withdrawn = false;
      for (let i = 0; i < 40 && !withdrawn; i++) {
        await sleep(100);
        const now = JSON.parse(cli(state, ['ps', '--output', 'json']).stdout) as {
          endpoints: { published: boolean }[];
        }[];
        withdrawn = now[0]?.endpoints.every((e) => !e.published) ?? false;
      }
      assert.ok(withdrawn, 'endpoint still published after rank 0 died');
      await assert.rejects(httpGet(`http://127.0.0.1:${port}/`, 1500));

      const pids = svc.ranks.map((r) => r.pid);
      const down = cli(state, ['down', 'examples/quickstart.yaml']);
      assert.equal(down.code, 0, down.stderr);
      assert.ok(
        pids.every((p) => !pidAlive(p)),
        'rank processes left',
      );
      await assert.rejects(httpGet(`http://127.0.0.1:${port}/`, 1500));
      assert.equal(cli(state, ['down', 'quickstart']).code, 0, 'down is idempotent');
      assert.deepEqual(readdirSync(join(state, 'services')), []);

      const del = cli(state, ['cluster', 'delete', 'default']);
      assert.equal(del.code, 0, del.stderr);
      assert.deepEqual(
        snapshot(state, hashesFor(state, ['default'], [['default', 'quickstart']])),
        EMPTY_SNAPSHOT,
      );
      assert.ok(!existsSync(join(state, 'clusters', 'default')));
    } finally {
      cleanupStateDir(state);
    }
  },
);
