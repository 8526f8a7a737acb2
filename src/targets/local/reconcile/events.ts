/**
 * What the reconcile loop is told: what the supervisor reports outward (`SupervisorEvent`) and what comes
 * in (`LoopEvent`): things that happened (a rank exited, an sshd died, `down` asked to stop) and results of
 * the loop's own actions (a probe answered, the inventory was read, a stop finished).
 */
import type { Inventory } from '../../../api/inventory.js';
import type { LiveRank, SeenExit, SshdExit } from './state.js';

/** What the supervisor reports to whoever runs it (`up` prints these). */
export type SupervisorEvent =
  | { readonly kind: 'note'; readonly message: string }
  | { readonly kind: 'phase'; readonly phase: string; readonly ms: number }
  | {
      readonly kind: 'rank-exit';
      readonly rank: number;
      readonly code: number | null;
      readonly signal: string | null;
    }
  | { readonly kind: 'ready'; readonly endpoints: readonly string[] }
  | { readonly kind: 'not-ready'; readonly detail: string }
  | {
      readonly kind: 'restart';
      readonly action: 'restart-rank' | 'recreate-group' | 'fail';
      readonly ranks: readonly number[];
      readonly reason: string;
    };

/**
 * Continuations: the loop asked for a `next` action after some work and now resumes where it left off.
 * (The work before it ran in order; these carry what the loop needs to go on.)
 */
export type Continuation =
  /** Every rank of the first start was spawned. */
  | { readonly kind: 'ranks-started' }
  /** The first start is written down: readiness watching begins. */
  | { readonly kind: 'watch' }
  /** What was left of a dead sshd's group is gone. */
  | { readonly kind: 'sshd-reaped'; readonly exit: SshdExit }
  /** The rank of a dead sshd was stopped. */
  | { readonly kind: 'sshd-stopped'; readonly exit: SshdExit; readonly live: LiveRank }
  /** What was left of an exited rank's group is gone: the policy decides now. */
  | { readonly kind: 'exit-reaped'; readonly exit: SeenExit }
  /** Every rank of a group being recreated was stopped. */
  | { readonly kind: 'group-stopped' }
  /** The restart's backoff is over (or a stop cut it short). */
  | { readonly kind: 'backoff-done' }
  /** Re-pick ports for the restarting ranks now. */
  | { readonly kind: 'repick' }
  /** Ports were re-picked (or could not be and the old ones stay), or the re-plan would move running ranks. */
  | { readonly kind: 'repicked'; readonly outcome: 'ok' | 'escalate' }
  /** The restarted ranks were spawned. */
  | { readonly kind: 'spawned' }
  /** The service is over: every rank stopped. */
  | { readonly kind: 'all-stopped' };

type Stamped<T> = T & { readonly now: number };

export type LoopEvent = Stamped<
  | Continuation
  /** Start every rank (the service's network, files and sshd are ready). */
  | { readonly kind: 'begin' }
  /** One turn of the loop: act on the next exit, probe when due, judge readiness, then wait. */
  | { readonly kind: 'turn' }
  | {
      readonly kind: 'rank-started';
      readonly rank: number;
      readonly gen: number;
      readonly pid: number;
      readonly startTime: string;
      /** It ended before it could be recorded as running. */
      readonly exited: boolean;
    }
  | ({ readonly kind: 'rank-exited' } & Omit<SeenExit, 'sshd'>)
  | ({ readonly kind: 'sshd-exited' } & SshdExit)
  /** One rank's sshd answered (or not) at the periodic check. */
  | { readonly kind: 'sshd-checked'; readonly rank: number; readonly ok: boolean }
  | { readonly kind: 'sshd-check-done' }
  /** `down`, or the caller's abort signal. */
  | { readonly kind: 'stop-requested' }
  | { readonly kind: 'probed'; readonly ok: boolean; readonly detail: string }
  /** Which ranks' sshd processes are still the ones started (only ranks that have one are named). */
  | { readonly kind: 'observed'; readonly sshd: Readonly<Record<number, 'ok' | 'gone'>> }
  | { readonly kind: 'inventory'; readonly inventory: Inventory }
>;

/** Events from outside the loop's own actions: they may arrive at any time and wake a waiting loop. */
export function isExternal(e: LoopEvent): boolean {
  return (
    e.kind === 'rank-exited' ||
    e.kind === 'sshd-exited' ||
    e.kind === 'sshd-checked' ||
    e.kind === 'sshd-check-done' ||
    e.kind === 'stop-requested'
  );
}
