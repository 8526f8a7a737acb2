/**
 * Root test fixture for the SSH/MPI layer, independent of the runtime's emulated cluster: N node network
 * namespaces joined by veths to a bridge in a separate "switch" namespace, on a /24 of 198.18.0.0/15,
 * each node with its own persistent UTS namespace (hostname) and, per command, the nodexec recipe from
 * LAB-NOTES (private mount ns, fresh sysfs, host cgroup tree carried over, a cluster /etc/hosts bound over
 * the real one). Names carry a unique prefix; `teardown()` kills every process left in the namespaces (by
 * PID), unmounts, deletes links, namespaces and the temp dir, and is safe to call after a partial set-up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareSsh, type ServiceSsh } from '../../src/targets/local/ssh/index.js';

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

export interface RunOptions {
  readonly env?: Readonly<Record<string, string>>;
  readonly input?: string;
  readonly timeoutMs?: number;
  readonly cwd?: string;
}

/** Runs argv to completion, capturing output; never rejects (spawn errors become code null). */
export function run(argv: readonly string[], o: RunOptions = {}): Promise<RunResult> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const [cmd, ...args] = argv;
    if (cmd === undefined) throw new Error('empty argv');
    const child = spawn(cmd, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(o.env === undefined ? {} : { env: { ...o.env } }),
      ...(o.cwd === undefined ? {} : { cwd: o.cwd }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, stdout, stderr: stderr + String(e), ms: performance.now() - t0 });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(o.input ?? '');
  });
}

async function must(argv: readonly string[], o: RunOptions = {}): Promise<string> {
  const r = await run(argv, o);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code ?? r.signal}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Why a root test cannot run here, or undefined when it can. */
export function rootSkipReason(binaries: readonly string[] = []): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, sshd)';
  const missing = [
    '/usr/sbin/ip',
    '/usr/bin/nsenter',
    '/usr/bin/unshare',
    '/usr/sbin/sshd',
    '/usr/bin/ssh',
    '/usr/bin/ssh-keygen',
    ...binaries,
  ].filter((b) => !existsSync(b));
  return missing.length > 0 ? `missing: ${missing.join(', ')}` : undefined;
}

export interface FixtureNode {
  readonly index: number;
  readonly netns: string;
  readonly hostname: string;
  readonly address: string;
  /** argv prefix running a command "on" this node. */
  readonly exec: readonly string[];
}

export interface NetnsCluster {
  readonly prefix: string;
  readonly dir: string;
  readonly subnet: string;
  readonly nodes: readonly FixtureNode[];
  /** Runs argv on node i. */
  run(i: number, argv: readonly string[], o?: RunOptions): Promise<RunResult>;
  /** Starts a long-running process on node i with stdout+stderr appended to `logFile`; killed on teardown. */
  start(
    i: number,
    argv: readonly string[],
    logFile: string,
    env?: Readonly<Record<string, string>>,
  ): ChildProcess;
  /** Received bytes on node i's cluster interface. */
  rxBytes(i: number): Promise<number>;
  teardown(): Promise<void>;
}

export interface ClusterOptions {
  readonly nodes: number;
  /** First three octets, e.g. `198.18.250`. */
  readonly net: string;
  readonly hostnames: readonly string[];
  /** Short unique tag (≤ 5 chars) used in namespace names. */
  readonly tag: string;
}

const NODEXEC =
  'd=$0/cg.$$; mkdir -p "$d" && mount --rbind /sys/fs/cgroup "$d" && mount -t sysfs sysfs /sys && ' +
  'mount --move "$d" /sys/fs/cgroup && rmdir "$d" && mount --bind "$0/hosts" /etc/hosts || exit 125; exec "$@"';

