/**
 * Exclusive locks on files, built on the kernel's flock(2): the lock belongs to an open file description of
 * this process, so it ends when the holder closes it or dies (SIGKILL included). There is nothing stale to
 * detect and break, so no two waiters can both enter after a crash, and no reused pid can hold a lock.
 *
 * Node has no flock binding; util-linux's `flock(1)` takes the lock for us: we open the lock file, hand the
 * descriptor to `flock -x -w SECONDS 3` as its fd 3 (the same open file description), and flock(1) exits
 * once the lock is ours — it stays held by our descriptor until we close it. The holder's pid and start
 * time are written into the file for messages only; correctness never depends on them.
 *
 *   withFileLock(path, fn, { timeoutMs }): Promise<T>   creates the file 0600 (and its directory 0700)
 */
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, ftruncateSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MultinodeError } from '../api/issues.js';

export interface FileLockOptions {
  /** How long to wait for the lock (default 60 s). */
  readonly timeoutMs?: number;
  /** The flock(1) binary (tests point it elsewhere to see the error). */
  readonly flockPath?: string;
}

const FLOCK = '/usr/bin/flock';

function procStartTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '?';
  } catch {
    return '?';
  }
}

/** What the lock file says about its last holder ("pid 123 (start time 456)"), for messages. */
export function describeHolder(path: string): string {
  try {
    const [pid, start] = readFileSync(path, 'utf8').trim().split(/\s+/);
    return pid ? `pid ${pid}${start ? ` (start time ${start})` : ''}` : 'an unknown process';
  } catch {
    return 'an unknown process';
  }
}

/** flock(1) on our descriptor: resolves true when the lock is ours, false on timeout. */
function flockFd(fd: number, timeoutMs: number, flockPath: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const secs = Math.max(0, timeoutMs / 1000).toFixed(3);
    const child = spawn(flockPath, ['-x', '-w', secs, '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) =>
      reject(
        new MultinodeError(
          'runtime.lock',
          `cannot run ${flockPath} (util-linux) to take a lock: ${e.message}`,
          {
            cause: e,
          },
        ),
      ),
    );
    child.on('exit', (code) => {
      if (code === 0) resolve(true);
      else if (code === 1) resolve(false);
      else
        reject(
          new MultinodeError('runtime.lock', `${flockPath} failed (exit ${code ?? '?'}): ${err.trim()}`),
        );
    });
  });
}

/**
 * Takes the lock on `path`; returns the descriptor holding it. A lock file that was removed and recreated
 * while we waited (our descriptor then names an unlinked file) is opened again.
 */
export async function acquireFileLock(path: string, options: FileLockOptions = {}): Promise<number> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  for (;;) {
    const fd = openSync(path, 'a+', 0o600);
    let held = false;
    try {
      held = await flockFd(fd, Math.max(0, deadline - Date.now()), options.flockPath ?? FLOCK);
      if (!held) {
        throw new MultinodeError(
          'runtime.lock',
          `timed out after ${Math.round(timeoutMs / 1000)} s waiting for the lock ${path} (held by ${describeHolder(path)})`,
        );
      }
      let same = false;
      try {
        same = statSync(path).ino === fstatSync(fd).ino;
      } catch {
        /* removed meanwhile */
      }
      if (!same) {
        closeSync(fd);
        continue;
      }
      ftruncateSync(fd, 0);
      writeSync(fd, `${process.pid} ${procStartTime(process.pid)}\n`, 0);
      return fd;
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }
}

/** Runs `fn` holding the lock on `path`; released when `fn` settles (or when this process dies). */
export async function withFileLock<T>(
  path: string,
  fn: () => Promise<T>,
  options: FileLockOptions = {},
): Promise<T> {
  const fd = await acquireFileLock(path, options);
  try {
    return await fn();
  } finally {
    closeSync(fd);
  }
}
