/**
 * Host ports released on failover cool down before reuse, so a restarted rank never binds a port whose
 * old connections may still sit in TIME_WAIT (Backend.AI's agent port pool does the same). The pool only
 * remembers releases; the planner picks ports and is told which ones are cooling (`PlanOptions.coolingPorts`).
 * Time comes in as an argument (milliseconds), so this stays testable without a clock.
 */

export interface CoolingEntry {
  readonly node: string;
  readonly port: number;
  /** When the port may be used again (ms since the epoch). */
  readonly until: number;
}

/** Default cool-down: twice Linux's 60 s TIME_WAIT. */
export const DEFAULT_COOLDOWN_MS = 120_000;

export function releasePorts(
  cooling: readonly CoolingEntry[],
  node: string,
  ports: readonly number[],
  now: number,
  cooldownMs = DEFAULT_COOLDOWN_MS,
): CoolingEntry[] {
  const kept = cooling.filter((c) => c.until > now && !(c.node === node && ports.includes(c.port)));
  return [...kept, ...ports.map((port) => ({ node, port, until: now + cooldownMs }))];
}

/** Ports still cooling at `now`, by node, in the shape `PlanOptions.coolingPorts` takes. */
export function coolingByNode(cooling: readonly CoolingEntry[], now: number): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const c of cooling) {
    if (c.until <= now) continue;
    (out[c.node] ??= []).push(c.port);
  }
  for (const ports of Object.values(out)) ports.sort((a, b) => a - b);
  return out;
}
