/**
 * The reconcile loop's decisions, pure: events in, state and actions out. The interpreter and the root
 * tests (test/root/failover-*) show the same decisions carried out on real processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSpec } from '../../../spec/index.js';
import { defaultPlanOptions, generateInventory, planSpec } from '../../../plan/index.js';
import { EMPTY_LEDGER } from '../../../plan/failover/policy.js';
import type { PlanOptions, ServicePlan } from '../../../api/plan.js';
import type { Spec } from '../../../api/spec.js';
import type { ServiceState } from '../service-state.js';
import type { Action } from './actions.js';
import type { LoopEvent } from './events.js';
import type { ReconcileState } from './state.js';
import { initialState } from './state.js';
import { RESTART_GRACE_MS, STARTED_AFTER_MS, STOP_GRACE_MS, hasPendingWork, step } from './step.js';

interface Opts {
  readonly nodes?: number;
  readonly restart?: string;
  readonly host?: boolean;
  readonly launch?: 'all' | 'leader';
  readonly probe?: boolean;
  /** `roles:` YAML lines (indented for a service key); the roles' nodes must add up to `nodes`. */
  readonly roles?: string;
}

function fixture(o: Opts = {}): { spec: Spec; plan: ServicePlan; options: PlanOptions } {
  const nodes = o.nodes ?? 2;
  const yaml = `version: v1
services:
  svc:
    script: |
      #!/bin/sh
      sleep 100
    multinode:
      nodes: ${nodes}
      launch: ${o.launch ?? 'all'}
${o.host ? '    network:\n      host: true\n' : ''}    ports:
      - name: http
        port: 8080
${o.host ? '        host-port: auto\n' : ''}${o.roles ?? ''}${o.probe ? '    readiness-probe:\n      tcp-socket:\n        port: 8080\n      period-seconds: 1\n' : ''}${o.restart ? `    restart: ${o.restart}\n` : ''}`;
  const r = parseSpec(yaml, 'svc.yaml');
  assert.ok(r.ok, JSON.stringify(r));
  const options = defaultPlanOptions({ target: 'local' });
  const p = planSpec(r.value, generateInventory({ nodes }), options);
  assert.ok(p.ok);
  const plan = p.plan.services[0];
  assert.ok(plan);
  return { spec: r.value, plan, options };
}

function start(o: Opts = {}, cluster = false): ReconcileState {
  const { spec, plan, options } = fixture(o);
  return initialState(
    {
      name: 'svc',
      restart: plan.restart,
      cluster,
      ssh: false,
      scriptRanks: plan.launch === 'all' ? plan.ranks.map((r) => r.rank) : [0],
      rank0Netns: '',
      spec,
      planOptions: options,
    },
    plan,
    { ledger: EMPTY_LEDGER, cooling: [], clusterVersion: 1, history: [] },
    [],
    0,
  );
}

type In = LoopEvent extends infer E ? (E extends unknown ? Omit<E, 'now'> : never) : never;

/** Actions that take time: a continuation after one is left for the test to step (at a later `now`). */
const takesTime = (a: Action) =>
  (a.kind === 'sleep' && a.ms > 0) ||
  a.kind === 'stopRanks' ||
  a.kind === 'probe' ||
  a.kind === 'observe' ||
  a.kind === 'readInventory';

/**
 * Steps events at `now`; continuations (`next`) are stepped in turn, like the interpreter does, until an
 * action that takes time.
 */
function run(s0: ReconcileState, now: number, ...events: In[]): { state: ReconcileState; actions: Action[] } {
  let s = s0;
  const all: Action[] = [];
  const pending: In[] = [...events];
  while (pending.length > 0) {
    const ev = pending.shift() as In;
    const r = step(s, { ...ev, now });
    s = r.state;
    let waiting = false;
    for (const a of r.actions) {
      all.push(a);
      if (takesTime(a)) waiting = true;
      if (a.kind === 'next' && !waiting) pending.unshift(a.event);
    }
  }
  return { state: s, actions: all };
}

