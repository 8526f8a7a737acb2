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
 * `withFileLock` first tries without a process per lock: one helper per process (Perl, which every Debian
 * has: perl-base is essential) opens the file and takes the lock with LOCK_NB on its own open file
 * description, and lets go when told, or when this process ends (its stdin closes; it ignores the signals a
 * terminal sends the group). Only a lock that is busy then waits through flock(1) as above. A process that
 * takes many short locks (the supervisor, one per record write) saves a process start per lock.
 *
 *   withFileLock(path, fn, { timeoutMs }): Promise<T>   creates the file 0600 (and its directory 0700)
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readFileSync,
  statSync,
  writeSync,
} from 'node:fs';
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

const PERL = '/usr/bin/perl';
/**
 * The helper: `L id path` → `K id inode` (locked), `B id` (busy) or `E id why`; `U id` → `U id` (released).
 * Its locks end with it; it ends when its stdin closes (this process exited or was killed).
 */
const HELPER = `use strict; use Fcntl qw(:DEFAULT :flock);
$SIG{$_} = 'IGNORE' for qw(INT TERM HUP QUIT PIPE);
$| = 1; my %h;
while (my $l = <STDIN>) {
  chomp $l; my ($c, $id, $p) = split / /, $l, 3;
  if ($c eq 'L') {
    my $fh;
    if (!sysopen($fh, $p, O_RDWR | O_CREAT | O_APPEND, 0600)) { print "E $id $!\\n"; next; }
    if (flock($fh, LOCK_EX | LOCK_NB)) { $h{$id} = $fh; print "K $id ", (stat($fh))[1], "\\n"; }
    else { close $fh; print "B $id\\n"; }
  } elsif ($c eq 'U') { close(delete $h{$id}) if $h{$id}; print "U $id\\n"; }
}`;

interface Helper {
  readonly child: ChildProcess;
  readonly waiting: Map<string, (reply: string) => void>;
  next: number;
  dead: boolean;
}
let helper: Helper | undefined;

/** The helper of this process, started on first use; undefined when it cannot run. */
function lockHelper(): Helper | undefined {
  if (helper && !helper.dead) return helper;
  if (!existsSync(PERL)) return undefined;
  const child = spawn(PERL, ['-e', HELPER], { stdio: ['pipe', 'pipe', 'ignore'] });
  const h: Helper = { child, waiting: new Map(), next: 0, dead: false };
  const fail = () => {
    h.dead = true;
    for (const done of h.waiting.values()) done('E');
    h.waiting.clear();
  };
  child.on('error', fail);
  child.on('exit', fail);
  child.stdin?.on('error', fail);
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const id = line.split(' ')[1] ?? '';
      const done = h.waiting.get(id);
      h.waiting.delete(id);
      done?.(line);
    }
    if (h.waiting.size === 0) unref(h);
  });
  unref(h);
  helper = h;
  return h;
}

/** The helper never keeps this process alive by itself (only while an answer is awaited). */
function unref(h: Helper): void {
  h.child.unref();
  (h.child.stdout as { unref?: () => void } | null)?.unref?.();
  (h.child.stdin as { unref?: () => void } | null)?.unref?.();
}

function ask(h: Helper, command: string, id: string, arg = ''): Promise<string> {
  return new Promise((resolve) => {
    h.waiting.set(id, resolve);
    h.child.ref();
    (h.child.stdout as { ref?: () => void } | null)?.ref?.();
    h.child.stdin?.write(`${command} ${id}${arg === '' ? '' : ` ${arg}`}\n`);
  });
}

/**
 * Takes the lock through the helper when it is free now: a release function, or undefined (busy, no
 * helper, or a path the line protocol cannot carry) to wait through flock(1) instead.
 */
async function tryHelperLock(path: string): Promise<(() => void) | undefined> {
  if (/[\n\r]/.test(path)) return undefined;
  const h = lockHelper();
  if (!h) return undefined;
  for (;;) {
    const id = String(h.next++);
    const reply = (await ask(h, 'L', id, path)).split(' ');
    if (reply[0] !== 'K') return undefined;
    const release = () => {
      if (!h.dead) void ask(h, 'U', id);
    };
    let same = false;
    try {
      same = String(statSync(path).ino) === reply[2];
    } catch {
      /* removed meanwhile */
    }
    if (same) return release;
    release(); // the file was replaced between open and lock: take the new one
  }
}

/** Runs `fn` holding the lock on `path`; released when `fn` settles (or when this process dies). */
export async function withFileLock<T>(
  path: string,
  fn: () => Promise<T>,
  options: FileLockOptions = {},
): Promise<T> {
  if (options.flockPath === undefined) {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const release = await tryHelperLock(path);
    if (release) {
      try {
        writeHolder(path);
        return await fn();
      } finally {
        release();
      }
    }
  }
  const fd = await acquireFileLock(path, options);
  try {
    return await fn();
  } finally {
    closeSync(fd);
  }
}

/** Our pid and start time in the lock file, for messages only (the helper holds the lock itself). */
function writeHolder(path: string): void {
  try {
    const fd = openSync(path, 'r+');
    try {
      ftruncateSync(fd, 0);
      writeSync(fd, `${process.pid} ${procStartTime(process.pid)}\n`, 0);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* only a message suffers */
  }
}
