/**
 * The supervisor's decisions as one pure function: `step(state, event)` returns the next state and the
 * actions to carry out, in order. No I/O, no clock (every event carries `now`), no randomness; the
 * interpreter (interpreter.ts) runs the actions and feeds their results back as events.
 *
 * A turn (see `turn` below) does what the supervisor's loop always did: act on one sshd death or one rank
 * exit (oldest first) as the restart policy says, else probe rank 0 when due, look at the group's readiness
 * (publishing or withdrawing endpoints), and wait. A restart runs as a chain of continuations: stop, backoff,
 * re-pick ports (re-plan, write files, re-publish), spawn.
 */
import { constants as osConstants } from 'node:os';
import type { ProbeSpec } from '../../../api/spec.js';
import type { ServicePlan } from '../../../api/plan.js';
import { decideRestart, recordReady, recordRestart } from '../../../plan/failover/policy.js';
import { roleOfRank } from '../../../plan/resolve.js';
import { coolingByNode, releasePorts } from '../../../plan/failover/port-pool.js';
import type { CoolingEntry } from '../../../plan/failover/port-pool.js';
import { hasMovablePorts, releasedPorts, replanService } from '../../../plan/failover/replan.js';
import { nextProbeState } from '../probe.js';
import type { RestartRecord, ServiceState } from '../service-state.js';
import type { Action } from './actions.js';
import type { LoopEvent, SupervisorEvent } from './events.js';
import type { ReconcileState, RestartActivity, SeenExit } from './state.js';

/** A group counts as started (LWS "after start") once it has been ready this long. */
export const STARTED_AFTER_MS = 2000;

/** How often the supervisor checks that every rank's sshd answers (when the service runs sshd per rank). */
export const SSHD_CHECK_MS = 5000;

/** Delay between SIGTERM and SIGKILL when the supervisor stops ranks itself (group recreation, failure). */
export const RESTART_GRACE_MS = 2000;

/** Grace for what is left of an ended rank's group, and for a rank whose sshd died. */
export const REAP_GRACE_MS = 500;

/** Grace when the service stops because it was told to (`down`, Ctrl-C). */
export const STOP_GRACE_MS = 3000;

export interface StepResult {
  readonly state: ReconcileState;
  readonly actions: readonly Action[];
}

const iso = (ms: number) => new Date(ms).toISOString();

export function signalNumber(name: string | null): number | null {
  if (name === null) return null;
  return (osConstants.signals as Record<string, number | undefined>)[name] ?? 0;
}

export function probeOf(plan: ServicePlan): ProbeSpec | undefined {
  return plan.ranks[0]?.probe ?? plan.probe;
}

/** The loop ends on a failure the policy gives up on, on a stop request, or once the script ranks exited 0. */
export function isFinished(s: ReconcileState): boolean {
  return s.failure !== undefined || s.stopRequested || s.config.scriptRanks.every((r) => s.done.includes(r));
}

/** Work a turn would do at once (a `wait` then does not wait). */
export function hasPendingWork(s: ReconcileState): boolean {
  return s.seen.length > 0 || s.sshdExits.length > 0 || isFinished(s);
}

/**
 * How long a turn waits when nothing happens: fast until the group is ready (so recovery is seen quickly),
 * then at the probe period.
 */
export function idleWaitMs(s: ReconcileState, now: number): number {
  const idle = s.groupReady && s.failover.ledger.everReady ? 1000 : s.groupReady ? 250 : 100;
  return probeOf(s.plan) && s.live[0] ? Math.max(20, Math.min(idle, s.nextProbe - now)) : idle;
}

export function endpointUrls(s: ReconcileState): string[] {
  return s.endpoints.map(
    (e) =>
      `${e.name}: ${e.protocol === 'https' ? 'https' : e.protocol === 'http' ? 'http' : 'tcp'}://${e.hostAddress}:${e.hostPort}`,
  );
}

const emit = (event: SupervisorEvent): Action => ({ kind: 'emit', event });
const save = (what: string, apply: (s: ServiceState) => void): Action => ({ kind: 'save', what, apply });
const next = (event: Extract<Action, { kind: 'next' }>['event']): Action => ({ kind: 'next', event });

