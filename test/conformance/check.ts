/**
 * What a run of a scenario produced (`Observation`), and the checks every target must pass, compared by
 * structure: host names are whatever the target calls its nodes, so a check asks `hostname` ∈ host list,
 * MASTER_ADDR = the leader's host name, every listed name resolves, counts and distinct ranks — never a
 * literal name or address.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ManifestObject } from '../../src/targets/kubernetes/index.js';
import type { ServiceRecord } from './drive.js';
import type { Scenario } from './scenarios.js';

export interface ProbeRecord {
  readonly tag: string;
  readonly hostname: string;
  readonly env: Readonly<Record<string, string>>;
  readonly resolves: Readonly<Record<string, boolean>>;
  readonly bind?: Readonly<Record<string, boolean>>;
  readonly torch?: { readonly world: number; readonly sum: readonly number[] };
}

export interface StandinRecord {
  readonly prog: string;
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly hostname: string;
  readonly reached?: boolean;
}

export interface Observation {
  readonly exitCode: number;
  /** Rank 0's (or the job's) output, for MPI programs. */
  readonly output: string;
  readonly probes: readonly ProbeRecord[];
  readonly standins: readonly StandinRecord[];
  /** The service's own record when it ended (`ps -o json`; local runner, restart scenarios). */
  readonly service?: ServiceRecord;
  /** What `uses.py front` wrote (`uses-front.out`), when it ran. */
  readonly usesOutcome?: string;
  /** The first attempt's TF_CONFIG of rank 0 (`tf-first.json`), in a failover scenario. */
  readonly tfFirst?: string;
}

export function readRecords(out: string): {
  probes: ProbeRecord[];
  standins: StandinRecord[];
  usesOutcome?: string;
  tfFirst?: string;
} {
  const files = existsSync(out) ? readdirSync(out).filter((f) => f.endsWith('.json')) : [];
  const read = <T>(f: string): T => JSON.parse(readFileSync(join(out, f), 'utf8')) as T;
  const uses = join(out, 'uses-front.out');
  const tf = join(out, 'tf-first.json');
  return {
    ...(existsSync(tf) ? { tfFirst: readFileSync(tf, 'utf8') } : {}),
    ...(existsSync(uses) ? { usesOutcome: readFileSync(uses, 'utf8') } : {}),
    probes: files.filter((f) => f.startsWith('probe-')).map((f) => read<ProbeRecord>(f)),
    standins: files.filter((f) => !f.startsWith('probe-')).map((f) => read<StandinRecord>(f)),
  };
}

export interface Check {
  readonly name: string;
  readonly run: () => void;
}

const list = (v: string | undefined): string[] => (v ?? '').split(',').filter((x) => x !== '');

