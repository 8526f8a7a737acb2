/** Pure pieces of the local runtime: names, nft tables, probes, hosts files, argv building, log following. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RankPlan, ServicePlan } from '../../src/api/plan.js';
import { clusterNames, serviceNames, shortHash } from '../../src/targets/local/paths.js';
import {
  etcFstab,
  linuxSyscalls,
  networkOnly,
  NODE_EXEC_SCRIPT,
  nodeExecArgv,
  nodeNetnsName,
  withoutMounts,
} from '../../src/targets/local/node-exec.js';
import {
  chunks,
  nftFamily,
  RANK_NETNS_SCRIPT,
  rankHostsFile,
  renderGatewayTable,
  renderNodeTable,
  segmentGateway,
  shellWithInputs,
  UTS_SCRIPT,
  vxlanGroup,
} from '../../src/targets/local/network.js';
import { defaultPorts } from '../../src/targets/ports.js';
import type { RunResult } from '../../src/targets/ports.js';
import { pickHostPort, renderEndpointTable } from '../../src/targets/local/endpoints.js';
import { nextProbeState, probeArgv } from '../../src/targets/local/probe.js';
import { parseSsPorts, PORTS_SCRIPT, readListeningPortsOf } from '../../src/targets/local/cluster.js';
import type { ClusterMeta } from '../../src/targets/local/cluster.js';
import { hostCpus, needsSsh, rankArgv, runsSshd } from '../../src/targets/local/supervisor.js';
import { followLogs } from '../../src/targets/local/logs.js';

function rank(r: number, over: Partial<RankPlan> = {}): RankPlan {
  return {
    rank: r,
    role: r === 0 ? 'leader' : 'worker',
    node: `node-${r + 1}`,
    nodeAddress: `198.18.0.${r + 1}`,
    hostname: `svc-${r}`,
    address: `198.18.200.${r + 2}`,
    cpus: [0, 1, 2],
    memoryBytes: 1 << 30,
    gpus: [],
    fabricNics: [],
    ports: [],
    sshPort: 2222,
    command: { kind: 'script', argv: [['/srv/files/script']] },
    ...over,
  };
}

function plan(n: number, over: Partial<ServicePlan> = {}): ServicePlan {
  return {
    name: 'svc',
    nodes: n,
    implementation: 'generic',
    launch: 'all',
    mounts: [],
    persist: false,
    envCompat: [],
    gpusPerNode: 0,
    network: { mode: 'overlay', subnet: '198.18.200.0/24', gateway: '198.18.200.1', vni: 4242, mtu: 1450 },
    ranks: Array.from({ length: n }, (_, r) => rank(r)),
    endpoints: [],
    env: { MULTINODE_NODE_RANK: [{ rank: 'self' }] },
    leaderEnv: {},
    lists: {},
    files: [],
    sshWrapperPath: '/srv/bin/multinode-ssh',
    restart: {
      policy: 'never',
      maxRestarts: 0,
      maxStartupRestarts: 0,
      backoffSeconds: 1,
      backoffMaxSeconds: 1,
    },
    ...over,
  };
}

test('names: short, stable, within IFNAMSIZ, distinct per cluster/service and per state dir', () => {
  const prev = process.env['MULTINODE_STATE_DIR'];
  try {
    process.env['MULTINODE_STATE_DIR'] = '/tmp/a';
    const a = clusterNames('default');
    const s = serviceNames('default', 'a-very-long-service-name-indeed');
    process.env['MULTINODE_STATE_DIR'] = '/tmp/b';
    const b = clusterNames('default');
    assert.notEqual(a.hash, b.hash);
    assert.equal(a.hash.length, 6);
    for (const link of [a.rootLink, s.bridge, s.vxlan]) assert.ok(link.length <= 15, link);
    assert.match(nodeNetnsName('default', 'node-1'), /^mn-[0-9a-f]{6}-node-1$/);
    assert.equal(shortHash('x'), shortHash('x'));
  } finally {
    if (prev === undefined) delete process.env['MULTINODE_STATE_DIR'];
    else process.env['MULTINODE_STATE_DIR'] = prev;
  }
});

test('nodeExecArgv: one Perl process where the system call numbers are known; the same arguments after', () => {
  const target = { clusterName: 'c', node: 'node-2', rankNetns: 'mn-x-r1', uts: '/u/r1', etcDir: '/e/r1' };
  assert.deepEqual(nodeExecArgv(target, 'x64'), [
    '/usr/bin/perl',
    '-e',
    NODE_EXEC_SCRIPT,
    '308:272:165',
    '--uts=/u/r1',
    '--net=/run/netns/mn-x-r1',
    '/e/r1',
  ]);
  assert.equal(nodeExecArgv(target, 'arm64')[3], '268:97:40');
  const rank = nodeExecArgv({ ...target, mounts: '/s/mounts.sh', cwd: '/work' }, 'x64');
  assert.deepEqual(rank.slice(6), ['/e/r1', '--mn-mounts=/s/mounts.sh', '--mn-cwd=/work']);
  // the same optional arguments as the shell chain, so withoutMounts and networkOnly read both
  assert.deepEqual(withoutMounts(rank).slice(6), ['/e/r1', '--mn-cwd=/work']);
  assert.deepEqual(networkOnly(rank), ['/usr/bin/nsenter', '--net=/run/netns/mn-x-r1']);
  // no system call numbers for this architecture: the nsenter / unshare / sh chain
  assert.equal(nodeExecArgv(target, 's390x')[0], '/usr/bin/nsenter');
  // a volume mount script that exists, or a cwd dash would read differently, goes through the shell's tail
  assert.match(
    NODE_EXEC_SCRIPT,
    /exec \{ '\/bin\/sh' \} '\/bin\/sh', '-c', \$tail, 'multinode-nodexec', @rest;/,
  );
  assert.match(NODE_EXEC_SCRIPT, /cwd \$c does not exist in this rank/);
  assert.match(NODE_EXEC_SCRIPT, /'multinode-sysfs', '\/sys', 'sysfs'/);
  const r = spawnSync('/usr/bin/perl', ['-c', '-e', NODE_EXEC_SCRIPT], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test('nodeExecArgv (no Perl way): netns + UTS, private mount ns, fresh sysfs with cgroups, own /etc files', () => {
  const argv = nodeExecArgv(
    { clusterName: 'c', node: 'node-2', rankNetns: 'mn-x-r1', uts: '/u/r1', etcDir: '/e/r1' },
    's390x',
  );
  assert.equal(argv[0], '/usr/bin/nsenter');
  assert.ok(argv.includes('--uts=/u/r1'));
  assert.ok(argv.includes('--net=/run/netns/mn-x-r1'));
  assert.deepEqual(argv.slice(3, 7), ['/usr/bin/unshare', '--mount', '--propagation', 'slave']);
  const script = argv[9] ?? '';
  assert.match(script, /mount -t sysfs sysfs \/sys/);
  assert.match(script, /--move \/mnt \/sys\/fs\/cgroup/);
  assert.doesNotMatch(script, /\/run\//, 'nothing is created in the host /run');
  assert.equal(argv.at(-1), '/e/r1');
  const node = nodeExecArgv({ clusterName: 'c', node: 'node-2' });
  assert.ok(node.some((a) => a.startsWith('--net=/run/netns/mn-') && a.endsWith('-node-2')));
});

test('etcFstab: the etc binds, the cgroup tree over the etc dir, a fresh sysfs; blanks take the slow way', () => {
  assert.equal(
    etcFstab('/e/r1', ['hosts', 'hostname']),
    [
      '/e/r1/hosts /etc/hosts none bind 0 0',
      '/e/r1/hostname /etc/hostname none bind 0 0',
      '/sys/fs/cgroup /e/r1 none rbind 0 0',
      // not `sysfs`: `mount -a` skips an entry whose source is mounted on its target already (the host's /sys)
      'multinode-sysfs /sys sysfs defaults 0 0',
      '',
    ].join('\n'),
  );
  assert.equal(etcFstab('/e/with space', ['hosts']), undefined);
  const script = nodeExecArgv({ clusterName: 'c', node: 'node-2', etcDir: '/e/r1' }, 's390x')[9] ?? '';
  assert.match(script, /\/bin\/mount -a -T "\$t"/);
  assert.match(script, /\/bin\/mount --move "\$e" \/sys\/fs\/cgroup/);
});

test('rankArgv: cpuset folded onto host CPUs, wait ranks sleep', () => {
  assert.deepEqual(hostCpus([0, 1, 2, 3, 5], 2), [0, 1]);
  const argv = rankArgv('c', '/svc', plan(2), rank(1, { cpus: [3] }), 'mn-x-r1');
  const i = argv.indexOf('/usr/bin/taskset');
  assert.deepEqual(argv.slice(i), ['/usr/bin/taskset', '-c', hostCpus([3]).join(','), '/srv/files/script']);
  const waiting = rank(1, { cpus: [], command: { kind: 'wait', argv: [] } });
  const wait = rankArgv('c', '/svc', plan(2, { ranks: [rank(0), waiting] }), waiting, undefined);
  assert.deepEqual(wait.slice(-2), ['/bin/sleep', 'infinity']);
  assert.ok(!wait.includes('/usr/bin/taskset'));
});

test('needsSsh: leader launch or MPI-style implementations with more than one rank', () => {
  assert.equal(needsSsh(plan(2, { launch: 'leader' })), true);
  assert.equal(needsSsh(plan(2, { launch: 'all' })), false);
  // Plain ssh between ranks in every launch mode, when this machine has sshd.
  assert.equal(runsSshd(plan(2, { launch: 'all' }), true), true);
  assert.equal(runsSshd(plan(2, { launch: 'all' }), false), false);
  assert.equal(runsSshd(plan(2, { launch: 'leader' }), false), true);
  assert.equal(runsSshd(plan(1, { launch: 'all' }), true), false);
  assert.equal(needsSsh(plan(2, { launch: 'all', implementation: 'ompi' })), true);
  assert.equal(needsSsh(plan(1, { launch: 'leader' })), false);
});

test("the segment gateway is the plan's (.1), outside the rank range, and its ARP stays off the VXLAN", () => {
  const p = plan(3);
  assert.equal(segmentGateway(p), '198.18.200.1');
  const { gateway: _, ...noGw } = p.network;
  assert.equal(segmentGateway({ ...p, network: noGw }), '198.18.200.1');
  for (const r of p.ranks) assert.notEqual(r.address, '198.18.200.1');
  const t = renderGatewayTable('mn_abc_node_gw', 'mvabc', '198.18.200.1');
  assert.match(t, /^table bridge mn_abc_node_gw \{/);
  assert.match(t, /oifname "mvabc" arp daddr ip 198\.18\.200\.1 drop/);
  assert.match(t, /oifname "mvabc" arp saddr ip 198\.18\.200\.1 drop/);
  assert.match(t, /iifname "mvabc" arp daddr ip 198\.18\.200\.1 drop/);
  assert.equal(nftFamily('mn_abc_node_gw'), 'bridge');
  assert.equal(nftFamily('mn_abc_node'), 'ip');
});

test('VXLAN groups: one administratively scoped group per VNI', () => {
  assert.equal(vxlanGroup(4242), '239.0.16.146');
  assert.equal(vxlanGroup(16_777_215), '239.255.255.255');
  assert.notEqual(vxlanGroup(4096), vxlanGroup(4097));
});

test('shell inputs are literal here-documents; chunks split evenly', () => {
  const sh = shellWithInputs([['nft -f -', 'table ip t { }\n$HOME `x`']], 'echo done');
  assert.match(
    sh,
    /^set -e\nnft -f - <<'MULTINODE_EOF_0'\ntable ip t \{ \}\n\$HOME `x`\nMULTINODE_EOF_0\necho done$/,
  );
  assert.throws(() => shellWithInputs([['cat', 'a\nMULTINODE_EOF_0\nb']]));
  assert.deepEqual(chunks([1, 2, 3, 4, 5], 2), [
    [1, 2, 3],
    [4, 5],
  ]);
  assert.deepEqual(chunks([1], 4), [[1]]);
  assert.deepEqual(chunks([], 2), []);
});

test('rank hosts file names every rank, itself first, then the nodes', () => {
  const p = plan(3);
  const text = rankHostsFile(p, p.ranks[1] as RankPlan, ['198.18.0.1\tnode-1']);
  const lines = text.trim().split('\n');
  assert.equal(lines[2], '198.18.200.3\tsvc-1');
  assert.ok(lines.includes('198.18.200.2\tsvc-0'));
  assert.ok(lines.includes('198.18.200.4\tsvc-2'));
  assert.equal(lines.at(-1), '198.18.0.1\tnode-1');
});

test('node table: same-segment traffic and endpoint DNAT pass, everything else into or out of the segment drops', () => {
  const t = renderNodeTable('mn_abc_node', 'mbabc', [
    { nodeAddress: '198.18.0.1', viaPort: 8080, target: '198.18.200.2', port: 80 },
  ]);
  assert.match(t, /ip daddr 198\.18\.0\.1 tcp dport 8080 dnat to 198\.18\.200\.2:80/);
  const fwd = t.slice(t.indexOf('chain forward'), t.indexOf('chain input'));
  const order = [
    'established,related accept',
    'iifname "mbabc" oifname "mbabc" accept',
    'ct status dnat accept',
    'iifname "mbabc" drop',
    'oifname "mbabc" drop',
  ];
  let at = 0;
  for (const o of order) {
    const k = fwd.indexOf(o, at);
    assert.ok(k >= at, `missing or out of order: ${o}`);
    at = k;
  }
});

test('endpoint table: DNAT from 127.0.0.1 to the node, SNAT only on our root link', () => {
  const cluster = { rootLink: 'mnabcdefh', hostAddress: '198.18.3.254' } as ClusterMeta;
  const t = renderEndpointTable('mn_x_ep', cluster, [
    {
      name: 'web',
      protocol: 'http',
      hostAddress: '127.0.0.1',
      hostPort: 8081,
      viaAddress: '198.18.3.1',
      viaPort: 8081,
      targetAddress: '198.18.200.2',
      targetPort: 8080,
      published: false,
    },
  ]);
  assert.match(t, /ip daddr 127\.0\.0\.1 tcp dport 8081 dnat to 198\.18\.3\.1:8081/);
  assert.match(t, /oifname "mnabcdefh" ip saddr 127\.0\.0\.0\/8 snat to 198\.18\.3\.254/);
});

test('pickHostPort: the declared port when free, else the next free one', async () => {
  const busy = new Set([8080, 8081]);
  assert.equal(await pickHostPort(8080, new Set(), (p) => Promise.resolve(!busy.has(p))), 8082);
  assert.equal(await pickHostPort(8080, new Set([8082]), (p) => Promise.resolve(!busy.has(p))), 8083);
  assert.equal(await pickHostPort(9000, new Set(), () => Promise.resolve(true)), 9000);
});

test('probe thresholds behave like Kubernetes', () => {
  const probe = { successThreshold: 2, failureThreshold: 3 };
  let s = { ready: false, successes: 0, failures: 0 };
  s = nextProbeState(s, true, probe);
  assert.equal(s.ready, false);
  s = nextProbeState(s, true, probe);
  assert.equal(s.ready, true);
  s = nextProbeState(s, false, probe);
  s = nextProbeState(s, false, probe);
  assert.equal(s.ready, true);
  s = nextProbeState(s, false, probe);
  assert.equal(s.ready, false);
});

test('probe argv runs inside the rank netns: curl for http, /dev/tcp for tcp', () => {
  const base = {
    periodSeconds: 1,
    failureThreshold: 1,
    successThreshold: 1,
    initialDelaySeconds: 0,
    timeoutSeconds: 2,
  };
  const http = probeArgv(
    { ...base, action: { kind: 'http', path: 'healthz', port: 8080, scheme: 'http' } },
    { netns: 'ns', address: '10.0.0.2', port: 8080 },
  );
  assert.deepEqual(http.slice(0, 2), ['/usr/bin/nsenter', '--net=/run/netns/ns']);
  assert.equal(http.at(-1), 'http://10.0.0.2:8080/healthz');
  const tcp = probeArgv(
    { ...base, action: { kind: 'tcp', port: 22 } },
    { netns: 'ns', address: '10.0.0.2', port: 2222 },
  );
  assert.deepEqual(tcp.slice(-2), ['10.0.0.2', '2222']);
});

test('parseSsPorts reads local ports of ss -Htuln', () => {
  const out =
    'tcp LISTEN 0 128 0.0.0.0:2222 0.0.0.0:*\ntcp LISTEN 0 5 [::]:8080 [::]:*\nudp UNCONN 0 0 198.18.0.1:4789 0.0.0.0:*\n';
  assert.deepEqual(parseSsPorts(out), [2222, 4789, 8080]);
});

test('followLogs: whole lines per rank, partial lines kept until complete', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mn-logs-'));
  try {
    const a = join(dir, 'a.log');
    const b = join(dir, 'b.log');
    writeFileSync(a, 'one\ntw');
    writeFileSync(b, '');
    const seen: string[] = [];
    const stop = new AbortController();
    const p = followLogs(
      [
        { rank: 0, path: a },
        { rank: 1, path: b },
      ],
      (r, l) => seen.push(`${r}:${l}`),
      { fromStart: true, follow: true, pollMs: 10, signal: stop.signal },
    );
    await new Promise((r) => setTimeout(r, 30));
    appendFileSync(a, 'o\n');
    appendFileSync(b, 'x\n');
    await new Promise((r) => setTimeout(r, 50));
    stop.abort();
    await p;
    assert.deepEqual(seen.sort(), ['0:one', '0:two', '1:x']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('degraded mode: the local resolver answers host names with addresses, in env, files and commands', async () => {
  const { plannedArgv, plannedEnv, plannedFiles } = await import('../../src/targets/local/resolve.js');
  const p = plan(2, {
    ranks: [
      rank(0, {
        address: '127.0.1.1',
        command: { kind: 'backend', argv: [['ray --address=', { host: 0 }]] },
      }),
      rank(1, { address: '127.0.1.2' }),
    ],
    env: {
      MASTER_ADDR: [{ host: 0 }],
      HOSTS: [{ list: 'hosts' }],
      SELF: [{ host: 'self' }],
      X: ['svc-10 my-svc-1'],
    },
    lists: {
      hosts: { each: [{ host: 'self' }], sep: ',' },
      hostfile: { each: [{ host: 'self' }, ' slots=1\n'], sep: '' },
    },
    files: [{ name: 'hostfile', path: '/f/hostfile', content: [{ list: 'hostfile' }], mode: 0o644 }],
  });
  const r1 = p.ranks[1];
  assert.ok(r1);
  assert.deepEqual(plannedEnv(p, r1, true), {
    HOSTS: '127.0.1.1,127.0.1.2',
    MASTER_ADDR: '127.0.1.1',
    SELF: '127.0.1.2',
    X: 'svc-10 my-svc-1',
  });
  assert.equal(plannedFiles(p, true)[0]?.content, '127.0.1.1 slots=1\n127.0.1.2 slots=1\n');
  assert.deepEqual(plannedArgv(p, p.ranks[0] ?? r1, true), ['ray --address=127.0.1.1']);
  // With root (names resolve), the same plan gives host names.
  assert.equal(plannedEnv(p, r1)['HOSTS'], 'svc-0,svc-1');
});

test('https endpoints: the TLS proxy owns the public port, DNAT matches a second loopback port', async () => {
  const { planEndpoints } = await import('../../src/targets/local/endpoints.js');
  const cluster = {
    name: 'c',
    nodes: [{ name: 'node-1', address: '198.18.0.1', fabric: [] }],
  } as unknown as ClusterMeta;
  const p = plan(1, {
    endpoints: [
      {
        name: 'api',
        portName: 'web',
        protocol: 'https',
        rank: 0,
        targetAddress: '198.18.200.2',
        targetPort: 8443,
        port: 8443,
      },
      {
        name: 'web',
        portName: 'web',
        protocol: 'http',
        rank: 0,
        targetAddress: '198.18.200.2',
        targetPort: 8080,
        port: 8080,
      },
    ],
  });
  const { endpoints, forwards } = await planEndpoints(p, cluster, new Set(), () => Promise.resolve(true));
  const [api, web] = endpoints;
  assert.ok(api && web);
  assert.equal(api.tls, true);
  assert.equal(api.hostPort, 8443);
  assert.notEqual(api.dnatPort, api.hostPort);
  assert.equal(web.dnatPort, web.hostPort);
  assert.deepEqual(
    forwards.map((f) => [f.viaPort, f.target, f.port]),
    [
      [api.dnatPort, '198.18.200.2', 8443],
      [8080, '198.18.200.2', 8080],
    ],
  );
  const table = renderEndpointTable(
    't',
    { rootLink: 'l', hostAddress: '198.18.0.254' } as ClusterMeta,
    endpoints,
  );
  assert.match(table, new RegExp(`tcp dport ${api.dnatPort} dnat to 198\\.18\\.0\\.1:${api.dnatPort}`));
  assert.doesNotMatch(table, /tcp dport 8443 dnat/);
});

test('readListeningPortsOf: one Perl process for all nodes; ss per node when it cannot run', async () => {
  const nodes = [1, 2].map((i) => ({
    name: `node-${i}`,
    index: i,
    address: `198.18.0.${i}`,
    netns: `mn-abc123-node-${i}`,
    uts: `/x/uts/node-${i}`,
    etcDir: `/x/etc/node-${i}`,
    fabric: [],
  }));
  const calls: string[][] = [];
  const ports = (perl: RunResult) => ({
    ...defaultPorts(),
    spawner: {
      run: (argv: readonly string[]): Promise<RunResult> => {
        calls.push([...argv]);
        if (argv[0] === '/usr/bin/perl') return Promise.resolve(perl);
        const names = argv.slice(4);
        return Promise.resolve({
          code: 0,
          stderr: '',
          stdout: names
            .map((n) => `@@ ${n}\n${n.endsWith('-1') ? 'tcp LISTEN 0 128 0.0.0.0:2222 0.0.0.0:*\n' : ''}`)
            .join(''),
        });
      },
    },
  });
  const viaPerl = await readListeningPortsOf(
    nodes,
    ports({ code: 0, stderr: '', stdout: '@@ mn-abc123-node-1\n8080\n22\n8080\n@@ mn-abc123-node-2\n' }),
  );
  if (linuxSyscalls() !== undefined) {
    assert.deepEqual(Object.fromEntries(viaPerl), { 'node-1': [22, 8080], 'node-2': [] });
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]?.slice(-2), ['mn-abc123-node-1', 'mn-abc123-node-2']);
  }
  calls.length = 0;
  const viaSs = await readListeningPortsOf(
    nodes,
    ports({ code: 3, stderr: '', stdout: '@@ mn-abc123-node-1\n' }),
  );
  assert.deepEqual(Object.fromEntries(viaSs), { 'node-1': [2222], 'node-2': [] });
  assert.ok(calls.some((c) => c[0] === '/bin/sh' && c.includes('multinode-ss')));
});

test('the Perl helpers compile, and each architecture either has every system call number or none', () => {
  for (const script of [PORTS_SCRIPT, RANK_NETNS_SCRIPT, UTS_SCRIPT]) {
    const r = spawnSync('/usr/bin/perl', ['-c', '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  }
  assert.deepEqual(linuxSyscalls('x64'), { setns: 308, unshare: 272, sethostname: 170, mount: 165 });
  assert.equal(linuxSyscalls('s390x'), undefined);
});

test('networkOnly: a node-exec prefix shrinks to its network namespace; others only lose their mounts', () => {
  for (const arch of ['x64', 's390x']) {
    const full = nodeExecArgv(
      { clusterName: 'c1', node: 'node-2', rankNetns: 'mn-abc123-r4', mounts: '/x/mounts.sh', cwd: '/work' },
      arch,
    );
    assert.deepEqual(networkOnly(full), ['/usr/bin/nsenter', '--net=/run/netns/mn-abc123-r4'], arch);
  }
  assert.deepEqual(networkOnly(['/usr/bin/perl', '-e', 'print 1', '--net=/run/netns/x']), [
    '/usr/bin/perl',
    '-e',
    'print 1',
    '--net=/run/netns/x',
  ]);
  assert.deepEqual(networkOnly(['/usr/bin/env', '--mn-mounts=/x/m.sh', 'A=1']), ['/usr/bin/env', 'A=1']);
});
