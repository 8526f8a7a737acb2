/**
 * The narrow seams through which the runtime touches the machine: running programs, calling CNI plugins,
 * keeping state on disk, and reading the clock. Each has a real implementation used by default; tests may
 * pass their own. Nothing else in `src/targets` should call `child_process` for short-lived commands.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MultinodeError } from '../api/issues.js';

export interface RunOptions {
  readonly input?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Throw a MultinodeError when the exit code is not 0 (default true). */
  readonly check?: boolean;
  readonly timeoutMs?: number;
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a short-lived command to completion (argv only, never a shell string built from input). */
export interface ProcessSpawner {
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
}

/** One CNI plugin call: config on stdin, `CNI_*` env, result (or CNI error) parsed. */
export interface CniInvoker {
  invoke(call: CniCall): Promise<unknown>;
}

export interface CniCall {
  readonly command: 'ADD' | 'DEL' | 'CHECK';
  readonly plugin: string;
  readonly config: Readonly<Record<string, unknown>>;
  readonly containerId: string;
  readonly netns: string;
  readonly ifname: string;
  readonly args?: string;
  /** argv prefix that enters the namespace the plugin treats as its host side (the node). */
  readonly hostNsPrefix: readonly string[];
}

/** JSON documents on disk, written atomically (temp file + rename). */
export interface StateStore {
  read<T>(path: string): Promise<T | undefined>;
  write(path: string, value: unknown): Promise<void>;
  remove(path: string): Promise<void>;
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Calls `fn` once after `ms`; the returned function cancels it (a no-op once it ran). */
  after(ms: number, fn: () => void): () => void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  after: (ms, fn) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

/** Where a long-running process's output goes and what it starts with. */
export interface LaunchOptions {
  readonly cwd?: string;
  readonly env: Readonly<Record<string, string>>;
  /** Appended to (stdout and stderr both), created 0600 when missing. */
  readonly logFile: string;
}

/** A long-running process started in its own process group (it leads it). */
export interface LaunchedProcess {
  /** Undefined when the process could not be started at all. */
  readonly pid: number | undefined;
  /** Called once when the process ends (code, or the signal's name). */
  onExit(fn: (code: number | null, signal: string | null) => void): void;
}

/**
 * Long-running processes (ranks, their sshd): started detached as process-group leaders, identified beyond
 * their pid by their start time, and stopped as a group (TERM, then KILL after a grace period).
 */
export interface ProcessLauncher {
  launch(argv: readonly string[], options: LaunchOptions): LaunchedProcess;
  /** The process's start time (undefined when it is gone): a pid plus this names one process for good. */
  startTime(pid: number): Promise<string | undefined>;
  /** Stops the group led by `pid` if that is still the process started at `startTime`; resolves when gone. */
  stopGroup(pid: number, startTime: string, graceMs: number): Promise<void>;
}

export const realSpawner: ProcessSpawner = {
  run(argv, options = {}) {
    return new Promise((resolve, reject) => {
      const [cmd, ...args] = argv;
      if (cmd === undefined) {
        reject(new MultinodeError('runtime.exec', 'empty command'));
        return;
      }
      const child = spawn(cmd, args, {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: options.env ? { ...options.env } : process.env,
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      let timer: NodeJS.Timeout | undefined;
      if (options.timeoutMs !== undefined) timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
      child.on('error', (e) =>
        reject(new MultinodeError('runtime.exec', `cannot run ${cmd}: ${e.message}`, { cause: e })),
      );
      child.on('close', (code, signal) => {
        if (timer) clearTimeout(timer);
        const result = {
          code: code ?? (signal ? 128 : 1),
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
        };
        if ((options.check ?? true) && result.code !== 0) {
          reject(
            new MultinodeError(
              'runtime.exec',
              `${argv.slice(0, 6).join(' ')}${argv.length > 6 ? ' …' : ''} failed (${result.code}): ${result.stderr.trim() || result.stdout.trim()}`,
            ),
          );
          return;
        }
        resolve(result);
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input ?? '');
    });
  },
};

export class CniError extends MultinodeError {
  constructor(message: string, cause?: unknown) {
    super('runtime.cni', message, cause === undefined ? {} : { cause });
  }
}

export function realCniInvoker(spawner: ProcessSpawner = realSpawner, cniPath = '/usr/lib/cni'): CniInvoker {
  return {
    async invoke(call) {
      const env: Record<string, string> = {
        PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
        CNI_COMMAND: call.command,
        CNI_CONTAINERID: call.containerId,
        CNI_NETNS: call.netns,
        CNI_IFNAME: call.ifname,
        CNI_PATH: cniPath,
      };
      if (call.args !== undefined) env['CNI_ARGS'] = call.args;
      const r = await spawner.run([...call.hostNsPrefix, `${cniPath}/${call.plugin}`], {
        input: JSON.stringify(call.config),
        env,
        check: false,
      });
      if (r.code !== 0) {
        let msg = r.stdout.trim() || r.stderr.trim();
        try {
          const e = JSON.parse(r.stdout) as { code?: number; msg?: string; details?: string };
          msg = `${e.msg ?? ''}${e.details ? `: ${e.details}` : ''} (code ${e.code ?? '?'})`;
        } catch {
          /* not JSON */
        }
        throw new CniError(`CNI ${call.plugin} ${call.command} ${call.containerId}/${call.ifname}: ${msg}`);
      }
      return r.stdout.trim() === '' ? {} : (JSON.parse(r.stdout) as unknown);
    },
  };
}

export const realStateStore: StateStore = {
  async read<T>(path: string) {
    try {
      return JSON.parse(await readFile(path, 'utf8')) as T;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  },
  async write(path, value) {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    // temp file + rename: readers never see a partial file, and a crashed writer leaves the old one.
    // (No fsync: this guards against process crashes, not power loss, and keeps `up` fast.)
    // 0600: records hold the spec's env values (tokens included).
    await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, path);
  },
  async remove(path) {
    await rm(path, { force: true });
  },
};

export interface RuntimePorts {
  readonly spawner: ProcessSpawner;
  readonly cni: CniInvoker;
  readonly store: StateStore;
  readonly clock: Clock;
}

export function defaultPorts(): RuntimePorts {
  return { spawner: realSpawner, cni: realCniInvoker(), store: realStateStore, clock: realClock };
}
