/**
 * Directories outside the state root that must still be ours alone: a short parent for ControlMaster
 * sockets whose path under the state root would be too long for a Unix socket. For root that is
 * `/run/multinode` (only root can write /run, so nothing can be planted there); for anyone else
 * `/tmp/multinode-<uid>`, which another user could create first — so every such directory is checked with
 * lstat before use: a real directory (not a symlink), owned by us, with exactly the mode we want. What fails
 * the check is refused, never used, chmod-ed or emptied.
 *
 * The short parent goes again when its last child goes (`releaseShortParent`), so a machine is left as it
 * was found; a process creating a child meanwhile makes the parent again (`inShortParent`).
 *
 *   shortPrivateParent(): string
 *   ensureOwnDir(path, mode): Promise<void>   create (EEXIST ok), then check; throws if not ours
 *   isOwnDir(path, mode): Promise<boolean>    the same check, without creating
 *   inShortParent(fn): Promise<T>              ensure the parent, run fn (again if the parent vanished)
 *   releaseShortParent(): Promise<void>        remove the parent when it is empty
 */
import { chmod, lstat, mkdir, rmdir } from 'node:fs/promises';
import { MultinodeError } from '../api/issues.js';

export function shortPrivateParent(): string {
  const uid = process.getuid?.() ?? 0;
  return uid === 0 ? '/run/multinode' : `/tmp/multinode-${uid}`;
}

/** The short parent's mode: `/run/multinode` is shared with the munge directories (0755); `/tmp/…` 0700. */
function shortParentMode(): number {
  return shortPrivateParent().startsWith('/run/') ? 0o755 : 0o700;
}

/**
 * Ensures the short parent (ours, `shortParentMode`) and runs `fn`, which makes something directly inside
 * it; when another process's `releaseShortParent` removed the parent in between (`fn` fails with ENOENT),
 * the parent is made again and `fn` run again.
 */
export async function inShortParent<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    await ensureOwnDir(shortPrivateParent(), shortParentMode());
    try {
      return await fn();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw e;
    }
  }
}

/** Removes the short parent when nothing is left in it (rmdir refuses a non-empty directory). */
export async function releaseShortParent(): Promise<void> {
  const parent = shortPrivateParent();
  if (await isOwnDir(parent, shortParentMode())) await rmdir(parent).catch(() => undefined);
}

/** Why `path` is not a directory of ours with exactly `mode` (undefined when it is). */
async function notOwn(path: string, mode: number): Promise<string | undefined> {
  const st = await lstat(path);
  if (st.isSymbolicLink()) return 'it is a symlink';
  if (!st.isDirectory()) return 'it is not a directory';
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) return `it belongs to uid ${st.uid}`;
  if ((st.mode & 0o7777) !== mode)
    return `its mode is ${(st.mode & 0o7777).toString(8).padStart(4, '0')}, not ${mode.toString(8).padStart(4, '0')}`;
  return undefined;
}

export async function isOwnDir(path: string, mode: number): Promise<boolean> {
  try {
    return (await notOwn(path, mode)) === undefined;
  } catch {
    return false;
  }
}

/** Creates `path` with `mode` (its parent must exist), or accepts it only when it already is ours so. */
export async function ensureOwnDir(path: string, mode: number): Promise<void> {
  const created = await mkdir(path, { mode }).then(
    () => true,
    (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
      return false;
    },
  );
  // Ours from the start: the umask may have narrowed the mode mkdir gave it.
  if (created) await chmod(path, mode);
  const why = await notOwn(path, mode);
  if (why !== undefined)
    throw new MultinodeError(
      'runtime.foreign-dir',
      `refusing to use ${path}: ${why} (expected a directory of uid ${process.getuid?.() ?? '?'} with mode ${mode.toString(8).padStart(4, '0')}); someone else may have created it — remove it and try again`,
    );
}
