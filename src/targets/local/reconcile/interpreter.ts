/**
 * The thin side of the reconcile loop: carries out `step`'s actions over the runtime's ports and the
 * supervisor's effects, one after the other, and feeds what happens back into `step` as events. It decides
 * nothing itself.
 *
 * Ordering: the actions of one step run in order; when an action answers (a probe result, the inventory) or
 * a `next` continuation resumes the loop, the new actions run before whatever was still queued. Events from
 * outside (a rank or sshd exiting, a stop request) are stepped the moment they arrive; what they ask for is
 * only reports and background work, and they end a turn's wait early.
 */
import type { Inventory } from '../../../api/inventory.js';
import type { RankPlan, ServicePlan } from '../../../api/plan.js';
import type { Clock, LaunchOptions, ProcessLauncher, ProcessSpawner } from '../../ports.js';
import { runProbe } from '../probe.js';
import type { EndpointState, Resource, ServiceState } from '../service-state.js';
import type { Action } from './actions.js';
import { isFire } from './actions.js';
import type { LoopEvent, SupervisorEvent } from './events.js';
import { isExternal } from './events.js';
import type { ReconcileState } from './state.js';
import { hasPendingWork, idleWaitMs, isFinished, step } from './step.js';
import { trace } from '../trace.js';

/** What the loop needs from the ports. */
export interface ReconcilePorts {
  readonly clock: Clock;
  readonly launcher: ProcessLauncher;
  /** Short commands (probes). */
  readonly spawner: ProcessSpawner;
}

/** The supervisor's side of each action that is more than starting and stopping processes. */
export interface ReconcileEffects {
  /** How rank `rank` of `plan` runs (its private directories made). */
  rankLaunch(plan: ServicePlan, rank: RankPlan): { argv: readonly string[]; options: LaunchOptions };
  /** Applies a change to the service record; throws when the record was closed under the supervisor. */
  save(what: string, apply: (s: ServiceState) => void): Promise<void>;
  /** Remembers a resource this supervisor made (undone by it if its record is closed under it). */
  own(resource: Resource): void;
  emit(event: SupervisorEvent): void;
  /** Throws when the record is gone (`down` removed it without reaching this process). */
  checkRecord(): void;
  ensureSshds(plan: ServicePlan, ranks: readonly number[]): Promise<void>;
  sshStopSessions(graceMs: number): Promise<void>;
  sshCloseConnections(): Promise<void>;
  /** Whether rank `rank`'s sshd answers (never throws). */
  checkSshd(rank: number): Promise<boolean>;
  /** For each rank that has an sshd: whether it is still the process started. */
  sshdStatus(): Promise<Record<number, 'ok' | 'gone'>>;
  writePlanFiles(plan: ServicePlan, version: number): Promise<void>;
  readInventory(): Promise<Inventory>;
  publish(endpoints: readonly EndpointState[]): Promise<void>;
  withdraw(): Promise<void>;
  /** Stops every process the record names. */
  stopRecorded(graceMs: number): Promise<void>;
}

type Unstamped<E> = E extends unknown ? Omit<E, 'now'> : never;
export type LoopEventInput = Unstamped<LoopEvent>;

export class Reconciler {
  private s: ReconcileState;
  private readonly queue: Action[] = [];
  private wake: () => void = () => undefined;
  private stopWake: () => void = () => undefined;

  private effects: ReconcileEffects | undefined;

  /** Events may be dispatched from construction on (an sshd dying before the ranks start, say). */
  constructor(
    state: ReconcileState,
    private readonly ports: ReconcilePorts,
  ) {
    this.s = state;
  }

  private get fx(): ReconcileEffects {
    if (!this.effects) throw new Error('reconcile: an action before the loop runs');
    return this.effects;
  }

  get state(): ReconcileState {
    return this.s;
  }

  /** Steps one event now (stamped with the clock) and schedules what it asks for. */
  dispatch(input: LoopEventInput): void {
    const ev = { ...input, now: this.ports.clock.now() } as LoopEvent;
    const r = step(this.s, ev);
    this.s = r.state;
    const serial: Action[] = [];
    for (const a of r.actions) {
      if (isFire(a)) this.fire(a);
      else serial.push(a);
    }
    if (isExternal(ev)) {
      this.queue.push(...serial);
      if (ev.kind === 'stop-requested') this.stopWake();
      if (ev.kind !== 'sshd-checked') this.wake();
    } else this.queue.unshift(...serial);
  }

  /** Starts every rank and runs until the service is over; returns the final state. */
  async run(effects: ReconcileEffects, stop?: AbortSignal): Promise<ReconcileState> {
    this.effects = effects;
    const onAbort = () => this.dispatch({ kind: 'stop-requested' });
    if (stop?.aborted) onAbort();
    else stop?.addEventListener('abort', onAbort, { once: true });
    try {
      this.dispatch({ kind: 'begin' });
      while (!this.s.finished) {
        const a = this.queue.shift();
        if (a?.kind === 'startRank') {
          // Ranks started together start at once (their record writes are batched by `save`).
          const batch = [a];
          for (let b = this.queue[0]; b?.kind === 'startRank'; b = this.queue[0]) {
            this.queue.shift();
            batch.push(b);
          }
          await Promise.all(batch.map((x) => this.startRank(x.rank, x.gen, x.restarted)));
          trace(`reconcile: ${batch.length} rank(s) started`);
        } else if (a) await this.exec(a);
        else {
          if (!isFinished(this.s)) this.fx.checkRecord();
          this.dispatch({ kind: 'turn' });
        }
      }
      return this.s;
    } finally {
      stop?.removeEventListener('abort', onAbort);
    }
  }

