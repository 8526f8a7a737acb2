/** Helpers shared by the local-runtime commands (up, ps, logs, exec, down, cluster). */
import { MultinodeError } from '../../api/issues.js';
import { isRoot } from '../../targets/local/target.js';

export { isRoot } from '../../targets/local/target.js';

export function requireRoot(what: string): void {
  if (!isRoot())
    throw new MultinodeError(
      'runtime.not-root',
      `\`multinode ${what}\` needs root (network namespaces, veth links, nftables); run it with sudo`,
    );
}

export { requireServiceState } from '../../app/logs.js';

export { slurmStateDir } from '../../app/cluster.js';

/** `multinode ps | head`: a closed stdout ends the command quietly instead of crashing on EPIPE. */
export function quietOnClosedStdout(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}
