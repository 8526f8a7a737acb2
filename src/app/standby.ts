/**
 * A detached supervisor started before its service is planned: `up -d` starts one per service as soon as
 * the file is read, so the program's start-up (~70–100 ms on the test machine, more through tsx) overlaps
 * placing, recording and image checks instead of following them. It waits on its stdin; `go` hands it the
 * service once the record exists, anything else (end of input: this `up` failed or died) makes it remove
 * its log and exit. Its output goes from the start to a private file in the services directory (a
 * leading dot: never a service name) that `go` links to `<service>/supervisor.log`, the same file as a
 * supervisor started afterwards would append to.
 *
 *   startStandby(self, service) → { pid, go(): pid | undefined (no standby: start one as before), cancel() }
 *   awaitGo(log)                 the standby's side: true to supervise, false when told nothing
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, rmSync } from 'node:fs';
import { link, mkdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { STATE } from '../api/names.js';
import { serviceDir, stateRoot } from '../targets/local/paths.js';
import {
  ensureStateRoot,
  PRIVATE_DIR_MODE,
  PRIVATE_FILE_MODE,
  requireInside,
} from '../targets/state-root.js';
import { selfSpawnEnv } from './self-env.js';

export interface Standby {
  readonly pid: number | undefined;
  /** Hands the (recorded) service over; undefined when it cannot (the caller starts a supervisor itself). */
  go(): Promise<number | undefined>;
  /** Lets it go without a service (idempotent; a no-op after `go`). */
  cancel(): void;
}

/** The standby's log until `go`: in the private services directory, named so no service can own it. */
function standbyLog(service: string): string {
  return join(stateRoot(), STATE.servicesDir, `.${service}.standby-${process.pid}.log`);
}

export async function startStandby(self: readonly string[], service: string): Promise<Standby | undefined> {
  const bin = self[0];
  if (bin === undefined) return undefined;
  await ensureStateRoot(); // made or checked as every other writer does, before anything is written in it
  const log = standbyLog(service);
  await mkdir(dirname(log), { recursive: true, mode: PRIVATE_DIR_MODE });
  let fd: number;
  try {
    fd = openSync(log, 'wx', PRIVATE_FILE_MODE);
  } catch {
    return undefined; // another standby of this process for the same name, or no state: start as before
  }
  const child = spawn(bin, [...self.slice(1), '__supervise', '--standby', log, service], {
    detached: true,
    stdio: ['pipe', fd, fd],
    env: selfSpawnEnv(),
  });
  closeSync(fd);
  child.unref();
  const stdin = child.stdin;
  stdin?.on('error', () => undefined); // it exited: `go` finds it gone
  // The pipe must not keep this process alive (a failed `up` exits, and the standby reads end of input).
  (stdin as { unref?: () => void } | null)?.unref?.();
  let settled = false;
  const cancel = (): void => {
    if (settled) return;
    settled = true;
    stdin?.end();
    rmSync(log, { force: true });
  };
  return {
    pid: child.pid,
    cancel,
    async go() {
      if (settled || child.exitCode !== null || child.signalCode !== null) {
        cancel();
        return undefined;
      }
      try {
        // The same file (and open descriptor) becomes the service's supervisor log.
        await link(log, join(serviceDir(service), 'supervisor.log'));
      } catch {
        cancel(); // a log is there already: a supervisor started afterwards appends to it
        return undefined;
      }
      settled = true;
      await rm(log, { force: true });
      stdin?.end('go\n');
      return child.pid;
    },
  };
}

/**
 * The standby's side: waits for `go` on stdin. Told anything else, or nothing, it removes its log (only
 * a standby log in the services directory) and answers false.
 */
export async function awaitGo(log: string): Promise<boolean> {
  const line = await new Promise<string>((resolve) => {
    let buf = '';
    const done = (v: string): void => {
      process.stdin.removeAllListeners();
      process.stdin.destroy();
      resolve(v);
    };
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) done(buf.slice(0, nl));
    });
    process.stdin.on('end', () => done(''));
    process.stdin.on('error', () => done(''));
  });
  const dir = join(stateRoot(), STATE.servicesDir);
  if (dirname(log) === dir && /^\.[^/]*\.standby-\d+\.log$/.test(basename(log)))
    rmSync(requireInside(log), { force: true });
  return line === 'go';
}
