/**
 * `down` on the local target: stop a service, or every service of a spec file, and remove everything it
 * created. Idempotent; works after a crash.
 */
import { existsSync, statSync } from 'node:fs';
import { checkedName } from '../targets/state-root.js';
import { downService } from '../targets/local/teardown.js';
import type { DownResult } from '../targets/local/teardown.js';
import { readSpecFile } from './input.js';
import { downReplicaSet } from './scale.js';
import type { Reporter } from './reporter.js';
import { silentReporter } from './reporter.js';

export interface DownLocalOptions {
  /** Between SIGTERM and SIGKILL for the ranks. */
  readonly graceMs?: number;
  readonly reporter?: Reporter;
}

/**
 * The service names `down` acts on: those of the spec file when `target` is one, else `target` itself,
 * which must then be a valid service name (exit 2 otherwise: `down ..` must never name a directory).
 */
export function downNames(target: string): string[] {
  if (existsSync(target) && statSync(target).isFile())
    return readSpecFile(target).spec.services.map((s) => checkedName('service', s.name));
  return [checkedName('service', target)];
}

export async function downLocal(
  target: string,
  opts: DownLocalOptions = {},
): Promise<{ readonly name: string; readonly result: DownResult }[]> {
  const report = opts.reporter ?? silentReporter;
  const out: { name: string; result: DownResult }[] = [];
  for (const name of downNames(target)) {
    // A replicated service: every gang, then its endpoint controller and table (app/scale.ts).
    const started = Date.now();
    if (
      await downReplicaSet(name, {
        ...(opts.graceMs !== undefined ? { graceMs: opts.graceMs } : {}),
        onProgress: (m) => report.progress(`${name}: ${m}`),
      })
    ) {
      out.push({ name, result: { existed: true, ms: Date.now() - started } });
      continue;
    }
    const result = await downService(name, {
      ...(opts.graceMs !== undefined ? { graceMs: opts.graceMs } : {}),
      onProgress: (m) => report.progress(`${name}: ${m}`),
    });
    out.push({ name, result });
  }
  return out;
}
