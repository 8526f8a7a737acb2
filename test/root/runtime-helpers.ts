/**
 * Shared by the runtime root tests: run the CLI with a private state directory, snapshot what the kernel
 * holds (namespaces, root links, nft tables, mounts) to prove teardown leaves nothing, and skip reasons.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { clusterNames, serviceNames } from '../../src/targets/local/paths.js';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import http from 'node:http';

export const ROOT_DIR = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT_DIR, 'src/cli/main.ts');

export function skipReason(tools: readonly string[] = []): string | false {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, nftables)';
  for (const t of ['ip', 'nft', 'nsenter', ...tools]) {
    const r = spawnSync('sh', ['-c', `command -v ${t}`]);
    if (r.status !== 0) return `needs ${t}`;
  }
  if (!existsSync('/usr/lib/cni/bridge')) return 'needs containernetworking-plugins (/usr/lib/cni)';
  return false;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function makeStateDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `mn-rt-${tag}-`));
}

export function cli(stateDir: string, args: readonly string[], timeoutMs = 120_000): CliResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: ROOT_DIR,
    env: { ...process.env, MULTINODE_STATE_DIR: stateDir, NO_COLOR: '1' },
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The CLI without blocking this process (a hammering client runs meanwhile): exit code and all output. */
export function cliAsync(stateDir: string, args: readonly string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      cwd: ROOT_DIR,
      env: { ...process.env, MULTINODE_STATE_DIR: stateDir, NO_COLOR: '1' },
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

export interface KernelSnapshot {
  netns: string[];
  links: string[];
  tables: string[];
  mounts: string[];
  processes: string[];
}

/** The name hashes of the given clusters and services under `stateDir` (what their kernel objects carry). */
export function hashesFor(
  stateDir: string,
  clusters: readonly string[],
  services: readonly (readonly [string, string])[] = [],
): string[] {
  const prev = process.env['MULTINODE_STATE_DIR'];
  process.env['MULTINODE_STATE_DIR'] = stateDir;
  try {
    return [
      ...clusters.map((c) => clusterNames(c).hash),
      ...services.map(([c, s]) => serviceNames(c, s).hash),
    ];
  } finally {
    if (prev === undefined) delete process.env['MULTINODE_STATE_DIR'];
    else process.env['MULTINODE_STATE_DIR'] = prev;
  }
}

/** What of ours the kernel holds: objects named with one of `hashes`, mounts and processes under `stateDir`. */
export function snapshot(stateDir: string, hashes: readonly string[]): KernelSnapshot {
  const ours = (name: string) => hashes.some((h) => name.includes(h));
  const netns = existsSync('/run/netns') ? readdirSync('/run/netns').filter(ours) : [];
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '')
    .filter(ours);
  const tables = execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }).split('\n').filter(ours);
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(stateDir));
  const processes: string[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(stateDir) && !cmd.includes('src/cli/main.ts')) processes.push(`${d}: ${cmd}`);
    } catch {
      /* gone */
    }
  }
  return { netns: netns.sort(), links: links.sort(), tables: tables.sort(), mounts, processes };
}

export const EMPTY_SNAPSHOT: KernelSnapshot = { netns: [], links: [], tables: [], mounts: [], processes: [] };

export function cleanupStateDir(stateDir: string): void {
  // Last resort after a failed test: delete what the state dir's clusters/services hold, then the dir.
  const r = cli(stateDir, ['ps', '--output', 'json']);
  try {
    for (const s of JSON.parse(r.stdout) as { name: string }[]) cli(stateDir, ['down', s.name]);
  } catch {
    /* no services */
  }
  const c = cli(stateDir, ['cluster', 'ls', '--output', 'json']);
  try {
    for (const k of JSON.parse(c.stdout) as { name: string }[])
      cli(stateDir, ['cluster', 'delete', '--force', k.name]);
  } catch {
    /* no clusters */
  }
  for (const l of readFileSync('/proc/self/mountinfo', 'utf8').split('\n').reverse()) {
    const m = l.split(' ')[4];
    if (m && m.startsWith(stateDir)) spawnSync('umount', ['-l', m]);
  }
  rmSync(stateDir, { recursive: true, force: true });
}

/** Resolves once `pid` is gone or a zombie (its sockets are closed by then). */
export async function untilGone(pid: number): Promise<void> {
  while (pidAlive(pid)) await sleep(1);
}

/** Alive and not a zombie (an exited child waiting for its parent — init here — to reap it). */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** One GET on a fresh connection (no keep-alive pool: a test must see what a new client sees). */
export function httpGet(url: string, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}
