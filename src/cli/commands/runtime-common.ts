/** Helpers shared by the local-runtime commands (up, ps, logs, exec, down, cluster). */
import { EXIT, MultinodeError } from '../../api/issues.js';
import { isRoot } from '../../targets/local/target.js';
import { readServiceState } from '../../targets/local/service-state.js';
import { checkedName } from '../../targets/state-root.js';
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
  const state = await readServiceState(checkedName('service', name));
  if (!state)
    throw new MultinodeError('runtime.no-service', `no service named "${name}" (see \`multinode ps\`)`, {
      exitCode: EXIT.badInput,
    });
  return state;
}

export { slurmStateDir } from '../../app/cluster.js';

/** `multinode ps | head`: a closed stdout ends the command quietly instead of crashing on EPIPE. */
export function quietOnClosedStdout(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}