function saveFailover(s: ReconcileState, what = 'failover', extra?: (x: ServiceState) => void): Action {
  const f = s.failover;
  return save(what, (x) => {
    x.failover = f;
    extra?.(x);
  });
}

function withoutKeys<T>(rec: Readonly<Record<number, T>>, keys: readonly number[]): Record<number, T> {
  const out: Record<number, T> = { ...rec };
  for (const k of keys) delete out[k];
  return out;
}

/** Publishes or withdraws the endpoints (a no-op when they already are as wanted). */
function setPublished(s: ReconcileState, want: boolean, detail: string): StepResult {
  if (want === s.published) return { state: s, actions: [] };
  const actions: Action[] = [];
  if (s.config.cluster)
    actions.push(want ? { kind: 'publish', endpoints: s.endpoints } : { kind: 'withdraw' });
  actions.push(
    save(want ? 'endpoints published' : 'endpoints withdrawn', (x) => {
      x.endpoints.forEach((e) => (e.published = want));
    }),
  );
  if (!want && s.endpoints.length > 0 && detail !== 'service finished')
    actions.push(emit({ kind: 'not-ready', detail: `${detail}; endpoints withdrawn` }));
  return { state: { ...s, published: want }, actions };
}

function resetProbe(s: ReconcileState, now: number): ReconcileState {
  const p = probeOf(s.plan);
  return {
    ...s,
    probe: { ready: false, successes: 0, failures: 0 },
    nextProbe: now + (p ? p.initialDelaySeconds * 1000 : 0),
  };
}

/** Marks live ranks as stopped on purpose (their exits are not failures) and asks to stop them. */
function stopLive(s: ReconcileState, ranks: readonly number[], graceMs: number): StepResult {
  const targets = ranks.flatMap((r) => {
    const l = s.live[r];
    return l ? [{ ...l, rank: r }] : [];
  });
  return {
    state: { ...s, intended: [...s.intended, ...targets.map((t) => t.gen)] },
    actions: [{ kind: 'stopRanks', ranks: targets, graceMs }],
  };
}

/** Starts ranks of the current plan (each a new generation). */
function startRanks(s: ReconcileState, ranks: readonly number[], restarted: boolean): StepResult {
  let gen = s.gen;
  const actions: Action[] = [];
  const started: number[] = [];
  for (const r of s.plan.ranks) {
    if (!ranks.includes(r.rank)) continue;
    gen += 1;
    started.push(r.rank);
    actions.push({ kind: 'startRank', rank: r.rank, gen, restarted });
  }
  return { state: { ...s, gen, done: s.done.filter((d) => !started.includes(d)) }, actions };
}

/**
 * A restart record is replaced, never mutated: the copy in the history, the open restart and the running
 * activity all follow.
 */
function patchRec(
  s: ReconcileState,
  rec: RestartRecord,
  timings: Readonly<Record<string, number>>,
  moved?: string[],
): { state: ReconcileState; rec: RestartRecord } {
  const nrec: RestartRecord = {
    ...rec,
    timings: { ...rec.timings, ...timings },
    ...(moved !== undefined ? { moved } : {}),
  };
  const swap = (r: RestartRecord) => (r === rec ? nrec : r);
  const activity =
    s.activity.kind === 'restart' && s.activity.rec === rec
      ? { ...s.activity, rec: nrec }
      : s.activity.kind === 'replan' && s.activity.restart.rec === rec
        ? { ...s.activity, restart: { ...s.activity.restart, rec: nrec } }
        : s.activity;
  return {
    state: {
      ...s,
      failover: { ...s.failover, history: s.failover.history.map(swap) },
      ...(s.openRestart !== undefined ? { openRestart: swap(s.openRestart) } : {}),
      activity,
    },
    rec: nrec,
  };
}

function restartOf(s: ReconcileState): RestartActivity {
  if (s.activity.kind === 'restart') return s.activity;
  if (s.activity.kind === 'replan') return s.activity.restart;
  throw new Error(`reconcile: no restart under way (activity ${s.activity.kind})`);
}

