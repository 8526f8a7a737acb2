/** Helpers shared by the local-runtime commands (up, ps, logs, exec, down, cluster). */
import { join } from 'node:path';
import { EXIT, MultinodeError } from '../../api/issues.js';
import { isRoot } from '../../targets/local/target.js';
import { clusterDir } from '../../targets/local/paths.js';
import { readServiceState } from '../../targets/local/service-state.js';
import type { ServiceState } from '../../targets/local/service-state.js';

export { isRoot } from '../../targets/local/target.js';

export function requireRoot(what: string): void {
  if (!isRoot())
    throw new MultinodeError(
      'runtime.not-root',
      `\`multinode ${what}\` needs root (network namespaces, veth links, nftables); run it with sudo`,
    );
}

/** The recorded state of service `name`; bad input (exit 2) naming it when no such service runs. */
export async function requireServiceState(name: string): Promise<ServiceState> {
  const state = await readServiceState(name);
  if (!state)
    throw new MultinodeError('runtime.no-service', `no service named "${name}" (see \`multinode ps\`)`, {
      exitCode: EXIT.badInput,
    });
  return state;
}

/** Where `cluster create --slurm` keeps the Slurm cluster of an emulated cluster. */
export function slurmStateDir(cluster: string): string {
  return join(clusterDir(cluster), 'slurm');
}

/** `multinode ps | head`: a closed stdout ends the command quietly instead of crashing on EPIPE. */
export function quietOnClosedStdout(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}