/** The named checks of a scenario on one observation. */
export function checksFor(s: Scenario, o: Observation): Check[] {
  const e = s.expect;
  const checks: Check[] = [
    {
      name: 'exit-code',
      run: () => assert.equal(o.exitCode, e.exitCode, `exit code\n${o.output.slice(-3000)}`),
    },
  ];
  if (e.probes !== undefined) {
    const tag = e.probeTag ?? 'rank';
    const recs = o.probes.filter((p) => p.tag === tag);
    const want = e.probes === 'leader' ? 1 : s.nodes;
    const rankOf = (p: ProbeRecord): number => Number(p.env['MULTINODE_NODE_RANK']);
    checks.push(
      {
        name: 'records',
        run: () => assert.equal(recs.length, want, `probe records (${tag}): ${JSON.stringify(o.probes)}`),
      },
      {
        name: 'ranks',
        run: () => {
          const ranks = recs.map(rankOf).sort((a, b) => a - b);
          const expected = e.probes === 'leader' ? [0] : Array.from({ length: s.nodes }, (_, i) => i);
          assert.deepEqual(ranks, expected, 'each rank once');
          for (const p of recs) assert.equal(p.env['MULTINODE_NUM_NODES'], String(s.nodes));
        },
      },
      {
        name: 'host-list',
        run: () => {
          const lists = new Set(recs.map((p) => p.env['MULTINODE_HOSTLIST_NOSLOTS']));
          assert.equal(lists.size, 1, 'every rank sees the same host list');
          for (const p of recs) {
            const hosts = list(p.env['MULTINODE_HOSTLIST_NOSLOTS']);
            assert.equal(hosts.length, s.nodes);
            assert.equal(new Set(hosts).size, s.nodes, 'distinct hosts');
            assert.equal(p.env['MULTINODE_LEADER_HOST'], hosts[0], 'leader host = first host');
            assert.equal(p.env['MULTINODE_NODE_HOSTNAME'], hosts[rankOf(p)], 'own name = host list[rank]');
          }
        },
      },
      {
        name: 'hostname',
        run: () => {
          for (const p of recs) {
            const hosts = list(p.env['MULTINODE_HOSTLIST_NOSLOTS']);
            assert.ok(hosts.includes(p.hostname), `hostname ${p.hostname} ∈ ${hosts.join(',')}`);
            assert.equal(p.hostname, hosts[rankOf(p)], 'hostname = host list[rank]');
          }
        },
      },
      {
        name: 'resolves',
        run: () => {
          for (const p of recs) {
            const hosts = list(p.env['MULTINODE_HOSTLIST_NOSLOTS']);
            assert.deepEqual(
              hosts.filter((h) => p.resolves[h] !== true),
              [],
              `names that do not resolve on ${p.hostname}`,
            );
          }
        },
      },
      {
        name: 'distributed-env',
        run: () => {
          for (const p of recs) {
            assert.equal(p.env['RANK'], undefined, 'RANK is never preset');
            assert.equal(p.env['WORLD_SIZE'], undefined, 'WORLD_SIZE is never preset');
            if (s.nodes < 2) continue;
            const hosts = list(p.env['MULTINODE_HOSTLIST_NOSLOTS']);
            assert.equal(p.env['MASTER_ADDR'], hosts[0], 'MASTER_ADDR = the leader host name');
            assert.match(p.env['MASTER_PORT'] ?? '', /^\d+$/);
            if (p.env['MULTINODE_ROLES'] !== undefined) continue; // checked by `roles`
            const tf = JSON.parse(p.env['TF_CONFIG'] ?? '{}') as {
              cluster?: { worker?: string[] };
              task?: { index?: number };
            };
            const workers = tf.cluster?.worker ?? [];
            assert.deepEqual(
              workers.map((w) => w.slice(0, w.lastIndexOf(':'))),
              hosts,
              'TF_CONFIG workers = the host list, in rank order',
            );
            assert.equal(tf.task?.index, rankOf(p));
          }
          assert.equal(new Set(recs.map((p) => p.env['MASTER_PORT'])).size, 1, 'one MASTER_PORT');
        },
      },
    );
    if (e.roles) checks.push(...roleChecks(e.roles, recs, rankOf));
    if (e.dstack)
      checks.push({
        name: 'dstack-env',
        run: () => {
          for (const p of recs) {
            assert.equal(p.env['DSTACK_NODE_RANK'], String(rankOf(p)));
            assert.equal(p.env['DSTACK_NODES_NUM'], String(s.nodes));
            assert.equal(p.env['DSTACK_MASTER_NODE_IP'], p.env['MULTINODE_LEADER_IP'], 'master = the leader');
            const ips = (p.env['DSTACK_NODES_IPS'] ?? '').split('\n');
            assert.equal(ips.length, s.nodes, 'one address per node, newline-separated');
            assert.equal(ips[0], p.env['MULTINODE_LEADER_IP']);
            assert.equal(ips[rankOf(p)], p.env['MULTINODE_NODE_IP'], 'own address at own rank');
            assert.equal(p.env['DSTACK_MPI_HOSTFILE'], p.env['MULTINODE_HOSTFILE']);
          }
        },
      });
    if (e.bindable)
      checks.push({
        name: 'ports',
        run: () => {
          for (const p of recs) {
            const ports = Object.keys(p.env).filter((k) => k.startsWith('MULTINODE_PORT_'));
            assert.ok(ports.length >= 2, `ports in env: ${ports.join(',')}`);
            assert.deepEqual(p.bind, Object.fromEntries(ports.map((k) => [k, true])), 'each port is free');
          }
        },
      });
    if (e.torch)
      checks.push({
        name: 'torch',
        run: () => {
          const sum = Array.from({ length: 4 }, () => (s.nodes * (s.nodes + 1)) / 2);
          for (const p of recs) assert.deepEqual(p.torch, { world: s.nodes, sum });
        },
      });
  }
  if (e.mpi !== undefined) {
    const { np, hosts } = e.mpi;
    checks.push({
      name: 'mpi',
      run: () => {
        const n = (np * (np + 1)) / 2;
        assert.match(o.output, new RegExp(`RESULT ok sum=${n} ranks=${np}\\b`), o.output.slice(-3000));
        const seen = [...o.output.matchAll(/RANK (\d+) HOST (\S+)/g)];
        assert.equal(new Set(seen.map((m) => m[1])).size, np, 'every MPI rank reported');
        assert.equal(new Set(seen.map((m) => m[2])).size, hosts, 'distinct hosts');
      },
    });
  }
  if (e.restart !== undefined) {
    const { rank, exitCode, restarts } = e.restart;
    checks.push({
      name: 'restart-record',
      run: () => {
        const rec = o.service;
        assert.ok(rec, 'the runner recorded the service (`ps -o json`) before removing it');
        assert.equal(rec.status, 'completed', `service status; message: ${rec.message ?? '-'}`);
        assert.deepEqual(
          rec.ranks.map((r) => [r.rank, r.status, r.restarts]),
          rec.ranks.map((r) => [r.rank, 'exited', r.rank === rank ? restarts : 0]),
          `only rank ${rank} restarted, ${restarts}×; every rank exited 0`,
        );
        assert.equal(
          (rec.restart.restartsBeforeStart ?? 0) + (rec.restart.restartsAfterStart ?? 0),
          restarts,
          'restarts spent from the budget',
        );
        assert.deepEqual(
          (rec.restart.history ?? []).map((h) => ({ trigger: h.trigger, action: h.action, ranks: h.ranks })),
          Array.from({ length: restarts }, () => ({
            trigger: `rank ${rank} exited with code ${exitCode}`,
            action: 'restart-rank',
            ranks: [rank],
          })),
          'restart history',
        );
      },
    });
  }
  if (e.uses !== undefined) checks.push(...usesChecks(e.uses, o));
  if (e.tfFailover === true) checks.push(tfFailoverCheck(o));
  if (e.standins !== undefined) {
    const { progs, hosts } = e.standins;
    checks.push({
      name: 'standins',
      run: () => {
        const recs = o.standins.filter((r) => progs.includes(r.prog));
        const names = new Set(recs.map((r) => r.hostname));
        assert.equal(names.size, hosts, `stand-ins ran on ${[...names].join(',')}`);
        for (const r of recs) {
          const list_ = list(r.env['MULTINODE_HOSTLIST_NOSLOTS']);
          assert.ok(list_.includes(r.hostname), `${r.prog} on ${r.hostname} ∈ ${list_.join(',')}`);
        }
        assert.ok(
          o.standins.every((r) => r.reached !== false),
          'every worker reached its head',
        );
      },
    });
  }
  return checks;
}

