/**
 * Readiness probes on rank 0, run inside rank 0's network namespace (the host cannot reach ranks directly):
 * `tcp` connects with bash's /dev/tcp, `http` asks curl for the status (2xx/3xx = success, like Kubernetes).
 */
import type { ProbeSpec } from '../../api/spec.js';
import type { ProcessSpawner } from '../ports.js';
import { netnsExecArgv } from './node-exec.js';

export interface ProbeTarget {
  /** Network namespace to probe from; '' = this one (degraded mode). */
  readonly netns: string;
  readonly address: string;
  /** Port to probe (the host port in host mode). */
  readonly port: number;
}

export function probeArgv(probe: ProbeSpec, target: ProbeTarget): string[] {
  const t = String(Math.max(1, probe.timeoutSeconds));
  const pre = target.netns === '' ? [] : netnsExecArgv(target.netns);
  const a = probe.action;
  if (a.kind === 'tcp')
    return [
      ...pre,
      '/usr/bin/timeout',
      t,
      // --norc: bash reads ~/.bashrc when its stdin is a socket, as a spawned child's may be
      '/bin/bash',
      '--norc',
      '--noprofile',
      '-c',
      'exec 3<>"/dev/tcp/$0/$1"',
      target.address,
      String(target.port),
    ];
  const url = `${a.scheme}://${target.address}:${target.port}${a.path.startsWith('/') ? a.path : `/${a.path}`}`;
  return [...pre, '/usr/bin/curl', '-sk', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', t, url];
}

export async function runProbe(
  probe: ProbeSpec,
  target: ProbeTarget,
  spawner: ProcessSpawner,
): Promise<{ ok: boolean; detail: string }> {
  const r = await spawner.run(probeArgv(probe, target), {
    check: false,
    timeoutMs: (probe.timeoutSeconds + 2) * 1000,
  });
  if (probe.action.kind === 'tcp')
    return { ok: r.code === 0, detail: r.code === 0 ? 'connected' : 'refused' };
  const status = Number(r.stdout.trim());
  return {
    ok: status >= 200 && status < 400,
    detail: status > 0 ? `HTTP ${status}` : `no answer (curl ${r.code})`,
  };
}

/** Consecutive-result bookkeeping with Kubernetes' thresholds. */
export function nextProbeState(
  prev: { ready: boolean; successes: number; failures: number },
  ok: boolean,
  probe: Pick<ProbeSpec, 'successThreshold' | 'failureThreshold'>,
): { ready: boolean; successes: number; failures: number } {
  const successes = ok ? prev.successes + 1 : 0;
  const failures = ok ? 0 : prev.failures + 1;
  let ready = prev.ready;
  if (!ready && successes >= probe.successThreshold) ready = true;
  if (ready && failures >= probe.failureThreshold) ready = false;
  return { ready, successes, failures };
}