/** The record says `restarting` while a restart runs; back to `running` after it (readiness follows). */
function endRestart(s: ReconcileState): StepResult {
  return {
    state: { ...s, activity: { kind: 'idle' }, lastGroup: '' },
    actions: [
      saveFailover(s, 'restart done', (x) => {
        if (x.status === 'restarting') x.status = 'running';
      }),
    ],
  };
}

/** Recreating the group: withdraw, stop every rank (and what the wrapper started), then back off. */
function beginGroupRecreate(s0: ReconcileState, act: RestartActivity, now: number): StepResult {
  const pub = setPublished(s0, false, 'recreating the group');
  let s = resetProbe(pub.state, now);
  s = { ...s, minGen: s.gen + 1 };
  const stop = stopLive(
    s,
    s.plan.ranks.map((r) => r.rank),
    RESTART_GRACE_MS,
  );
  s = { ...stop.state, activity: { ...act, mode: 'group', since: now } };
  return {
    state: s,
    actions: [
      ...pub.actions,
      ...stop.actions,
      ...(s.config.ssh
        ? ([{ kind: 'sshStopSessions', graceMs: 500 }, { kind: 'sshCloseConnections' }] as const)
        : []),
      next({ kind: 'group-stopped' }),
    ],
  };
}

/** Restarting one rank: nothing to stop (it is gone), rank 0 withdraws the endpoints; then back off. */
function beginRankRestart(s0: ReconcileState, act: RestartActivity, now: number): StepResult {
  let s = s0;
  const actions: Action[] = [];
  if (act.rank === 0) {
    const pub = setPublished(s, false, 'rank 0 restarting');
    s = resetProbe(pub.state, now);
    actions.push(...pub.actions);
  }
  const p = patchRec({ ...s, activity: act }, act.rec, { stop: 0 });
  s = { ...p.state, activity: { ...act, rec: p.rec, since: now } };
  actions.push({ kind: 'sleep', ms: act.delayMs }, next({ kind: 'backoff-done' }));
  return { state: s, actions };
}

/** Re-picks host ports for the restarting ranks (or just re-publishes the files with a new version). */
function beginRepick(s: ReconcileState, now: number): StepResult {
  const act = restartOf(s);
  const restarting = act.mode === 'group' ? s.plan.ranks.map((r) => r.rank) : [act.rank];
  const c = s.config;
  if (!c.cluster || !hasMovablePorts(s.plan) || !c.spec || !c.planOptions) {
    const version = s.failover.clusterVersion + 1;
    return {
      state: {
        ...s,
        failover: { ...s.failover, clusterVersion: version },
        activity: { kind: 'replan', restart: act, since: now },
      },
      actions: [{ kind: 'writePlanFiles', plan: s.plan, version }, next({ kind: 'repicked', outcome: 'ok' })],
    };
  }
  let cooling: CoolingEntry[] = [...s.failover.cooling];
  for (const rn of restarting) {
    const rp = s.plan.ranks[rn];
    if (rp) cooling = releasePorts(cooling, rp.node, releasedPorts(s.plan, rp), now);
  }
  return {
    state: {
      ...s,
      failover: { ...s.failover, cooling },
      activity: { kind: 'replan', restart: act, since: now },
    },
    actions: [{ kind: 'readInventory' }],
  };
}

