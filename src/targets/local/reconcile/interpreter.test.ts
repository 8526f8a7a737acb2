/**
 * The reconcile loop carried out: the interpreter over a fake clock (virtual time, advanced only when
 * everything else waits), a fake process launcher, a fake spawner (probes) and in-memory effects. The
 * fakes stand in for processes and files so restarts that take seconds of backoff run in milliseconds; the
 * root tests (test/root/failover-*) run the same loop on real process groups.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSpec } from '../../../spec/index.js';
import { defaultPlanOptions, generateInventory, planSpec } from '../../../plan/index.js';
import { EMPTY_LEDGER } from '../../../plan/failover/policy.js';
import type { ServicePlan } from '../../../api/plan.js';
import type { Clock, LaunchOptions, ProcessLauncher, ProcessSpawner, RunResult } from '../../ports.js';
import type { ServiceState } from '../service-state.js';
import type { SupervisorEvent } from './events.js';
import type { ReconcileEffects } from './interpreter.js';
import { Reconciler } from './interpreter.js';
import { initialState } from './state.js';
import type { ReconcileState } from './state.js';

/** Virtual time: timers fire in due order, only once nothing else is runnable. */
class FakeClock implements Clock {
  t = 1_000_000;
  private timers: { due: number; seq: number; fn: () => void; live: boolean }[] = [];
  private seq = 0;
  now(): number {
    return this.t;
  }
  sleep(ms: number): Promise<void> {
    return new Promise((r) => this.after(ms, r));
  }
  after(ms: number, fn: () => void): () => void {
    const timer = { due: this.t + Math.max(0, ms), seq: this.seq++, fn, live: true };
    this.timers.push(timer);
    return () => {
      timer.live = false;
    };
  }
  /** Runs until `done` settles: lets every promise and callback run, then fires the earliest timer. */
  async drive<T>(done: Promise<T>, limitMs = 600_000): Promise<T> {
    let settled = false;
    const out = done.finally(() => {
      settled = true;
    });
    const start = this.t;
    while (!settled) {
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      if (settled) break;
      this.timers = this.timers.filter((x) => x.live);
      this.timers.sort((a, b) => a.due - b.due || a.seq - b.seq);
      const next = this.timers.shift();
      if (!next) throw new Error('nothing left to happen, and the loop has not ended');
      this.t = Math.max(this.t, next.due);
      if (this.t - start > limitMs) throw new Error('virtual time limit reached');
      next.fn();
    }
    return out;
  }
}

/** What a fake rank does: exit with `code` after `ms` (virtual), or run until stopped. */
type Script = (rank: number, attempt: number) => { readonly ms: number; readonly code: number } | 'forever';

class FakeLauncher implements ProcessLauncher {
  private pid = 1000;
  readonly procs = new Map<
    number,
    { argv: readonly string[]; alive: boolean; exit?: (c: number | null, s: string | null) => void }
  >();
  readonly starts: string[] = [];
  readonly stops: number[] = [];
  private attempts = new Map<number, number>();
  constructor(
    private readonly clock: FakeClock,
    private readonly script: Script,
  ) {}
  launch(argv: readonly string[], _options: LaunchOptions) {
    const pid = ++this.pid;
    const rank = Number(argv[1]);
    const attempt = this.attempts.get(rank) ?? 0;
    this.attempts.set(rank, attempt + 1);
    this.starts.push(`${argv[0] ?? ''} ${rank}`);
    const p: {
      argv: readonly string[];
      alive: boolean;
      exit?: (c: number | null, s: string | null) => void;
    } = { argv, alive: true };
    this.procs.set(pid, p);
    const plan = this.script(rank, attempt);
    if (plan !== 'forever') this.clock.after(plan.ms, () => this.end(pid, plan.code, null));
    return {
      pid,
      onExit: (fn: (c: number | null, s: string | null) => void) => {
        p.exit = fn;
      },
    };
  }
  private end(pid: number, code: number | null, signal: string | null): void {
    const p = this.procs.get(pid);
    if (!p?.alive) return;
    p.alive = false;
    p.exit?.(code, signal);
  }
  startTime(pid: number): Promise<string | undefined> {
    return Promise.resolve(this.procs.get(pid)?.alive ? `st${pid}` : undefined);
  }
  async stopGroup(pid: number, startTime: string, _graceMs: number): Promise<void> {
    if (startTime !== `st${pid}`) return;
    if (!this.procs.get(pid)?.alive) return;
    this.stops.push(pid);
    await new Promise<void>((r) =>
      this.clock.after(10, () => {
        this.end(pid, null, 'SIGTERM');
        r();
      }),
    );
  }
  alive(): number {
    return [...this.procs.values()].filter((p) => p.alive).length;
  }
}

const okSpawner = (answers: boolean[]): ProcessSpawner => ({
  run(): Promise<RunResult> {
    const ok = answers.shift() ?? true;
    return Promise.resolve({ code: ok ? 0 : 1, stdout: '', stderr: '' });
  },
});