  private fire(a: Action): void {
    const fx = this.fx;
    switch (a.kind) {
      case 'emit':
        fx.emit(a.event);
        return;
      case 'saveDetached':
        void fx.save(a.what, a.apply).catch(() => undefined);
        return;
      case 'checkSshds':
        void (async () => {
          try {
            await Promise.all(
              a.ranks.map(async (rank) => {
                const ok = await fx.checkSshd(rank);
                this.dispatch({ kind: 'sshd-checked', rank, ok });
              }),
            );
          } finally {
            this.dispatch({ kind: 'sshd-check-done' });
          }
        })().catch(() => undefined);
        return;
      default:
        throw new Error(`reconcile: ${a.kind} is not a fire-and-forget action`);
    }
  }

  private async exec(a: Action): Promise<void> {
    const { fx, ports } = this;
    switch (a.kind) {
      case 'emit':
      case 'saveDetached':
      case 'checkSshds':
        this.fire(a);
        return;
      case 'startRank':
        return this.startRank(a.rank, a.gen, a.restarted);
      case 'stopRanks':
        await Promise.all(a.ranks.map((l) => ports.launcher.stopGroup(l.pid, l.startTime, a.graceMs)));
        return;
      case 'reap':
        return ports.launcher.stopGroup(a.pid, a.startTime, a.graceMs);
      case 'stopRecorded':
        return fx.stopRecorded(a.graceMs);
      case 'ensureSshds':
        return fx.ensureSshds(this.s.plan, a.ranks);
      case 'sshStopSessions':
        return fx.sshStopSessions(a.graceMs).catch(() => undefined);
      case 'sshCloseConnections':
        return fx.sshCloseConnections().catch(() => undefined);
      case 'writePlanFiles':
        return fx.writePlanFiles(a.plan, a.version);
      case 'readInventory': {
        const inventory = await fx.readInventory();
        this.dispatch({ kind: 'inventory', inventory });
        return;
      }
      case 'publish':
        return fx.publish(a.endpoints);
      case 'withdraw':
        return fx.withdraw();
      case 'probe': {
        const res = await runProbe(a.probe, a.target, ports.spawner);
        this.dispatch({ kind: 'probed', ok: res.ok, detail: res.detail });
        return;
      }
      case 'observe': {
        const sshd = await fx.sshdStatus();
        this.dispatch({ kind: 'observed', sshd });
        return;
      }
      case 'save':
        return fx.save(a.what, a.apply);
      case 'phase': {
        const { phase, ms } = a;
        await fx.save(`phase ${phase}`, (s) => {
          s.timings[phase] = ms;
        });
        fx.emit({ kind: 'phase', phase, ms });
        return;
      }
      case 'sleep':
        return this.sleep(a.ms);
      case 'wait':
        return this.idle();
      case 'next':
        this.dispatch(a.event);
        return;
    }
  }

  /** A restart's backoff: ends early on a stop request. */
  private async sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.s.stopRequested) return;
    await new Promise<void>((resolve) => {
      const cancel = this.ports.clock.after(ms, () => {
        this.stopWake = () => undefined;
        resolve();
      });
      this.stopWake = () => {
        cancel();
        this.stopWake = () => undefined;
        resolve();
      };
    });
  }

  /** The end of a turn: waits until something happens or the idle time is up (not at all if work waits). */
  private async idle(): Promise<void> {
    if (hasPendingWork(this.s)) return;
    const ms = idleWaitMs(this.s, this.ports.clock.now());
    await new Promise<void>((resolve) => {
      const cancel = this.ports.clock.after(ms, () => {
        this.wake = () => undefined;
        resolve();
      });
      this.wake = () => {
        cancel();
        this.wake = () => undefined;
        resolve();
      };
    });
  }

  /**
   * Starts one rank: its own process group, output appended to its log, the process recorded (pid + start
   * time) together with the rank's status in one record write.
   */
  private async startRank(rank: number, gen: number, restarted: boolean): Promise<void> {
    const { fx, ports } = this;
    const plan = this.s.plan;
    const rp = plan.ranks[rank];
    if (!rp) return;
    const { argv, options } = fx.rankLaunch(plan, rp);
    const proc = ports.launcher.launch(argv, options);
    const pid = proc.pid;
    /** Known once read; an exit before that reports '0' (the group is then found by its id alone). */
    const known: { startTime?: string } = {};
    let exited = false;
    proc.onExit((code, signal) => {
      exited = true;
      this.dispatch({
        kind: 'rank-exited',
        rank,
        gen,
        pid: pid ?? 0,
        startTime: known.startTime ?? '0',
        code,
        signal,
        at: ports.clock.now(),
      });
    });
    const st = pid === undefined ? undefined : await ports.launcher.startTime(pid);
    if (pid === undefined || st === undefined) return;
    known.startTime = st;
    this.dispatch({ kind: 'rank-started', rank, gen, pid, startTime: st, exited });
    fx.own({ kind: 'process', rank, pid, startTime: st });
    const startedAt = new Date(ports.clock.now()).toISOString();
    await fx.save(`rank ${rank} started`, (s) => {
      s.resources.push({ kind: 'process', rank, pid, startTime: st });
      const rs = s.ranks.find((x) => x.rank === rank);
      if (!rs) return;
      if (restarted) rs.restarts = (rs.restarts ?? 0) + 1;
      if (exited) return;
      Object.assign(rs, { pid, startTime: st, status: 'running', startedAt });
      delete rs.exitCode;
      delete rs.signal;
      delete rs.missingSince;
      delete rs.endedAt;
    });
  }
}
