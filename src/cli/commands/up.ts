/**
 * `multinode up FILE [-d] [--cluster NAME] [--target local|slurm]`: parse, read the live inventory, plan,
 * and run every service of the file on the local emulated cluster (creating a default one sized for the
 * file when none exists). Foreground by default with rank-prefixed logs (Ctrl-C stops and tears down);
 * `-d` leaves a detached supervisor per service running. Also registers the hidden `__supervise` command the
 * detached supervisor runs as.
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync, existsSync } from 'node:fs';
import { resolve, join } from 'node:path';
import type { Command } from 'commander';
import { EXIT, MultinodeError } from '../../api/issues.js';
import type { Spec } from '../../api/spec.js';
import type { ServicePlan } from '../../api/plan.js';
import { STATE } from '../../api/names.js';
import { defaultPlanOptions, generateInventory, planSpec } from '../../plan/index.js';
import type { Inventory } from '../../api/inventory.js';
import { createCluster, listClusters, readInventory } from '../../targets/local/cluster.js';
import type { ClusterMeta } from '../../targets/local/cluster.js';
import { serviceDir, stateRoot } from '../../targets/local/paths.js';
import { isSameProcess, readServiceState } from '../../targets/local/service-state.js';
import type { SupervisorEvent } from '../../targets/local/supervisor.js';
import { createServiceRecord, superviseService } from '../../targets/local/supervisor.js';
import { downService } from '../../targets/local/teardown.js';
import { followLogs, rankLogPath } from '../../targets/local/logs.js';
import { paint, printIssues } from '../output.js';
import { isRoot, readSpecFile, slurmStateDir } from './runtime-common.js';
import { slurmUp } from './slurm-target.js';
import { readSlurmCluster } from '../../targets/slurm/cluster.js';
import { rankColor } from './logs.js';

interface UpOpts {
  detach?: boolean;
  waitTimeout?: string;
  cluster?: string;
  target?: string;
}

function note(msg: string): void {
  process.stderr.write(`${paint('cyan', '▸')} ${msg}\n`);
}

/** The cluster to run on: the named one, else `default`, else the only one, else a new `default`. */
async function chooseCluster(spec: Spec, name: string | undefined): Promise<ClusterMeta> {
  const clusters = await listClusters();
  if (name !== undefined) {
    const c = clusters.find((x) => x.name === name);
    if (!c)
      throw new MultinodeError(
        'cluster.not-found',
        `no cluster named "${name}" (create it with \`multinode cluster create ${name}\`)`,
        {
          exitCode: EXIT.badInput,
        },
      );
    return c;
  }
  const def = clusters.find((c) => c.name === 'default') ?? (clusters.length === 1 ? clusters[0] : undefined);
  if (def) return def;
  if (clusters.length > 1)
    throw new MultinodeError(
      'cluster.ambiguous',
      `several clusters exist (${clusters.map((c) => c.name).join(', ')}); pick one with --cluster`,
      {
        exitCode: EXIT.badInput,
      },
    );
  const s = spec.services;
  const nodes = s.reduce((a, x) => a + x.nodes, 0);
  const opts = {
    name: 'default',
    nodes: Math.max(1, nodes),
    cores: Math.max(2, ...s.map((x) => x.resource.cpuCores)),
    memoryBytes: Math.max(16 * 1024 ** 3, ...s.map((x) => x.resource.memoryBytes)),
    gpusPerNode: Math.max(0, ...s.map((x) => x.resource.gpus)),
    fabricNics: Math.max(0, ...s.map((x) => fabricCount(x.resource.fabricNics))),
    ...(s.find((x) => x.resource.gpuModel)?.resource.gpuModel
      ? { gpuModel: s.find((x) => x.resource.gpuModel)?.resource.gpuModel ?? '' }
      : {}),
  };
  const meta = await createCluster(opts);
  note(
    `no cluster yet: created cluster "default" with ${meta.nodes.length} node(s) (${meta.cores} cores, ${meta.gpusPerNode} GPUs, ${meta.fabricNics} fabric NICs each) in ${meta.createMs ?? 0} ms`,
  );
  return meta;
}

function fabricCount(nics: readonly string[]): number {
  let max = 0;
  for (const n of nics) {
    const m = /^fabric(\d+)$/.exec(n);
    if (m?.[1]) max = Math.max(max, Number(m[1]) + 1);
  }
  return Math.max(max, nics.length);
}

