/**
 * Rank logs of a local service: which ranks to read (all, or one, with a clear error for a rank that does
 * not exist), following them like `logs -f`, and the last lines of each (the dashboard starts from those).
 */
import { open, stat } from 'node:fs/promises';
import { EXIT, MultinodeError } from '../api/issues.js';
import { followLogs, rankLogPath } from '../targets/local/logs.js';
import type { LogSource } from '../targets/local/logs.js';
import { serviceDir } from '../targets/local/paths.js';
import { readServiceState } from '../targets/local/service-state.js';
import type { RankState, ServiceState } from '../targets/local/service-state.js';
import { checkedName } from '../targets/state-root.js';

export type { LogSource } from '../targets/local/logs.js';

/** The recorded state of service `name`; bad input (exit 2) naming it when no such service runs. */
export async function requireServiceState(name: string): Promise<ServiceState> {
  const state = await readServiceState(checkedName('service', name));
  if (!state)
    throw new MultinodeError('runtime.no-service', `no service named "${name}" (see \`multinode ps\`)`, {
      exitCode: EXIT.badInput,
    });
  return state;
}

/** The ranks whose logs to read: all, or only `rank` (bad input naming the valid range when there is none). */
export function selectRanks(state: ServiceState, rank: string | undefined): RankState[] {
  if (rank === undefined) return state.ranks;
  const ranks = state.ranks.filter((r) => String(r.rank) === rank);
  if (ranks.length === 0)
    throw new MultinodeError(
      'cli.bad-option',
      `${state.name} has no rank ${rank} (0…${state.ranks.length - 1})`,
      {
        exitCode: EXIT.badInput,
      },
    );
  return ranks;
}

export function logSources(service: string, ranks: readonly RankState[]): LogSource[] {
  const dir = serviceDir(service);
  return ranks.map((r) => ({ rank: r.rank, path: rankLogPath(dir, r.rank) }));
}

export interface ServiceLogOptions {
  readonly follow: boolean;
  readonly signal?: AbortSignal;
}

/** Every line of the given ranks' logs from the start; with `follow`, new lines until the service is removed. */
export async function followServiceLogs(
  service: string,
  ranks: readonly RankState[],
  onLine: (rank: number, line: string) => void,
  opts: ServiceLogOptions,
): Promise<void> {
  await followLogs(logSources(service, ranks), onLine, {
    fromStart: true,
    follow: opts.follow,
    ...(opts.signal ? { signal: opts.signal } : {}),
    keepGoing: async () => (await readServiceState(service)) !== undefined,
  });
}

/** At most this much is read from a log per poll. */
const MAX_READ = 1024 * 1024;

/** Bytes read from the end of a log for its last lines. */
const TAIL_BYTES = 64 * 1024;

export interface LogLine {
  readonly rank: number;
  readonly line: string;
}

/**
 * The last `lines` complete lines of each source (at most 64 KiB read per rank) and, per rank, the offset
 * where they end: following from there misses and repeats nothing.
 */
export async function tailLogs(
  sources: readonly LogSource[],
  lines: number,
): Promise<{ readonly lines: LogLine[]; readonly offsets: Map<number, number> }> {
  const out: LogLine[] = [];
  const offsets = new Map<number, number>();
  for (const s of sources) {
    let fh;
    try {
      fh = await open(s.path, 'r');
    } catch {
      offsets.set(s.rank, 0);
      continue;
    }
    try {
      const { size } = await fh.stat();
      const from = Math.max(0, size - TAIL_BYTES);
      const buf = Buffer.alloc(size - from);
      await fh.read(buf, 0, buf.length, from);
      const text = buf.toString('utf8');
      const end = text.lastIndexOf('\n') + 1;
      const parts = text.slice(0, end).split('\n');
      parts.pop();
      if (from > 0) parts.shift(); // the first line was cut
      for (const line of parts.slice(-lines)) out.push({ rank: s.rank, line });
      offsets.set(s.rank, from + Buffer.byteLength(text.slice(0, end)));
    } finally {
      await fh.close();
    }
  }
  return { lines: out, offsets };
}

/**
 * Follows `sources` from `offsets` (what `tailLogs` returned), calling `onLines` with each batch of new
 * complete lines, polling every `pollMs` until `signal` aborts. A log that shrank is read from its start.
 */
export async function followFrom(
  sources: readonly LogSource[],
  offsets: Map<number, number>,
  onLines: (lines: LogLine[]) => void,
  opts: { readonly signal: AbortSignal; readonly pollMs?: number },
): Promise<void> {
  const pos = new Map(offsets);
  while (!opts.signal.aborted) {
    const batch: LogLine[] = [];
    for (const s of sources) {
      const from = pos.get(s.rank) ?? 0;
      const size = await stat(s.path).then(
        (st) => st.size,
        () => -1,
      );
      if (size < 0) continue;
      if (size < from) {
        pos.set(s.rank, 0);
        continue;
      }
      if (size === from) continue;
      const fh = await open(s.path, 'r').catch(() => undefined);
      if (!fh) continue;
      try {
        const buf = Buffer.alloc(Math.min(size - from, MAX_READ));
        const { bytesRead } = await fh.read(buf, 0, buf.length, from);
        const text = buf.subarray(0, bytesRead).toString('utf8');
        const end = text.lastIndexOf('\n') + 1;
        // A partial line waits for its end, unless it alone fills a whole read (then it is passed on).
        if (end === 0 && bytesRead < MAX_READ) continue;
        const complete = end === 0 ? text : text.slice(0, end);
        const parts = complete.split('\n');
        if (end > 0) parts.pop();
        for (const line of parts) batch.push({ rank: s.rank, line });
        pos.set(s.rank, from + Buffer.byteLength(complete));
      } finally {
        await fh.close();
      }
    }
    if (batch.length > 0) onLines(batch);
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        opts.signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, opts.pollMs ?? 250);
      opts.signal.addEventListener('abort', done);
    });
  }
}
