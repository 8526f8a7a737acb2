/**
 * Start-up trace for finding where the time of `up` goes: with MULTINODE_TRACE=1 in the environment, each
 * `trace(label)` writes one line `multinode-trace <epoch ms> <pid> <label> (+<ms since this process
 * started>)` to stderr (the supervisor's stderr is its log). Epoch milliseconds, so lines of the CLI, the
 * supervisor and a bench line up; the process's own age shows what its start-up cost.
 * Off (a no-op) otherwise.
 */
import { performance } from 'node:perf_hooks';

const on = process.env['MULTINODE_TRACE'] === '1';

export function trace(label: string): void {
  if (!on) return;
  const age = performance.now();
  const t = performance.timeOrigin + age;
  process.stderr.write(`multinode-trace ${t.toFixed(1)} ${process.pid} ${label} (+${age.toFixed(0)})\n`);
}