interface TfConfig {
  readonly cluster: Readonly<Record<string, readonly string[]>>;
  readonly task: { readonly type: string; readonly index: number };
}

/**
 * Seed 001's failover: the first parameter server's port moved (it is not the one its first attempt saw),
 * and every rank's TF_CONFIG after the failover names the same cluster — the workers' included.
 */
function tfFailoverCheck(o: Observation): Check {
  return {
    name: 'tf-failover',
    run: () => {
      assert.ok(o.tfFirst !== undefined, 'the first attempt wrote its TF_CONFIG');
      const first = JSON.parse(o.tfFirst) as TfConfig;
      const after = o.probes.map((p) => JSON.parse(p.env['TF_CONFIG'] ?? '{}') as TfConfig);
      assert.ok(after.length > 0, 'records after the failover');
      const ps0 = (c: TfConfig): string => c.cluster['ps']?.[0] ?? '';
      const port = (hp: string): string => hp.slice(hp.lastIndexOf(':') + 1);
      assert.notEqual(port(ps0(after[0] as TfConfig)), port(ps0(first)), `ps 0 moved from ${ps0(first)}`);
      for (const c of after)
        assert.deepEqual(c.cluster, (after[0] as TfConfig).cluster, 'every rank sees the same TF cluster');
      assert.ok(
        after.some((c) => c.task.type === 'worker'),
        'a worker recorded its TF_CONFIG after the failover',
      );
    },
  };
}

interface UsesOutcome {
  readonly reached: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly blocked: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly env: Readonly<Record<string, string>>;
}

/**
 * Services that use each other: every used leader answered the frontend at the address and port its
 * environment named (the answer names the service and rank 0); nothing listed as blocked answered.
 */
function usesChecks(want: NonNullable<Scenario['expect']['uses']>, o: Observation): Check[] {
  const read = (): UsesOutcome => {
    assert.ok(o.usesOutcome !== undefined, `the frontend wrote no outcome\n${o.output.slice(-3000)}`);
    return JSON.parse(o.usesOutcome) as UsesOutcome;
  };
  return [
    {
      name: 'uses-reached',
      run: () => {
        const r = read();
        for (const u of want.reached) {
          const svc = u.split(':')[0] ?? '';
          const got = r.reached[u];
          assert.ok(got && got['error'] === undefined, `${u} answered: ${JSON.stringify(r)}`);
          assert.equal(got['rank'], '0', `${u} answered from its leader`);
          assert.ok(svc.endsWith(String(got['service'])), `${u} answered as ${String(got['service'])}`);
        }
      },
    },
    {
      name: 'uses-blocked',
      run: () => {
        const r = read();
        for (const b of want.blocked) {
          const got = r.blocked[b];
          assert.ok(got, `${b} was tried: ${JSON.stringify(r)}`);
          assert.ok(got['error'] !== undefined, `${b} must not answer: ${JSON.stringify(got)}`);
        }
      },
    },
  ];
}

