/**
 * NODE_EXTRA_CA_CERTS makes node parse a whole CA bundle when it starts (~35 ms of CPU on the test machine,
 * more than the rest of a `ps`), and multinode's own processes make no TLS client connection (they only
 * serve TLS). So `./multinode` starts node without it, handing its value over in SAVED_CA_VAR, and the
 * program puts it back first thing (`restoreCaEnv`, from main): every process multinode starts (ranks,
 * podman, sbatch, kubectl) gets the environment the user gave. A detached supervisor is started the same way
 * (`selfSpawnEnv`).
 */
export const SAVED_CA_VAR = 'MULTINODE_NODE_EXTRA_CA_CERTS';

/** Puts NODE_EXTRA_CA_CERTS back from SAVED_CA_VAR (the launcher's hand-over), once, before anything runs. */
export function restoreCaEnv(env: NodeJS.ProcessEnv = process.env): void {
  const saved = env[SAVED_CA_VAR];
  if (saved === undefined) return;
  delete env[SAVED_CA_VAR];
  if (env['NODE_EXTRA_CA_CERTS'] === undefined) env['NODE_EXTRA_CA_CERTS'] = saved;
}

/** The environment to start this program again with (a detached supervisor): the CA bundle handed over. */
export function selfSpawnEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const ca = env['NODE_EXTRA_CA_CERTS'];
  if (ca === undefined || ca === '') return env;
  const out: NodeJS.ProcessEnv = { ...env, [SAVED_CA_VAR]: ca };
  delete out['NODE_EXTRA_CA_CERTS'];
  return out;
}
