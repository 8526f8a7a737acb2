/**
 * Volumes on the local target. A service's built-in `data` volume is one directory per service,
 * `<state>/volumes/data/<service>`, mounted at its `location` on every rank (all ranks share it, as they would
 * share a cluster file system); without `persist: true` it is removed on `down`, with it only by
 * `down --volumes`. A top-level volume with `reference: volume://NAME` is the named local volume
 * `<state>/volumes/named/<NAME with '/' as '.'>`, created on first use, shared by every service that mounts it
 * and removed only by `down --volumes` when no other recorded service mounts it. Every part of a name is
 * checked (`checkedName`) before it becomes a path, and every path is proved inside the state root.
 *
 * `prepareServiceVolumes` resolves a service's mounts into `RankMount`s (creating the directories); the
 * same list serves ranks on the host file system (bind mounts made by `rankMountScript` inside the rank's
 * private mount namespace, see node-exec.ts) and ranks in a container image (the engine's `--volume`).
 *
 * A mount location that does not exist on this machine (seed 000's `/home/vllm`) is never created in the
 * host tree: inside the rank's mount namespace its nearest existing parent is covered by a tmpfs that holds
 * a bind mount of each of the parent's entries (so the parent looks the same, submounts included), and the
 * missing directories are made in that tmpfs. When the nearest existing parent is `/` itself, the same is
 * done for a new root that the rank then pivots into. Nothing is mounted outside the rank's namespace, and
 * its mounts vanish with its last process.
 */
