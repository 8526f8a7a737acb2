/**
 * The local target: the emulated cluster on this machine. Plans against the live inventory of a cluster
 * (read by the application layer through cluster.ts), ranks find their files in the service's state
 * directory and the SSH wrapper under `<state>/bin`, and ranks run as root when multinode does. Lifecycle
 * verbs are implemented by the supervisor, teardown, logs and node-exec modules.
 */
import type { PlanOptions } from '../../api/plan.js';
import { STATE } from '../../api/names.js';
import { defaultPlanOptions } from '../../plan/index.js';
import { stateRoot } from '../state-root.js';
import type { Target } from '../target.js';

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

export function localPlanOptions(seed: number): PlanOptions {
  const root = stateRoot();
  return defaultPlanOptions({
    target: 'local',
    seed,
    filesDir: `${root}/${STATE.servicesDir}/{service}/files`,
    sshWrapperPath: `${root}/bin/multinode-ssh`,
    runAsRoot: isRoot(),
  });
}

export const localTarget: Target = {
  name: 'local',
  planOptions: localPlanOptions,
  verbs: ['up', 'ps', 'logs', 'down', 'exec'],
};
