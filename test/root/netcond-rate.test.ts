/**
 * Rate conditions on real traffic, each measured against the same iperf3 run without the condition:
 * node→node over the underlay, over a fabric rail (a rail limit leaves the underlay and the other rail
 * alone), between two overlay ranks of a running service (VXLAN rides the underlay), a link profile given
 * at `cluster create`; and nothing of it left after `net heal` / `cluster delete`.
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
  skipReason,
  snapshot,
} from './runtime-helpers.js';
import { NOTHING_LEFT, iperf, nodeNs, rootLeftovers, switchLeftovers, switchNs } from './netcond-helpers.js';

const skip = skipReason(['iperf3', 'tc']);
const RATE = 100e6;

/** measured / configured: TCP goodput sits a few % under the L2 rate (headers), never far above. */
function assertFollows(measured: number, rate: number, baseline: number, what: string): void {
  const ratio = measured / rate;
  assert.ok(
    ratio > 0.75 && ratio < 1.05,
    `${what}: ${(measured / 1e6).toFixed(1)} Mbit/s for ${rate / 1e6} Mbit/s`,
  );
  assert.ok(
    baseline > 3 * rate,
    `${what}: baseline ${(baseline / 1e6).toFixed(0)} Mbit/s is not far above the limit`,
  );
}