function planOf(restart: string, extra = ''): ServicePlan {
  const r = parseSpec(
    `version: v1
services:
  svc:
    script: |
      #!/bin/sh
      sleep 100
    multinode:
      nodes: 2
      launch: all
    ports:
      - name: http
        port: 8080
${extra}    restart: ${restart}
`,
    'svc.yaml',
  );
  assert.ok(r.ok, JSON.stringify(r));
  const p = planSpec(r.value, generateInventory({ nodes: 2 }), defaultPlanOptions({ target: 'local' }));
  assert.ok(p.ok);
  const plan = p.plan.services[0];
  assert.ok(plan);
  return plan;
}

function record(plan: ServicePlan): ServiceState {
  return {
    name: 'svc',
    cluster: 'c',
    file: '/x.yaml',
    planHash: 'h',
    plan,
    createdAt: '',
    status: 'starting',
    resources: [],
    ranks: plan.ranks.map((r) => ({
      rank: r.rank,
      node: r.node,
      hostname: r.hostname,
      address: r.address,
      netns: '',
      logFile: '',
      status: 'pending' as const,
    })),
    endpoints: [],
    probe: { status: 'none', successes: 0, failures: 0 },
    timings: {},
  };
}

interface World {
  readonly clock: FakeClock;
  readonly launcher: FakeLauncher;
  readonly rec: ServiceState;
  readonly events: SupervisorEvent[];
  readonly calls: string[];
  readonly loop: Reconciler;
  readonly fx: ReconcileEffects;
}

function world(plan: ServicePlan, script: Script, probeAnswers: boolean[] = []): World {
  const clock = new FakeClock();
  const launcher = new FakeLauncher(clock, script);
  const rec = record(plan);
  const events: SupervisorEvent[] = [];
  const calls: string[] = [];
  const fx: ReconcileEffects = {
    rankLaunch: (_p, r) => ({
      argv: ['rank', String(r.rank)],
      options: { env: {}, logFile: `/nowhere/rank-${r.rank}.log` },
    }),
    save: (_what, apply) => {
      apply(rec);
      return Promise.resolve();
    },
    own: () => undefined,
    emit: (e) => events.push(e),
    checkRecord: () => undefined,
    ensureSshds: () => Promise.resolve(),
    sshStopSessions: () => Promise.resolve(),
    sshCloseConnections: () => Promise.resolve(),
    checkSshd: () => Promise.resolve(true),
    sshdStatus: () => Promise.resolve({}),
    writePlanFiles: (_p, v) => {
      calls.push(`files v${v}`);
      return Promise.resolve();
    },
    readInventory: () => Promise.resolve(generateInventory({ nodes: 2 })),
    publish: () => {
      calls.push('publish');
      return Promise.resolve();
    },
    withdraw: () => {
      calls.push('withdraw');
      return Promise.resolve();
    },
    stopRecorded: () => {
      calls.push('stop recorded');
      return Promise.resolve();
    },
  };
  const state = initialState(
    {
      name: 'svc',
      restart: plan.restart,
      cluster: false,
      ssh: false,
      scriptRanks: [0, 1],
      rank0Netns: '',
    },
    plan,
    { ledger: EMPTY_LEDGER, cooling: [], clusterVersion: 1, history: [] },
    [],
    clock.now(),
  );
  const loop = new Reconciler(state, { clock, launcher, spawner: okSpawner(probeAnswers) });
  return { clock, launcher, rec, events, calls, loop, fx };
}

async function runToEnd(w: World, stop?: AbortSignal): Promise<ReconcileState> {
  return w.clock.drive(w.loop.run(w.fx, stop));
}

test('restart: a failing rank restarts alone after its backoff, then the service completes', async () => {
  // Rank 1 fails twice (exit 3), then both ranks finish with 0.
  const w = world(planOf('{policy: on-failure, backoff-seconds: 1}'), (rank, attempt) =>
    rank === 1 && attempt < 2 ? { ms: 500, code: 3 } : { ms: 20_000, code: 0 },
  );
  const t0 = w.clock.now();
  const final = await runToEnd(w);
  assert.deepEqual(final.finished, { stopped: false, code: 0 });
  assert.deepEqual(w.launcher.starts, ['rank 0', 'rank 1', 'rank 1', 'rank 1']);
  const restarts = w.events.filter((e) => e.kind === 'restart');
  assert.equal(restarts.length, 2);
  // Backoff doubles: 1 s, then 2 s.
  const h = final.failover.history;
  assert.deepEqual(
    h.map((r) => r.timings['backoff']),
    [1000, 2000],
  );
  assert.equal(w.rec.ranks[1]?.restarts, 2);
  assert.equal(w.rec.ranks[0]?.restarts, undefined);
  assert.deepEqual(
    w.calls.filter((c) => c.startsWith('files')),
    ['files v2', 'files v3'],
  );
  assert.ok(w.clock.now() - t0 >= 20_000);
  assert.equal(w.launcher.alive(), 0);
  assert.equal(w.rec.failover?.history.length, 2);
});