function onInventory(s: ReconcileState, ev: Extract<LoopEvent, { kind: 'inventory' }>): StepResult {
  if (s.activity.kind !== 'replan') throw new Error('reconcile: inventory outside a re-plan');
  const act = s.activity.restart;
  const c = s.config;
  if (!c.spec || !c.planOptions) throw new Error('reconcile: re-plan without a spec');
  const restarting = act.mode === 'group' ? s.plan.ranks.map((r) => r.rank) : [act.rank];
  const keep = s.plan.ranks.map((r) => r.rank).filter((r) => !restarting.includes(r));
  const res = replanService(
    c.spec,
    s.plan,
    ev.inventory,
    c.planOptions,
    coolingByNode(s.failover.cooling, ev.now),
    keep,
  );
  if (!res.ok) {
    if (keep.length > 0 && res.reason.includes('is running'))
      return { state: s, actions: [next({ kind: 'repicked', outcome: 'escalate' })] };
    const version = s.failover.clusterVersion + 1;
    return {
      state: { ...s, failover: { ...s.failover, clusterVersion: version } },
      actions: [
        emit({ kind: 'note', message: `cannot re-pick ports (${res.reason}); keeping the old ones` }),
        { kind: 'writePlanFiles', plan: s.plan, version },
        next({ kind: 'repicked', outcome: 'ok' }),
      ],
    };
  }
  const plan = res.plan;
  // Endpoints follow rank 0 (host mode: the DNAT target is rank 0's host port).
  const endpoints = s.endpoints.map((e) => {
    const ep = plan.endpoints.find((x) => x.name === e.name);
    return ep
      ? { ...e, viaPort: ep.targetPort, targetAddress: ep.targetAddress, targetPort: ep.targetPort }
      : e;
  });
  const version = s.failover.clusterVersion + 1;
  const p = patchRec({ ...s, failover: { ...s.failover, clusterVersion: version } }, act.rec, {}, res.moved);
  const st: ReconcileState = { ...p.state, plan, endpoints };
  const published = st.published;
  return {
    state: st,
    actions: [
      { kind: 'writePlanFiles', plan, version },
      saveFailover(st, 'new plan', (x) => {
        x.plan = plan;
        x.endpoints = endpoints.map((e) => ({ ...e, published }));
      }),
      ...(published && c.cluster ? [{ kind: 'publish', endpoints } as const] : []),
      ...(res.moved.length > 0
        ? [emit({ kind: 'note', message: `new host ports: ${res.moved.join(', ')}` })]
        : []),
      next({ kind: 'repicked', outcome: 'ok' }),
    ],
  };
}

function onRepicked(s0: ReconcileState, outcome: 'ok' | 'escalate', now: number): StepResult {
  if (s0.activity.kind !== 'replan') throw new Error('reconcile: re-pick result outside a re-plan');
  const p = patchRec(s0, s0.activity.restart.rec, { replan: now - s0.activity.since });
  const act = { ...restartOf(p.state), rec: p.rec };
  let s: ReconcileState = { ...p.state, activity: act };
  if (outcome === 'escalate') {
    const e = patchRec(s, act.rec, { escalated: 1 });
    const g = beginGroupRecreate(e.state, { ...act, rec: e.rec, delayMs: 0, escalated: true }, now);
    return {
      state: g.state,
      actions: [
        emit({ kind: 'note', message: 'the re-plan would move running ranks; recreating the group instead' }),
        ...g.actions,
      ],
    };
  }
  const ranks = act.mode === 'group' ? s.plan.ranks.map((r) => r.rank) : [act.rank];
  if (act.mode === 'group') s = { ...s, seen: [], done: [], minGen: s.gen + 1 };
  const st = startRanks(s, ranks, true);
  return {
    state: { ...st.state, activity: { ...act, since: now } },
    actions: [{ kind: 'ensureSshds', ranks }, ...st.actions, next({ kind: 'spawned' })],
  };
}

