import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RankPlan, ServicePlan } from '../../api/plan.js';
import { sshWrapperScript } from '../pod-entrypoint.js';
import type { LaunchedProcess, ProcessLauncher } from '../ports.js';
import {
  containerRanks,
  containerSignal,
  parseImageRef,
  podmanDirs,
  withContainerRemoval,
} from './container.js';

test('image references: registry names, docker:// and local archives', () => {
  assert.deepEqual(parseImageRef('docker://docker.io/library/debian:12'), {
    kind: 'registry',
    name: 'docker.io/library/debian:12',
  });
  assert.deepEqual(parseImageRef('localhost/x:1'), { kind: 'registry', name: 'localhost/x:1' });
  assert.deepEqual(parseImageRef('oci-archive:/srv/img.tar'), {
    kind: 'archive',
    transport: 'oci-archive',
    path: '/srv/img.tar',
  });
  assert.deepEqual(parseImageRef('docker-archive:img.tar'), {
    kind: 'archive',
    transport: 'docker-archive',
    path: 'img.tar',
  });
});

test('podman storage is private to the state root, run files under /run/multinode', () => {
  const d = podmanDirs('/var/lib/multinode');
  assert.equal(d.storage, '/var/lib/multinode/containers/storage');
  assert.match(d.run, /^\/(run\/multinode|tmp\/multinode-\d+)\/pm-[0-9a-f]{12}$/);
  assert.notEqual(podmanDirs('/other').run, d.run);
});