/** Steps the continuation the last run left waiting. */
function resume(r: { state: ReconcileState; actions: readonly Action[] }, now: number) {
  const n = ofKind(r.actions, 'next').at(-1);
  assert.ok(n, 'a continuation is waiting');
  return run(r.state, now, n.event);
}

/** Every rank started and live (generations 1..n, pid 100+rank). */
function running(o: Opts = {}, cluster = false): ReconcileState {
  const s0 = start(o, cluster);
  const r = run(s0, 0, { kind: 'begin' });
  let s = r.state;
  for (const a of r.actions)
    if (a.kind === 'startRank')
      s = step(s, {
        kind: 'rank-started',
        rank: a.rank,
        gen: a.gen,
        pid: 100 + a.rank,
        startTime: `t${a.gen}`,
        exited: false,
        now: 0,
      }).state;
  return s;
}

const kinds = (actions: readonly Action[]) => actions.map((a) => a.kind);
const ofKind = <K extends Action['kind']>(actions: readonly Action[], k: K) =>
  actions.filter((a): a is Extract<Action, { kind: K }> => a.kind === k);

function exit(s: ReconcileState, rank: number, code: number | null, signal: string | null = null, at = 1000) {
  const l = s.live[rank];
  assert.ok(l, `rank ${rank} is live`);
  return step(s, {
    kind: 'rank-exited',
    rank,
    gen: l.gen,
    pid: l.pid,
    startTime: l.startTime,
    code,
    signal,
    at,
    now: at,
  });
}

function emptyRecord(plan: ServicePlan): ServiceState {
  return {
    name: 'svc',
    cluster: 'c',
    file: '/x.yaml',
    planHash: 'h',
    plan,
    createdAt: '',
    status: 'running',
    resources: [],
    ranks: plan.ranks.map((r) => ({
      rank: r.rank,
      node: r.node,
      hostname: r.hostname,
      address: r.address,
      netns: '',
      logFile: '',
      status: 'running' as const,
    })),
    endpoints: [],
    probe: { status: 'none', successes: 0, failures: 0 },
    timings: {},
  };
}

test('begin starts every rank once, each a new generation, then writes the start down', () => {
  const r = run(start(), 0, { kind: 'begin' });
  assert.deepEqual(
    ofKind(r.actions, 'startRank').map((a) => [a.rank, a.gen, a.restarted]),
    [
      [0, 1, false],
      [1, 2, false],
    ],
  );
  assert.deepEqual(kinds(r.actions).slice(2), ['next', 'save', 'phase', 'next']);
  assert.equal(r.state.activity.kind, 'idle');
});

test('an exit is recorded at once and acted on at the next turn (group leftovers reaped first)', () => {
  const s = running({ restart: '{policy: on-failure}' });
  const e = exit(s, 1, 3);
  assert.equal(e.state.live[1], undefined);
  assert.equal(e.state.seen.length, 1);
  assert.equal(e.state.missingSince[1], 1000);
  assert.deepEqual(kinds(e.actions), ['emit', 'saveDetached']);
  const rec = emptyRecord(s.plan);
  const detached = ofKind(e.actions, 'saveDetached')[0];
  detached?.apply(rec);
  assert.equal(rec.ranks[1]?.status, 'failed');
  assert.equal(rec.ranks[1]?.exitCode, 3);
  assert.ok(hasPendingWork(e.state));
  const t = step(e.state, { kind: 'turn', now: 1010 });
  assert.deepEqual(kinds(t.actions), ['reap', 'next']);
  assert.equal(t.state.seen.length, 0);
});