/** The policy's answer to one exit (after its group's leftovers are gone). */
function onExitReaped(s0: ReconcileState, e: SeenExit, now: number): StepResult {
  let s = s0;
  if (e.gen < s.minGen || (s.intended.includes(e.gen) && !e.sshd)) return { state: s, actions: [] };
  const plan = s.plan;
  const allDone = plan.ranks.every((r) => r.rank === e.rank || s.done.includes(r.rank));
  // A rank of a role restarts as its role says (`roles[].restart`); other ranks as the service says.
  const decision = decideRestart(
    roleOfRank(plan, e.rank)?.restart ?? s.config.restart,
    s.failover.ledger,
    { rank: e.rank, code: e.code, signal: signalNumber(e.signal) },
    allDone,
  );
  if (decision.action === 'done') {
    return {
      state: {
        ...s,
        done: s.done.includes(e.rank) ? s.done : [...s.done, e.rank],
        missingSince: withoutKeys(s.missingSince, [e.rank]),
      },
      actions: [],
    };
  }
  const rec: RestartRecord = {
    at: iso(e.at),
    trigger:
      e.code !== null
        ? `rank ${e.rank}${e.sshd ? "'s sshd" : ''} exited with code ${e.code}`
        : `rank ${e.rank}${e.sshd ? "'s sshd" : ''} killed by ${e.signal ?? '?'}`,
    action: decision.action,
    ranks: decision.action === 'restart-rank' ? [e.rank] : plan.ranks.map((r) => r.rank),
    reason: decision.reason,
    timings: { detect: Math.max(0, now - e.at) },
  };
  const actions: Action[] = [
    emit({ kind: 'restart', action: decision.action, ranks: rec.ranks, reason: decision.reason }),
  ];
  s = {
    ...s,
    failover: {
      ...s.failover,
      ledger: recordRestart(s.failover.ledger, decision),
      history: [...s.failover.history.slice(-19), rec],
    },
  };
  if (decision.action === 'fail') {
    s = { ...s, failure: { code: e.code ?? 128 + (signalNumber(e.signal) ?? 0), why: decision.reason } };
    return { state: s, actions: [...actions, saveFailover(s)] };
  }
  s = { ...s, groupReady: false, openRestart: rec };
  const gone = rec.ranks.map((r) => ({ rank: r, since: rec.at, why: 'restarting' }));
  actions.push(
    saveFailover(s, 'restarting', (x) => {
      x.status = 'restarting';
      x.message = `restarting: ${decision.reason}`;
      x.group = { ready: false, missing: gone };
    }),
  );
  const act: RestartActivity = {
    kind: 'restart',
    rec,
    mode: decision.action === 'recreate-group' ? 'group' : 'rank',
    rank: e.rank,
    delayMs: decision.delaySeconds * 1000,
    since: now,
  };
  const r = act.mode === 'group' ? beginGroupRecreate(s, act, now) : beginRankRestart(s, act, now);
  return { state: r.state, actions: [...actions, ...r.actions] };
}

/** Readiness: rank 0's probe AND every rank alive (sshd answering too); endpoints published while ready. */
function evaluate(s0: ReconcileState, ev: Extract<LoopEvent, { kind: 'observed' }>): StepResult {
  const now = ev.now;
  let s = s0;
  const probe = probeOf(s.plan);
  const live0 = s.live[0] !== undefined;
  const rank0Ok = live0 && (probe ? s.probe.ready : true);
  const missingSince: Record<number, number> = { ...s.missingSince };
  const missing: { rank: number; since: string; why: string }[] = [];
  for (const r of s.plan.ranks) {
    if (s.done.includes(r.rank)) continue;
    if (!s.live[r.rank]) {
      missing.push({ rank: r.rank, since: iso(missingSince[r.rank] ?? now), why: 'process not running' });
      continue;
    }
    const sd = ev.sshd[r.rank];
    if (sd !== undefined && (sd === 'gone' || s.sshdDown.includes(r.rank))) {
      missingSince[r.rank] ??= now;
      missing.push({ rank: r.rank, since: iso(missingSince[r.rank] ?? now), why: 'sshd not answering' });
    }
  }
  s = { ...s, missingSince };
  const ready = rank0Ok && missing.length === 0;
  const actions: Action[] = [];
  if (ready && !s.groupReady) {
    s = { ...s, groupReady: true, readySince: now };
    if (!s.everReady) actions.push({ kind: 'phase', phase: 'ready', ms: now - s.started });
    s = { ...s, everReady: true };
    if (s.openRestart) {
      const p = patchRec(s, s.openRestart, { ready: now - Date.parse(s.openRestart.at) });
      const { openRestart: _closed, ...rest } = p.state;
      s = rest;
    }
    actions.push(saveFailover(s));
    const pub = setPublished(s, true, 'ready');
    s = pub.state;
    actions.push(...pub.actions, emit({ kind: 'ready', endpoints: endpointUrls(s) }));
  } else if (!ready && s.groupReady) {
    s = { ...s, groupReady: false };
    actions.push(
      emit({
        kind: 'not-ready',
        detail: !rank0Ok
          ? `rank 0 not ready (${s.probeDetail})`
          : `rank(s) ${missing.map((m) => m.rank).join(',')} missing`,
      }),
    );
  }
  // State after the endpoints: `ready` in state means published.
  const key = JSON.stringify([ready, missing]);
  if (key !== s.lastGroup) {
    s = { ...s, lastGroup: key };
    const probeStatus = probe ? (s.probe.ready ? 'ready' : live0 ? 'waiting' : 'not-ready') : 'none';
    actions.push(
      save('group', (x) => {
        x.group = { ready, missing };
        if (ready) x.status = 'ready';
        else if (x.status === 'ready') x.status = 'running';
        x.probe.status = probeStatus;
        if (ready && x.message?.startsWith('restarting')) delete x.message;
      }),
    );
  }
  // "Started" (budgets, backoff reset) once the group has stayed ready a while: a crash loop whose ranks
  // are all alive for an instant does not count as started.
  if (!ready) {
    const { readySince: _gone, ...rest } = s;
    s = rest;
  } else if (
    s.readySince !== undefined &&
    now - s.readySince >= STARTED_AFTER_MS &&
    (!s.failover.ledger.everReady || s.failover.ledger.consecutiveFailures > 0)
  ) {
    s = { ...s, failover: { ...s.failover, ledger: recordReady(s.failover.ledger) } };
    actions.push(saveFailover(s, 'started'));
  }
  // Published while group-ready; a worker being restarted alone (rank 0 untouched and serving) keeps it.
  if (!ready && s.published && !rank0Ok) {
    const pub = setPublished(s, false, `rank 0 not ready (${s.probeDetail})`);
    s = pub.state;
    actions.push(...pub.actions);
  }
  actions.push({ kind: 'wait' });
  return { state: s, actions };
}