test('the SSH wrapper with per-host ports picks the port of the host it is given', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mn-ctr-unit-'));
  try {
    const w = join(dir, 'w');
    writeFileSync(
      w,
      sshWrapperScript(2222, [
        { host: 'a-0', port: 2222 },
        { host: 'a-1', port: 2223 },
      ]).replace(/^exec ssh /m, 'echo ssh '),
    );
    const out = (h: string) => execFileSync('/bin/sh', [w, h, 'true'], { encoding: 'utf8' });
    assert.match(out('a-1'), /-p 2223 /);
    assert.match(out('a-0'), /-p 2222 /);
    assert.match(out('other'), /-p 2222 /);
    // Without ports: the Kubernetes wrapper, unchanged (one literal port).
    assert.match(sshWrapperScript(2222), /exec ssh -F \/dev\/null -p 2222 /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a rank container: its namespaces, cpuset, init, entrypoint, and env passed by name only', async () => {
  const state = mkdtempSync(join(tmpdir(), 'mn-ctr-unit-'));
  const prev = process.env['MULTINODE_STATE_DIR'];
  process.env['MULTINODE_STATE_DIR'] = state;
  try {
    const rank = {
      rank: 1,
      node: 'node-2',
      hostname: 's-1',
      address: '198.18.9.3',
      sshPort: 2222,
      cpus: [1],
    };
    const plan = {
      name: 's',
      ranks: [{ ...rank, rank: 0, hostname: 's-0', address: '198.18.9.2' }, rank],
      files: [{ path: join(state, 'services/s/files/script'), mode: 0o700 }],
      sshWrapperPath: join(state, 'bin/multinode-ssh'),
      cwd: '/work',
    } as unknown as ServicePlan;
    const ctr = await containerRanks({
      plan,
      cluster: 'c',
      serviceDir: join(state, 'services/s'),
      runtime: { kind: 'container', imageRef: 'localhost/x:1', imageId: 'f'.repeat(64), pull: 'missing' },
      netns: (r) => `mn-test-r${r.rank}`,
      ssh: true,
      mounts: [{ source: '/srv/data', target: '/data', readOnly: false }],
      cpus: (r) => r.cpus,
    });
    const { argv, env } = ctr.launch(
      rank as unknown as RankPlan,
      { SECRET: 'top secret', PATH: '/usr/bin' },
      ['python3', 'x.py'],
    );
    const joined = argv.join(' ');
    assert.ok(!joined.includes('top secret'), 'env values never in argv');
    assert.equal(env['SECRET'], 'top secret');
    assert.ok(env['CONTAINERS_STORAGE_CONF']?.startsWith(state));
    assert.match(joined, / run --rm --replace --name mn-[0-9a-f]+-r1 /);
    assert.match(joined, / --network ns:\/run\/netns\/mn-test-r1 /);
    assert.match(joined, / --hostname s-1 /);
    assert.match(joined, / --cpuset-cpus 1 /);
    assert.match(joined, / --env SECRET --env PATH --env TMPDIR=\/tmp /);
    assert.match(
      joined,
      / --env MULTINODE_K8S_RANK=1 --env MULTINODE_K8S_POD_IP=198\.18\.9\.3 --env MN_SSHD=1 /,
    );
    assert.match(joined, / --volume \/srv\/data:\/data:rw /);
    assert.match(joined, /--volume [^ ]*\/pod\/ssh:\/etc\/multinode-ssh:ro /);
    // Plain ssh: the Host blocks as a drop-in, every session through the session script.
    assert.match(
      joined,
      /--volume [^ ]*\/pod\/ssh\/multinode\.conf:\/etc\/ssh\/ssh_config\.d\/00-multinode\.conf:ro /,
    );
    const dropIn = readFileSync(join(state, 'services/s/pod/ssh/multinode.conf'), 'utf8');
    assert.match(dropIn, /^Host s-1 198\.18\.9\.3\n {2}HostName 198\.18\.9\.3\n {2}Port 2222\n/m);
    assert.match(dropIn, /IdentityFile \/etc\/multinode-ssh\/id_ed25519\n/);
    assert.match(dropIn, /HostKeyAlias multinode-rank\n/);
    assert.match(
      readFileSync(join(state, 'services/s/pod/ssh/authorized_keys'), 'utf8'),
      /^command="\/bin\/sh \/opt\/multinode-k8s\/session\.sh" ssh-ed25519 /,
    );
    execFileSync('/bin/sh', ['-n', join(state, 'services/s/pod/shim/session.sh')]);
    assert.match(joined, /--volume [^ ]*\/shim\/sshd-2222\.sh:\/opt\/multinode-k8s\/sshd\.sh:ro /);
    assert.match(
      joined,
      / --workdir \/work --entrypoint \["\/bin\/sh","\/opt\/multinode-k8s\/entrypoint\.sh"\] f{64} python3 x\.py$/,
    );
    for (const a of ['--cgroup-manager=cgroupfs', '--events-backend=file', 'runc', '--no-hosts'])
      assert.ok(argv.includes(a), a);
    const entry = readFileSync(join(state, 'services/s/pod/shim/entrypoint.sh'), 'utf8');
    assert.match(entry, /multinode entrypoint for s on Kubernetes/);
    execFileSync('/bin/sh', ['-n', join(state, 'services/s/pod/shim/entrypoint.sh')]);
  } finally {
    if (prev === undefined) delete process.env['MULTINODE_STATE_DIR'];
    else process.env['MULTINODE_STATE_DIR'] = prev;
    rmSync(podmanDirs(state).run, { recursive: true, force: true });
    rmSync(state, { recursive: true, force: true });
  }
});

test('a container killed by signal n (podman run exits 128+n) is reported as that signal', () => {
  assert.equal(containerSignal(137), 'SIGKILL');
  assert.equal(containerSignal(143), 'SIGTERM');
  for (const c of [null, 0, 1, 125, 127, 128, 255]) assert.equal(containerSignal(c), undefined, String(c));
  const exits: [number | null, string | null][] = [];
  const base: ProcessLauncher = {
    launch: (): LaunchedProcess => ({ pid: 42, onExit: (fn) => fn(137, null) }),
    startTime: () => Promise.resolve('1'),
    stopGroup: () => Promise.resolve(),
  };
  const none = () => undefined;
  const some = () => ({
    launch: () => ({ argv: [], env: {} }),
    remove: async () => {},
    removeAll: async () => {},
  });
  const record = (code: number | null, signal: string | null) => exits.push([code, signal]);
  withContainerRemoval(base, some)
    .launch(['podman', 'run', '--label', 'multinode.rank=1'], { env: {}, logFile: '/l' })
    .onExit(record);
  withContainerRemoval(base, some)
    .launch(['/bin/sh', '-c', 'exit 137'], { env: {}, logFile: '/l' })
    .onExit(record);
  withContainerRemoval(base, none)
    .launch(['podman', 'run', '--label', 'multinode.rank=1'], { env: {}, logFile: '/l' })
    .onExit(record);
  assert.deepEqual(exits, [
    [null, 'SIGKILL'],
    [137, null],
    [137, null],
  ]);
});