type Json = Record<string, unknown>;

/**
 * Services that use each other, rendered for Kubernetes (no API server or pod network here): the using
 * service's pods wait in an init container for each used leader's ready-only Service; a NetworkPolicy admits
 * the using pods to exactly the reached ports of each used leader; blocked ports are in no such policy; the
 * environment names each used leader's per-rank Service.
 */
function usesRenderChecks(
  want: NonNullable<Scenario['expect']['uses']>,
  objects: readonly ManifestObject[],
): Check[] {
  const used = [...new Set(want.reached.map((u) => u.split(':')[0] ?? ''))];
  const named = (kind: string, name: string): Json | undefined =>
    objects.find((o) => o.kind === kind && o.metadata.name === name);
  const podSpecs = (o: ManifestObject): Json[] => {
    const out: Json[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v !== null && typeof v === 'object') {
        const j = v as Json;
        if (Array.isArray(j['containers'])) out.push(j);
        else Object.values(j).forEach(walk);
      }
    };
    walk(o['spec']);
    return out;
  };
  return [
    {
      name: 'uses-render-ready-services',
      run: () => {
        for (const u of used) {
          const svc = named('Service', `${u}-ready`);
          assert.ok(svc, `Service ${u}-ready rendered`);
          const spec = svc['spec'] as Json;
          assert.equal(spec['publishNotReadyAddresses'], false, 'ready addresses only');
          assert.deepEqual(
            (spec['selector'] as Json)['multinode.dev/rank'],
            '0',
            `${u}-ready selects the leader`,
          );
        }
      },
    },
    {
      name: 'uses-render-init-container',
      run: () => {
        const users = objects.filter((o) =>
          podSpecs(o).some((p) => JSON.stringify(p['initContainers'] ?? []).includes('wait-uses')),
        );
        assert.ok(users.length > 0, 'a workload waits for the services it uses');
        for (const o of users)
          for (const p of podSpecs(o)) {
            const init = JSON.stringify(p['initContainers'] ?? []);
            for (const u of used) assert.ok(init.includes(`${u}-ready`), `${o.metadata.name} waits for ${u}`);
            const env = JSON.stringify(p['containers']);
            for (const u of used)
              assert.ok(
                env.includes(`"value":"${u}-0"`),
                `${o.metadata.name}: MULTINODE_USES_* names ${u}-0 (its leader's Service)`,
              );
          }
      },
    },
    {
      name: 'uses-render-network-policy',
      run: () => {
        // The ports the user's environment names for each used service are exactly what its policy admits.
        const env = new Map<string, string>();
        for (const o of objects)
          for (const p of podSpecs(o))
            for (const c of (p['containers'] ?? []) as Json[])
              for (const e of (c['env'] ?? []) as Json[])
                if (typeof e['value'] === 'string') env.set(String(e['name']), e['value']);
        const policies = objects.filter(
          (o) => o.kind === 'NetworkPolicy' && o.metadata.name.includes('-uses-'),
        );
        const admitted = (svc: string): string[] =>
          policies
            .filter((x) => JSON.stringify((x['spec'] as Json)['podSelector']).includes(`"${svc}"`))
            .flatMap((x) =>
              ((x['spec'] as Json)['ingress'] as Json[]).flatMap((i) => (i['ports'] ?? []) as Json[]),
            )
            .map((q) => String(q['port']))
            .sort();
        for (const u of used) {
          const pre = `MULTINODE_USES_${u.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_PORT_`;
          const ports = [...env]
            .filter(([k]) => k.startsWith(pre))
            .map(([, v]) => v)
            .sort();
          assert.ok(ports.length > 0, `${pre}* in the environment`);
          assert.deepEqual(admitted(u), ports, `the policy for ${u} admits exactly its used ports`);
        }
        for (const b of want.blocked) {
          const svc = b.split(':')[0] ?? '';
          if (!used.includes(svc))
            assert.deepEqual(admitted(svc), [], `${svc} is used by no one: no policy admits anyone`);
        }
      },
    },
  ];
}