/** After the probe (if one was due): the background sshd check when due, then a look at the sshds. */
function afterProbe(s0: ReconcileState, now: number): StepResult {
  let s = s0;
  if (!s.live[0]) s = { ...s, probeDetail: s.done.includes(0) ? 'rank 0 finished' : 'rank 0 not running' };
  const actions: Action[] = [];
  if (s.config.ssh && !s.sshdChecking && now >= s.sshdCheckAt) {
    s = { ...s, sshdChecking: true };
    actions.push({ kind: 'checkSshds', ranks: s.plan.ranks.map((r) => r.rank) });
  }
  actions.push({ kind: 'observe' });
  return { state: s, actions };
}

/** The service is over (failure given up on, stop request, or done): withdraw and stop everything. */
function finish(s0: ReconcileState): StepResult {
  const pub = setPublished(
    { ...s0, supervising: false, activity: { kind: 'finishing' } },
    false,
    'service finished',
  );
  const stop = stopLive(
    pub.state,
    Object.keys(pub.state.live).map(Number),
    pub.state.stopRequested ? STOP_GRACE_MS : RESTART_GRACE_MS,
  );
  return {
    state: stop.state,
    actions: [
      ...pub.actions,
      ...stop.actions,
      { kind: 'stopRecorded', graceMs: STOP_GRACE_MS },
      next({ kind: 'all-stopped' }),
    ],
  };
}

function turn(s: ReconcileState, now: number): StepResult {
  if (s.activity.kind !== 'idle') throw new Error(`reconcile: turn while ${s.activity.kind}`);
  if (isFinished(s)) return finish(s);
  const [x, ...moreSshd] = s.sshdExits;
  if (x)
    return {
      state: { ...s, sshdExits: moreSshd },
      actions: [
        { kind: 'reap', pid: x.pid, startTime: x.startTime, graceMs: REAP_GRACE_MS },
        next({ kind: 'sshd-reaped', exit: x }),
      ],
    };
  const [e, ...moreSeen] = s.seen;
  if (e)
    return {
      state: { ...s, seen: moreSeen },
      actions: [
        { kind: 'reap', pid: e.pid, startTime: e.startTime, graceMs: REAP_GRACE_MS },
        next({ kind: 'exit-reaped', exit: e }),
      ],
    };
  const probe = probeOf(s.plan);
  const rank0 = s.plan.ranks[0];
  if (probe && s.live[0] && now >= s.nextProbe && rank0)
    return {
      state: s,
      actions: [
        {
          kind: 'probe',
          probe,
          target: { netns: s.config.rank0Netns, address: rank0.address, port: probe.action.port },
        },
      ],
    };
  return afterProbe(s, now);
}

