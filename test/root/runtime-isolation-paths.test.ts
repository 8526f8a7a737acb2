/**
 * The isolation matrix, every path that used to be open: each probe tries to break a boundary and must fail.
 * One 3-node cluster with one fabric rail (`fabric0` on each node), three services sharing it:
 *   A — overlay, 2 nodes, a fabric NIC per rank;  F — overlay, 1 node, a fabric NIC (same rail as A);
 *   H — host network, 1 node (its rank runs in the node's namespace, where host-mode ranks and node daemons run).
 * Paths tried: IPv6 link-local from the host into a node and from a rank into its node; fabric traffic from
 * F into A; a host-network rank opening connections into an overlay rank and to the host; VXLAN frames
 * injected into an overlay from inside a node (loopback source) and from a foreign address on the underlay.
 * Positive controls prove each probe can succeed where it should (A0 → A1 over the overlay and the fabric).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import {
  EMPTY_SNAPSHOT,
  ROOT_DIR,
  cleanupStateDir,
  cli,
  hashesFor,
  makeStateDir,
  skipReason,
  snapshot,
} from './runtime-helpers.js';
import { serviceNames } from '../../src/targets/local/paths.js';

const skip = skipReason(['curl', 'ping']);
const CLUSTER = 'isp';

const HTTP = `    script: |
      #!/bin/sh
      exec /usr/bin/python3 -m http.server 9000 --bind 0.0.0.0
    ports:
      - name: web
        port: 9000
    readiness-probe:
      tcp-socket:
        port: 9000
      period-seconds: 1
`;

function overlay(name: string, nodes: number): string {
  return `version: v1
services:
  ${name}:
${HTTP}    multinode:
      nodes: ${nodes}
      launch: all
    resource:
      memory:
        size: 128MB
    network:
      fabric-nics: 1
`;
}

const HOSTMODE = `version: v1
services:
  isp-h:
    script: |
      #!/bin/sh
      exec sleep 3600
    network:
      host: true
    resource:
      memory:
        size: 64MB
`;

interface Rank {
  rank: number;
  node: string;
  address: string;
}
interface Meta {
  index: number;
  rootLink: string;
  hostAddress: string;
  switchNs: string;
  nodes: { name: string; address: string; netns: string }[];
}

const sh = (argv: readonly string[]) => spawnSync(argv[0] ?? '', argv.slice(1), { encoding: 'utf8' });

/** The EUI-64 link-local address the kernel gives an interface with this MAC. */
function linkLocal(mac: string): string {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  const w = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
  return `fe80::${w((b[0] ?? 0) ^ 2, b[1] ?? 0)}:${w(b[2] ?? 0, 0xff)}:${w(0xfe, b[3] ?? 0)}:${w(b[4] ?? 0, b[5] ?? 0)}`;
}

/**
 * The interface's IPv6 link-local addresses: those it has, else the EUI-64 one its MAC would give it (a
 * bridge takes a port's MAC after its address was made, so the MAC alone is not enough).
 */
function linkLocals(netns: string, link: string): string[] {
  const have = sh(['ip', '-n', netns, '-6', '-o', 'addr', 'show', 'dev', link, 'scope', 'link']).stdout;
  const found = [...have.matchAll(/inet6 (fe80::[0-9a-f:]+)\//g)].map((m) => m[1] ?? '');
  if (found.length > 0) return found;
  const r = sh(['ip', '-n', netns, '-br', 'link', 'show', link]);
  const m = /([0-9a-f]{2}(:[0-9a-f]{2}){5})/.exec(r.stdout);
  assert.ok(m?.[1], `no MAC for ${link} in ${netns}: ${r.stderr}`);
  return [linkLocal(m[1])];
}

/** Python that sends VXLAN-encapsulated UDP datagrams (inner: to addr:port, payload marker) to dst:4789. */
const INJECT = `
import socket, struct, sys
dst, vni, mac, inner, port, marker = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6].encode()
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
src = inner.rsplit('.', 1)[0] + '.250'
udp = struct.pack('!HHHH', 40000, port, 8 + len(marker), 0) + marker
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, socket.inet_aton(src), socket.inet_aton(inner))
ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
eth = bytes.fromhex(mac.replace(':', '')) + bytes.fromhex('020000000001') + b'\\x08\\x00'
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(20): s.sendto(struct.pack('!II', 0x08000000, vni << 8) + eth + ip + udp, (dst, 4789))
`;

/** A UDP listener inside an overlay rank; resolves with what it received (empty: nothing within 4 s). */
function listenInRank(state: string, service: string, rank: number, port: number) {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT_DIR, 'src/cli/main.ts'),
      'exec',
      service,
      '--rank',
      String(rank),
      '--',
      '/usr/bin/python3',
      '-u',
      '-c',
      `import socket\ns = socket.socket(2, 2); s.bind(('0.0.0.0', ${port})); s.settimeout(4); print('ready')\ntry: print('got', s.recv(200).decode())\nexcept OSError: print('nothing')`,
    ],
    { cwd: ROOT_DIR, env: { ...process.env, MULTINODE_STATE_DIR: state }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (onReady = r));
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (c: string) => {
    out += c;
    if (out.includes('ready')) onReady();
  });
  const done = new Promise<string>((resolve) => child.on('close', () => resolve(out)));
  setTimeout(onReady, 15_000);
  return { ready, done };
}

