/**
 * The state directory every target keeps its records under: `$MULTINODE_STATE_DIR`, else
 * `/var/lib/multinode` for root, else `$XDG_STATE_HOME/multinode` (default `~/.local/state/multinode`).
 */
import { join } from 'node:path';
import { STATE } from '../api/names.js';

export function stateRoot(): string {
  const fromEnv = process.env[STATE.envVar];
  if (fromEnv) return fromEnv;
  if (process.getuid?.() === 0) return STATE.defaultRootDir;
  return join(
    process.env['XDG_STATE_HOME'] ?? join(process.env['HOME'] ?? '/tmp', '.local/state'),
    'multinode',
  );
}
