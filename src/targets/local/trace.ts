/**
 * Start-up trace for finding where the time of `up` goes: with MULTINODE_TRACE=1 in the environment, each
 * `trace(label)` writes one line `multinode-trace <epoch ms> <pid> <label>` to stderr (the supervisor's
 * stderr is its log). Epoch milliseconds, so lines of the CLI, the supervisor and a bench line up.
 * Off (a no-op) otherwise.
 */
import { performance } from 'node:perf_hooks';

const on = process.env['MULTINODE_TRACE'] === '1';

export function trace(label: string): void {
  if (!on) return;
  const t = performance.timeOrigin + performance.now();
  process.stderr.write(`multinode-trace ${t.toFixed(1)} ${process.pid} ${label}\n`);
}