/**
 * Checks of the rendered Kubernetes objects alone, for what only a kubelet and the Job controller would
 * carry out (a pod's restarts): a scenario with `expect.restart` must render as a JobSet whose Jobs restart
 * a failed container in place (`OnFailure`) with `backoffLimit` = the restart budget.
 */
export function renderChecksFor(s: Scenario, objects: readonly ManifestObject[]): Check[] {
  if (s.expect.uses !== undefined) return usesRenderChecks(s.expect.uses, objects);
  const r = s.expect.restart;
  if (r === undefined) return [];
  return [
    {
      name: 'restart-render',
      run: () => {
        const sets = objects.filter((o) => o.kind === 'JobSet');
        assert.deepEqual(
          sets.map((o) => o.metadata.name),
          [s.name],
          `one JobSet; kinds rendered: ${objects.map((o) => o.kind).join(',')}`,
        );
        const jobs = ((sets[0]?.['spec'] as Json)['replicatedJobs'] ?? []) as Json[];
        const want = s.nodes > 1 ? ['leader', 'worker'] : ['leader'];
        assert.deepEqual(
          jobs.map((j) => j['name']),
          want,
          'replicated jobs',
        );
        for (const j of jobs) {
          const job = (j['template'] as Json)['spec'] as Json;
          const pod = (job['template'] as Json)['spec'] as Json;
          assert.equal(job['backoffLimit'], r.maxRestarts, `${String(j['name'])} Job backoffLimit`);
          assert.equal(pod['restartPolicy'], 'OnFailure', `${String(j['name'])} pod restartPolicy`);
        }
      },
    },
  ];
}

/**
 * Roles (docs/guides/roles-and-dependencies.md): ranks numbered across roles in declaration order; each rank's
 * role and index; TF_CONFIG lists every role (host names = the host list cut by role, real ports that the
 * rank could bind in host mode) with the rank's own task; Backend.AI reports the real roles when asked.
 */
function roleChecks(
  roles: readonly { readonly name: string; readonly nodes: number }[],
  recs: readonly ProbeRecord[],
  rankOf: (p: ProbeRecord) => number,
): Check[] {
  const roleOf = (rank: number): { name: string; index: number } => {
    let first = 0;
    for (const r of roles) {
      if (rank < first + r.nodes) return { name: r.name, index: rank - first };
      first += r.nodes;
    }
    return { name: '?', index: -1 };
  };
  return [
    {
      name: 'roles',
      run: () => {
        for (const p of recs) {
          const want = roleOf(rankOf(p));
          assert.equal(p.env['MULTINODE_ROLE'], want.name, `role of rank ${rankOf(p)}`);
          assert.equal(p.env['MULTINODE_ROLE_INDEX'], String(want.index));
          assert.equal(p.env['MULTINODE_ROLES'], roles.map((r) => `${r.name}:${r.nodes}`).join(','));
        }
      },
    },
    {
      name: 'tf-config-roles',
      run: () => {
        for (const p of recs) {
          const hosts = list(p.env['MULTINODE_HOSTLIST_NOSLOTS']);
          const tf = JSON.parse(p.env['TF_CONFIG'] ?? '{}') as {
            cluster?: Record<string, string[]>;
            task?: { type?: string; index?: number };
          };
          assert.deepEqual(
            Object.keys(tf.cluster ?? {}),
            roles.map((r) => r.name),
            'every role, in order',
          );
          const members = roles.flatMap((r) => tf.cluster?.[r.name] ?? []);
          assert.deepEqual(
            members.map((m) => m.slice(0, m.lastIndexOf(':'))),
            hosts,
            'TF_CONFIG roles = the host list cut by role',
          );
          for (const m of members) assert.match(m, /:\d+$/);
          const want = roleOf(rankOf(p));
          assert.deepEqual(tf.task, { type: want.name, index: want.index });
        }
        const all = new Set(recs.map((p) => p.env['TF_CONFIG']?.replace(/"task":.*$/, '')));
        assert.equal(all.size, 1, 'every rank sees the same cluster');
      },
    },
    {
      name: 'backendai-roles',
      run: () => {
        for (const p of recs) {
          if (p.env['BACKENDAI_CLUSTER_SIZE'] === undefined) continue;
          const want = roleOf(rankOf(p));
          assert.equal(p.env['BACKENDAI_CLUSTER_ROLE'], want.name);
          assert.equal(p.env['BACKENDAI_CLUSTER_IDX'], String(want.index + 1));
          assert.equal(
            p.env['BACKENDAI_CLUSTER_REPLICAS'],
            roles.map((r) => `${r.name}:${r.nodes}`).join(','),
          );
        }
      },
    },
  ];
}