test('on-failure: the failed rank alone restarts after its backoff, the other keeps running', () => {
  const s = running({ restart: '{policy: on-failure, backoff-seconds: 1}' });
  const e = exit(s, 1, 3);
  const t = run(e.state, 1100, { kind: 'turn' });
  assert.deepEqual(kinds(t.actions), ['reap', 'next', 'emit', 'save', 'sleep', 'next']);
  assert.equal(ofKind(t.actions, 'sleep')[0]?.ms, 1000);
  assert.equal(t.state.activity.kind, 'restart');
  const restartEmit = ofKind(t.actions, 'emit')[0]?.event;
  assert.deepEqual(restartEmit && restartEmit.kind === 'restart' ? restartEmit.ranks : [], [1]);
  // Backoff over: no cluster here, so the files are re-published with a new version and rank 1 starts.
  const b = run(t.state, 2100, { kind: 'backoff-done' });
  assert.deepEqual(kinds(b.actions), ['writePlanFiles', 'next', 'ensureSshds', 'startRank', 'next', 'save']);
  assert.equal(ofKind(b.actions, 'writePlanFiles')[0]?.version, 2);
  const sr = ofKind(b.actions, 'startRank')[0];
  assert.deepEqual([sr?.rank, sr?.gen, sr?.restarted], [1, 3, true]);
  assert.equal(b.state.activity.kind, 'idle');
  assert.ok(b.state.live[0], 'rank 0 untouched');
  assert.equal(ofKind(b.actions, 'stopRanks').length, 0);
  const h = b.state.failover.history.at(-1);
  assert.equal(h?.action, 'restart-rank');
  assert.equal(h?.timings['detect'], 100);
  assert.equal(h?.timings['backoff'], 1000);
  assert.equal(b.state.failover.ledger.restartsBeforeStart, 1);
});

test('recreate-group: every rank is stopped on purpose, their exits ignored, the group starts again', () => {
  const s = running({ restart: '{policy: recreate-group, backoff-seconds: 2}' });
  const e = exit(s, 1, null, 'SIGKILL');
  const t = run(e.state, 1000, { kind: 'turn' });
  const stop = ofKind(t.actions, 'stopRanks')[0];
  assert.deepEqual(
    stop?.ranks.map((r) => r.rank),
    [0],
  );
  assert.equal(stop?.graceMs, RESTART_GRACE_MS);
  // Rank 0 ends because it was told to: not a failure, nothing queued.
  const l0 = t.state.live[0];
  assert.ok(l0);
  const ex0 = step(t.state, {
    kind: 'rank-exited',
    rank: 0,
    gen: l0.gen,
    pid: l0.pid,
    startTime: l0.startTime,
    code: null,
    signal: 'SIGTERM',
    at: 1200,
    now: 1200,
  });
  assert.equal(ex0.state.seen.length, 0);
  assert.deepEqual(ex0.actions, []);
  const g = run(ex0.state, 1300, { kind: 'group-stopped' });
  assert.deepEqual(
    g.actions.map((a) => (a.kind === 'sleep' ? a.ms : a.kind)),
    [2000, 'next'],
  );
  const b = run(g.state, 3300, { kind: 'backoff-done' });
  assert.deepEqual(
    ofKind(b.actions, 'startRank').map((a) => [a.rank, a.restarted]),
    [
      [0, true],
      [1, true],
    ],
  );
  assert.ok(b.state.minGen > l0.gen, 'exits of the old generation are stale');
  assert.equal(b.state.failover.history.at(-1)?.timings['stop'], 300);
});

test('gives up once the startup budget is spent: failure, then the finish stops everything', () => {
  let s = running({ restart: '{policy: on-failure, max-startup-restarts: 1, backoff-seconds: 0}' });
  // First failure: restarted.
  s = exit(s, 1, 3).state;
  let r = run(s, 1000, { kind: 'turn' });
  assert.equal(r.state.failure, undefined);
  const again = ofKind(r.actions, 'startRank')[0];
  assert.ok(again);
  s = step(r.state, {
    kind: 'rank-started',
    rank: 1,
    gen: again.gen,
    pid: 201,
    startTime: 'x',
    exited: false,
    now: 1000,
  }).state;
  // Second failure: budget spent.
  s = exit(s, 1, 4, null, 2000).state;
  r = run(s, 2000, { kind: 'turn' });
  assert.deepEqual(r.state.failure, {
    code: 4,
    why: 'rank 1 exited with code 4; max-startup-restarts (1) spent',
  });
  assert.ok(hasPendingWork(r.state));
  const f = run(r.state, 2010, { kind: 'turn' });
  assert.deepEqual(kinds(f.actions), ['stopRanks', 'stopRecorded', 'next']);
  assert.equal(ofKind(f.actions, 'stopRanks')[0]?.graceMs, RESTART_GRACE_MS);
  assert.equal(f.state.supervising, false);
  assert.deepEqual(resume(f, 2500).state.finished, { stopped: false, code: 4 });
});

