/**
 * Host mode with `host-port: auto`: killing rank 0, then rank 1, brings each back on a NEW port from the safe
 * range (the old one cools down), the endpoint's DNAT follows rank 0, and `cluster.json` (version bumped)
 * and the restarted rank's environment carry the new values — every rank's view, not just the moved one's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { httpGet } from './runtime-helpers.js';
import {
  cleanupAll,
  kill,
  makeCluster,
  skipReason,
  state,
  supervisorLog,
  upDetached,
  useStateDir,
  waitFor,
  waitStatus,
} from './failover-helpers.js';
import type { ServiceState } from '../../src/targets/local/service-state.js';
import { serviceNames } from '../../src/targets/local/paths.js';

const skip = skipReason();

interface ClusterFile {
  version: number;
  ranks: { rank: number; ports: Record<string, number>; tfPort?: number }[];
}

function clusterFile(s: ServiceState): ClusterFile {
  const path = s.plan.files.find((f) => f.name === 'cluster.json')?.path ?? '';
  return JSON.parse(readFileSync(path, 'utf8')) as ClusterFile;
}

const port = (s: ServiceState, r: number) =>
  s.plan.ranks[r]?.ports.find((p) => p.name === 'http')?.hostPort ?? -1;

function environ(pid: number | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of readFileSync(`/proc/${pid ?? -1}/environ`, 'utf8').split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

test(
  'host mode, auto ports: rank 0 and rank 1 come back on new ports; endpoint and cluster file follow',
  { skip, timeout: 180_000 },
  async () => {
    const dir = useStateDir('hp');
    const C = 'fohp';
    try {
      await makeCluster(C, 2, 4);
      const [name = ''] = await upDetached(
        `version: v1
services:
  hp:
    script: |
      #!/bin/sh
      exec /usr/bin/python3 -m http.server "$MULTINODE_PORT_HTTP" --bind 0.0.0.0
    multinode:
      nodes: 2
      launch: all
    network:
      host: true
    resource:
      cpu:
        cores: 1
      memory:
        size: 64MB
    ports:
      - name: http
        port: 8080
        host-port: auto
    endpoints:
      - name: web
        port-name: http
        protocol: http
    readiness-probe:
      http-get:
        path: /
        port: 8080
      period-seconds: 1
    restart:
      policy: on-failure
      backoff-seconds: 0
`,
        C,
        dir,
      );
      let s = await waitStatus(name, ['ready', 'failed'], 60_000);
      assert.equal(s.status, 'ready', `${s.message}\n${supervisorLog(name)}`);
      const ep = s.endpoints[0];
      assert.ok(ep);
      const url = `http://${ep.hostAddress}:${ep.hostPort}/`;
      assert.equal((await httpGet(url)).status, 200);
      const table = serviceNames(C, name).endpointTable;
      const nftTarget = () => execFileSync('nft', ['list', 'table', 'ip', table], { encoding: 'utf8' });

      for (const victim of [0, 1]) {
        const before = s;
        const other = 1 - victim;
        const n = before.failover?.history.length ?? 0;
        kill(before.ranks[victim]?.pid);
        s = await waitFor(`rank ${victim} back`, async () => {
          const x = await state(name);
          return (x.failover?.history.length ?? 0) > n && x.status === 'ready' && x.endpoints[0]?.published
            ? x
            : undefined;
        });
        const oldP = port(before, victim);
        const newP = port(s, victim);
        assert.notEqual(newP, oldP, `rank ${victim} got a new port`);
        assert.ok(newP >= 20000 && newP <= 29999, `${newP} in the safe range`);
        assert.equal(port(s, other), port(before, other), `rank ${other} kept its port`);
        assert.ok(
          s.failover?.cooling.some((c) => c.port === oldP && c.node === before.plan.ranks[victim]?.node),
          'the old port cools down',
        );
        // Every rank's view: cluster.json (atomically replaced, version bumped) lists both current ports.
        const cf = clusterFile(s);
        assert.equal(cf.version, (before.failover?.clusterVersion ?? 1) + 1);
        assert.equal(cf.version, s.failover?.clusterVersion);
        assert.equal(cf.ranks[victim]?.ports['http'], newP);
        assert.equal(cf.ranks[other]?.ports['http'], port(s, other));
        // The restarted rank's environment carries the new values.
        const env = environ(s.ranks[victim]?.pid);
        assert.equal(env['MULTINODE_PORT_HTTP'], String(newP));
        assert.match(env['TF_CONFIG'] ?? '', new RegExp(`:${s.plan.ranks[victim]?.tfPort ?? 'x'}\\b`));
        // The endpoint follows rank 0 (same public port, DNAT to the current rank-0 port).
        assert.equal(s.endpoints[0]?.hostPort, ep.hostPort);
        assert.match(nftTarget(), new RegExp(`dnat to [0-9.]+:${port(s, 0)}\\b`));
        assert.equal((await httpGet(url)).status, 200);
        assert.ok(
          s.failover?.history.at(-1)?.moved?.some((m) => m.startsWith(`${victim}/http ${oldP}→${newP}`)),
        );
      }
      assert.ok(readFileSync(join(dir, 'services', name, 'state.json'), 'utf8').length > 0);
    } finally {
      await cleanupAll(dir, [C]);
    }
  },
);