test(
  'isolation paths: IPv6, fabric rails, host-network ranks, VXLAN sources, node → host',
  { skip, timeout: 300_000 },
  async () => {
    const state = makeStateDir('isp');
    const rogue = `mnt-rogue-${process.pid}`;
    const srv = createServer((s) => s.end());
    const udp = createSocket('udp4');
    try {
      writeFileSync(join(state, 'a.yaml'), overlay('isp-a', 2));
      writeFileSync(join(state, 'f.yaml'), overlay('isp-f', 1));
      writeFileSync(join(state, 'h.yaml'), HOSTMODE);
      const made = cli(state, [
        'cluster',
        'create',
        CLUSTER,
        '--nodes',
        '3',
        '--fabric-nics',
        '1',
        '--cores',
        '4',
      ]);
      assert.equal(made.code, 0, made.stderr);
      for (const f of ['a.yaml', 'f.yaml', 'h.yaml']) {
        const up = cli(state, ['up', '-d', '--cluster', CLUSTER, join(state, f)]);
        assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
      }
      const meta = JSON.parse(readFileSync(join(state, 'clusters', CLUSTER, 'cluster.json'), 'utf8')) as Meta;
      const svcs = JSON.parse(cli(state, ['ps', '--output', 'json']).stdout) as {
        name: string;
        ranks: Rank[];
      }[];
      const ranks = (n: string) => svcs.find((s) => s.name === n)?.ranks ?? [];
      const [a0, a1] = ranks('isp-a');
      const [f0] = ranks('isp-f');
      const [h0] = ranks('isp-h');
      assert.ok(a0 && a1 && f0 && h0);
      const nodeOf = (name: string) => meta.nodes.find((n) => n.name === name);
      const vniOf = (svc: string) =>
        (
          JSON.parse(readFileSync(join(state, 'services', svc, 'state.json'), 'utf8')) as {
            plan: { network: { vni: number } };
          }
        ).plan.network.vni;
      const run = (svc: string, rank: number, argv: readonly string[]) =>
        cli(state, ['exec', svc, '--rank', String(rank), '--', ...argv]).code === 0;
      const http = (svc: string, rank: number, address: string) =>
        run(svc, rank, ['/usr/bin/curl', '-s', '-o', '/dev/null', '-m', '2', `http://${address}:9000/`]);
      const fabricAddress = (svc: string, rank: number) => {
        const r = cli(state, [
          'exec',
          svc,
          '--rank',
          String(rank),
          '--',
          'ip',
          '-4',
          '-br',
          'addr',
          'show',
          'fabric0',
        ]);
        const m = /(198\.19\.\d+\.\d+)\//.exec(r.stdout);
        assert.ok(m?.[1], `no fabric address in ${svc}/${rank}: ${r.stdout}${r.stderr}`);
        return m[1];
      };
      const failures: string[] = [];
      const mustFail = (what: string, open: boolean) => {
        if (open) failures.push(what);
      };

      // Positive controls: the service's own paths work.
      assert.ok(http('isp-a', 0, a1.address), 'A0 → A1 over the overlay must work');
      const a1fab = fabricAddress('isp-a', 1);
      assert.ok(http('isp-a', 0, a1fab), 'A0 → A1 over the fabric must work');

      // 1. IPv6 link-local: host → node underlay, host → switch bridge, rank → its node's service bridge.
      const n1 = nodeOf(a0.node);
      assert.ok(n1);
      const ping6 = (to: string) => sh(['ping', '-6', '-c', '1', '-W', '1', to]).status === 0;
      mustFail(
        'host → node underlay over IPv6 link-local',
        linkLocals(n1.netns, 'under0').some((a) => ping6(`${a}%${meta.rootLink}`)),
      );
      mustFail(
        'host → switch bridge over IPv6 link-local',
        linkLocals(meta.switchNs, 'ubr0').some((a) => ping6(`${a}%${meta.rootLink}`)),
      );
      process.env['MULTINODE_STATE_DIR'] = state;
      const aBridge = serviceNames(CLUSTER, 'isp-a').bridge;
      delete process.env['MULTINODE_STATE_DIR'];
      mustFail(
        'rank → its node over IPv6 link-local',
        linkLocals(n1.netns, aBridge).some((a) =>
          run('isp-a', 0, ['ping', '-6', '-c', '1', '-W', '1', `${a}%eth0`]),
        ),
      );

      // 2. Fabric: F shares A's rail; it must not reach A's fabric addresses.
      mustFail("F → A's fabric address", http('isp-f', 0, a1fab));

      // 3. A host-network rank (in the node's namespace) into an overlay rank on its node.
      const local = [...ranks('isp-a'), ...ranks('isp-f')].find((r) => r.node === h0.node);
      const localSvc = ranks('isp-a').includes(local as Rank) ? 'isp-a' : 'isp-f';
      assert.ok(local, 'an overlay rank shares the host-network rank’s node');
      mustFail('host-network rank → overlay rank', http('isp-h', 0, local.address));

      // 4. Node → host: a host-network rank opens a connection to a listener on the host's cluster address.
      await new Promise<void>((r) => srv.listen(0, meta.hostAddress, r));
      const port = (srv.address() as { port: number }).port;
      mustFail(
        'host-network rank → host (TCP)',
        run('isp-h', 0, [
          '/usr/bin/timeout',
          '2',
          '/bin/bash',
          '-c',
          `exec 3<>/dev/tcp/${meta.hostAddress}/${port}`,
        ]),
      );

      // ... and datagrams, which need no answer to arrive.
      const got: string[] = [];
      udp.on('message', (m) => got.push(m.toString()));
      await new Promise<void>((r) => udp.bind(0, meta.hostAddress, r));
      const uport = udp.address().port;
      run('isp-h', 0, ['/bin/bash', '-c', `echo node-to-host >/dev/udp/${meta.hostAddress}/${uport}`]);
      await new Promise((r) => setTimeout(r, 300));
      mustFail('host-network rank → host (UDP)', got.includes('node-to-host\n'));

      // 5. VXLAN injected into the overlay rank on H's node: from inside the node (loopback source), then from a
      //    foreign address on the underlay.
      const mac = cli(state, [
        'exec',
        localSvc,
        '--rank',
        String(local.rank),
        '--',
        'cat',
        '/sys/class/net/eth0/address',
      ]).stdout.trim();
      const vni = String(vniOf(localSvc));
      const inject = async (what: string, from: string[], dst: string) => {
        const l = listenInRank(state, localSvc, local.rank, 9999);
        await l.ready;
        const marker = `inj-${what.length}-${Date.now()}`;
        sh([...from, '/usr/bin/python3', '-c', INJECT, dst, vni, mac, local.address, '9999', marker]);
        mustFail(`VXLAN ${what}`, (await l.done).includes(marker));
      };
      const hn = nodeOf(h0.node);
      assert.ok(hn);
      await inject('from inside a node (loopback)', ['nsenter', `--net=/run/netns/${hn.netns}`], '127.0.0.1');
      const made2 = sh(['ip', 'netns', 'add', rogue]);
      assert.equal(made2.status, 0, made2.stderr);
      const rl = `rg${process.pid % 100000}`;
      for (const c of [
        [
          'ip',
          '-n',
          meta.switchNs,
          'link',
          'add',
          rl,
          'type',
          'veth',
          'peer',
          'name',
          'eth0',
          'netns',
          rogue,
        ],
        ['ip', '-n', meta.switchNs, 'link', 'set', rl, 'master', 'ubr0', 'up'],
        ['ip', '-n', rogue, 'addr', 'add', `198.18.${meta.index}.200/24`, 'dev', 'eth0'],
        ['ip', '-n', rogue, 'link', 'set', 'eth0', 'up'],
      ])
        assert.equal(sh(c).status, 0, c.join(' '));
      await inject('from a foreign underlay address', ['ip', 'netns', 'exec', rogue], hn.address);

      assert.deepEqual(failures, [], `paths that should be closed are open:\n  ${failures.join('\n  ')}`);

      // Still working after all that, and everything goes away.
      assert.ok(http('isp-a', 1, a0.address), 'A1 → A0 over the overlay must still work');
      sh(['ip', 'netns', 'del', rogue]);
      for (const s of ['isp-a', 'isp-f', 'isp-h']) assert.equal(cli(state, ['down', s]).code, 0);
      assert.equal(cli(state, ['cluster', 'delete', CLUSTER]).code, 0);
      const hashes = hashesFor(
        state,
        [CLUSTER],
        [
          [CLUSTER, 'isp-a'],
          [CLUSTER, 'isp-f'],
          [CLUSTER, 'isp-h'],
        ],
      );
      assert.deepEqual(snapshot(state, hashes), EMPTY_SNAPSHOT);
    } finally {
      srv.close();
      udp.close();
      sh(['ip', 'netns', 'del', rogue]);
      cleanupStateDir(state);
    }
  },
);