export async function createCluster(o: ClusterOptions): Promise<NetnsCluster> {
  const prefix = `mn${o.tag}${process.pid % 10000}`;
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const sw = `${prefix}sw`;
  const utsDir = join(dir, 'uts');
  const created: string[] = [];
  let utsMounted = false;
  const utsFiles: string[] = [];
  const children = new Set<ChildProcess>();
  const nodes: FixtureNode[] = [];
  for (let i = 0; i < o.nodes; i++) {
    const netns = `${prefix}n${i}`;
    nodes.push({
      index: i,
      netns,
      hostname: o.hostnames[i] ?? `node${i}`,
      address: `${o.net}.${10 + i}`,
      exec: [
        '/usr/bin/nsenter',
        `--uts=${join(utsDir, netns)}`,
        `--net=/var/run/netns/${netns}`,
        '/usr/bin/unshare',
        '--mount',
        '--propagation',
        'slave',
        '/bin/sh',
        '-c',
        NODEXEC,
        dir,
      ],
    });
  }
  const node = (i: number): FixtureNode => {
    const n = nodes[i];
    if (n === undefined) throw new Error(`no node ${i}`);
    return n;
  };

  const teardown = async (): Promise<void> => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    // Everything still running inside our namespaces is ours: kill by PID.
    for (const ns of [...created].reverse()) {
      const pids = (await run(['/usr/sbin/ip', 'netns', 'pids', ns])).stdout
        .split(/\s+/)
        .filter((p) => p !== '');
      for (const p of pids) {
        try {
          process.kill(Number(p), 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    await new Promise((r) => setTimeout(r, 100));
    for (const f of utsFiles) await run(['/usr/bin/umount', f]);
    if (utsMounted) await run(['/usr/bin/umount', utsDir]);
    for (const ns of [...created].reverse()) await run(['/usr/sbin/ip', 'netns', 'del', ns]);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const hosts = [
      '127.0.0.1 localhost',
      '::1 localhost ip6-localhost',
      ...nodes.map((n) => `${n.address} ${n.hostname}`),
    ];
    writeFileSync(join(dir, 'hosts'), `${hosts.join('\n')}\n`);
    for (const ns of [sw, ...nodes.map((n) => n.netns)]) {
      await must(['/usr/sbin/ip', 'netns', 'add', ns]);
      created.push(ns);
    }
    const swBatch = ['link add br0 type bridge', 'link set br0 up', 'link set lo up'];
    for (const n of nodes) {
      swBatch.push(
        `link add v${n.index} type veth peer name eth0 netns ${n.netns}`,
        `link set v${n.index} master br0 up`,
      );
    }
    await must(['/usr/sbin/ip', '-n', sw, '-batch', '-'], { input: `${swBatch.join('\n')}\n` });
    for (const n of nodes) {
      await must(['/usr/sbin/ip', '-n', n.netns, '-batch', '-'], {
        input: `link set lo up\naddr add ${n.address}/24 dev eth0\nlink set eth0 up\n`,
      });
    }
    await must(['/usr/bin/mkdir', '-p', utsDir]);
    await must(['/usr/bin/mount', '--bind', utsDir, utsDir]);
    utsMounted = true;
    await must(['/usr/bin/mount', '--make-private', utsDir]);
    for (const n of nodes) {
      const f = join(utsDir, n.netns);
      closeSync(openSync(f, 'w'));
      await must(['/usr/bin/unshare', `--uts=${f}`, '/usr/bin/hostname', n.hostname]);
      utsFiles.push(f);
    }
  } catch (e) {
    await teardown();
    throw e;
  }

  return {
    prefix,
    dir,
    subnet: `${o.net}.0/24`,
    nodes,
    run: (i, argv, ro) => run([...node(i).exec, ...argv], ro),
    start: (i, argv, logFile, env) => {
      const fd = openSync(logFile, 'a');
      const [cmd, ...args] = [...node(i).exec, ...argv];
      if (cmd === undefined) throw new Error('empty argv');
      const child = spawn(cmd, args, {
        stdio: ['ignore', fd, fd],
        ...(env === undefined ? {} : { env: { ...env } }),
      });
      closeSync(fd);
      children.add(child);
      return child;
    },
    rxBytes: async (i) => {
      const out = await must([
        '/usr/sbin/ip',
        '-n',
        node(i).netns,
        '-j',
        '-s',
        'link',
        'show',
        'dev',
        'eth0',
      ]);
      const parsed = JSON.parse(out) as { stats64?: { rx?: { bytes?: number } } }[];
      return parsed[0]?.stats64?.rx?.bytes ?? 0;
    },
    teardown,
  };
}

export interface FixtureService {
  readonly ssh: ServiceSsh;
  readonly serviceDir: string;
  /** Each rank's sshd process (the runner from `sshdArgv`), by rank. */
  readonly sshd: readonly ChildProcess[];
  logFile(i: number): string;
}

/**
 * Prepares the SSH layer for a service with one rank per fixture node and starts each rank's sshd the way
 * the supervisor will (its argv through the node's exec prefix, foreground, log to a file), then waits
 * until every sshd answers. The sshds die with the cluster's teardown; call `ssh.cleanup()` first.
 */
export async function startSshService(
  c: NetnsCluster,
  o: {
    readonly serviceName: string;
    readonly env: (n: FixtureNode) => Readonly<Record<string, string>>;
    readonly cwd: string;
    readonly wrapperPath?: string | undefined;
  },
): Promise<FixtureService> {
  const serviceDir = join(c.dir, 'services', o.serviceName);
  const logFile = (i: number): string => join(serviceDir, 'logs', `rank-${i}.log`);
  const ssh = await prepareSsh({
    serviceName: o.serviceName,
    serviceDir,
    ...(o.wrapperPath === undefined ? {} : { wrapperPath: o.wrapperPath }),
    ranks: c.nodes.map((n) => ({
      rank: n.index,
      hostname: n.hostname,
      address: n.address,
      sshPort: 2222,
      exec: n.exec,
      env: o.env(n),
      cwd: o.cwd,
      logFile: logFile(n.index),
    })),
  });
  // sshdArgv carries the exec prefix; the fixture's start() adds it again, so strip it here.
  const sshd = c.nodes.map((n) =>
    c.start(n.index, ssh.sshdArgv(n.index).slice(n.exec.length), join(serviceDir, `sshd-${n.index}.log`)),
  );
  await Promise.all(c.nodes.map((n) => ssh.waitReady(n.index, { timeoutMs: 15_000 })));
  return { ssh, serviceDir, logFile, sshd };
}