import { writeFileAtomic } from '../atomic-file.js';
import { chmod, lstat, mkdir, readdir, rm, rmdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { EXIT, MultinodeError } from '../../api/issues.js';
import type { Issue } from '../../api/issues.js';
import { STATE } from '../../api/names.js';
import type { MountSpec, Spec } from '../../api/spec.js';
import { singleQuote } from '../../lib/shell.js';
import { findControl } from '../../spec/text.js';
import { checkedName, ensureStateRoot, requireInside, stateRoot } from '../state-root.js';
import { sshClientMounts } from './ssh/config.js';

/** One mount every rank of a service gets: a directory (or file) of this machine at `target` in the rank. */
export interface RankMount {
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

/** The scheme of a named local volume's reference. */
export const VOLUME_SCHEME = 'volume://';
/** The built-in per-service volume. */
export const DATA_VOLUME = 'data';
/** Mode of a volume's directory when it is created (root of a fresh file system). */
const VOLUME_DIR_MODE = 0o755;

/** Locations a volume may not cover: the kernel's own file systems, and `/` itself. */
const RESERVED_LOCATIONS = ['/proc', '/sys', '/dev'];

export function volumesRoot(): string {
  return join(stateRoot(), STATE.volumesDir);
}

/** `<state>/volumes/data/<service>`: the service's built-in `data` volume. */
export function dataVolumeDir(service: string): string {
  return requireInside(join(volumesRoot(), 'data', checkedName('service', service)));
}

/**
 * The local name of a declared volume from its reference: `volume://user/persistent/vllm-cache` →
 * `user.persistent.vllm-cache`. Every `/`-separated part is a checked name; other schemes are bad input.
 */
export function namedVolumeName(reference: string): string {
  if (!reference.startsWith(VOLUME_SCHEME))
    throw new Error(
      `reference ${JSON.stringify(reference)} is not supported on the local target; allowed: ${VOLUME_SCHEME}NAME (parts of A-Z, a-z, 0-9, '-', '_' separated by '/')`,
    );
  const parts = reference.slice(VOLUME_SCHEME.length).replace(/\/+$/, '').split('/');
  for (const p of parts) checkedName('volume', p);
  return parts.join('.');
}

/** `<state>/volumes/named/<name>` of a declared volume's reference (checked; see `namedVolumeName`). */
export function namedVolumeDir(reference: string): string {
  return requireInside(join(volumesRoot(), 'named', namedVolumeName(reference)));
}

/** Why `location` cannot be a mount target in a rank (undefined when it can). Pure. */
export function badLocation(location: string): string | undefined {
  if (findControl(location, 'line') >= 0) return 'holds a control character';
  if (!location.startsWith('/')) return 'is not an absolute path';
  if (location.split('/').some((p) => p === '.' || p === '..')) return "holds '.' or '..' parts";
  const norm = posix.normalize(location).replace(/\/+$/, '');
  if (norm === '') return 'is / itself';
  for (const r of RESERVED_LOCATIONS)
    if (norm === r || norm.startsWith(`${r}/`)) return `lies in ${r}, which belongs to the kernel`;
  return undefined;
}

function volumeError(
  path: string,
  message: string,
  spec: Pick<Spec, 'positions'> | undefined,
  cause?: unknown,
): MultinodeError {
  const pos = spec?.positions[path];
  const issue: Issue = {
    code: 'local-volume',
    severity: 'error',
    path,
    message,
    ...(pos ? { pos } : {}),
  };
  const where = pos ? `${pos.file}:${pos.line}:${pos.col}: ` : '';
  return new MultinodeError('runtime.volume', `${where}${path}: ${message}`, {
    exitCode: EXIT.badInput,
    issues: [issue],
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * The source directory of one mount (not created). `volumes` are the spec's top-level volumes; a declared
 * volume without a spec record (an old state) falls back to its own name.
 */
export function mountSource(
  service: string,
  m: MountSpec,
  spec: Pick<Spec, 'volumes' | 'positions'> | undefined,
): string {
  const at = `services.${service}.mounts.${m.volume}`;
  if (m.volume === DATA_VOLUME) return dataVolumeDir(service);
  const declared = spec?.volumes[m.volume];
  const reference = declared?.reference ?? `${VOLUME_SCHEME}${m.volume}`;
  try {
    return namedVolumeDir(reference);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw volumeError(declared ? `volumes.${m.volume}.reference` : at, why, spec, e);
  }
}

/** Creates `dir` (and its parents, each inside the volumes root) as a directory of ours; refuses symlinks. */
async function ensureVolumeDir(dir: string): Promise<void> {
  const root = volumesRoot();
  await ensureStateRoot();
  await mkdir(root, { recursive: true, mode: 0o700 });
  await chmod(root, 0o700);
  let made = false;
  await mkdir(dir, { recursive: true, mode: VOLUME_DIR_MODE }).then((first) => {
    made = first !== undefined;
  });
  const st = await lstat(dir);
  if (!st.isDirectory())
    throw new MultinodeError(
      'runtime.volume',
      `refusing to use ${dir} as a volume: it is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}`,
    );
  if (made) await chmod(dir, VOLUME_DIR_MODE);
}

/**
 * The mounts every rank of the service gets, in mount order (parents before what lies inside them), with
 * their directories created. Names are checked before they become paths; a bad location or reference is
 * bad input (exit 2) naming the field and, when the spec is given, its place in the file.
 */
export async function prepareServiceVolumes(
  plan: { readonly name: string; readonly mounts: readonly MountSpec[] },
  spec?: Pick<Spec, 'volumes' | 'positions'>,
): Promise<readonly RankMount[]> {
  const out: RankMount[] = [];
  for (const m of plan.mounts) {
    const why = badLocation(m.location);
    if (why !== undefined)
      throw volumeError(
        `services.${plan.name}.mounts.${m.volume}.location`,
        `${JSON.stringify(m.location)} ${why}; allowed: an absolute path such as /data, not /, /proc, /sys or /dev`,
        spec,
      );
    out.push({
      source: mountSource(plan.name, m, spec),
      target: posix.normalize(m.location).replace(/\/+$/, ''),
      readOnly: m.readOnly === true,
    });
  }
  for (const r of out) await ensureVolumeDir(r.source);
  return sortMounts(out);
}

/** Parents before children (by depth, then path), so a mount inside another lands on top of it. Pure. */
export function sortMounts(mounts: readonly RankMount[]): RankMount[] {
  const depth = (p: string) => p.split('/').length;
  return [...mounts].sort((a, b) => depth(a.target) - depth(b.target) || a.target.localeCompare(b.target));
}

export interface RemoveVolumesOptions {
  /** The service's `persist`: without it, its `data` volume goes whatever `volumes` says. */
  readonly persist: boolean;
  /** `down --volumes`: remove the `data` volume and the named volumes no other recorded service mounts. */
  readonly volumes: boolean;
  /** References of the declared volumes this service mounts (from its spec). */
  readonly references?: readonly string[];
  /** References mounted by other recorded services: never removed. */
  readonly inUse?: ReadonlySet<string>;
}

/** What `removeServiceVolumes` removed (paths), for the caller's report. */
export interface RemovedVolumes {
  readonly removed: readonly string[];
  readonly kept: readonly string[];
}

/**
 * `down`'s part: removes the service's `data` volume unless it persists (or `volumes` asks), and with
 * `volumes` the named volumes it mounts that no other recorded service mounts. Every path is proved inside
 * the volumes root first. Idempotent.
 */
export async function removeServiceVolumes(
  service: string,
  o: RemoveVolumesOptions,
): Promise<RemovedVolumes> {
  const removed: string[] = [];
  const kept: string[] = [];
  const drop = async (dir: string) => {
    const inside = requireInside(dir, volumesRoot());
    const present = await lstat(inside).then(
      () => true,
      () => false,
    );
    await rm(inside, { recursive: true, force: true });
    if (present) removed.push(inside);
  };
  const data = dataVolumeDir(service);
  if (!o.persist || o.volumes) await drop(data);
  else if (
    await lstat(data).then(
      () => true,
      () => false,
    )
  )
    kept.push(data);
  if (o.volumes)
    for (const ref of new Set(o.references ?? [])) {
      let dir: string;
      try {
        dir = namedVolumeDir(ref);
      } catch {
        continue; // never created: not a local volume reference
      }
      if (o.inUse?.has(ref)) kept.push(dir);
      else await drop(dir);
    }
  await pruneEmpty(join(volumesRoot(), 'data'));
  await pruneEmpty(join(volumesRoot(), 'named'));
  return { removed, kept };
}

async function pruneEmpty(dir: string): Promise<void> {
  const entries = await readdir(dir).catch(() => undefined);
  if (entries?.length === 0) await rmdir(dir).catch(() => undefined);
}

/** References of the declared volumes a service mounts (the `data` volume is not one). */
export function mountedReferences(
  mounts: readonly MountSpec[],
  spec: Pick<Spec, 'volumes'> | undefined,
): string[] {
  return mounts
    .filter((m) => m.volume !== DATA_VOLUME)
    .map((m) => spec?.volumes[m.volume]?.reference ?? `${VOLUME_SCHEME}${m.volume}`);
}

// ---- inside the rank: bind mounts in its private mount namespace ------------------------------------------

/** `<serviceDir>/mounts.sh`: sourced by node-exec's mount script in every rank's mount namespace. */
export function rankMountsScriptPath(serviceDirPath: string): string {
  return join(serviceDirPath, 'mounts.sh');
}

/** `<serviceDir>/mnt`: an empty directory a private tmpfs covers inside each rank's namespace (scratch). */
export function rankMountsScratch(serviceDirPath: string): string {
  return join(serviceDirPath, 'mnt');
}

/**
 * Shell functions (POSIX sh) the generated script uses. `mn_mount SRC TARGET ro|rw` binds SRC at TARGET;
 * a missing TARGET is created without touching the host tree (see the module comment); `mn_done` applies
 * the read-only remounts (last, so mount points inside a read-only volume can still be made), pivots into
 * the new root when one was built, and drops the scratch tmpfs.
 */
const MOUNT_LIB = `mn_t='' mn_n=0 mn_k=0 mn_root='' mn_ours='' mn_mirrors='' mn_ro='' mn_nl='
'
mn_fail() { echo "multinode: cannot mount volumes: $*" >&2; exit 1; }
mn_scratch() {
  [ -n "$mn_t" ] && return 0
  /bin/mount -t tmpfs -o mode=0700,size=1m mn-scratch "$mn_s" || mn_fail "no scratch tmpfs on $mn_s"
  mn_t=1
}
mn_fill() {
  mn_k=$((mn_k + 1))
  mn_l=$mn_s/list.$mn_k
  if [ -n "$3" ]; then echo "$3" > "$mn_l.d"; else : > "$mn_l.d"; fi
  : > "$mn_l.s"
  : > "$mn_l.t"
  for mn_e in "$1"/* "$1"/.[!.]* "$1"/..?*; do
    [ -e "$mn_e" ] || [ -L "$mn_e" ] || continue
    mn_b=$2/\${mn_e##*/}
    case $mn_e$mn_b in
      *[!A-Za-z0-9_@%+=:,./~-]*)
        if [ -L "$mn_e" ]; then /bin/cp -P -- "$mn_e" "$mn_b"
        elif [ -d "$mn_e" ]; then /bin/mkdir -- "$mn_b" && /bin/mount --rbind -- "$mn_e" "$mn_b"
        else : > "$mn_b" && /bin/mount --bind -- "$mn_e" "$mn_b"
        fi || mn_fail "cannot carry $mn_e over"
        continue ;;
    esac
    if [ -L "$mn_e" ]; then echo "$mn_e" >> "$mn_l.s"
    elif [ -d "$mn_e" ]; then
      echo "$mn_b" >> "$mn_l.d"
      echo "$mn_e $mn_b none rbind 0 0" >> "$mn_l.t"
    else
      : > "$mn_b" || mn_fail "cannot make $mn_b"
      echo "$mn_e $mn_b none bind 0 0" >> "$mn_l.t"
    fi
  done
  if [ -s "$mn_l.s" ]; then /usr/bin/xargs -d '\\n' -a "$mn_l.s" /bin/cp -P -t "$2" -- || mn_fail "cannot copy the links of $1/"; fi
  if [ -s "$mn_l.d" ]; then /usr/bin/xargs -d '\\n' -a "$mn_l.d" /bin/mkdir -- || mn_fail "cannot make the directories of $2/"; fi
  if [ -s "$mn_l.t" ]; then /bin/mount -a -T "$mn_l.t" || mn_fail "cannot carry the entries of $1/ over"; fi
}
mn_mirror() {
  mn_scratch
  mn_n=$((mn_n + 1))
  mn_h=$mn_s/$mn_n
  /bin/mkdir "$mn_h" && /bin/mount --rbind "$mn_root$1" "$mn_h" || mn_fail "cannot hold $1"
  mn_o=$(/usr/bin/stat -L -c 'mode=%a,uid=%u,gid=%g' "$mn_root$1") || mn_fail "cannot stat $1"
  /bin/mount -t tmpfs -o "$mn_o" mn-mirror "$mn_root$1" || mn_fail "no tmpfs over $1"
  mn_fill "$mn_h" "$mn_root$1"
  mn_mirrors="$mn_mirrors$mn_nl$1"
}
mn_newroot() {
  [ -n "$mn_root" ] && return 0
  mn_scratch
  /bin/mkdir "$mn_s/root" && /bin/mount -t tmpfs -o mode=0755 mn-root "$mn_s/root" || mn_fail "no new root"
  mn_fill "" "$mn_s/root" "$mn_s/root/.mn-old"
  mn_root=$mn_s/root
}
mn_is_ours() {
  mn_i=$IFS
  IFS=$mn_nl
  set -f
  mn_y=1
  for mn_o in $mn_mirrors; do
    [ "$1" = "$mn_o" ] && mn_y=0
  done
  for mn_o in $mn_ours; do
    case $1 in "$mn_o"|"$mn_o"/*) mn_y=0 ;; esac
  done
  IFS=$mn_i
  set +f
  return $mn_y
}
mn_mount() {
  [ "$1" = "$2" ] && return 0
  mn_x=$2
  if [ ! -e "$mn_root$mn_x" ]; then
    mn_a=$mn_x
    while [ -n "$mn_a" ] && [ ! -e "$mn_root$mn_a" ]; do mn_a=\${mn_a%/*}; done
    if ! mn_is_ours "$mn_a"; then
      if [ -z "$mn_a" ]; then mn_newroot; else mn_mirror "$mn_a"; fi
    fi
    mn_r=\${mn_x#"$mn_a"/}
    mn_ours="$mn_ours$mn_nl$mn_a/\${mn_r%%/*}"
    if [ -d "$1" ]; then /bin/mkdir -p "$mn_root$mn_x" || mn_fail "cannot make $mn_x"
    else /bin/mkdir -p "$mn_root\${mn_x%/*}" && : > "$mn_root$mn_x" || mn_fail "cannot make $mn_x"
    fi
  fi
  if [ "$3" = ro ]; then /bin/mount --bind -o ro "$1" "$mn_root$mn_x"
  else /bin/mount --bind "$1" "$mn_root$mn_x"
  fi || mn_fail "cannot bind $1 at $mn_x"
  mn_ours="$mn_ours$mn_nl$mn_x"
  [ "$3" = ro-late ] && mn_ro="$mn_x$mn_nl$mn_ro"
  return 0
}
mn_done() {
  mn_i=$IFS
  IFS=$mn_nl
  set -f
  for mn_x in $mn_ro; do
    /bin/mount -o remount,bind,ro "$mn_root$mn_x" || mn_fail "cannot make $mn_x read-only"
  done
  IFS=$mn_i
  set +f
  if [ -n "$mn_root" ]; then
    cd "$mn_root" && /usr/sbin/pivot_root . .mn-old || mn_fail "cannot enter the new root"
    /bin/umount -l /.mn-old && /bin/rmdir /.mn-old || mn_fail "cannot leave the old root"
    cd /
    /bin/umount -l "$mn_s" 2>/dev/null || :
  fi
  unset -f mn_fail mn_scratch mn_fill mn_mirror mn_newroot mn_is_ours mn_mount mn_done
  unset mn_t mn_n mn_k mn_l mn_root mn_ours mn_mirrors mn_ro mn_nl mn_i mn_y mn_s mn_e mn_b mn_h mn_o mn_a mn_r mn_x
}`;

/** A path the generated script can carry: one line, no control characters. */
function plainPath(p: string): boolean {
  return p.startsWith('/') && findControl(p, 'line') < 0 && !p.includes('\n');
}

/**
 * The script node-exec sources in a rank's mount namespace to make `mounts` (in order). `scratch` is an
 * existing empty directory of the service (see `rankMountsScratch`). Paths are single-quoted; one with a
 * control character is refused. Pure.
 */
export function rankMountScript(mounts: readonly RankMount[], scratch: string): string {
  for (const p of [scratch, ...mounts.flatMap((m) => [m.source, m.target])])
    if (!plainPath(p))
      throw new MultinodeError(
        'runtime.volume',
        `mount path ${JSON.stringify(p)} is not an absolute path on one line without control characters`,
        { exitCode: EXIT.badInput },
      );
  const lines = [
    '# multinode: the volumes of this service, mounted inside one rank mount namespace (generated; do not edit).',
    `mn_s=${singleQuote(scratch)}`,
    MOUNT_LIB,
    ...mounts.map((m) => {
      // Read-only at once, unless a later mount point must still be made inside it.
      const late = mounts.some((o) => o.target.startsWith(`${m.target}/`));
      const mode = m.readOnly ? (late ? 'ro-late' : 'ro') : 'rw';
      return `mn_mount ${singleQuote(m.source)} ${singleQuote(m.target)} ${mode}`;
    }),
    'mn_done',
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Writes (atomically) the service's mount script and creates its scratch directory, or removes the script
 * when there is nothing to mount. node-exec sources the script in every rank's namespace when it exists.
 */
export async function writeRankMounts(serviceDirPath: string, mounts: readonly RankMount[]): Promise<void> {
  const path = requireInside(rankMountsScriptPath(serviceDirPath));
  if (mounts.length === 0) {
    await rm(path, { force: true });
    return;
  }
  const scratch = rankMountsScratch(serviceDirPath);
  await mkdir(scratch, { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, rankMountScript(mounts, scratch), 0o600);
}

/**
 * The supervisor's one call: the service's volume mounts plus, for a service whose ranks run sshd, the
 * ssh client config (ssh/config.ts), written as the mount script every rank's namespace sources. Returns
 * what every rank mounts.
 */
export async function setupServiceMounts(
  plan: { readonly name: string; readonly mounts: readonly MountSpec[] },
  spec: Pick<Spec, 'volumes' | 'positions'> | undefined,
  serviceDirPath: string,
  withSsh: boolean,
): Promise<readonly RankMount[]> {
  const volumes = await prepareServiceVolumes(plan, spec);
  const ssh = withSsh ? sshClientMounts(join(serviceDirPath, 'ssh'), 'host') : [];
  const all = sortMounts([...volumes, ...ssh]);
  await writeRankMounts(serviceDirPath, all);
  return all;
}

/** True when `path` is a mount target or lies inside one (it exists in the rank through that mount). */
export function underMount(path: string, mounts: readonly RankMount[]): boolean {
  const p = posix.normalize(path).replace(/\/+$/, '');
  return mounts.some((m) => p === m.target || p.startsWith(`${m.target}/`));
}
