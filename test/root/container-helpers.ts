/**
 * Shared by the container root tests: the test images (built offline from Debian packages by
 * test/images/build.sh, cached under .cache/images and imported into the state directory's private podman
 * store), and what must be gone after `down` (containers, mounts, cgroups, podman's own network objects).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { importRootfs, podmanBase, podmanDirs, podmanEnv } from '../../src/targets/local/container.js';
import { ROOT_DIR, skipReason } from './runtime-helpers.js';

export const BUSYBOX_IMAGE = 'localhost/multinode-test/busybox:1';
export const MPI_IMAGE = 'localhost/multinode-test/mpi:1';

export function containerSkipReason(tools: readonly string[] = []): string | false {
  const base = skipReason(tools);
  if (base) return base;
  for (const f of ['/usr/bin/podman', '/usr/sbin/runc', '/usr/bin/catatonit', '/bin/busybox'])
    if (!existsSync(f)) return `needs ${f} (scripts/install-deps)`;
  return false;
}

/** Builds (or finds in the cache) the tarball of `kind` and imports it into `stateDir`'s image store. */
export async function testImage(
  stateDir: string,
  kind: 'busybox' | 'mpi',
): Promise<{ name: string; buildMs: number }> {
  const t = Date.now();
  const r = spawnSync(join(ROOT_DIR, 'test/images/build.sh'), [kind], {
    encoding: 'utf8',
    timeout: 1_500_000,
  });
  if (r.status !== 0) throw new Error(`test/images/build.sh ${kind} failed:\n${r.stderr}`);
  const tarball = r.stdout.trim().split('\n').pop() ?? '';
  const name = kind === 'busybox' ? BUSYBOX_IMAGE : MPI_IMAGE;
  await withState(stateDir, () => importRootfs(tarball, name));
  return { name, buildMs: Date.now() - t };
}

export const STANDIN_IMAGE = 'localhost/multinode-test/standins:1';

/**
 * The MPI test image plus the backend stand-ins (test/programs/standins: `vllm`, `python`, … NOT the real
 * programs) in /usr/local/bin, the seed-000 `inference_server` stand-in on PYTHONPATH (/opt/pylib) and the
 * conformance probe it runs (/opt/probe.py): an image in which seed 000's examples find their programs, as
 * they would in the real images. Made with `podman create` + `cp` + `commit` (one small layer, no build).
 */
export async function standinImage(stateDir: string): Promise<{ name: string; ms: number }> {
  const t = Date.now();
  await testImage(stateDir, 'mpi');
  const tmp = `mn-standins-build-${process.pid}`;
  try {
    podman(stateDir, ['create', '--name', tmp, MPI_IMAGE, '/bin/true']);
    podman(stateDir, ['cp', `${join(ROOT_DIR, 'test/programs/standins')}/.`, `${tmp}:/usr/local/bin/`]);
    podman(stateDir, ['cp', join(ROOT_DIR, 'test/conformance/pylib'), `${tmp}:/opt/pylib`]);
    podman(stateDir, ['cp', join(ROOT_DIR, 'test/conformance/probe.py'), `${tmp}:/opt/probe.py`]);
    podman(stateDir, ['commit', '--quiet', '--change', 'ENV PYTHONPATH=/opt/pylib', tmp, STANDIN_IMAGE]);
  } finally {
    podman(stateDir, ['rm', '--force', '--ignore', tmp]);
  }
  return { name: STANDIN_IMAGE, ms: Date.now() - t };
}

/** Runs `fn` with MULTINODE_STATE_DIR set (the container module reads the state root from it). */
export async function withState<T>(stateDir: string, fn: () => Promise<T>): Promise<T> {
  const prev = process.env['MULTINODE_STATE_DIR'];
  process.env['MULTINODE_STATE_DIR'] = stateDir;
  try {
    return await fn();
  } finally {
    if (prev === undefined) delete process.env['MULTINODE_STATE_DIR'];
    else process.env['MULTINODE_STATE_DIR'] = prev;
  }
}

