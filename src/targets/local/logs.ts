/**
 * Per-rank log files (`<service>/logs/rank-<r>.log`, written directly by the rank's stdout/stderr, so they
 * survive a supervisor crash) and a follower that reads them as they grow — used by foreground `up` and
 * `logs -f` alike.
 */
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';

export function rankLogPath(serviceDir: string, rank: number): string {
  return join(serviceDir, 'logs', `rank-${rank}.log`);
}

export interface LogSource {
  readonly rank: number;
  readonly path: string;
}

export interface FollowOptions {
  readonly fromStart: boolean;
  readonly follow: boolean;
  readonly pollMs?: number;
  readonly signal?: AbortSignal;
  /** Called between polls; return false to stop following (e.g. the service is gone). */
  readonly keepGoing?: () => Promise<boolean>;
}

/** Calls `onLine(rank, line)` for each complete line; flushes partial lines when following stops. */
export async function followLogs(
  sources: readonly LogSource[],
  onLine: (rank: number, line: string) => void,
  options: FollowOptions,
): Promise<void> {
  const pos = new Map<number, number>();
  const partial = new Map<number, string>();
  for (const s of sources) {
    let size = 0;
    if (!options.fromStart)
      size = await stat(s.path).then(
        (st) => st.size,
        () => 0,
      );
    pos.set(s.rank, size);
    partial.set(s.rank, '');
  }
  const readNew = async () => {
    for (const s of sources) {
      const from = pos.get(s.rank) ?? 0;
      let fh;
      try {
        fh = await open(s.path, 'r');
      } catch {
        continue;
      }
      try {
        const { size } = await fh.stat();
        if (size < from) pos.set(s.rank, 0);
        if (size <= from) continue;
        const buf = Buffer.alloc(size - from);
        await fh.read(buf, 0, buf.length, from);
        pos.set(s.rank, size);
        const text = (partial.get(s.rank) ?? '') + buf.toString('utf8');
        const parts = text.split('\n');
        partial.set(s.rank, parts.pop() ?? '');
        for (const l of parts) onLine(s.rank, l);
      } finally {
        await fh.close();
      }
    }
  };
  await readNew();
  while (options.follow && !options.signal?.aborted) {
    await new Promise((r) => setTimeout(r, options.pollMs ?? 150));
    await readNew();
    if (options.keepGoing && !(await options.keepGoing())) {
      await readNew();
      break;
    }
  }
  for (const [rank, rest] of partial) if (rest !== '') onLine(rank, rest);
}
