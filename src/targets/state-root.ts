/**
 * The state directory every target keeps its records under: `$MULTINODE_STATE_DIR`, else
 * `/var/lib/multinode` for root, else `$XDG_STATE_HOME/multinode` (default `~/.local/state/multinode`).
 * It is private (0700): records hold env values such as tokens. `ensureStateRoot` creates it so and
 * narrows an existing one; `checkedName` and `requireInside` keep names from argv or files from leaving it.
 */
import { chmod, lstat, mkdir, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { EXIT, MultinodeError } from '../api/issues.js';
import { STATE } from '../api/names.js';
import type { NameKind } from '../spec/names.js';
import { checkName, isInside } from '../spec/names.js';

export function stateRoot(): string {
  const fromEnv = process.env[STATE.envVar];
  if (fromEnv) return fromEnv;
  if (process.getuid?.() === 0) return STATE.defaultRootDir;
  return join(
    process.env['XDG_STATE_HOME'] ?? join(process.env['HOME'] ?? '/tmp', '.local/state'),
    'multinode',
  );
}

/** Mode of the state root and of every directory multinode creates in it. */
export const PRIVATE_DIR_MODE = 0o700;
/** Mode of every file multinode writes in the state root (records, logs, plan files). */
export const PRIVATE_FILE_MODE = 0o600;

const ensured = new Set<string>();

/** What an older multinode left in its (0755) state directory: such a directory is narrowed, not refused. */
const OWN_ENTRIES = new Set([
  STATE.servicesDir,
  STATE.clustersDir,
  STATE.locksDir,
  STATE.volumesDir,
  'slurm',
  'etc',
  'bin',
]);

/**
 * Creates the state root 0700, or narrows an existing one to 0700 (once per process and root) when it is
 * empty or holds only multinode's own entries. Refuses a root that is a symlink or not a directory, that
 * belongs to another user, that others may write (`/tmp` itself, say) or that holds other things while
 * others may read it: multinode never writes records into a place someone else controls, and never
 * changes the mode of a directory that is not its own.
 */
export async function ensureStateRoot(): Promise<string> {
  const root = stateRoot();
  if (ensured.has(root)) return root;
  const created = await mkdir(root, { recursive: true, mode: PRIVATE_DIR_MODE });
  const st = await lstat(root);
  const uid = process.getuid?.();
  if (!st.isDirectory())
    throw new MultinodeError(
      'runtime.state-root',
      `the state directory ${root} is not a directory${st.isSymbolicLink() ? ' (it is a symlink)' : ''}; set ${STATE.envVar} to a directory of your own`,
      { exitCode: EXIT.badInput },
    );
  if (uid !== undefined && st.uid !== uid)
    throw new MultinodeError(
      'runtime.state-root',
      `the state directory ${root} belongs to uid ${st.uid}, not to you (uid ${uid}); set ${STATE.envVar} to a directory of your own`,
      { exitCode: EXIT.badInput },
    );
  if ((st.mode & 0o7777) !== PRIVATE_DIR_MODE && created === undefined) {
    const others = (await readdir(root)).filter((e) => !OWN_ENTRIES.has(e));
    if ((st.mode & 0o1022) !== 0 || others.length > 0)
      throw new MultinodeError(
        'runtime.state-root',
        `the state directory ${root} has mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')} and ${others.length > 0 ? `holds other things (${others.slice(0, 3).join(', ')})` : 'others may write to it'}; multinode keeps its state in a private (0700) directory of its own: set ${STATE.envVar} to one (or make this one 0700)`,
        { exitCode: EXIT.badInput },
      );
  }
  if ((st.mode & 0o7777) !== PRIVATE_DIR_MODE) await chmod(root, PRIVATE_DIR_MODE);
  ensured.add(root);
  return root;
}

/** `value` when it is a valid name of `kind`, else bad input (exit 2) saying what is allowed. */
export function checkedName(kind: NameKind, value: string): string {
  const c = checkName(kind, value);
  if (!c.ok) throw new MultinodeError('input.bad-name', c.message, { exitCode: EXIT.badInput });
  return value;
}

/** `path` when it lies strictly inside `root` (default: the state root), else an error naming both. */
export function requireInside(path: string, root: string = stateRoot()): string {
  if (!isInside(resolve(root), resolve(path)))
    throw new MultinodeError('runtime.outside-state', `refusing to touch ${path}: it is not inside ${root}`, {
      exitCode: EXIT.badInput,
    });
  return path;
}
