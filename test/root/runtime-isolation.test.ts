/**
 * Two services on the same 2-node cluster: ranks of A reach each other but not B's (and B not A's); a rank
 * that asks for a fabric NIC sees it inside, with its address, while B's ranks do not, and the node gets it
 * back (up, addressed) after `down`. Then SIGKILL of a detached supervisor and a rank: `ps` says the
 * supervisor is gone and `down` still removes everything.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  EMPTY_SNAPSHOT,
  cleanupStateDir,
  cli,
  hashesFor,
  makeStateDir,
  pidAlive,
  skipReason,
  sleep,
  snapshot,
} from './runtime-helpers.js';
import { runOnNode } from '../../src/targets/local/node-exec.js';
import { serviceNames } from '../../src/targets/local/paths.js';

const skip = skipReason(['curl']);

function svc(name: string, fabric: boolean): string {
  return `version: v1
services:
  ${name}:
    script: |
      #!/bin/sh
      exec /usr/bin/python3 -m http.server 9000 --bind 0.0.0.0
    multinode:
      nodes: 2
      launch: all
    resource:
      memory:
        size: 256MB
${fabric ? '    network:\n      fabric-nics: 1\n' : ''}    ports:
      - name: web
        port: 9000
    readiness-probe:
      tcp-socket:
        port: 9000
      period-seconds: 1
`;
}

interface PsEntry {
  name: string;
  status: string;
  supervisor: { pid: number; alive: boolean };
  ranks: { rank: number; node: string; address: string; pid: number; alive: boolean }[];
}

function ps(state: string): PsEntry[] {
  return JSON.parse(cli(state, ['ps', '--output', 'json']).stdout) as PsEntry[];
}

function reach(state: string, from: string, rank: number, address: string): boolean {
  const r = cli(state, [
    'exec',
    from,
    '--rank',
    String(rank),
    '--',
    '/usr/bin/curl',
    '-s',
    '-o',
    '/dev/null',
    '-m',
    '2',
    `http://${address}:9000/`,
  ]);
  return r.code === 0;
}

test(
  'isolation between services, fabric NICs, and cleanup after SIGKILL',
  { skip, timeout: 240_000 },
  async () => {
    const state = makeStateDir('iso');
    try {
      writeFileSync(join(state, 'a.yaml'), svc('iso-a', true));
      writeFileSync(join(state, 'b.yaml'), svc('iso-b', false));
      assert.equal(cli(state, ['cluster', 'create', 'iso', '--nodes', '2', '--fabric-nics', '1']).code, 0);
      for (const f of ['a.yaml', 'b.yaml']) {
        const up = cli(state, ['up', '-d', '--cluster', 'iso', join(state, f)]);
        assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
      }
      const [a, b] = ps(state);
      assert.ok(a && b && a.name === 'iso-a' && b.name === 'iso-b');
      const [a0, a1] = a.ranks;
      const [b0, b1] = b.ranks;
      assert.ok(a0 && a1 && b0 && b1);

      // The isolation matrix.
      assert.ok(reach(state, 'iso-a', 0, a1.address), 'A0 → A1 must work');
      assert.ok(reach(state, 'iso-b', 1, b0.address), 'B1 → B0 must work');
      assert.ok(!reach(state, 'iso-a', 0, b0.address), 'A0 → B0 must fail');
      assert.ok(!reach(state, 'iso-a', 0, b1.address), 'A0 → B1 must fail');
      assert.ok(!reach(state, 'iso-b', 0, a1.address), 'B0 → A1 must fail');

      // Fabric NIC: inside A's ranks with an address, not in B's.
      const fa = cli(state, [
        'exec',
        'iso-a',
        '--rank',
        '1',
        '--',
        'ip',
        '-4',
        '-br',
        'addr',
        'show',
        'fabric0',
      ]);
      assert.equal(fa.code, 0, fa.stderr);
      assert.match(fa.stdout, /fabric0(@\S+)?\s+UP\s+198\.19\.\d+\.\d+\/24/);
      const fb = cli(state, ['exec', 'iso-b', '--rank', '1', '--', 'ip', '-br', 'link']);
      assert.doesNotMatch(fb.stdout, /fabric0/);

      // SIGKILL the supervisor of A and one of its ranks: ps tells, down still cleans everything.
      process.kill(a.supervisor.pid, 'SIGKILL');
      process.kill(a1.pid, 'SIGKILL');
      await sleep(300);
      const after = ps(state).find((s) => s.name === 'iso-a');
      assert.ok(after && !after.supervisor.alive);
      assert.match(cli(state, ['ps']).stdout, /supervisor gone/);
      assert.equal(cli(state, ['down', 'iso-a']).code, 0);
      assert.ok(!pidAlive(a0.pid));
      const leftA = snapshot(join(state, 'services', 'iso-a'), hashesFor(state, [], [['iso', 'iso-a']]));
      assert.deepEqual(leftA, EMPTY_SNAPSHOT);

      // The node has its fabric NIC back, up and addressed.
      process.env['MULTINODE_STATE_DIR'] = state;
      try {
        const node = await runOnNode({ clusterName: 'iso', node: a1.node }, [
          'ip',
          '-4',
          '-br',
          'addr',
          'show',
          'fabric0',
        ]);
        assert.match(node.stdout, /fabric0(@\S+)?\s+UP\s+198\.19\./);
        // On every node A's bridge and VXLAN are gone (deleted by their link group), B's are still there.
        const na = serviceNames('iso', 'iso-a');
        const nb = serviceNames('iso', 'iso-b');
        for (const n of new Set([a0.node, a1.node, b0.node, b1.node])) {
          const shown = await runOnNode({ clusterName: 'iso', node: n }, ['ip', '-o', 'link', 'show']);
          const devs = shown.stdout.split('\n').map((l) => (l.split(': ')[1] ?? '').split('@')[0]);
          assert.ok(!devs.includes(na.bridge) && !devs.includes(na.vxlan), `${n}: ${devs.join(' ')}`);
          assert.ok(devs.includes(nb.bridge) && devs.includes(nb.vxlan), `${n}: ${devs.join(' ')}`);
        }
      } finally {
        delete process.env['MULTINODE_STATE_DIR'];
      }

      assert.ok(reach(state, 'iso-b', 1, b0.address), 'B1 → B0 must still work after down of A');
      assert.equal(cli(state, ['down', 'iso-b']).code, 0);
      assert.equal(cli(state, ['cluster', 'delete', 'iso']).code, 0);
      assert.deepEqual(
        snapshot(
          state,
          hashesFor(
            state,
            ['iso'],
            [
              ['iso', 'iso-a'],
              ['iso', 'iso-b'],
            ],
          ),
        ),
        EMPTY_SNAPSHOT,
      );
    } finally {
      cleanupStateDir(state);
    }
  },
);