export function step(s: ReconcileState, ev: LoopEvent): StepResult {
  const now = ev.now;
  switch (ev.kind) {
    // ---- things that happen -------------------------------------------------------------------
    case 'rank-exited': {
      const live = s.live[ev.rank]?.gen === ev.gen ? withoutKeys(s.live, [ev.rank]) : s.live;
      if (s.intended.includes(ev.gen) || ev.gen < s.minGen) return { state: { ...s, live }, actions: [] };
      const { kind: _k, now: _n, ...exit } = ev;
      const code = ev.code;
      const signal = ev.signal;
      const at = ev.at;
      return {
        state: {
          ...s,
          live,
          missingSince: code !== 0 ? { ...s.missingSince, [ev.rank]: at } : s.missingSince,
          seen: [...s.seen, exit],
        },
        actions: [
          emit({ kind: 'rank-exit', rank: ev.rank, code, signal }),
          {
            kind: 'saveDetached',
            what: `rank ${ev.rank} exited`,
            apply: (x) => {
              const rs = x.ranks.find((r) => r.rank === ev.rank);
              if (!rs) return;
              rs.status = code === 0 ? 'exited' : 'failed';
              if (code !== null) rs.exitCode = code;
              else delete rs.exitCode;
              if (signal !== null) rs.signal = signal;
              else delete rs.signal;
              rs.endedAt = iso(at);
              if (code !== 0) rs.missingSince = iso(at);
            },
          },
        ],
      };
    }
    case 'rank-started': {
      const live = ev.exited
        ? s.live
        : { ...s.live, [ev.rank]: { pid: ev.pid, startTime: ev.startTime, gen: ev.gen } };
      return { state: { ...s, live, missingSince: withoutKeys(s.missingSince, [ev.rank]) }, actions: [] };
    }
    case 'sshd-exited': {
      if (!s.supervising) return { state: s, actions: [] };
      const { kind: _k, now: _n, ...exit } = ev;
      return { state: { ...s, sshdExits: [...s.sshdExits, exit] }, actions: [] };
    }
    case 'sshd-checked':
      return {
        state: {
          ...s,
          sshdDown: ev.ok
            ? s.sshdDown.filter((r) => r !== ev.rank)
            : s.sshdDown.includes(ev.rank)
              ? s.sshdDown
              : [...s.sshdDown, ev.rank],
        },
        actions: [],
      };
    case 'sshd-check-done':
      return { state: { ...s, sshdChecking: false, sshdCheckAt: now + SSHD_CHECK_MS }, actions: [] };
    case 'stop-requested':
      return { state: { ...s, stopRequested: true }, actions: [] };

    // ---- the first start ------------------------------------------------------------------------
    case 'begin': {
      const st = startRanks(
        { ...s, activity: { kind: 'starting', since: now } },
        s.plan.ranks.map((r) => r.rank),
        false,
      );
      return { state: st.state, actions: [...st.actions, next({ kind: 'ranks-started' })] };
    }
    case 'ranks-started': {
      const since = s.activity.kind === 'starting' ? s.activity.since : now;
      return {
        state: s,
        actions: [
          save('running', (x) => {
            x.status = 'running';
          }),
          { kind: 'phase', phase: 'spawn', ms: now - since },
          next({ kind: 'watch' }),
        ],
      };
    }
    case 'watch': {
      const probe = probeOf(s.plan);
      return {
        state: {
          ...s,
          activity: { kind: 'idle' },
          started: now,
          nextProbe: now + (probe?.initialDelaySeconds ?? 0) * 1000,
          sshdCheckAt: now + SSHD_CHECK_MS,
        },
        actions: probe ? [save('probe waiting', (x) => void (x.probe.status = 'waiting'))] : [],
      };
    }

    // ---- a turn -----------------------------------------------------------------------------------
    case 'turn':
      return turn(s, now);
    case 'probed': {
      const probe = probeOf(s.plan);
      if (!probe) return afterProbe(s, now);
      const ps = nextProbeState(s.probe, ev.ok, probe);
      const detail = ev.detail;
      const a = afterProbe(
        { ...s, probe: ps, probeDetail: detail, nextProbe: now + probe.periodSeconds * 1000 },
        now,
      );
      return {
        state: a.state,
        actions: [
          save('probe', (x) => {
            x.probe.successes = ps.successes;
            x.probe.failures = ps.failures;
            x.probe.last = detail;
            x.probe.lastAt = iso(now);
          }),
          ...a.actions,
        ],
      };
    }
    case 'observed':
      return evaluate(s, ev);

    // ---- an sshd died: its rank failed --------------------------------------------------------------
    case 'sshd-reaped': {
      const x = ev.exit;
      const l = s.live[x.rank];
      if (!l || s.done.includes(x.rank)) return { state: s, actions: [] };
      const stop = stopLive(s, [x.rank], REAP_GRACE_MS);
      return {
        state: stop.state,
        actions: [
          emit({
            kind: 'note',
            message: `rank ${x.rank}'s sshd ${x.signal ? `was killed by ${x.signal}` : `exited with code ${x.code ?? '?'}`}: rank ${x.rank} failed`,
          }),
          ...stop.actions,
          next({ kind: 'sshd-stopped', exit: x, live: l }),
        ],
      };
    }
    case 'sshd-stopped': {
      const x = ev.exit;
      const l = ev.live;
      const seen: SeenExit = {
        rank: x.rank,
        pid: l.pid,
        startTime: l.startTime,
        gen: l.gen,
        code: x.signal ? null : x.code === 0 ? 1 : x.code,
        signal: x.signal,
        at: x.at,
        sshd: true,
      };
      return {
        state: {
          ...s,
          live: withoutKeys(s.live, [x.rank]),
          missingSince: { ...s.missingSince, [x.rank]: x.at },
          seen: [...s.seen, seen],
        },
        actions: [],
      };
    }

    // ---- a rank exited: the policy decides ---------------------------------------------------------
    case 'exit-reaped':
      return onExitReaped(s, ev.exit, now);
    case 'group-stopped': {
      const act = restartOf(s);
      const p = patchRec(s, act.rec, { stop: now - act.since });
      return {
        state: {
          ...p.state,
          live: withoutKeys(
            p.state.live,
            s.plan.ranks.map((r) => r.rank),
          ),
          activity: { ...act, rec: p.rec, since: now },
        },
        actions: [{ kind: 'sleep', ms: act.delayMs }, next({ kind: 'backoff-done' })],
      };
    }
    case 'backoff-done': {
      const act = restartOf(s);
      const p = patchRec(s, act.rec, { backoff: now - act.since });
      const st: ReconcileState = { ...p.state, activity: { ...act, rec: p.rec, since: now } };
      if (st.stopRequested) return endRestart(st);
      if (act.mode === 'group' || !st.config.ssh) return beginRepick(st, now);
      // What the leader started on other ranks through the wrapper dies with it (leader launch).
      return {
        state: st,
        actions: [
          ...(act.rank === 0 && st.plan.launch === 'leader'
            ? [{ kind: 'sshStopSessions', graceMs: 500 } as const]
            : []),
          { kind: 'sshCloseConnections' },
          next({ kind: 'repick' }),
        ],
      };
    }
    case 'repick':
      return beginRepick(s, now);
    case 'inventory':
      return onInventory(s, ev);
    case 'repicked':
      return onRepicked(s, ev.outcome, now);
    case 'spawned': {
      const act = restartOf(s);
      const p = patchRec(s, act.rec, { spawn: now - act.since });
      return endRestart(p.state);
    }
    case 'all-stopped':
      return {
        state: {
          ...s,
          live: {},
          finished: {
            stopped: s.stopRequested,
            code: s.stopRequested ? 0 : (s.failure?.code ?? 0),
          },
        },
        actions: [],
      };
  }
}
