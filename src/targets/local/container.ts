/**
 * Ranks in their image: when a service names an image (`image.uri`) and `up` was not given `--host-fs`, each
 * rank runs in a rootful podman container of that image, joined to the rank's network namespace (overlay, or
 * the node's in host mode) and UTS namespace (its host name), with the rank's hosts file, environment, cwd,
 * cpuset and the plan's files, under the Kubernetes pod entrypoint (../pod-entrypoint.ts): a container rank
 * here starts exactly as a pod does, and runs sshd from the image when the service uses SSH.
 *
 * Engine: podman 4.3 with runc, because Debian's crun 1.8 refuses this kind of host (cgroup v1 plus a cgroup2
 * `unified` mount: "cgroups in hybrid mode not supported") unless the unified mount is hidden in a private
 * mount namespace first, and podman cannot be told to do that. Flags every call needs here: cgroupfs (no
 * systemd), file events, and explicit ulimits (the defaults exceed what a root without CAP_SYS_RESOURCE may
 * set). podman never configures networking: every container gets `--network ns:<rank netns>`, so it creates
 * no bridge, sets no sysctl and adds no nft table.
 *
 * Storage: podman's own, private to multinode: images, layers and container files under
 * `<state>/containers/storage` (0700), run-time files (file locks included: podman's default shared-memory
 * locks would live in /dev/shm/libpod_lock, one segment for every store on the machine) under
 * `/run/multinode/pm-<hash>` (root-only parent),
 * configured by files in `<state>/containers` that podman reads through CONTAINERS_CONF,
 * CONTAINERS_STORAGE_CONF and CONTAINERS_REGISTRIES_CONF. Nothing goes to /var/lib/containers or to the
 * user's own podman store, other users cannot plant or read images, and `down` can remove everything of a
 * service (containers by label, their cgroups) while the image cache stays for the next `up`.
 *
 * The supervisor's narrow API: `rankRuntimeFor` (is this service containerised?), `containerRanks(...)` →
 * `{ argv, env, remove, removeAll }`, and `removeServiceContainers` for `down`.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, readdir, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { EXIT, MultinodeError } from '../../api/issues.js';
import type { RankPlan, ServicePlan } from '../../api/plan.js';
import {
  entrypointScript,
  hostnameScript,
  HELPER_ENV,
  HOST_KEY_ALIAS,
  RANK_ENV_KEY,
  remoteScript,
  SHIM_DIR,
  SSH_DIR,
  sshdScript,
  sshWrapperScript,
} from '../pod-entrypoint.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, requireInside, stateRoot } from '../state-root.js';
import { singleQuote } from '../../lib/shell.js';
import { buildSshClientConfig, SSH_CONFIG_FILES, sshClientMounts } from './ssh/config.js';
import { inShortParent, releaseShortParent, shortPrivateParent } from '../private-dir.js';
import type { ProcessLauncher } from '../ports.js';
import { rankEtcDir, rankUtsPath } from './network.js';
import { NETNS_DIR } from './node-exec.js';
import { serviceDir, serviceNames, withLock } from './paths.js';
import { STATE } from '../../api/names.js';

export const PODMAN = '/usr/bin/podman';
export const PULL_POLICIES = ['always', 'missing', 'never'] as const;
export type PullPolicy = (typeof PULL_POLICIES)[number];

/** A bind mount every rank of a service gets (the volumes module makes them; same shape as there). */
export interface RankMount {
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

/** How a service's ranks run, fixed at `up` and kept in `<service dir>/rank-runtime.json` for restarts. */
export type RankRuntime =
  | { readonly kind: 'host'; readonly hostFs: boolean }
  | {
      readonly kind: 'container';
      /** `image.uri` as written. */
      readonly imageRef: string;
      /** The image every rank (and every restart) runs: the id resolved at `up`. */
      readonly imageId: string;
      readonly pull: PullPolicy;
    };

const RUNTIME_FILE = 'rank-runtime.json';
/** Where the pod entrypoint writes the rank's recorded environment and IP inside the container (a tmpfs). */
const POD_FILES_ROOT = '/run/multinode-pod';
/** Seconds the entrypoint waits for a peer's name (never used locally: every address is in the env). */
const RESOLVE_TIMEOUT_S = 60;
const SSH_KEYGEN = '/usr/bin/ssh-keygen';

// ---- podman and its private storage ---------------------------------------------------------------------

export interface PodmanDirs {
  /** `<state>/containers`: config files and the storage. */
  readonly base: string;
  readonly storage: string;
  /** Run-time state (locks, container run dirs): under /run, private to root. */
  readonly run: string;
  readonly containersConf: string;
  readonly storageConf: string;
  readonly registriesConf: string;
}

export function podmanDirs(root: string = stateRoot()): PodmanDirs {
  const base = join(root, 'containers');
  const h = createHash('sha256').update(resolve(root)).digest('hex').slice(0, 12);
  return {
    base,
    storage: join(base, 'storage'),
    run: join(shortPrivateParent(), `pm-${h}`),
    containersConf: join(base, 'containers.conf'),
    storageConf: join(base, 'storage.conf'),
    registriesConf: join(base, 'registries.conf'),
  };
}

function toml(s: string): string {
  return JSON.stringify(s);
}

/** Soft and hard open-file limits of this process (podman's default exceeds what may be set here). */
function nofileLimit(): string {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const m = line ? /Max open files\s+(\d+)\s+(\d+)/.exec(line) : null;
    if (m?.[1] && m[2]) return `${m[1]}:${m[2]}`;
  } catch {
    /* fall through */
  }
  return '1024:1024';
}