test(
  'rate on a node and on a fabric rail follows the setting; other NICs keep their speed',
  { skip, timeout: 480_000 },
  async () => {
    const state = makeStateDir('netcond-rate');
    try {
      assert.equal(cli(state, ['cluster', 'create', 'nr', '--nodes', '2', '--fabric-nics', '2']).code, 0);
      const n1 = nodeNs(state, 'nr', 'node-1');
      const n2 = nodeNs(state, 'nr', 'node-2');
      const sw = switchNs(state, 'nr');
      const index = Number(/198\.18\.(\d+)\./.exec(cli(state, ['cluster', 'ls']).stdout)?.[1]);
      const under2 = `198.18.${index}.2`;
      const rail = (k: number) => `198.19.${index * 8 + k}.2`;

      const base = await iperf(n1, n2, under2);
      const set = cli(state, ['net', 'set', 'nr', '--node', 'node-2', '--rate', '100mbit']);
      assert.equal(set.code, 0, set.stderr);
      assert.match(set.stdout, /set #1 node-2 underlay: rate 100mbit \[cli\]/);
      const to2 = await iperf(n1, n2, under2);
      const from2 = await iperf(n2, n1, `198.18.${index}.1`);
      assertFollows(to2, RATE, base, 'to node-2');
      assertFollows(from2, RATE, base, 'from node-2');
      // The rail is another NIC: untouched by the underlay limit.
      assert.ok((await iperf(n1, n2, rail(1))) > 3 * RATE, 'rail 1 unaffected by an underlay limit');

      assert.equal(cli(state, ['net', 'heal', 'nr']).code, 0);
      assert.deepEqual(switchLeftovers(sw), NOTHING_LEFT);
      const railBase = await iperf(n1, n2, rail(1));
      assert.equal(cli(state, ['net', 'set', 'nr', '--rail', '1', '--rate', '100mbit']).code, 0);
      assertFollows(await iperf(n1, n2, rail(1)), RATE, railBase, 'rail 1');
      assert.ok((await iperf(n1, n2, rail(0))) > 3 * RATE, 'rail 0 keeps its speed');
      assert.ok((await iperf(n1, n2, under2)) > 3 * RATE, 'the underlay keeps its speed');

      const shown = cli(state, ['net', 'show', 'nr', '-o', 'json']);
      const s = JSON.parse(shown.stdout) as {
        conditions: { target: { rail?: number } }[];
        applied: { root: string[] };
      };
      assert.deepEqual(
        s.conditions.map((c) => c.target.rail),
        [1],
      );
      assert.deepEqual(s.applied.root, ['f1k1', 'f2k1']);
      assert.match(
        cli(state, ['cluster', 'ls']).stdout,
        /1 condition\(s\)[\s\S]*#2 every node rail 1: rate 100mbit/,
      );
      assert.deepEqual(rootLeftovers(state, 'nr'), []);

      assert.equal(cli(state, ['net', 'heal', 'nr']).code, 0);
      assert.deepEqual(switchLeftovers(sw), NOTHING_LEFT);
      assert.equal(cli(state, ['cluster', 'delete', 'nr']).code, 0);
      assert.deepEqual(snapshot(state, hashesFor(state, ['nr'])), EMPTY_SNAPSHOT);
    } finally {
      cleanupStateDir(state);
    }
  },
);

const SERVICE = `version: v1
services:
  ip:
    script: |
      exec iperf3 -s -p 5301
    multinode:
      nodes: 2
      launch: all
    resource:
      memory:
        size: 256MB
`;

test(
  'overlay (VXLAN) traffic between ranks follows an underlay rate; a link profile applies at create',
  { skip, timeout: 480_000 },
  async () => {
    const state = makeStateDir('netcond-ovl');
    try {
      const file = join(state, 'ip.yaml');
      writeFileSync(file, SERVICE);
      assert.equal(cli(state, ['cluster', 'create', 'no', '--nodes', '2']).code, 0);
      const up = cli(state, ['up', '-d', file], 120_000);
      assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
      const ps = JSON.parse(cli(state, ['ps', '-o', 'json']).stdout) as {
        ranks: { rank: number; address: string }[];
        network: { mode: string };
      }[];
      assert.equal(ps[0]?.network.mode, 'overlay');
      const r1 = ps[0]?.ranks.find((r) => r.rank === 1)?.address ?? '';
      const measure = (): number => {
        const r = cli(state, [
          'exec',
          'ip',
          '--rank',
          '0',
          '--',
          'iperf3',
          '-c',
          r1,
          '-p',
          '5301',
          '-t',
          '3',
          '-J',
        ]);
        const j = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as {
          end: { sum_received: { bits_per_second: number } };
        };
        return j.end.sum_received.bits_per_second;
      };
      const base = measure();
      assert.equal(cli(state, ['net', 'set', 'no', '--rate', '100mbit']).code, 0);
      // VXLAN adds 50 bytes a frame: goodput a little lower still, the same bound holds.
      assertFollows(measure(), RATE, base, 'overlay rank 0 → rank 1');
      const psText = cli(state, ['ps']).stdout;
      assert.match(psText, /net #1 every node underlay: rate 100mbit \[cli\]/);
      assert.equal(cli(state, ['net', 'heal', 'no']).code, 0);
      assert.ok(measure() > 3 * RATE, 'healed: full speed again');
      assert.equal(cli(state, ['down', 'ip']).code, 0);
      assert.equal(cli(state, ['cluster', 'delete', 'no']).code, 0);

      // The same limit as a link profile at cluster create.
      const links = join(state, 'links.yaml');
      writeFileSync(links, 'links:\n  underlay: { rate: 100mbit }\n');
      const c = cli(state, ['cluster', 'create', 'np', '--nodes', '2', '--links', links]);
      assert.equal(c.code, 0, c.stderr);
      assert.match(c.stdout, /link profile #1 every node underlay: rate 100mbit \[profile\]/);
      const n1 = nodeNs(state, 'np', 'node-1');
      const n2 = nodeNs(state, 'np', 'node-2');
      const index = Number(/198\.18\.(\d+)\./.exec(cli(state, ['cluster', 'ls']).stdout)?.[1]);
      assertFollows(await iperf(n1, n2, `198.18.${index}.2`), RATE, base, 'profile underlay');
      // heal keeps the profile; heal --all removes it.
      assert.equal(cli(state, ['net', 'heal', 'np']).code, 0);
      assert.match(cli(state, ['net', 'show', 'np']).stdout, /profile/);
      assert.equal(cli(state, ['net', 'heal', 'np', '--all']).code, 0);
      assert.deepEqual(switchLeftovers(switchNs(state, 'np')), NOTHING_LEFT);
      assert.equal(cli(state, ['cluster', 'delete', 'np']).code, 0);
      assert.deepEqual(snapshot(state, hashesFor(state, ['no', 'np'], [['no', 'ip']])), EMPTY_SNAPSHOT);
    } finally {
      cleanupStateDir(state);
    }
  },
);
