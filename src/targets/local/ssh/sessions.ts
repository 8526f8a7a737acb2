/**
 * Processes started through the wrapper belong to sshd sessions, not to any rank's process group, so a
 * supervisor that stops its ranks (and their sshds) would leave them running. The remote runner records
 * every session it starts as `<sessionsDir>/<rank>.<pid>` = `<pid> <start time>` (the session leader and
 * process-group id, with its /proc start time so a reused PID is never hit). `stopSessions` sends SIGTERM to
 * each live session's process group, then SIGKILL after a grace period, and forgets the records.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** /proc start time (field 22) of a live, non-zombie process; undefined when gone. */
async function procStartTime(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, sig);
    } catch {
      /* already gone */
    }
  }
}

export interface StopSessionsResult {
  /** Sessions that were still running and got signalled. */
  readonly stopped: number;
  /** Of those, how many needed SIGKILL. */
  readonly killed: number;
}

/** Stops every recorded session still running; idempotent (a missing directory is success). */
export async function stopSessions(sessionsDir: string, graceMs = 2000): Promise<StopSessionsResult> {
  let files: string[];
  try {
    files = await readdir(sessionsDir);
  } catch {
    return { stopped: 0, killed: 0 };
  }
  const live: { pid: number; start: string }[] = [];
  for (const f of files) {
    const [pidText, start] = (await readFile(join(sessionsDir, f), 'utf8').catch(() => '')).trim().split(' ');
    const pid = Number(pidText);
    if (Number.isInteger(pid) && pid > 1 && start !== undefined && (await procStartTime(pid)) === start) {
      live.push({ pid, start });
    }
  }
  for (const s of live) signal(s.pid, 'SIGTERM');
  const alive = async (): Promise<typeof live> => {
    const out: typeof live = [];
    for (const s of live) if ((await procStartTime(s.pid)) === s.start) out.push(s);
    return out;
  };
  const deadline = Date.now() + graceMs;
  let left = await alive();
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    left = await alive();
  }
  for (const s of left) signal(s.pid, 'SIGKILL');
  await Promise.all(files.map((f) => rm(join(sessionsDir, f), { force: true })));
  return { stopped: live.length, killed: left.length };
}