test('never: the first failure ends the service with the rank status (128 + signal when killed)', () => {
  const s = running({ restart: '{policy: never}' });
  const r = run(exit(s, 0, null, 'SIGKILL').state, 1000, { kind: 'turn' });
  assert.equal(r.state.failure?.code, 137);
});

test("roles: each rank restarts under its own role's policy, not the service's", () => {
  const roles =
    '    roles:\n      - { name: ps, nodes: 1, restart: { policy: never } }\n' +
    '      - { name: worker, nodes: 1, restart: { policy: on-failure, backoff-seconds: 1 } }\n';
  const s = running({ restart: '{policy: recreate-group}', roles });
  assert.deepEqual(
    s.plan.roles?.map((r) => [r.name, r.restart.policy]),
    [
      ['ps', 'never'],
      ['worker', 'on-failure'],
    ],
  );
  // The worker (rank 1) fails: it alone restarts (on-failure), though the service says recreate-group.
  const w = run(exit(s, 1, 3).state, 1000, { kind: 'turn' });
  assert.equal(w.state.failure, undefined);
  assert.equal(w.state.activity.kind, 'restart');
  assert.equal(w.state.failover.history.at(-1)?.action, 'restart-rank');
  // The parameter server (rank 0) fails: never — the service fails with its status.
  const p = run(exit(s, 0, 3).state, 1000, { kind: 'turn' });
  assert.equal(p.state.failure?.code, 3);
  assert.match(p.state.failure?.why ?? '', /restart policy is never/);
});

test('exit-code: 1–127 is permanent, a signal is retried', () => {
  const s = running({ restart: '{policy: exit-code}' });
  assert.ok(run(exit(s, 1, 2).state, 1000, { kind: 'turn' }).state.failure);
  const k = run(exit(s, 1, null, 'SIGTERM').state, 1000, { kind: 'turn' });
  assert.equal(k.state.failure, undefined);
  assert.equal(k.state.activity.kind, 'restart');
});

test('exit 0 of every script rank completes the service; an exit 0 is never restarted', () => {
  let s = running({ launch: 'all' });
  s = run(exit(s, 1, 0).state, 1000, { kind: 'turn' }).state;
  assert.deepEqual(s.done, [1]);
  assert.equal(s.missingSince[1], undefined);
  assert.ok(!hasPendingWork(s));
  s = run(exit(s, 0, 0).state, 1100, { kind: 'turn' }).state;
  assert.ok(hasPendingWork(s));
  const f = run(s, 1200, { kind: 'turn' });
  assert.deepEqual(resume(f, 1300).state.finished, { stopped: false, code: 0 });
});

test('host ports: a restarted rank gets new ones, the running rank keeps its own, files and record follow', () => {
  const s = running({ host: true, restart: '{policy: on-failure, backoff-seconds: 0}' }, true);
  const oldPort = (p: ServicePlan, r: number) => p.ranks[r]?.ports.find((x) => x.name === 'http')?.hostPort;
  const before1 = oldPort(s.plan, 1);
  const t = run(exit(s, 1, 3).state, 1000, { kind: 'turn' });
  assert.deepEqual(kinds(t.actions).slice(-1), ['readInventory']);
  assert.equal(t.state.activity.kind, 'replan');
  assert.ok(
    t.state.failover.cooling.some((c) => c.port === before1),
    'the old port cools down',
  );
  const r = run(t.state, 1010, { kind: 'inventory', inventory: generateInventory({ nodes: 2 }) });
  assert.notEqual(oldPort(r.state.plan, 1), before1);
  assert.equal(oldPort(r.state.plan, 0), oldPort(s.plan, 0));
  const files = ofKind(r.actions, 'writePlanFiles')[0];
  assert.equal(files?.version, 2);
  assert.equal(files?.plan, r.state.plan);
  const rec = emptyRecord(s.plan);
  ofKind(r.actions, 'save')
    .find((a) => a.what === 'new plan')
    ?.apply(rec);
  assert.equal(rec.plan, r.state.plan);
  const note = ofKind(r.actions, 'emit').find((a) => a.event.kind === 'note');
  assert.match(note?.event.kind === 'note' ? note.event.message : '', /new host ports: 1\/http/);
  const moved = r.state.failover.history.at(-1)?.moved ?? [];
  assert.ok(moved.some((m) => m.startsWith('1/http')));
  assert.equal(ofKind(r.actions, 'startRank')[0]?.rank, 1);
});

