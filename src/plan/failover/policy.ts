/**
 * Restart decisions for a supervised group, as a pure function of what happened and what was spent.
 *
 * Policies (spec `restart.policy`):
 * - `never`: any failed rank fails the service; it is left for inspection.
 * - `on-failure`: a rank that fails (non-zero exit or killed) is restarted alone; one that exits 0 is done.
 * - `exit-code`: like `on-failure`, but only for exit codes that mean "killed or transient" (128–255, i.e.
 *   death by a signal, as Kubeflow/KubeDL's ExitCode policy); 1–127 are permanent and fail the service.
 * - `recreate-group`: any rank that fails stops every rank and the whole group starts again (LWS's
 *   RecreateGroupOnPodRestart, the default for more than one rank).
 * Budget: restarts after the group first became ready spend `maxRestarts`; restarts before that spend
 * `maxStartupRestarts` instead, so slow starts (image pulls, model loads) do not burn the serving budget
 * (LWS RecreateGroupAfterStart). Spent budget → `fail`. Backoff doubles per consecutive failure, capped.
 * A rank's process that exits 0 is never restarted; when every rank has exited 0 the service completed.
 */
import type { RestartSpec } from '../../api/spec.js';

export interface RankExit {
  readonly rank: number;
  /** Exit code when it exited, null when killed by a signal. */
  readonly code: number | null;
  /** Signal number when killed by a signal. */
  readonly signal: number | null;
}

export interface RestartLedger {
  /** Whether the group has been ready at least once. */
  readonly everReady: boolean;
  readonly restartsAfterStart: number;
  readonly restartsBeforeStart: number;
  /** Failures since the group was last ready (drives the backoff). */
  readonly consecutiveFailures: number;
}

export type RestartDecision =
  | { readonly action: 'done'; readonly reason: string }
  | {
      readonly action: 'restart-rank';
      readonly rank: number;
      readonly delaySeconds: number;
      readonly reason: string;
    }
  | { readonly action: 'recreate-group'; readonly delaySeconds: number; readonly reason: string }
  | { readonly action: 'fail'; readonly reason: string };

/** Shell-style status: the code, or 128 + signal number for a rank killed by a signal. */
export function exitStatus(exit: RankExit): number {
  if (exit.code !== null) return exit.code;
  return 128 + (exit.signal ?? 0);
}

export function isSuccess(exit: RankExit): boolean {
  return exit.code === 0;
}

/** KubeDL/Kubeflow ExitCode semantics: 128–255 (killed by a signal: SIGKILL 137, SIGTERM 143…) are retryable. */
export function isRetryableExitStatus(status: number): boolean {
  return status >= 128;
}

export function backoffSeconds(spec: RestartSpec, consecutiveFailures: number): number {
  if (consecutiveFailures <= 0) return 0;
  const raw = spec.backoffSeconds * 2 ** Math.min(consecutiveFailures - 1, 30);
  return Math.min(raw, spec.backoffMaxSeconds);
}

function describe(exit: RankExit): string {
  return exit.code !== null
    ? `rank ${exit.rank} exited with code ${exit.code}`
    : `rank ${exit.rank} was killed by signal ${exit.signal ?? '?'}`;
}

/**
 * Decides what to do after `exit`. `allDone` says whether every other rank has already exited 0
 * (then a successful exit completes the service).
 */
export function decideRestart(
  spec: RestartSpec,
  ledger: RestartLedger,
  exit: RankExit,
  allDone: boolean,
): RestartDecision {
  if (isSuccess(exit)) {
    return allDone
      ? { action: 'done', reason: 'every rank exited 0' }
      : { action: 'done', reason: `rank ${exit.rank} exited 0; it is not restarted` };
  }
  const what = describe(exit);
  if (spec.policy === 'never') return { action: 'fail', reason: `${what}; restart policy is never` };
  if (spec.policy === 'exit-code' && !isRetryableExitStatus(exitStatus(exit))) {
    return { action: 'fail', reason: `${what}: a permanent failure (1–127) under restart policy exit-code` };
  }
  const [spent, budget, label] = ledger.everReady
    ? [ledger.restartsAfterStart, spec.maxRestarts, 'max-restarts']
    : [ledger.restartsBeforeStart, spec.maxStartupRestarts, 'max-startup-restarts'];
  if (spent >= budget) return { action: 'fail', reason: `${what}; ${label} (${budget}) spent` };
  const delaySeconds = backoffSeconds(spec, ledger.consecutiveFailures + 1);
  if (spec.policy === 'recreate-group') {
    return { action: 'recreate-group', delaySeconds, reason: `${what}; recreating the group` };
  }
  return { action: 'restart-rank', rank: exit.rank, delaySeconds, reason: `${what}; restarting it` };
}

/** The ledger after carrying out `decision`. */
export function recordRestart(ledger: RestartLedger, decision: RestartDecision): RestartLedger {
  if (decision.action !== 'restart-rank' && decision.action !== 'recreate-group') return ledger;
  return ledger.everReady
    ? {
        ...ledger,
        restartsAfterStart: ledger.restartsAfterStart + 1,
        consecutiveFailures: ledger.consecutiveFailures + 1,
      }
    : {
        ...ledger,
        restartsBeforeStart: ledger.restartsBeforeStart + 1,
        consecutiveFailures: ledger.consecutiveFailures + 1,
      };
}

/** The ledger when the group becomes ready (again). */
export function recordReady(ledger: RestartLedger): RestartLedger {
  return { ...ledger, everReady: true, consecutiveFailures: 0 };
}

export const EMPTY_LEDGER: RestartLedger = {
  everReady: false,
  restartsAfterStart: 0,
  restartsBeforeStart: 0,
  consecutiveFailures: 0,
};