function describeEvent(service: string, e: SupervisorEvent): string | undefined {
  switch (e.kind) {
    case 'note':
      return `${service}: ${e.message}`;
    case 'phase':
      return `${service}: ${e.phase} ${e.ms} ms`;
    case 'rank-exit':
      return `${service}-${e.rank} exited with ${e.signal ? `signal ${e.signal}` : `code ${e.code}`}`;
    case 'ready':
      return `${service}: ready${e.endpoints.length > 0 ? ` — ${e.endpoints.join(', ')}` : ''}`;
    case 'not-ready':
      return `${service}: not ready (${e.detail})`;
    case 'restart':
      return `${service}: ${e.reason}`;
  }
}

function cliEntryArgv(): string[] {
  const entry = process.argv[1];
  if (!entry) throw new MultinodeError('cli.no-entry', 'cannot tell how this CLI was started');
  return [process.execPath, ...process.execArgv, entry];
}

/** Default for `up -d --wait-timeout` (seconds). */
export const DEFAULT_WAIT_TIMEOUT_S = 300;

async function waitDetached(plan: ServicePlan, pid: number | undefined, timeoutS: number): Promise<void> {
  let lastShown = '';
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const s = await readServiceState(plan.name);
    if (s && timeoutS > 0 && Date.now() > deadline && s.status !== 'ready' && s.status !== 'completed') {
      const missing = (s.group?.missing ?? []).map((m) => `rank ${m.rank} (${m.why} since ${m.since})`);
      const why = [
        s.probe.status !== 'none'
          ? `rank 0's probe: ${s.probe.status}${s.probe.last ? ` (${s.probe.last})` : ''}`
          : '',
        missing.length > 0 ? `missing: ${missing.join(', ')}` : '',
        s.message ?? '',
      ].filter((x) => x !== '');
      throw new MultinodeError(
        'runtime.wait-timeout',
        `service ${plan.name} is not ready after ${timeoutS} s (status ${s.status}${why.length > 0 ? `; ${why.join('; ')}` : ''}). It keeps running: see \`multinode ps\` and \`multinode logs ${plan.name}\`; stop it with \`multinode down ${plan.name}\`; wait longer with --wait-timeout SECONDS (0 = no limit)`,
      );
    }
    if (!s) throw new MultinodeError('runtime.vanished', `service ${plan.name} disappeared while starting`);
    if (s.status === 'failed') {
      throw new MultinodeError(
        'runtime.start-failed',
        `service ${plan.name} failed${s.message ? `: ${s.message}` : ''} (see \`multinode logs ${plan.name}\`, ${join(serviceDir(plan.name), 'supervisor.log')}; clean up with \`multinode down ${plan.name}\`)`,
      );
    }
    if (s.status === 'ready' || s.status === 'completed') return;
    const line =
      s.probe.status === 'waiting' || s.probe.status === 'not-ready'
        ? `waiting for rank 0 to be ready (${s.probe.last ?? 'no answer yet'})`
        : '';
    if (line && line !== lastShown && process.stderr.isTTY) {
      note(`${plan.name}: ${line}`);
      lastShown = line;
    }
    if (pid !== undefined) {
      try {
        process.kill(pid, 0);
      } catch {
        throw new MultinodeError(
          'runtime.supervisor-died',
          `the supervisor of ${plan.name} exited early; see ${join(serviceDir(plan.name), 'supervisor.log')}`,
        );
      }
    }
  }
}

/** The pseudo cluster name of degraded (no root) services. */
const LOOPBACK_CLUSTER = '(loopback)';

/** A record without a supervisor yet is another `up` starting it, unless it is older than this. */
const STARTING_GRACE_MS = 30_000;

/**
 * Before planning (so the plan sees what the leftovers really held): a service of the file that is still
 * supervised is refused; what a crashed supervisor left (ranks still running, networks, endpoints, state) is
 * removed, saying what. Running ranks are not adopted: the service starts afresh.
 */
async function replaceLeftovers(names: readonly string[]): Promise<void> {
  for (const name of names) {
    const old = await readServiceState(name);
    if (!old) continue;
    const supervised =
      old.supervisorPid === undefined
        ? Date.now() - Date.parse(old.createdAt) < STARTING_GRACE_MS
        : await isSameProcess(old.supervisorPid, old.supervisorStartTime);
    if (supervised)
      throw new MultinodeError(
        'runtime.service-exists',
        `service "${name}" is already up (status ${old.status}${old.supervisorPid !== undefined ? `, supervisor pid ${old.supervisorPid}` : ', starting'}); run \`multinode down ${name}\` first`,
      );
    let running = 0;
    for (const r of old.ranks) if (await isSameProcess(r.pid, r.startTime)) running++;
    const was =
      old.supervisorPid === undefined
        ? 'its supervisor never started'
        : `its supervisor (pid ${old.supervisorPid}) is gone`;
    note(
      `${name}: ${was} (status ${old.status}, ${running} of ${old.ranks.length} rank(s) still running); replacing it: stopping those ranks and removing its networks, endpoints and state before starting again (running ranks are not adopted)`,
    );
    await downService(name);
  }
}