test('escalation: a re-plan that would move a running rank recreates the whole group instead', () => {
  const s0 = running({ host: true, restart: '{policy: on-failure, backoff-seconds: 0}' }, true);
  // Rank 0 runs on a port the planner would not pick again: keeping it is impossible.
  const r0 = s0.plan.ranks[0];
  assert.ok(r0);
  const odd: ServicePlan = {
    ...s0.plan,
    ranks: [
      { ...r0, ports: r0.ports.map((p) => ({ ...p, hostPort: p.hostPort + 7 })) },
      ...s0.plan.ranks.slice(1),
    ],
  };
  const s = { ...s0, plan: odd };
  const t = run(exit(s, 1, 3).state, 1000, { kind: 'turn' });
  const r = run(t.state, 1010, { kind: 'inventory', inventory: generateInventory({ nodes: 2 }) });
  const notes = ofKind(r.actions, 'emit').map((a) => (a.event.kind === 'note' ? a.event.message : ''));
  assert.ok(notes.some((n) => n.includes('recreating the group instead')));
  assert.deepEqual(
    ofKind(r.actions, 'stopRanks')[0]?.ranks.map((x) => x.rank),
    [0],
  );
  assert.equal(r.state.activity.kind, 'restart');
  assert.equal(r.state.activity.kind === 'restart' ? r.state.activity.mode : '', 'group');
  assert.equal(r.state.failover.history.at(-1)?.timings['escalated'], 1);
  // The recreation goes on with no backoff and re-plans every rank.
  const g = run(r.state, 1100, { kind: 'group-stopped' });
  assert.deepEqual(
    g.actions.map((a) => (a.kind === 'sleep' ? a.ms : a.kind)),
    [0, 'next', 'readInventory'],
  );
  const done = run(g.state, 1200, { kind: 'inventory', inventory: generateInventory({ nodes: 2 }) });
  assert.deepEqual(
    ofKind(done.actions, 'startRank').map((a) => a.rank),
    [0, 1],
  );
  assert.equal(done.state.activity.kind, 'idle');
});

test('a stop request during the start: the loop finishes at its first turn and stops the ranks', () => {
  const s0 = start();
  const b = run(s0, 0, { kind: 'begin' });
  let s = step(b.state, { kind: 'stop-requested', now: 5 }).state;
  for (const a of ofKind(b.actions, 'startRank'))
    s = step(s, {
      kind: 'rank-started',
      rank: a.rank,
      gen: a.gen,
      pid: 100 + a.rank,
      startTime: 'x',
      exited: false,
      now: 10,
    }).state;
  const f = run(s, 20, { kind: 'turn' });
  const stop = ofKind(f.actions, 'stopRanks')[0];
  assert.equal(stop?.graceMs, STOP_GRACE_MS);
  assert.deepEqual(
    stop?.ranks.map((r) => r.rank),
    [0, 1],
  );
  assert.deepEqual(resume(f, 30).state.finished, { stopped: true, code: 0 });
});

