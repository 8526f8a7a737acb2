/**
 * In-process harness for the failover root tests and bench: a private state directory (set in this process's
 * environment), a cluster created through the API, `upDetached` = parse → live inventory → plan → record →
 * spawn a bundled supervisor (no CLI spawns, so 100 chaos cycles fit in minutes), polling helpers.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { parseSpec } from '../../src/spec/index.js';
import { defaultPlanOptions, planSpec } from '../../src/plan/index.js';
import { STATE } from '../../src/api/names.js';
import { createCluster, deleteCluster, readInventory } from '../../src/targets/local/cluster.js';
import { createServiceRecord } from '../../src/targets/local/supervisor.js';
import { listServiceStates, readServiceState } from '../../src/targets/local/service-state.js';
import type { ServiceState } from '../../src/targets/local/service-state.js';
import { downService } from '../../src/targets/local/teardown.js';
import { serviceDir, stateRoot } from '../../src/targets/local/paths.js';

export const ROOT_DIR = resolve(import.meta.dirname, '../..');

/** Points this process at a fresh state directory; returns it. */
export function useStateDir(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), `mn-fo-${tag}-`));
  process.env['MULTINODE_STATE_DIR'] = dir;
  return dir;
}

let bundled: string | undefined;
/** The supervisor entry bundled to one .mjs file (once per process). */
export async function supervisorBundle(): Promise<string> {
  if (bundled && existsSync(bundled)) return bundled;
  const dir = mkdtempSync(join(tmpdir(), 'mn-fo-bundle-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'supervise.mjs');
  await build({
    entryPoints: [join(ROOT_DIR, 'test/root/failover-entry.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: out,
    logLevel: 'silent',
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
  });
  bundled = out;
  return out;
}

export async function makeCluster(name: string, nodes: number, cores = 2): Promise<void> {
  await createCluster({ name, nodes, cores, memoryBytes: 8 * 1024 ** 3 });
}

export async function removeCluster(name: string): Promise<void> {
  await deleteCluster(name, { force: true }).catch(() => undefined);
}

/** `up -d` of every service in `yaml` on `cluster`, in process; resolves once recorded and spawned. */
export async function upDetached(yaml: string, cluster: string, dir: string): Promise<string[]> {
  const file = join(dir, `spec-${Date.now()}-${Math.random().toString(36).slice(2, 6)}.yaml`);
  const parsed = parseSpec(yaml, file);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const spec = parsed.value;
  const inventory = await readInventory(cluster);
  const root = stateRoot();
  const planOptions = defaultPlanOptions({
    target: 'local',
    filesDir: `${root}/${STATE.servicesDir}/{service}/files`,
    sshWrapperPath: `${root}/bin/multinode-ssh`,
    runAsRoot: true,
  });
  const r = planSpec(spec, inventory, planOptions);
  if (!r.ok) throw new Error(JSON.stringify([r.issues, r.reasons]));
  const entry = await supervisorBundle();
  for (const svc of r.plan.services) {
    await createServiceRecord({
      plan: svc,
      cluster,
      file: file,
      planHash: r.plan.hash,
      placeMs: 0,
      spec,
      planOptions,
    });
    const fd = openSync(join(serviceDir(svc.name), 'supervisor.log'), 'a');
    const child = spawn(process.execPath, [entry, svc.name], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env },
      cwd: dir,
    });
    closeSync(fd);
    child.unref();
  }
  return r.plan.services.map((s) => s.name);
}

export async function state(name: string): Promise<ServiceState> {
  const s = await readServiceState(name);
  if (!s) throw new Error(`no state for ${name}`);
  return s;
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns a value (not undefined/false) or the timeout passes. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: string | undefined;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e instanceof Error ? e.message : JSON.stringify(e);
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last !== undefined ? `: ${last}` : ''}`);
    await sleep(everyMs);
  }
}

export async function waitStatus(
  name: string,
  statuses: readonly string[],
  timeoutMs = 60_000,
): Promise<ServiceState> {
  return waitFor(
    `${name} to be ${statuses.join('|')}`,
    async () => {
      const s = await readServiceState(name);
      return s && statuses.includes(s.status) ? s : undefined;
    },
    timeoutMs,
  );
}

/** The supervisor's log (for assertion messages). */
export function supervisorLog(name: string): string {
  try {
    return readFileSync(join(serviceDir(name), 'supervisor.log'), 'utf8').slice(-3000);
  } catch {
    return '';
  }
}

/** Removes every service and the cluster, then the state directory (after a failure too). */
export async function cleanupAll(dir: string, clusters: readonly string[]): Promise<void> {
  for (const s of await listServiceStates().catch(() => []))
    await downService(s.name, { graceMs: 1000 }).catch(() => undefined);
  for (const c of clusters) await removeCluster(c);
  for (const l of readFileSync('/proc/self/mountinfo', 'utf8').split('\n').reverse()) {
    const m = l.split(' ')[4];
    if (m && m.startsWith(dir)) spawn('umount', ['-l', m]);
  }
  rmSync(dir, { recursive: true, force: true });
}

export function kill(pid: number | undefined, sig: NodeJS.Signals = 'SIGKILL'): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

/** Pids in a process group (the rank's leader and its descendants that stayed in the group). */
export function groupPids(pgid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (rest[0] !== 'Z' && Number(rest[2]) === pgid) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const st = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return st !== 'Z' && st !== 'X';
  } catch {
    return false;
  }
}

export function skipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, nftables)';
  for (const t of ['ip', 'nft', 'nsenter']) {
    const r = spawnSync('sh', ['-c', `command -v ${t}`]);
    if (r.status !== 0) return `needs ${t}`;
  }
  if (!existsSync('/usr/lib/cni/bridge')) return 'needs containernetworking-plugins (/usr/lib/cni)';
  return false;
}
