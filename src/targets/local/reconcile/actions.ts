/**
 * What the reconcile loop asks the interpreter to do. Every action is data (plus, for record writes, the
 * change to apply to the record). Actions run one after the other in the order `step` returned them, except
 * the `fire` kinds (reports and background checks), which start at once and are not waited for.
 *
 * Starting and stopping a rank are one action each (`startRank`, `stopRanks`): how a rank runs (a process
 * group today, a container later) is the interpreter's business, not the loop's.
 */
import type { ProbeSpec } from '../../../api/spec.js';
import type { ServicePlan } from '../../../api/plan.js';
import type { EndpointState, ServiceState } from '../service-state.js';
import type { Continuation, SupervisorEvent } from './events.js';
import type { LiveRank } from './state.js';

/** A change to the service record, applied under its lock (a closed record stops the loop). */
export interface Save {
  readonly kind: 'save';
  /** What is written, for logs and tests. */
  readonly what: string;
  readonly apply: (s: ServiceState) => void;
}

export type Action =
  /** Starts rank `rank` of the current plan as generation `gen` and records it (process + rank status). */
  | { readonly kind: 'startRank'; readonly rank: number; readonly gen: number; readonly restarted: boolean }
  /** Stops these ranks on purpose (TERM, KILL after `graceMs`); resolves when they are gone. */
  | {
      readonly kind: 'stopRanks';
      readonly ranks: readonly (LiveRank & { readonly rank: number })[];
      readonly graceMs: number;
    }
  /** Stops what is left of an ended process's group (a rank's grandchildren never outlive it). */
  | { readonly kind: 'reap'; readonly pid: number; readonly startTime: string; readonly graceMs: number }
  /** Stops every process the record names (after the loop: nothing of the service keeps running). */
  | { readonly kind: 'stopRecorded'; readonly graceMs: number }
  /** Starts the sshd of each rank given that has none, and waits until they answer. */
  | { readonly kind: 'ensureSshds'; readonly ranks: readonly number[] }
  /** Ends what the leader started on other ranks through the ssh wrapper. */
  | { readonly kind: 'sshStopSessions'; readonly graceMs: number }
  /** Closes the wrapper's shared ssh connections (a restarted rank has a new sshd). */
  | { readonly kind: 'sshCloseConnections' }
  /** Writes the plan's files (hostfile, cluster.json with this version, …). */
  | { readonly kind: 'writePlanFiles'; readonly plan: ServicePlan; readonly version: number }
  /** Reads the cluster's inventory without this service's holdings; answers `inventory`. */
  | { readonly kind: 'readInventory' }
  | { readonly kind: 'publish'; readonly endpoints: readonly EndpointState[] }
  | { readonly kind: 'withdraw' }
  /** Probes rank 0; answers `probed`. */
  | {
      readonly kind: 'probe';
      readonly probe: ProbeSpec;
      readonly target: { readonly netns: string; readonly address: string; readonly port: number };
    }
  /** Asks every rank's sshd whether it answers, in the background; answers `sshd-checked` per rank. */
  | { readonly kind: 'checkSshds'; readonly ranks: readonly number[] }
  /** Looks whether the sshd processes are still the ones started; answers `observed`. */
  | { readonly kind: 'observe' }
  | Save
  /** A record write nobody waits for (a failed one is ignored). */
  | { readonly kind: 'saveDetached'; readonly what: string; readonly apply: (s: ServiceState) => void }
  /** A phase's time, written to the record and reported. */
  | { readonly kind: 'phase'; readonly phase: string; readonly ms: number }
  | { readonly kind: 'emit'; readonly event: SupervisorEvent }
  /** Waits `ms`, cut short by a stop request (a restart's backoff). */
  | { readonly kind: 'sleep'; readonly ms: number }
  /**
   * The end of a turn: waits for something to happen, at most as long as `idleWaitMs` says, and not at all
   * when work is pending already.
   */
  | { readonly kind: 'wait' }
  /** Resumes the loop with this continuation once everything before it is done. */
  | { readonly kind: 'next'; readonly event: Continuation };

/** Actions that start at once and are not waited for. */
export function isFire(a: Action): boolean {
  return a.kind === 'emit' || a.kind === 'saveDetached' || a.kind === 'checkSshds';
}
