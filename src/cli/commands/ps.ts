/** `multinode ps [--output json]`: every service on this machine, its ranks, endpoints, probe and phase timings. */
import type { Command } from 'commander';
import { LIVE_STATUSES, listServiceStatus, serviceStatusJson } from '../../app/status.js';
import { paint, printJson } from '../output.js';
import { table } from './cluster.js';
import { printSlurmPs } from './slurm.js';
import { quietOnClosedStdout } from './runtime-common.js';
import { conditionsOf, describeCondition } from '../../app/net.js';
import { controllerAlive, listReplicaSets, readRotation } from '../../targets/local/replica-set.js';
import type { ReplicaSetState } from '../../targets/local/replica-set.js';

/** Replica sets: their members, what the endpoint spreads over now, and the last rollout. */
async function replicaSetRows(): Promise<
  { set: ReplicaSetState; rotation: readonly string[]; controller: boolean }[]
> {
  const out = [];
  for (const set of await listReplicaSets())
    out.push({
      set,
      rotation: (await readRotation(set.name))?.members ?? [],
      controller: await controllerAlive(set),
    });
  return out;
}

export function registerPs(program: Command): void {
  program
    .command('ps')
    .option('-o, --output <format>', 'text or json', 'text')
    .option('--target <target>', 'local (default) or slurm')
    .description('List services: status, ranks, endpoints, readiness and per-phase timings.')
    .action(async (opts: { output: string; target?: string }) => {
      quietOnClosedStdout();
      if (opts.target === 'slurm') {
        await printSlurmPs(opts.output === 'json' ? 'json' : 'text');
        return;
      }
      const rows = await listServiceStatus();
      // Network conditions on each service's cluster (multinode net …), shown beside the service.
      const net = await conditionsOf(
        [...new Set(rows.map((r) => r.state.cluster))].filter((c) => !c.startsWith('(')),
      );
      const sets = await replicaSetRows();
      const setOf = new Map(sets.flatMap(({ set }) => set.members.map((m) => [m.name, set.name] as const)));
      if (opts.output === 'json') {
        printJson([
          ...rows.map((r) => ({
            ...serviceStatusJson(r),
            ...(setOf.has(r.state.name) ? { replicaOf: setOf.get(r.state.name) } : {}),
            netConditions: net.get(r.state.cluster) ?? [],
          })),
          ...sets.map(({ set, rotation, controller }) => ({
            name: set.name,
            kind: 'replica-set',
            cluster: set.cluster,
            file: set.file,
            replicas: set.replicas,
            members: set.members,
            inRotation: rotation,
            endpoints: set.endpoints,
            controller: { pid: set.controllerPid, alive: controller },
            ...(set.rollout ? { rollout: set.rollout } : {}),
          })),
        ]);
        return;
      }
      if (rows.length === 0 && sets.length === 0) {
        console.log('no services (start one with `multinode up FILE`)');
        return;
      }
      const out = [
        [
          'SERVICE',
          'CLUSTER',
          'STATUS',
          'RANKS',
          'NETWORK',
          'ENDPOINTS',
          'READINESS',
          'PLACE/NET/SPAWN/READY ms',
        ],
      ];
      for (const { state: s, supervisorAlive: sup, ranks } of rows) {
        const alive = ranks.filter((r) => r.alive).length;
        let status: string = s.status;
        if (!sup && LIVE_STATUSES.includes(s.status))
          status = `${s.status} (supervisor gone: killed or crashed; \`multinode down ${s.name}\` cleans up, \`up\` replaces it)`;
        else if (s.status === 'ready' && s.group && !s.group.ready) status = 'running (group not ready)';
        const eps = s.endpoints.map(
          (e) => `${e.hostAddress}:${e.hostPort}→${e.name}${e.published ? '' : ' (withdrawn)'}`,
        );
        const t = (k: string) => (s.timings[k] === undefined ? '-' : String(s.timings[k]));
        out.push([
          s.name,
          s.cluster,
          status,
          `${alive}/${ranks.length} running`,
          s.plan.network.mode === 'overlay'
            ? `overlay ${s.plan.network.subnet} vni ${s.plan.network.vni ?? '-'}`
            : 'host',
          eps.join(',') || '-',
          s.probe.status === 'none' ? '-' : `${s.probe.status}${s.probe.last ? ` (${s.probe.last})` : ''}`,
          `${t('place')}/${t('network')}/${t('spawn')}/${t('ready')}`,
        ]);
      }
      if (rows.length > 0) console.log(table(out));
      if (sets.length > 0) {
        const rs = [['SERVICE', 'REPLICAS', 'READY', 'ENDPOINTS', 'MEMBERS', 'ROLLOUT']];
        for (const { set, rotation, controller } of sets)
          rs.push([
            set.name,
            `${set.members.filter((m) => m.state === 'active').length}/${set.replicas}`,
            `${rotation.length}${controller ? '' : ' (endpoint controller gone)'}`,
            set.endpoints.map((e) => `${e.hostAddress}:${e.hostPort}→${e.name}`).join(',') || '-',
            set.members.map((m) => `${m.name}${m.state === 'draining' ? ' (draining)' : ''}`).join(', ') ||
              '-',
            set.rollout ? `${set.rollout.status}` : '-',
          ]);
        console.log(table(rs));
      }
      for (const { state: s, ranks } of rows) {
        const f = s.failover;
        console.log(
          `${s.name}: restart ${s.plan.restart.policy}, ${f?.ledger.restartsAfterStart ?? 0}/${s.plan.restart.maxRestarts} restarts after start, ${f?.ledger.restartsBeforeStart ?? 0}/${s.plan.restart.maxStartupRestarts} before${f ? `, cluster.json v${f.clusterVersion}` : ''}`,
        );
        for (const c of net.get(s.cluster) ?? [])
          console.log(`  ${paint('yellow', 'net', process.stdout)} ${describeCondition(c)}`);
        for (const m of s.group?.missing ?? [])
          console.log(
            `  ${paint('yellow', 'missing', process.stdout)} rank ${m.rank} since ${m.since} (${m.why})`,
          );
        for (const h of (f?.history ?? []).slice(-5)) {
          const ph = Object.entries(h.timings)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ');
          console.log(
            `  ${h.at} ${h.trigger} → ${h.action} [${h.ranks.join(',')}] (${ph} ms)${h.moved && h.moved.length > 0 ? ` ports ${h.moved.join(', ')}` : ''}`,
          );
        }
        for (const r of ranks) {
          const st = r.alive
            ? paint('green', 'running', process.stdout)
            : r.status === 'exited'
              ? 'exited 0'
              : r.status === 'failed'
                ? paint('red', `failed ${r.exitCode ?? r.signal ?? ''}`, process.stdout)
                : r.status;
          console.log(
            `  ${r.hostname.padEnd(16)} ${r.node.padEnd(10)} ${r.address.padEnd(15)} pid ${String(r.pid ?? '-').padEnd(8)} ${st}${r.restarts ? ` (restarted ${r.restarts}×)` : ''}${!r.alive && r.missingSince ? ` missing since ${r.missingSince}` : ''}`,
          );
        }
        if (s.message) console.log(`  ${paint('red', 'error:', process.stdout)} ${s.message}`);
      }
    });
}
