/**
 * Writing a file so that a reader never sees half of it: a temporary file beside it, then `rename`. The
 * temporary name is unique per call (process id and a random part), so concurrent writers of one path — the
 * supervisors of several services in one foreground `up` share a process — never rename each other's file
 * away; the last rename wins with a whole file. The mode is set exactly (`chmod`, not left to the umask).
 * No fsync: this guards against crashed processes, not power loss.
 */
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export async function writeFileAtomic(
  path: string,
  content: string,
  mode: number,
  options: { readonly makeParent?: boolean } = {},
): Promise<void> {
  if (options.makeParent) await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  try {
    await writeFile(tmp, content, { mode });
    await chmod(tmp, mode);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
