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
import type { RankCommand } from '../api/plan.js';
import { DEFAULTS, IMPL_ENV } from '../api/names.js';
import { shQuote } from '../lib/shell.js';

export const SHELL = '/bin/sh';

export interface BackendContext {
  readonly kind: BackendKind;
  readonly command: string;
  readonly leaderHost: string;
  readonly hosts: readonly string[];
  readonly slots: number;
  readonly gpusPerNode: number;
  readonly subnet: string;
  readonly sshWrapperPath: string;
  readonly userEnvKeys: readonly string[];
  readonly runAsRoot: boolean;
}

export function backendCommand(ctx: BackendContext, rank: number): RankCommand {
  const sh = (cmd: string): RankCommand => ({ argv: [SHELL, '-c', cmd], kind: 'backend' });
  const n = ctx.hosts.length;
  switch (ctx.kind) {
    case 'vllm':
      return rank === 0
        ? sh(`ray start --head --port=${DEFAULTS.rayPort} && ${ctx.command}`)
        : sh(`ray start --address=${ctx.leaderHost}:${DEFAULTS.rayPort} --block`);
    case 'sglang':
      return sh(
        `${ctx.command} --dist-init-addr ${ctx.leaderHost}:${DEFAULTS.sglangDistPort} --nnodes ${n} --node-rank ${rank}`,
      );
    case 'trtllm': {
      if (rank !== 0) return { argv: [], kind: 'wait' };
      const np = n * Math.max(1, ctx.gpusPerNode);
      const parts = [
        'mpirun',
        ...(ctx.runAsRoot ? ['--allow-run-as-root'] : []),
        '--oversubscribe',
        '-np',
        String(np),
        '-H',
        ctx.hosts.map((h) => `${h}:${ctx.slots}`).join(','),
        '--mca',
        'plm_rsh_agent',
        shQuote(ctx.sshWrapperPath),
        '--mca',
        'btl_tcp_if_include',
        ctx.subnet,
        '--mca',
        'oob_tcp_if_include',
        ctx.subnet,
        '-x',
        IMPL_ENV.ompiKeepFqdn,
        ...[...new Set(ctx.userEnvKeys)].sort().flatMap((k) => ['-x', shQuote(k)]),
        SHELL,
        '-c',
        shQuote(ctx.command),
      ];
      return sh(parts.join(' '));
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
