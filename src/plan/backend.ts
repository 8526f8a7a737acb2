/**
 * Backend presets (seed 003, Dynamo's operator behaviour), as per-rank commands and probes:
 * - vllm: leader `ray start --head --port=6379 && <command>`; workers `ray start --address=<leader>:6379 --block`.
 * - sglang: every rank runs `<command> --dist-init-addr <leader>:29500 --nnodes N --node-rank R`.
 * - trtllm: the leader runs the command under `mpirun` over the SSH wrapper with every rank's host and
 *   `-x` propagation of the user's variables; workers wait (their sshd on 2222 serves the leader).
 * Probes: the leader keeps the spec's; vllm/sglang workers get none; trtllm workers get TCP on their sshd
 * port (initial delay 20 s, period 20 s, timeout 5 s, failure threshold 10). Backend commands run through
 * `/bin/sh -c`.
 */
import type { BackendKind, ProbeSpec } from '../api/spec.js';
import type { Part, RankCommand, Value } from '../api/plan.js';
import { SSH_WRAPPER_FILE } from '../api/plan.js';
import { LIST } from './env.js';
import { val } from './resolve.js';
import { DEFAULTS, IMPL_ENV } from '../api/names.js';
import { shQuote } from '../lib/shell.js';

export const SHELL = '/bin/sh';

export interface BackendContext {
  readonly kind: BackendKind;
  readonly command: string;
  readonly nodes: number;
  readonly gpusPerNode: number;
  /** The wrapper's local path: only to know whether the shell needs it quoted. */
  readonly sshWrapperPath: string;
  readonly userEnvKeys: readonly string[];
  readonly runAsRoot: boolean;
}

/**
 * A rank's command as symbolic argv: the leader's host, the host list, the cluster network and the wrapper
 * path are parts the target resolves (inside the `sh -c` text, where host names, addresses and interface
 * names need no quoting). Workers of vLLM and SGLang share one command (`--node-rank` is the rank's own).
 */
export function backendCommand(ctx: BackendContext, rank: number): RankCommand {
  const sh = (...cmd: (Part | Value)[]): RankCommand => ({
    argv: [[SHELL], ['-c'], val(...cmd)],
    kind: 'backend',
  });
  const leader = { host: 0 } as const;
  const n = ctx.nodes;
  switch (ctx.kind) {
    case 'vllm':
      return rank === 0
        ? sh(`ray start --head --port=${DEFAULTS.rayPort} && ${ctx.command}`)
        : sh('ray start --address=', leader, `:${DEFAULTS.rayPort} --block`);
    case 'sglang':
      return sh(
        `${ctx.command} --dist-init-addr `,
        leader,
        `:${DEFAULTS.sglangDistPort} --nnodes ${n} --node-rank `,
        { rank: 'self' },
      );
    case 'trtllm': {
      if (rank !== 0) return { argv: [], kind: 'wait' };
      const np = n * Math.max(1, ctx.gpusPerNode);
      const wrapper: Value =
        shQuote(ctx.sshWrapperPath) === ctx.sshWrapperPath
          ? [{ file: SSH_WRAPPER_FILE }]
          : ["'", { file: SSH_WRAPPER_FILE }, "'"];
      return sh(
        [
          'mpirun',
          ...(ctx.runAsRoot ? ['--allow-run-as-root'] : []),
          '--oversubscribe',
          '-np',
          String(np),
          '-H ',
        ].join(' '),
        { list: LIST.hostsSlots },
        ' --mca plm_rsh_agent ',
        wrapper,
        ' --mca btl_tcp_if_include ',
        { iface: true },
        ' --mca oob_tcp_if_include ',
        { iface: true },
        ' ',
        [
          '-x',
          IMPL_ENV.ompiKeepFqdn,
          ...[...new Set(ctx.userEnvKeys)].sort().flatMap((k) => ['-x', shQuote(k)]),
        ].join(' '),
        ` ${SHELL} -c ${shQuote(ctx.command)}`,
      );
    }
  }
}

export const TRTLLM_WORKER_PROBE = {
  failureThreshold: 10,
  initialDelaySeconds: 20,
  periodSeconds: 20,
  successThreshold: 1,
  timeoutSeconds: 5,
} as const;

/** The probe a rank gets: leader keeps the spec's; workers by backend (undefined = none). */
export function rankProbe(
  backend: BackendKind | undefined,
  rank: number,
  leaderProbe: ProbeSpec | undefined,
  sshPort: number,
): ProbeSpec | undefined {
  if (rank === 0) return leaderProbe;
  if (backend === 'trtllm') return { action: { kind: 'tcp', port: sshPort }, ...TRTLLM_WORKER_PROBE };
  return undefined;
}