export function podman(stateDir: string, args: readonly string[]): string {
  const prev = process.env['MULTINODE_STATE_DIR'];
  process.env['MULTINODE_STATE_DIR'] = stateDir;
  try {
    const argv = [...podmanBase(), ...args];
    return execFileSync(argv[0] as string, argv.slice(1), {
      encoding: 'utf8',
      env: { ...process.env, ...podmanEnv() },
    });
  } finally {
    if (prev === undefined) delete process.env['MULTINODE_STATE_DIR'];
    else process.env['MULTINODE_STATE_DIR'] = prev;
  }
}

/**
 * Names of all containers (running or not) in the state directory's store. podman makes its run-time
 * directory when it is missing: one this call made is removed again, so it never hides what `down` left.
 */
export function containersIn(stateDir: string): string[] {
  const hadRun = existsSync(podmanDirs(stateDir).run);
  const names = podman(stateDir, ['ps', '--all', '--format', '{{.Names}}'])
    .split('\n')
    .filter((x) => x !== '');
  if (!hadRun) removePodmanRun(stateDir);
  return names;
}

/** What podman could have left outside its store: each entry is a finding (empty = clean). */
export function podmanLeftovers(stateDir: string, ipForwardBefore: string): string[] {
  const out: string[] = [];
  if (spawnSync('ip', ['link', 'show', 'cni-podman0']).status === 0) out.push('link cni-podman0 exists');
  const fwd = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
  if (fwd !== ipForwardBefore) out.push(`ip_forward changed from ${ipForwardBefore} to ${fwd}`);
  const tables = execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' });
  for (const t of ['ip nat', 'ip filter', 'ip6 nat', 'ip6 filter'])
    if (tables.split('\n').includes(`table ${t}`) && !TABLES_BEFORE.includes(`table ${t}`))
      out.push(`root nft table ${t}`);
  for (const h of readdirSync('/sys/fs/cgroup'))
    for (const e of readdirSync(join('/sys/fs/cgroup', h)).filter(
      (x) => x.startsWith('multinode-') || x === 'libpod_parent',
    ))
      out.push(`cgroup ${h}/${e}`);
  for (const l of readFileSync('/proc/self/mountinfo', 'utf8').split('\n'))
    if (l.includes(join(stateDir, 'containers')) || l.includes(podmanDirs(stateDir).run))
      out.push(`mount ${l.split(' ')[4]}`);
  const run = podmanDirs(stateDir).run;
  if (existsSync(run)) out.push(`run-time directory ${run}`);
  // Its parent is shared (ssh ControlMaster and munge directories of other runs may be there), but an
  // empty one is ours to have removed.
  const parent = dirname(run);
  if (existsSync(parent) && readdirSync(parent).length === 0) out.push(`empty directory ${parent}`);
  if (!SHM_LOCK_BEFORE && existsSync(SHM_LOCK)) out.push(`podman's shared lock segment ${SHM_LOCK}`);
  return out;
}

const SHM_LOCK = '/dev/shm/libpod_lock';
const SHM_LOCK_BEFORE = existsSync(SHM_LOCK);
const TABLES_BEFORE = execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }).split('\n');

/** Removes the store's run-time directory (outside the state directory) after a test. */
export function removePodmanRun(stateDir: string): void {
  const run = podmanDirs(stateDir).run;
  for (const l of readFileSync('/proc/self/mountinfo', 'utf8').split('\n').reverse()) {
    const m = l.split(' ')[4];
    if (m && (m.startsWith(run) || m.startsWith(join(stateDir, 'containers'))))
      spawnSync('umount', ['-l', m]);
  }
  rmSync(run, { recursive: true, force: true });
  // Its parent too when nothing else is in it (podman makes it 0700 when missing; multinode wants 0755).
  try {
    rmdirSync(dirname(run));
  } catch {
    /* not empty, or gone */
  }
}
