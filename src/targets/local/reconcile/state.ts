/**
 * What the supervisor of one service knows while its ranks run: the reconcile loop's state. `step`
 * (step.ts) is the only thing that makes a new one; the interpreter (interpreter.ts) only reads it.
 * Plain data (no Maps, no functions), so a test can build one, step it and compare.
 */
import type { PlanOptions, ServicePlan } from '../../../api/plan.js';
import type { RestartSpec, Spec } from '../../../api/spec.js';
import type { EndpointState, FailoverState, RestartRecord } from '../service-state.js';

/** A rank's process this supervisor started and has not seen end. */
export interface LiveRank {
  readonly pid: number;
  readonly startTime: string;
  /** Generation: every start gets a new one, so exits of replaced processes are told apart. */
  readonly gen: number;
}

/** An exit waiting to be acted on (the policy decides in turn order). */
export interface SeenExit {
  readonly rank: number;
  readonly pid: number;
  readonly startTime: string;
  readonly gen: number;
  readonly code: number | null;
  readonly signal: string | null;
  readonly at: number;
  /** The rank's sshd exited (the rank's own process was then stopped): the rank counts as failed. */
  readonly sshd?: true;
}

/** An sshd exit not yet acted on (an sshd is part of its rank: its death is the rank failing). */
export interface SshdExit {
  readonly rank: number;
  readonly pid: number;
  readonly startTime: string;
  readonly code: number | null;
  readonly signal: string | null;
  readonly at: number;
}

export interface ProbeCounters {
  readonly ready: boolean;
  readonly successes: number;
  readonly failures: number;
}

/** Fixed for one run of the loop. */
export interface ReconcileConfig {
  readonly name: string;
  readonly restart: RestartSpec;
  /** A cluster (namespaces, DNAT endpoints); false in degraded mode (plain processes on loopback). */
  readonly cluster: boolean;
  /** Every rank runs an sshd (leader launch, MPI launchers) that the loop watches. */
  readonly ssh: boolean;
  /** Ranks whose exit 0 finishes the service: all of them (`launch: all`), else the leader. */
  readonly scriptRanks: readonly number[];
  /** Rank 0's network namespace, where probes run ('' = this one). */
  readonly rank0Netns: string;
  /** Re-planning on failover needs the spec and options the plan came from. */
  readonly spec?: Spec;
  readonly planOptions?: PlanOptions;
}

/** A restart being carried out (one failure handled at a time, as the policy decided). */
export interface RestartActivity {
  readonly kind: 'restart';
  /** Index of its record in `failover.history` when it was added (records are replaced, not mutated). */
  readonly rec: RestartRecord;
  readonly mode: 'rank' | 'group';
  readonly rank: number;
  readonly delayMs: number;
  /** When the current phase (stop, backoff, replan, spawn) began. */
  readonly since: number;
  /** A single-rank restart turned into a group recreation (its re-plan would move running ranks). */
  readonly escalated?: true;
}

export type Activity =
  | { readonly kind: 'idle' }
  | { readonly kind: 'starting'; readonly since: number }
  | RestartActivity
  | { readonly kind: 'replan'; readonly restart: RestartActivity; readonly since: number }
  | { readonly kind: 'finishing' };

export interface ReconcileState {
  readonly config: ReconcileConfig;
  /** The current plan (failover may re-plan host ports). */
  readonly plan: ServicePlan;
  readonly failover: FailoverState;
  readonly endpoints: readonly EndpointState[];
  readonly activity: Activity;

  /** Ranks alive, by rank number. */
  readonly live: Readonly<Record<number, LiveRank>>;
  /** The last generation handed out. */
  readonly gen: number;
  /** Exits of generations below this one are stale (a group recreation replaced them). */
  readonly minGen: number;
  /** Generations stopped on purpose (their exits are not failures). */
  readonly intended: readonly number[];
  /** Ranks that exited 0 (they are not restarted). */
  readonly done: readonly number[];
  /** Since when a rank has been missing (ms), by rank. */
  readonly missingSince: Readonly<Record<number, number>>;
  readonly seen: readonly SeenExit[];
  readonly sshdExits: readonly SshdExit[];
  /** Ranks whose sshd did not answer at the last check. */
  readonly sshdDown: readonly number[];
  readonly sshdCheckAt: number;
  readonly sshdChecking: boolean;
  /** Whether sshd exits still count (false once the service is finishing). */
  readonly supervising: boolean;

  readonly published: boolean;
  readonly groupReady: boolean;
  readonly everReady: boolean;
  /** The restart whose "ready again" time is still to be recorded. */
  readonly openRestart?: RestartRecord;
  readonly probe: ProbeCounters;
  readonly nextProbe: number;
  readonly probeDetail: string;
  /** When the ranks were first all started (the `ready` phase counts from here). */
  readonly started: number;
  /** The last group readiness written (so an unchanged one is not written again). */
  readonly lastGroup: string;
  readonly readySince?: number;

  readonly failure?: { readonly code: number; readonly why: string };
  readonly stopRequested: boolean;
  /** Set when the loop is over: every rank stopped, the record left to the caller to close. */
  readonly finished?: { readonly stopped: boolean; readonly code: number };
}

export function initialState(
  config: ReconcileConfig,
  plan: ServicePlan,
  failover: FailoverState,
  endpoints: readonly EndpointState[],
  now: number,
): ReconcileState {
  return {
    config,
    plan,
    failover,
    endpoints,
    activity: { kind: 'idle' },
    live: {},
    gen: 0,
    minGen: 0,
    intended: [],
    done: [],
    missingSince: {},
    seen: [],
    sshdExits: [],
    sshdDown: [],
    sshdCheckAt: now,
    sshdChecking: false,
    supervising: true,
    published: false,
    groupReady: false,
    everReady: failover.ledger.everReady,
    probe: { ready: false, successes: 0, failures: 0 },
    nextProbe: now,
    probeDetail: 'no answer yet',
    started: now,
    lastGroup: '',
    stopRequested: false,
  };
}