test('escalation to the group: recreate-group stops the healthy rank and starts both again', async () => {
  const w = world(planOf('{policy: recreate-group, backoff-seconds: 1}'), (rank, attempt) =>
    rank === 1 && attempt === 0 ? { ms: 300, code: 1 } : attempt === 0 ? 'forever' : { ms: 5000, code: 0 },
  );
  const final = await runToEnd(w);
  assert.deepEqual(final.finished, { stopped: false, code: 0 });
  assert.deepEqual(w.launcher.starts, ['rank 0', 'rank 1', 'rank 0', 'rank 1']);
  assert.equal(w.launcher.stops.length, 1, 'the healthy rank 0 was stopped on purpose');
  // Its SIGTERM exit is not a failure: one restart only.
  assert.equal(w.events.filter((e) => e.kind === 'restart').length, 1);
  assert.equal(final.failover.history[0]?.action, 'recreate-group');
});

test('give up after the limits: the startup budget spent fails the service with the exit code', async () => {
  const w = world(planOf('{policy: on-failure, max-startup-restarts: 2, backoff-seconds: 1}'), (rank) =>
    rank === 1 ? { ms: 100, code: 7 } : 'forever',
  );
  const final = await runToEnd(w);
  assert.deepEqual(final.finished, { stopped: false, code: 7 });
  assert.match(final.failure?.why ?? '', /max-startup-restarts \(2\) spent/);
  assert.deepEqual(w.launcher.starts, ['rank 0', 'rank 1', 'rank 1', 'rank 1']);
  assert.equal(w.launcher.alive(), 0, 'rank 0 was stopped at the end');
  assert.ok(w.calls.includes('stop recorded'));
  const last = w.events.filter((e) => e.kind === 'restart').at(-1);
  assert.equal(last?.kind === 'restart' ? last.action : '', 'fail');
});

test('stop during start: a stop before the first turn stops every rank and ends cleanly', async () => {
  const w = world(planOf('{policy: on-failure}'), () => 'forever');
  const ac = new AbortController();
  ac.abort();
  const final = await runToEnd(w, ac.signal);
  assert.deepEqual(final.finished, { stopped: true, code: 0 });
  assert.deepEqual(w.launcher.starts, ['rank 0', 'rank 1']);
  assert.equal(w.launcher.stops.length, 2);
  assert.equal(w.launcher.alive(), 0);
  assert.equal(w.events.filter((e) => e.kind === 'restart').length, 0, 'stopped ranks are no failures');
});

test('stop during a backoff: the restart is dropped, nothing more starts', async () => {
  const ac = new AbortController();
  const w = world(planOf('{policy: on-failure, backoff-seconds: 30}'), (rank) =>
    rank === 1 ? { ms: 100, code: 2 } : 'forever',
  );
  w.clock.after(5000, () => ac.abort());
  const t0 = w.clock.now();
  const final = await runToEnd(w, ac.signal);
  assert.deepEqual(final.finished, { stopped: true, code: 0 });
  assert.deepEqual(w.launcher.starts, ['rank 0', 'rank 1']);
  assert.ok(w.clock.now() - t0 < 30_000, 'the backoff was cut short');
});

test('readiness with a probe (fake spawner): published once rank 0 answers, status ready', async () => {
  const plan = planOf(
    '{policy: on-failure}',
    '    readiness-probe:\n      tcp-socket:\n        port: 8080\n      period-seconds: 1\n',
  );
  const w = world(plan, (rank) => (rank === 0 ? { ms: 10_000, code: 0 } : { ms: 10_000, code: 0 }), [
    false,
    true,
  ]);
  let readyAt = 0;
  const t0 = w.clock.now();
  const seenStatus: string[] = [];
  const base = w.fx;
  const fx: ReconcileEffects = {
    ...w.fx,
    save: async (what, apply) => {
      await base.save(what, apply);
      if (!seenStatus.includes(w.rec.status)) seenStatus.push(w.rec.status);
    },
    emit: (e) => {
      if (e.kind === 'ready' && readyAt === 0) readyAt = w.clock.now();
      w.events.push(e);
    },
  };
  const final = await w.clock.drive(w.loop.run(fx));
  assert.deepEqual(final.finished, { stopped: false, code: 0 });
  // The first answer fails; the second (one period later) succeeds.
  assert.ok(readyAt - t0 >= 1000 && readyAt - t0 < 2000, `ready after ${readyAt - t0} ms`);
  assert.ok(seenStatus.includes('ready'));
  assert.equal(w.rec.probe.successes >= 1, true);
  assert.equal(final.failover.ledger.everReady, true, 'started: ready for longer than STARTED_AFTER_MS');
});