/** Writes podman's config files (idempotent) and returns the directories. */
export async function ensurePodmanConfig(root: string = stateRoot()): Promise<PodmanDirs> {
  const d = podmanDirs(root);
  await mkdir(d.storage, { recursive: true, mode: PRIVATE_DIR_MODE });
  await chmod(d.base, PRIVATE_DIR_MODE);
  await inShortParent(() =>
    mkdir(d.run, { mode: PRIVATE_DIR_MODE }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    }),
  );
  await chmod(d.run, PRIVATE_DIR_MODE);
  const files: [string, string][] = [
    [
      d.storageConf,
      `# multinode's private image store (see src/targets/local/container.ts)\n[storage]\ndriver = "overlay"\ngraphroot = ${toml(d.storage)}\nrunroot = ${toml(join(d.run, 'storage'))}\n`,
    ],
    [
      d.containersConf,
      [
        `# podman as multinode runs it: cgroupfs, file events, runc, no network setup of its own`,
        `[containers]`,
        `log_driver = "k8s-file"`,
        `log_size_max = 1048576`,
        `[engine]`,
        `cgroup_manager = "cgroupfs"`,
        `# locks in the run-time directory, not in /dev/shm/libpod_lock (shared with every other podman store)`,
        `lock_type = "file"`,
        `events_logger = "file"`,
        `events_logfile_path = ${toml(join(d.run, 'events.log'))}`,
        `runtime = "runc"`,
        `tmp_dir = ${toml(join(d.run, 'libpod'))}`,
        `volume_path = ${toml(join(d.storage, 'volumes'))}`,
        `static_dir = ${toml(join(d.storage, 'libpod'))}`,
        `image_copy_tmp_dir = ${toml(join(d.base, 'tmp'))}`,
        `[network]`,
        `network_backend = "cni"`,
        `network_config_dir = ${toml(join(d.base, 'net.d'))}`,
        ``,
      ].join('\n'),
    ],
    [
      d.registriesConf,
      `# Short names mean docker.io, as on Kubernetes; never prompt.\nunqualified-search-registries = ["docker.io"]\nshort-name-mode = "disabled"\n`,
    ],
  ];
  await mkdir(join(d.base, 'tmp'), { recursive: true, mode: PRIVATE_DIR_MODE });
  for (const [path, content] of files) {
    const old = existsSync(path) ? await readFile(path, 'utf8') : undefined;
    if (old !== content) await writeFile(path, content, { mode: PRIVATE_FILE_MODE });
  }
  return d;
}

/** The environment every podman call gets (which config files to read). */
export function podmanEnv(d: PodmanDirs = podmanDirs()): Record<string, string> {
  return {
    CONTAINERS_CONF: d.containersConf,
    CONTAINERS_STORAGE_CONF: d.storageConf,
    CONTAINERS_REGISTRIES_CONF: d.registriesConf,
  };
}

