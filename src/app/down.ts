/**
 * `down` on the local target: stop a service, or every service of a spec file, and remove everything it
 * created. Idempotent; works after a crash. The service's `data` volume goes too unless it persists;
 * `--volumes` also removes a persisted `data` volume and the named volumes the service mounts that no other
 * recorded service mounts (see targets/local/volumes.ts).
 */
import { existsSync, statSync } from 'node:fs';
import type { MountSpec, Spec } from '../api/spec.js';
import { checkedName } from '../targets/state-root.js';
import { downService } from '../targets/local/teardown.js';
import type { DownResult } from '../targets/local/teardown.js';
import { listServiceStates, readServiceState } from '../targets/local/service-state.js';
import { mountedReferences, removeServiceVolumes } from '../targets/local/volumes.js';
import type { RemovedVolumes } from '../targets/local/volumes.js';
import { readSpecFile } from './input.js';
import { downReplicaSet } from './scale.js';
import type { Reporter } from './reporter.js';
import { silentReporter } from './reporter.js';

export interface DownLocalOptions {
  /** Between SIGTERM and SIGKILL for the ranks. */
  readonly graceMs?: number;
  readonly reporter?: Reporter;
  /** `--volumes`: remove persisted `data` volumes and unshared named volumes too. */
  readonly volumes?: boolean;
}

/** What the spec file says about one service's volumes (when `down` is given a file). */
interface FileService {
  readonly name: string;
  readonly persist: boolean;
  readonly mounts: readonly MountSpec[];
  readonly spec: Pick<Spec, 'volumes'>;
}

function fileServices(target: string): FileService[] | undefined {
  if (!(existsSync(target) && statSync(target).isFile())) return undefined;
  const { spec } = readSpecFile(target);
  return spec.services.map((s) => ({
    name: checkedName('service', s.name),
    persist: s.persist,
    mounts: s.mounts,
    spec,
  }));
}

/**
 * The service names `down` acts on: those of the spec file when `target` is one, else `target` itself,
 * which must then be a valid service name (exit 2 otherwise: `down ..` must never name a directory).
 */
export function downNames(target: string): string[] {
  return fileServices(target)?.map((s) => s.name) ?? [checkedName('service', target)];
}

export async function downLocal(
  target: string,
  opts: DownLocalOptions = {},
): Promise<{ readonly name: string; readonly result: DownResult; readonly volumes: RemovedVolumes }[]> {
  const report = opts.reporter ?? silentReporter;
  const fromFile = fileServices(target);
  const names = fromFile?.map((s) => s.name) ?? [checkedName('service', target)];
  const out: { name: string; result: DownResult; volumes: RemovedVolumes }[] = [];
  for (const name of names) {
    // A replicated service: every gang, then its endpoint controller and table (app/scale.ts).
    const started = Date.now();
    if (
      await downReplicaSet(name, {
        ...(opts.graceMs !== undefined ? { graceMs: opts.graceMs } : {}),
        onProgress: (m) => report.progress(`${name}: ${m}`),
      })
    ) {
      out.push({
        name,
        result: { existed: true, ms: Date.now() - started },
        volumes: { removed: [], kept: [] },
      });
      continue;
    }
    // What the record says wins (it is what ran); the file is the fallback for a service that is not up.
    const state = await readServiceState(name);
    const file = fromFile?.find((s) => s.name === name);
    const persist = state?.plan.persist ?? file?.persist ?? true;
    const references = state
      ? mountedReferences(state.plan.mounts, state.spec)
      : file
        ? mountedReferences(file.mounts, file.spec)
        : [];
    const result = await downService(name, {
      ...(opts.graceMs !== undefined ? { graceMs: opts.graceMs } : {}),
      onProgress: (m) => report.progress(`${name}: ${m}`),
    });
    const inUse = new Set(
      (await listServiceStates())
        .filter((s) => s.name !== name)
        .flatMap((s) => mountedReferences(s.plan.mounts, s.spec)),
    );
    // A service with no record (and no file saying otherwise) keeps its data unless --volumes asks.
    const volumes = await removeServiceVolumes(name, {
      persist: state || file ? persist : true,
      volumes: opts.volumes === true,
      references,
      inUse,
    });
    if (volumes.kept.length > 0 && opts.volumes !== true)
      report.progress(`${name}: kept ${volumes.kept.join(', ')} (persist; --volumes removes it)`);
    out.push({ name, result, volumes });
  }
  return out;
}
