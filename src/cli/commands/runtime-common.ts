/** Helpers shared by the local-runtime commands (up, ps, logs, exec, down, cluster). */
import { MultinodeError } from '../../api/issues.js';

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

export function requireRoot(what: string): void {
  if (!isRoot())
    throw new MultinodeError(
      'runtime.not-root',
      `\`multinode ${what}\` needs root (network namespaces, veth links, nftables); run it with sudo`,
    );
}