/** `podman` with the storage and engine flags this machine needs. */
export function podmanBase(d: PodmanDirs = podmanDirs()): string[] {
  return [
    PODMAN,
    '--root',
    d.storage,
    '--runroot',
    join(d.run, 'storage'),
    '--tmpdir',
    join(d.run, 'libpod'),
    '--cgroup-manager=cgroupfs',
    '--events-backend=file',
    '--runtime',
    'runc',
  ];
}

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function runPodman(args: readonly string[], d: PodmanDirs = podmanDirs(), timeoutMs = 600_000): Promise<Ran> {
  const argv = [...podmanBase(d), ...args];
  return new Promise((done) => {
    execFile(
      argv[0] as string,
      argv.slice(1),
      {
        env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...podmanEnv(d) },
        timeout: timeoutMs,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        done({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** podman's last error line, without its "Error: " prefix. */
function lastError(r: Ran): string {
  const lines = r.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return (lines[lines.length - 1] ?? `exit code ${r.code}`).replace(/^Error: /, '');
}

export function podmanAvailable(): boolean {
  return existsSync(PODMAN) && existsSync('/usr/sbin/runc');
}

/**
 * Image copies write a blob-info cache to /var/lib/containers/cache whatever the storage root (podman 4.3).
 * When that directory did not exist before, the copy made it: remove it again (only if it holds nothing but
 * that cache), so multinode leaves nothing in the system-wide place.
 */
async function withoutSystemCache<T>(fn: () => Promise<T>): Promise<T> {
  const sys = '/var/lib/containers';
  const existed = existsSync(sys);
  try {
    return await fn();
  } finally {
    if (!existed && existsSync(sys)) {
      const top = await readdir(sys).catch(() => ['?']);
      const cache = top.length === 1 && top[0] === 'cache' ? await readdir(join(sys, 'cache')) : ['?'];
      if (cache.every((f) => f === 'blob-info-cache-v1.boltdb'))
        await rm(sys, { recursive: true, force: true });
    }
  }
}

// ---- images -----------------------------------------------------------------------------------------

/** What kind of reference `image.uri` is. */
export function parseImageRef(
  ref: string,
):
  | { readonly kind: 'archive'; readonly transport: string; readonly path: string }
  | { readonly kind: 'registry'; readonly name: string } {
  const m = /^(oci-archive|docker-archive):(.+)$/.exec(ref);
  if (m?.[1] && m[2]) return { kind: 'archive', transport: m[1], path: m[2] };
  return { kind: 'registry', name: ref.startsWith('docker://') ? ref.slice('docker://'.length) : ref };
}

function loadHint(ref: string, d: PodmanDirs): string {
  return (
    `This machine may be offline. Either point image.uri at a local archive (oci-archive:/path/image.tar or ` +
    `docker-archive:/path/image.tar, made with \`podman save\`), or load it into multinode's image store: ` +
    `\`CONTAINERS_STORAGE_CONF=${d.storageConf} podman --root ${d.storage} load -i FILE\` ` +
    `(the archive must carry the name ${ref}); \`--host-fs\` runs the ranks on this machine's file system instead`
  );
}

async function imageId(name: string, d: PodmanDirs): Promise<string | undefined> {
  const r = await runPodman(['image', 'inspect', '--format', '{{.Id}}', name], d, 60_000);
  const id = r.stdout.trim();
  return r.code === 0 && /^[0-9a-f]{64}$/.test(id) ? id : undefined;
}

interface ArchiveEntry {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly id: string;
}

/**
 * Makes the image of `ref` available in multinode's store as `pull` says (Kubernetes' IfNotPresent is
 * `missing`) and returns its id. Archives are loaded once per file version (path, size, mtime). Fails with a
 * located message naming the image and how to provide it.
 */
export async function ensureImage(ref: string, pull: PullPolicy, field = 'image.uri'): Promise<string> {
  const d = await ensurePodmanConfig();
  try {
    return await withStoreLock(d, () => ensureImageLocked(ref, pull, field, d));
  } catch (e) {
    await removeIdleRunDir(d); // `up` stops here: it leaves nothing behind
    throw e;
  }
}

async function ensureImageLocked(
  ref: string,
  pull: PullPolicy,
  field: string,
  d: PodmanDirs,
): Promise<string> {
  const p = parseImageRef(ref);
  const fail = (why: string): never => {
    throw new MultinodeError(
      'runtime.image-unavailable',
      `${field}: image ${ref} is not available: ${why}. ${loadHint(ref, d)}`,
      {
        exitCode: EXIT.badInput,
      },
    );
  };
  if (p.kind === 'archive') {
    const path = resolve(p.path);
    const st = await stat(path).catch(() => undefined);
    const indexPath = join(d.base, 'archives.json');
    const index: ArchiveEntry[] = existsSync(indexPath)
      ? (JSON.parse(await readFile(indexPath, 'utf8')) as ArchiveEntry[])
      : [];
    const known = st
      ? index.find((e) => e.path === path && e.size === st.size && e.mtimeMs === st.mtimeMs)
      : undefined;
    if (known && pull !== 'always' && (await imageId(known.id, d))) return known.id;
    if (!st) return fail(`the archive ${path} does not exist`);
    if (pull === 'never') return fail(`--pull never, and the archive ${path} was not loaded before`);
    const r = await withoutSystemCache(() => runPodman(['pull', '--quiet', `${p.transport}:${path}`], d));
    const id = r.stdout.trim().split('\n').pop() ?? '';
    if (r.code !== 0 || !/^[0-9a-f]{64}$/.test(id)) return fail(`loading ${path} failed: ${lastError(r)}`);
    const next = [...index.filter((e) => e.path !== path), { path, size: st.size, mtimeMs: st.mtimeMs, id }];
    await writeFile(indexPath, `${JSON.stringify(next)}\n`, { mode: PRIVATE_FILE_MODE });
    return id;
  }
  const present = pull === 'always' ? undefined : await imageId(p.name, d);
  if (present) return present;
  if (pull === 'never')
    return fail(`it is not in multinode's image store (${d.storage}) and --pull is never`);
  const r = await withoutSystemCache(() => runPodman(['pull', '--quiet', `docker://${p.name}`], d, 900_000));
  if (r.code !== 0)
    return fail(`it is not in multinode's image store (${d.storage}) and pulling it failed: ${lastError(r)}`);
  const id = await imageId(p.name, d);
  return id ?? fail('the pull reported success but the image is not in the store');
}

/** Imports a root file system tarball as `name` (test images; `podman import`). Returns the image id. */
export async function importRootfs(tarball: string, name: string): Promise<string> {
  const d = await ensurePodmanConfig();
  const existing = await imageId(name, d);
  if (existing) return existing;
  const r = await withoutSystemCache(() => runPodman(['import', '--quiet', tarball, name], d));
  const id = await imageId(name, d);
  if (r.code !== 0 || !id)
    throw new MultinodeError(
      'runtime.image-import',
      `podman import ${tarball} as ${name} failed: ${lastError(r)}`,
    );
  return id;
}

/** Whether the image has an `sshd` in one of the usual places (checked in a throwaway container). */
export async function imageHasSshd(id: string): Promise<boolean> {
  const d = await ensurePodmanConfig();
  const parent = `/multinode-check-${process.pid}`;
  const r = await withStoreLock(d, () =>
    runPodman(
      [
        'run',
        '--rm',
        '--network',
        'none',
        '--cgroup-parent',
        parent,
        '--ulimit',
        `nofile=${nofileLimit()}`,
        '--ulimit',
        'nproc=4096:4096',
        '--entrypoint',
        '/bin/sh',
        id,
        '-c',
        'for d in /usr/sbin /usr/bin /sbin /bin; do [ -x "$d/sshd" ] && exit 0; done; exit 3',
      ],
      d,
      60_000,
    ),
  );
  await removeCgroups(parent);
  if (r.code === 0) return true;
  await removeIdleRunDir(d); // `up` stops when this is false: it leaves nothing behind
  if (r.code === 3) return false;
  throw new MultinodeError(
    'runtime.image-check',
    `cannot run image ${id.slice(0, 12)} to look for sshd: ${lastError(r)}`,
  );
}

// ---- the record of how a service's ranks run --------------------------------------------------------

export async function writeRankRuntime(service: string, rt: RankRuntime): Promise<void> {
  const path = join(serviceDir(service), RUNTIME_FILE);
  await writeFile(path, `${JSON.stringify(rt)}\n`, { mode: PRIVATE_FILE_MODE });
}

/** What `up` recorded; a service recorded before this existed runs on the host file system. */
export async function readRankRuntime(dir: string): Promise<RankRuntime> {
  try {
    return JSON.parse(await readFile(join(dir, RUNTIME_FILE), 'utf8')) as RankRuntime;
  } catch {
    return { kind: 'host', hostFs: false };
  }
}

// ---- per-rank containers ------------------------------------------------------------------------------

export interface ContainerRanksInput {
  readonly plan: ServicePlan;
  readonly cluster: string;
  readonly serviceDir: string;
  readonly runtime: Extract<RankRuntime, { kind: 'container' }>;
  /** The rank's network namespace name under /run/netns (its own in overlay mode, else its node's). */
  readonly netns: (r: RankPlan) => string;
  /** Whether ranks run sshd (leader launch, MPI launchers). */
  readonly ssh: boolean;
  /** Mounts every rank gets (volumes). */
  readonly mounts: readonly RankMount[];
  /** Host CPUs of the rank's cpuset. */
  readonly cpus: (r: RankPlan) => readonly number[];
}

export interface ContainerRanks {
  /**
   * What the supervisor spawns as the rank's process (podman in the foreground, leading its process group),
   * and its environment: the rank's (passed into the container by name, never in argv) plus podman's config.
   */
  launch(
    r: RankPlan,
    rankEnv: Readonly<Record<string, string>>,
    command: readonly string[],
  ): { argv: string[]; env: Record<string, string> };
  /** Removes the given ranks' containers (after their podman process was stopped); gone counts as done. */
  remove(ranks: readonly number[]): Promise<void>;
  removeAll(): Promise<void>;
}

/** The rank a `launch` argv starts the container of (its `multinode.rank` label), if it is one. */
function rankOfArgv(argv: readonly string[]): number | undefined {
  for (const a of argv) {
    const m = /^multinode\.rank=(\d+)$/.exec(a);
    if (m?.[1]) return Number(m[1]);
  }
  return undefined;
}

/**
 * The launcher the supervisor's reconcile loop uses, with container ranks' removal added: stopping the group
 * of a rank's podman process (after TERM, the container's init passes it on; after KILL only podman dies) also
 * removes that rank's container, so stop and kill reach everything in it.
 */
export function withContainerRemoval(
  base: ProcessLauncher,
  ctr: () => ContainerRanks | undefined,
): ProcessLauncher {
  const rankOfPid = new Map<number, number>();
  return {
    launch(argv, options) {
      const p = base.launch(argv, options);
      const rank = ctr() ? rankOfArgv(argv) : undefined;
      if (rank === undefined) return p;
      if (p.pid !== undefined) rankOfPid.set(p.pid, rank);
      // `podman run` reports a container killed by signal n as exit code 128+n: report it as the signal,
      // as a rank on the host file system killed by n is reported.
      return {
        pid: p.pid,
        onExit: (fn) => {
          p.onExit((code, signal) => {
            const s = signal === null ? containerSignal(code) : undefined;
            if (s === undefined) fn(code, signal);
            else fn(null, s);
          });
        },
      };
    },
    startTime: (pid) => base.startTime(pid),
    async stopGroup(pid, startTime, graceMs) {
      await base.stopGroup(pid, startTime, graceMs);
      const rank = rankOfPid.get(pid);
      const c = ctr();
      if (rank === undefined || !c) return;
      rankOfPid.delete(pid);
      await c.remove([rank]);
    },
  };
}

/**
 * The signal a `podman run` exit code stands for: 128+n for a signal n the container's process died of
 * (podman, like a shell, cannot tell it from a program that exits with 128+n itself). 125–127 are podman's.
 */
export function containerSignal(code: number | null): string | undefined {
  if (code === null || code <= 128 || code > 128 + 64) return undefined;
  const n = code - 128;
  const name = Object.entries(osConstants.signals).find(([, v]) => v === n)?.[0];
  return name;
}

export function containerName(cluster: string, service: string, rank: number): string {
  return `${serviceNames(cluster, service).containerId(rank)}`;
}

function serviceLabel(cluster: string, service: string): string {
  return `multinode.service=${serviceNames(cluster, service).hash}`;
}

function cgroupParent(cluster: string, service: string): string {
  return `/multinode-${serviceNames(cluster, service).hash}`;
}

/** Environment names podman's client reads itself: never passed into a container from the rank's env. */
const CLIENT_ONLY = new Set(['CONTAINERS_CONF', 'CONTAINERS_STORAGE_CONF', 'CONTAINERS_REGISTRIES_CONF']);

/**
 * Writes the pod files for the service (entrypoint, rank-env, sshd, remote, hostname, wrapper; keys) under
 * `<service dir>/pod` and returns how to start, enter and remove its containers.
 */
export async function containerRanks(input: ContainerRanksInput): Promise<ContainerRanks> {
  const { plan, cluster } = input;
  const d = await ensurePodmanConfig();
  const pod = join(input.serviceDir, 'pod');
  const shim = join(pod, 'shim');
  const keys = join(pod, 'ssh');
  await mkdir(join(shim, 'bin'), { recursive: true, mode: PRIVATE_DIR_MODE });
  await mkdir(keys, { recursive: true, mode: PRIVATE_DIR_MODE });
  const sshPort = (r: RankPlan) => (r.sshPort > 0 ? r.sshPort : 2222);
  const ports = [...new Set(plan.ranks.map(sshPort))];
  const write = (path: string, content: string, mode: number) => writeFile(path, content, { mode });
  await write(
    join(shim, 'entrypoint.sh'),
    entrypointScript({
      service: plan.name,
      filesRoot: POD_FILES_ROOT,
      files: [],
      ...(plan.cwd !== undefined ? { cwd: plan.cwd } : {}),
      resolveTimeoutSeconds: RESOLVE_TIMEOUT_S,
    }),
    0o755,
  );
  await write(
    join(shim, RANK_ENV_KEY),
    `# ${plan.name}: the local runtime passes every rank's environment in directly (podman -e).\nMN_ADDRS=''\n`,
    0o644,
  );
  await write(join(shim, 'remote.sh'), remoteScript(POD_FILES_ROOT, plan.cwd), 0o755);
  await write(join(shim, 'bin', 'hostname'), hostnameScript(), 0o755);
  for (const p of ports) await write(join(shim, `sshd-${p}.sh`), sshdScript(p, POD_FILES_ROOT), 0o755);
  await write(join(shim, 'sshd.sh'), sshdScript(ports[0] ?? 2222, POD_FILES_ROOT), 0o755);
  const hostPorts =
    ports.length > 1
      ? plan.ranks.flatMap((r) => [
          { host: r.hostname, port: sshPort(r) },
          { host: r.address, port: sshPort(r) },
        ])
      : undefined;
  await write(join(shim, 'bin', 'multinode-ssh'), sshWrapperScript(ports[0] ?? 2222, hostPorts), 0o755);
  // sshd: required for leader launch and MPI (`up` checked the image has one); otherwise, in a service of
  // more than one rank, started when the image has one, so plain `ssh <rank>` works in every launch mode.
  const sshd = input.ssh ? 'required' : plan.ranks.length > 1 ? 'optional' : 'none';
  for (const p of ports)
    await write(join(shim, `sshd-optional-${p}.sh`), optionalSshdScript(`${SHIM_DIR}/sshd-${p}.sh`), 0o755);
  await write(join(shim, SESSION_SCRIPT), sessionScript(), 0o755);
  if (sshd !== 'none') {
    await ensurePodKeys(keys, plan.name);
    await write(
      join(keys, SSH_CONFIG_FILES.dropIn),
      buildSshClientConfig({
        serviceName: plan.name,
        hosts: plan.ranks.map((r) => ({ hostname: r.hostname, address: r.address, port: sshPort(r) })),
        identityFile: `${SSH_DIR}/id_ed25519`,
        knownHosts: `${SSH_DIR}/known_hosts`,
        hostKeyAlias: HOST_KEY_ALIAS,
      }),
      0o644,
    );
  }

  const filesDirs = new Set<string>();
  for (const f of plan.files) filesDirs.add(dirname(f.path));
  const mountArgs = (r: RankPlan): string[] => {
    const out: string[] = [];
    const etc = rankEtcDir(input.serviceDir, r.rank);
    for (const f of ['hosts', 'resolv.conf'])
      if (existsSync(join(etc, f))) out.push('--volume', `${join(etc, f)}:/etc/${f}:ro`);
    for (const dir of filesDirs) out.push('--volume', `${dir}:${dir}:ro`);
    out.push('--volume', `${shim}:${SHIM_DIR}:ro`);
    const sshdFile = sshd === 'optional' ? `sshd-optional-${sshPort(r)}.sh` : `sshd-${sshPort(r)}.sh`;
    out.push('--volume', `${join(shim, sshdFile)}:${SHIM_DIR}/sshd.sh:ro`);
    out.push('--volume', `${join(shim, 'bin', 'multinode-ssh')}:${plan.sshWrapperPath}:ro`);
    if (sshd !== 'none') {
      out.push('--volume', `${keys}:${SSH_DIR}:ro`);
      // Plain `ssh <rank>`: the Host blocks as a drop-in of the image's own ssh_config.
      for (const m of sshClientMounts(keys, 'image'))
        out.push('--volume', `${m.source}:${m.target}:${m.readOnly ? 'ro' : 'rw'}`);
    }
    for (const m of input.mounts) out.push('--volume', `${m.source}:${m.target}:${m.readOnly ? 'ro' : 'rw'}`);
    return out;
  };
  const initPath = ['/usr/bin/catatonit', '/usr/libexec/podman/catatonit'].find((p) => existsSync(p));
  const remove = async (ranks: readonly number[]) => {
    if (ranks.length === 0) return;
    await runPodman(
      ['rm', '--force', '--ignore', '--time', '0', ...ranks.map((r) => containerName(cluster, plan.name, r))],
      d,
      60_000,
    );
  };
  return {
    launch(r, rankEnv, command) {
      const uts = rankUtsPath(input.serviceDir, r.rank);
      const cpus = input.cpus(r);
      const rankEnvNames = Object.keys(rankEnv).filter((k) => !CLIENT_ONLY.has(k) && k !== 'TMPDIR');
      const argv = [
        ...podmanBase(d),
        'run',
        '--rm',
        '--replace',
        '--name',
        containerName(cluster, plan.name, r.rank),
        '--label',
        serviceLabel(cluster, plan.name),
        '--label',
        `multinode.rank=${r.rank}`,
        '--cgroup-parent',
        cgroupParent(cluster, plan.name),
        '--network',
        `ns:${join(NETNS_DIR, input.netns(r))}`,
        ...(existsSync(uts) ? ['--uts', `ns:${uts}`] : ['--hostname', r.hostname]),
        '--no-hosts',
        '--ulimit',
        `nofile=${nofileLimit()}`,
        '--ulimit',
        'nproc=4096:4096',
        ...(cpus.length > 0 ? ['--cpuset-cpus', cpus.join(',')] : []),
        ...(initPath ? ['--init', '--init-path', initPath] : []),
        '--tmpfs',
        `${POD_FILES_ROOT}:mode=0700`,
        '--log-driver',
        'none',
        ...rankEnvNames.flatMap((k) => ['--env', k]),
        '--env',
        'TMPDIR=/tmp',
        '--env',
        `${HELPER_ENV.index}=${r.rank}`,
        '--env',
        `${HELPER_ENV.podIp}=${r.address}`,
        '--env',
        `MN_SSHD=${sshd === 'none' ? 0 : 1}`,
        ...mountArgs(r),
        ...(plan.cwd !== undefined ? ['--workdir', plan.cwd] : []),
        '--entrypoint',
        JSON.stringify(['/bin/sh', `${SHIM_DIR}/entrypoint.sh`]),
        input.runtime.imageId,
        ...(command.length > 0 ? command : ['/bin/sleep', 'infinity']),
      ];
      return { argv, env: { ...rankEnv, ...podmanEnv(d) } };
    },
    remove,
    removeAll: () => remove(plan.ranks.map((r) => r.rank)),
  };
}

const SESSION_SCRIPT = 'session.sh';

/**
 * Every ssh session on a container rank runs this (the authorized key's `command=`): the wrapper's remote
 * half (remote.sh, which sets the rank's environment itself) runs as sent; an sftp request gets the image's
 * sftp-server; anything else is plain `ssh <rank> [CMD]` and runs through remote.sh with the rank's
 * environment and cwd, output on the connection (no CMD: an interactive shell).
 */
function sessionScript(): string {
  const remote = `exec /usr/bin/env -i /bin/sh ${SHIM_DIR}/remote.sh `;
  return `#!/bin/sh
# Every ssh session on this rank starts here (authorized_keys command=; generated by multinode).
c=\${SSH_ORIGINAL_COMMAND-}
case $c in
  ${singleQuote(remote)}*) exec /bin/sh -c "$c" ;;
  internal-sftp|sftp|*/sftp-server)
    for f in /usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server /usr/lib/ssh/sftp-server; do
      [ -x "$f" ] && exec "$f"
    done
    echo "multinode: no sftp-server in this image" >&2
    exit 127 ;;
esac
exec /usr/bin/env -i /bin/sh ${SHIM_DIR}/remote.sh 1 "$c"
`;
}

/** sshd when the image has one, else nothing (a service that does not need SSH between its ranks). */
function optionalSshdScript(sshdScriptPath: string): string {
  return `#!/bin/sh
# sshd for plain \`ssh <rank>\`, only when the image has one (this service does not need it otherwise).
for d in /usr/sbin /usr/bin /sbin /bin; do
  [ -x "$d/sshd" ] && exec /bin/sh ${singleQuote(sshdScriptPath)}
done
exit 0
`;
}

/** Host key, user key, authorized_keys and the pinned known_hosts (alias HOST_KEY_ALIAS), as the pod's Secret. */
async function ensurePodKeys(dir: string, service: string): Promise<void> {
  const keygen = (file: string) =>
    new Promise<void>((done, fail) => {
      if (existsSync(file)) return done();
      execFile(
        SSH_KEYGEN,
        ['-q', '-t', 'ed25519', '-N', '', '-C', `multinode:${service}`, '-f', file],
        (e) =>
          e
            ? fail(new MultinodeError('runtime.ssh-keys', `ssh-keygen for ${file} failed: ${e.message}`))
            : done(),
      );
    });
  await keygen(join(dir, 'ssh_host_ed25519_key'));
  await keygen(join(dir, 'id_ed25519'));
  const hostPub = (await readFile(join(dir, 'ssh_host_ed25519_key.pub'), 'utf8')).trim().split(' ');
  const userPub = (await readFile(join(dir, 'id_ed25519.pub'), 'utf8')).trim();
  // Every session goes through the session script (see `sessionScript`).
  await writeFile(
    join(dir, 'authorized_keys'),
    `command="/bin/sh ${SHIM_DIR}/${SESSION_SCRIPT}" ${userPub}\n`,
    { mode: 0o600 },
  );
  await writeFile(join(dir, 'known_hosts'), `${HOST_KEY_ALIAS} ${hostPub[0] ?? ''} ${hostPub[1] ?? ''}\n`, {
    mode: 0o644,
  });
}

/**
 * `down`: removes every container of the service (by label, so also one a crashed supervisor never
 * recorded) and the service's cgroups. The image stays in the cache.
 */
export async function removeServiceContainers(cluster: string, service: string, dir: string): Promise<void> {
  const rt = await readRankRuntime(dir);
  if (rt.kind !== 'container' || !podmanAvailable()) return;
  const d = podmanDirs();
  if (!existsSync(d.storageConf)) return;
  const ls = await runPodman(
    ['ps', '--all', '--quiet', '--filter', `label=${serviceLabel(cluster, service)}`],
    d,
    60_000,
  );
  const ids = ls.stdout.split('\n').filter((x) => /^[0-9a-f]+$/.test(x));
  if (ids.length > 0) await runPodman(['rm', '--force', '--ignore', '--time', '0', ...ids], d, 60_000);
  // A `podman run` killed between creating its container and starting it leaves conmon and `runc init`
  // behind while podman's record says the container never ran, so `rm` does not stop them: whatever still
  // lives in the service's own cgroup tree (only its containers run there) is killed.
  await killCgroupProcesses(cgroupParent(cluster, service));
  await removeCgroups(cgroupParent(cluster, service));
  await removeIdleRunDir(d, service);
}

/** SIGKILLs every process in the cgroup subtree `parent` (a `/multinode-<hash>` of ours) of any hierarchy. */
async function killCgroupProcesses(parent: string): Promise<void> {
  const root = '/sys/fs/cgroup';
  if (!/^\/multinode-[0-9a-f]+$/.test(parent)) return;
  const pids = new Set<number>();
  const collect = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries)
      if (e.isDirectory()) await collect(join(dir, e.name));
      else if (e.name === 'cgroup.procs')
        for (const l of (await readFile(join(dir, e.name), 'utf8').catch(() => '')).split('\n'))
          if (/^\d+$/.test(l)) pids.add(Number(l));
  };
  for (const h of await readdir(root).catch(() => [] as string[])) await collect(join(root, h, parent));
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** The store's lock: held by image loads and checks (`up`) and by `down` removing the run-time directory. */
function withStoreLock<T>(d: PodmanDirs, fn: () => Promise<T>, timeoutMs = 900_000): Promise<T> {
  return withLock(join(d.base, 'store.lock'), fn, timeoutMs);
}

/**
 * `down`'s last step for the image store (and a failed `up`'s): when no container is left in it and no other
 * recorded service runs in an image, podman's run-time directory (`/run/multinode/pm-<hash>`: locks, events,
 * container run files) goes too, as after a reboot; the next `up` makes it again. The path is proved to be
 * `pm-<12 hex>` directly inside multinode's own short private parent before anything is removed.
 */
async function removeIdleRunDir(d: PodmanDirs, except?: string): Promise<void> {
  const parent = shortPrivateParent();
  if (dirname(d.run) !== parent || !/^pm-[0-9a-f]{12}$/.test(basename(d.run))) return;
  requireInside(d.run, parent);
  if (!existsSync(d.run)) return;
  await withStoreLock(
    d,
    async () => {
      const services = join(stateRoot(), STATE.servicesDir);
      for (const name of await readdir(services).catch(() => [] as string[]))
        if (name !== except && (await readRankRuntime(join(services, name))).kind === 'container') return;
      const ls = await runPodman(['ps', '--all', '--quiet'], d, 60_000);
      if (ls.code !== 0 || ls.stdout.trim() !== '') return;
      // Nothing runs: what podman still has mounted there (a container's shm) is stale.
      const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[4] ?? '')
        .filter((m) => m === d.run || m.startsWith(`${d.run}/`))
        .sort()
        .reverse();
      for (const m of mounts) await new Promise((done) => execFile('/bin/umount', ['-l', m], done));
      await rm(requireInside(d.run, parent), { recursive: true, force: true });
      await releaseShortParent();
    },
    30_000,
  ).catch(() => undefined);
}

/** Removes a cgroup subtree podman left (empty directories only) in every v1 hierarchy and the unified one. */
async function removeCgroups(parent: string): Promise<void> {
  const root = '/sys/fs/cgroup';
  let hierarchies: string[];
  try {
    hierarchies = await readdir(root);
  } catch {
    return;
  }
  const rmTree = async (path: string): Promise<void> => {
    let entries: string[];
    try {
      entries = await readdir(path, { withFileTypes: true }).then((es) =>
        es.filter((e) => e.isDirectory()).map((e) => e.name),
      );
    } catch {
      return;
    }
    for (const e of entries) await rmTree(join(path, e));
    await rmdir(path).catch(() => undefined);
  };
  // conmon leaves its cgroup a moment after the container is removed: retry for a few seconds.
  for (let attempt = 0; attempt < 60; attempt++) {
    let left = 0;
    for (const h of hierarchies) {
      const path = join(root, h, parent);
      if (!path.startsWith(join(root, h, 'multinode-'))) continue;
      await rmTree(path);
      if (existsSync(path)) left++;
    }
    if (left === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `multinode exec` into a container rank: `podman exec` with its recorded environment and cwd. */
export function execArgv(
  cluster: string,
  service: string,
  rank: number,
  command: readonly string[],
  tty: boolean,
): string[] {
  return [
    ...podmanBase(),
    'exec',
    '--interactive',
    ...(tty ? ['--tty'] : []),
    containerName(cluster, service, rank),
    ...command,
  ];
}

/** Removes the service's pod files (keys included); part of the service directory, so `down` removes them too. */
export async function removePodFiles(dir: string): Promise<void> {
  await rm(requireInside(join(dir, 'pod')), { recursive: true, force: true });
}