test('a stop request during a backoff ends the restart without starting anything', () => {
  const s = running({ restart: '{policy: on-failure, backoff-seconds: 5}' });
  const t = run(exit(s, 1, 3).state, 1000, { kind: 'turn' });
  const stopped = step(t.state, { kind: 'stop-requested', now: 1500 }).state;
  const b = run(stopped, 1500, { kind: 'backoff-done' });
  assert.equal(ofKind(b.actions, 'startRank').length, 0);
  assert.equal(b.state.activity.kind, 'idle');
  const f = run(b.state, 1600, { kind: 'turn' });
  assert.equal(ofKind(f.actions, 'stopRanks')[0]?.graceMs, STOP_GRACE_MS);
  assert.deepEqual(resume(f, 1700).state.finished, { stopped: true, code: 0 });
});

test('readiness: published when every rank is alive and the probe passes; started after STARTED_AFTER_MS', () => {
  let s = running({ probe: true }, true);
  s = { ...s, endpoints: [] };
  // Probe due: rank 0 is probed first.
  const t = run(s, 10, { kind: 'turn' });
  assert.deepEqual(kinds(t.actions), ['probe']);
  const p = run(t.state, 20, { kind: 'probed', ok: true, detail: 'connected' });
  assert.deepEqual(kinds(p.actions), ['save', 'observe']);
  const o = run(p.state, 30, { kind: 'observed', sshd: {} });
  assert.ok(o.state.groupReady);
  const readyEv = ofKind(o.actions, 'emit').find((a) => a.event.kind === 'ready');
  assert.ok(readyEv);
  assert.ok(ofKind(o.actions, 'phase').some((a) => a.phase === 'ready'));
  assert.equal(o.state.failover.ledger.everReady, false, 'not started yet');
  assert.deepEqual(kinds(o.actions).at(-1), 'wait');
  const later = run(o.state, 30 + STARTED_AFTER_MS, { kind: 'observed', sshd: {} });
  assert.equal(later.state.failover.ledger.everReady, true);
  assert.ok(ofKind(later.actions, 'save').some((a) => a.what === 'started'));
  // A failing probe (threshold 3) withdraws only after three failures.
  let x = later.state;
  for (let i = 0; i < 3; i++) {
    x = run(x, 5000 + i * 1000, { kind: 'turn' }).state;
    const r = run(x, 5000 + i * 1000, { kind: 'probed', ok: false, detail: 'refused' });
    x = run(r.state, 5000 + i * 1000, { kind: 'observed', sshd: {} }).state;
    assert.equal(x.groupReady, i < 2);
  }
});

test('an sshd death fails its rank: the rank is stopped and counted as failed with code 1', () => {
  const s = { ...running({ restart: '{policy: on-failure}' }), config: { ...running().config, ssh: true } };
  const x = step(s, {
    kind: 'sshd-exited',
    rank: 1,
    pid: 900,
    startTime: 's',
    code: 0,
    signal: null,
    at: 700,
    now: 700,
  });
  const stopping = run(x.state, 800, { kind: 'turn' });
  assert.deepEqual(kinds(stopping.actions), ['reap', 'next', 'emit', 'stopRanks', 'next']);
  assert.equal(ofKind(stopping.actions, 'stopRanks')[0]?.ranks[0]?.rank, 1);
  const r = resume(stopping, 850);
  const seen = r.state.seen[0];
  assert.ok(seen);
  assert.deepEqual([seen.rank, seen.code, seen.sshd], [1, 1, true]);
  assert.equal(r.state.live[1], undefined);
  const d = run(r.state, 900, { kind: 'turn' });
  const h = d.state.failover.history.at(-1);
  assert.equal(h?.trigger, "rank 1's sshd exited with code 1");
});

test('exits of a replaced generation are stale and ignored', () => {
  const s = running();
  const stale = { ...s, minGen: 10 };
  const e = step(stale, {
    kind: 'rank-exited',
    rank: 1,
    gen: 2,
    pid: 101,
    startTime: 't2',
    code: 1,
    signal: null,
    at: 5,
    now: 5,
  });
  assert.deepEqual(e.actions, []);
  assert.equal(e.state.seen.length, 0);
});
