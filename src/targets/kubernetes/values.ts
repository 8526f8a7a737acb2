/** Small pure conversions from plan values to Kubernetes values (quantities, probes, escaping, paths). */
import type { ProbeSpec, RestartPolicy } from '../../api/spec.js';
import { ENV } from '../../api/names.js';

export type Json = Record<string, unknown>;

/** `docker://registry/image:tag` → `registry/image:tag`. */
export function imageRef(uri: string): string {
  return uri.replace(/^docker:\/\//, '');
}

/** Kubernetes expands `$(VAR)` in env values, command and args; `$$` is a literal `$`. */
export function escapeK8sExpansion(value: string): string {
  return /\$[($]/.test(value) ? value.replace(/\$/g, '$$$$') : value;
}

/** CPU quantity: whole cores as a number string, fractions in millicores (`0.5` → `500m`). */
export function cpuQuantity(cores: number): string {
  return Number.isInteger(cores) ? String(cores) : `${Math.ceil(cores * 1000)}m`;
}

/** Memory quantity: exact binary or decimal unit where one fits, else bytes. */
export function memoryQuantity(bytes: number): string {
  const units: [number, string][] = [
    [2 ** 40, 'Ti'],
    [2 ** 30, 'Gi'],
    [1e12, 'T'],
    [1e9, 'G'],
    [2 ** 20, 'Mi'],
    [1e6, 'M'],
  ];
  for (const [size, suffix] of units) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${suffix}`;
  }
  return String(bytes);
}

export function probeToK8s(p: ProbeSpec, portMap: (port: number) => number): Json {
  const action: Json =
    p.action.kind === 'tcp'
      ? { tcpSocket: { port: portMap(p.action.port) } }
      : {
          httpGet: {
            path: p.action.path,
            port: portMap(p.action.port),
            scheme: p.action.scheme === 'https' ? 'HTTPS' : 'HTTP',
          },
        };
  return {
    ...action,
    failureThreshold: p.failureThreshold,
    initialDelaySeconds: p.initialDelaySeconds,
    periodSeconds: p.periodSeconds,
    successThreshold: p.successThreshold,
    timeoutSeconds: p.timeoutSeconds,
  };
}

export function lwsRestartPolicy(policy: RestartPolicy): string {
  // Pods of a LeaderWorkerSet always restart in place (StatefulSet pods); only group recreation is a choice.
  return policy === 'recreate-group' ? 'RecreateGroupOnPodRestart' : 'None';
}

export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Longest common directory of absolute paths (`/` when none). */
export function commonDir(paths: readonly string[]): string {
  const dirs = paths.map((p) => p.split('/').slice(0, -1));
  const first = dirs[0] ?? [''];
  let n = first.length;
  for (const d of dirs) {
    let i = 0;
    while (i < n && i < d.length && d[i] === first[i]) i++;
    n = i;
  }
  const dir = first.slice(0, n).join('/');
  return dir === '' ? '/' : dir;
}

/**
 * A rank's environment as its pod must see it. The one documented difference from the plan:
 * `CUDA_VISIBLE_DEVICES` lists the rank's GPUs as the container numbers them (`0…n-1`; the device plugin
 * exposes only the pod's GPUs), not the node indices the planner chose.
 */
export function kubernetesEnv(env: Readonly<Record<string, string>>): Record<string, string> {
  const out = { ...env };
  const cuda = out[ENV.cudaVisibleDevices];
  if (cuda !== undefined && /^\d+(,\d+)*$/.test(cuda)) {
    out[ENV.cudaVisibleDevices] = cuda
      .split(',')
      .map((_, i) => String(i))
      .join(',');
  }
  return out;
}