async function runUp(file: string, opts: UpOpts): Promise<void> {
  if (opts.target === 'slurm') {
    // A Slurm cluster emulated on one of our clusters (`cluster create --slurm`), else the system's Slurm.
    const info = opts.cluster !== undefined ? await readSlurmCluster(slurmStateDir(opts.cluster)) : undefined;
    await slurmUp(file, {
      ...(opts.detach ? { detach: true } : {}),
      ...(info ? { clientArgv: info.clientArgv } : {}),
    });
    return;
  }
  if (opts.target !== undefined && opts.target !== 'local')
    throw new MultinodeError('cli.bad-option', `--target must be local or slurm, got ${opts.target}`, {
      exitCode: EXIT.badInput,
    });
  const abs = resolve(file);
  const parsed = readSpecFile(file);
  const waitTimeout = opts.waitTimeout === undefined ? DEFAULT_WAIT_TIMEOUT_S : Number(opts.waitTimeout);
  if (!Number.isFinite(waitTimeout) || waitTimeout < 0)
    throw new MultinodeError(
      'cli.bad-option',
      `--wait-timeout must be a number of seconds ≥ 0, got ${opts.waitTimeout}`,
      {
        exitCode: EXIT.badInput,
      },
    );
  await replaceLeftovers(parsed.services.map((s) => s.name));
  const degraded = !isRoot();
  const t0 = Date.now();
  let spec = parsed;
  let clusterName: string;
  let inventory: Inventory;
  if (degraded) {
    note(
      "not running as root: network namespaces, per-service overlays, CNI, fabric NICs, per-rank host names, sshd per rank and endpoint DNAT are unavailable. Falling back to host networking: every rank is a plain process on its own loopback address (127.0.1.x), host names in the environment are replaced by those addresses, and endpoints are rank 0's address and port. Run with sudo for the emulated cluster.",
    );
    spec = { ...parsed, services: parsed.services.map((s) => ({ ...s, hostNetwork: true })) };
    clusterName = LOOPBACK_CLUSTER;
    const s = spec.services;
    inventory = generateInventory({
      nodes: Math.max(
        1,
        s.reduce((a, x) => a + x.nodes, 0),
      ),
      cores: Math.max(2, ...s.map((x) => x.resource.cpuCores)),
      memoryBytes: Math.max(16 * 1024 ** 3, ...s.map((x) => x.resource.memoryBytes)),
      gpusPerNode: Math.max(0, ...s.map((x) => x.resource.gpus)),
      addressBase: '127.0.1.1',
    });
  } else {
    const cluster = await chooseCluster(spec, opts.cluster);
    clusterName = cluster.name;
    inventory = await readInventory(cluster.name);
  }
  const root = stateRoot();
  const planOptions = defaultPlanOptions({
    target: 'local',
    filesDir: `${root}/${STATE.servicesDir}/{service}/files`,
    sshWrapperPath: `${root}/bin/multinode-ssh`,
    runAsRoot: !degraded,
  });
  const result = planSpec(spec, inventory, planOptions);
  if (!result.ok) {
    printIssues(result.issues);
    for (const r of result.reasons) {
      process.stderr.write(`${paint('red', 'cannot place')} ${r.service}: ${r.summary}\n`);
      for (const n of r.nodes) process.stderr.write(`  ${n}\n`);
    }
    throw new MultinodeError('plan.infeasible', `cannot run ${file} on cluster ${clusterName}`, {
      exitCode: EXIT.badInput,
    });
  }
  if (result.warnings.length > 0) printIssues(result.warnings);
  const placeMs = Date.now() - t0;
  const plan = result.plan;
  for (const svc of plan.services)
    if (svc.imageUri)
      note(
        `${svc.name}: image.uri ${svc.imageUri} is recorded, but the local runtime runs the script on this machine's file system`,
      );
  // Degraded mode: the supervisor resolves every rank's host name to its address (nothing resolves names).
  for (const svc of plan.services) {
    await createServiceRecord({
      plan: svc,
      cluster: clusterName,
      file: abs,
      planHash: plan.hash,
      placeMs,
      spec,
      planOptions,
      ...(degraded ? { degraded: true } : {}),
    });
  }

  if (opts.detach) {
    for (const svc of plan.services) {
      const dir = serviceDir(svc.name);
      const fd = openSync(join(dir, 'supervisor.log'), 'a');
      const argv = [...cliEntryArgv(), '__supervise', svc.name];
      const child = spawn(argv[0] as string, argv.slice(1), { detached: true, stdio: ['ignore', fd, fd] });
      closeSync(fd);
      child.unref();
      await waitDetached(svc, child.pid, waitTimeout);
      const s = await readServiceState(svc.name);
      const eps = (s?.endpoints ?? []).map(
        (e) => `${e.name} → ${e.protocol === 'tcp' ? 'tcp' : e.protocol}://${e.hostAddress}:${e.hostPort}`,
      );
      process.stdout.write(
        `${paint('green', '✔', process.stdout)} ${svc.name}: ${svc.ranks.length} rank(s) ${s?.status ?? ''} on cluster ${clusterName}${eps.length > 0 ? `\n  ${eps.join('\n  ')}` : ''}\n`,
      );
    }
    process.stdout.write(
      `logs: multinode logs SERVICE -f · status: multinode ps · stop: multinode down ${file}\n`,
    );
    return;
  }

  // Foreground: supervise in this process, show every rank's log lines, tear down on Ctrl-C or when done.
  const stop = new AbortController();
  let interrupted = 0;
  const onSignal = () => {
    interrupted++;
    if (interrupted === 1) note('stopping… (Ctrl-C again to stop without waiting)');
    else process.exit(EXIT.failure);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const width = Math.max(...plan.services.flatMap((s) => s.ranks.map((r) => r.hostname.length)));
  const followers = new AbortController();
  const follows = plan.services.map((svc) =>
    followLogs(
      svc.ranks.map((r) => ({
        rank: r.rank,
        path: rankLogPath(serviceDir(svc.name), r.rank),
      })),
      (rank, line) => {
        const host = svc.ranks[rank]?.hostname ?? `${svc.name}-${rank}`;
        process.stdout.write(
          `${paint(rankColor(rank), `${host.padEnd(width)} |`, process.stdout)} ${line}\n`,
        );
      },
      { fromStart: true, follow: true, signal: followers.signal },
    ),
  );
  let code = 0;
  try {
    const codes = await Promise.all(
      plan.services.map((svc) =>
        superviseService(svc.name, {
          stop: stop.signal,
          onEvent: (e) => {
            const m = describeEvent(svc.name, e);
            if (m) note(m);
          },
        }),
      ),
    );
    code = codes.find((c) => c !== 0) ?? 0;
  } finally {
    followers.abort();
    await Promise.all(follows).catch(() => undefined);
    for (const svc of plan.services) {
      const r = await downService(svc.name, { self: true });
      note(`${svc.name}: removed in ${r.ms} ms`);
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (code !== 0 && !stop.signal.aborted) process.exitCode = code;
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .argument('<file>', 'spec file')
    .description('Run the services of FILE on the local emulated cluster (foreground, or detached with -d).')
    .option(
      '-d, --detach',
      'run in the background: a supervisor per service keeps running after this returns',
    )
    .option('--cluster <name>', 'emulated cluster to run on (default: "default", created when none exists)')
    .option(
      '--wait-timeout <seconds>',
      `with -d: how long to wait for every service to be ready (0 = no limit; default ${DEFAULT_WAIT_TIMEOUT_S})`,
    )
    .option('--target <target>', 'local (default) or slurm')
    .action(async (file: string, opts: UpOpts) => {
      await runUp(file, opts);
    });
  program
    .command('__supervise', { hidden: true })
    .argument('<service>')
    .action(async (service: string) => {
      const stop = new AbortController();
      process.on('SIGTERM', () => stop.abort());
      process.on('SIGINT', () => stop.abort());
      process.on('SIGHUP', () => undefined);
      if (!existsSync(serviceDir(service)))
        throw new MultinodeError('runtime.no-service', `no service ${service}`);
      const code = await superviseService(service, {
        stop: stop.signal,
        onEvent: (e) => {
          const m = describeEvent(service, e);
          if (m) console.log(`${new Date().toISOString()} ${m}`);
        },
      });
      process.exitCode = code;
    });
}
