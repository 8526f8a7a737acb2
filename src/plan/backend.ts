/**
 * Backend presets (seed 003, Dynamo's operator behaviour), as per-rank commands and probes:
 * - vllm: leader `ray start --head --port=6379 && <command>`; workers `ray start --address=<leader>:6379 --block`.
 * - sglang: every rank runs the command with `--dist-init-addr <leader>:<MASTER_PORT> --nnodes N --node-rank R`
 *   inserted after the SGLang launch's last word (`launch-flags.ts`: found by shell words, also inside
 *   `sh -c` strings and multi-line scripts); the port is the service's planned `MASTER_PORT`, which moves in
 *   host mode when 29500 is taken.
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
import { findLaunch, insertFlagsAt } from './launch-flags.js';
import type { InsertResult, Launch, LaunchError, LaunchMatcher } from './launch-flags.js';
import { shQuote } from '../lib/shell.js';
import { basename } from './shell-words.js';

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
  /** The service's planned `MASTER_PORT` (undefined for one rank): SGLang's `--dist-init-addr` port. */
  readonly masterPort: number | undefined;
  /** `backendLaunch`'s result, so a service's command is scanned once, not once per rank. */
  readonly launch?: Launch;
}

/** `python[3] [options] -m sglang.launch_server …` or `sglang serve …` (SGLang's recommended entry point). */
export const SGLANG_LAUNCH: LaunchMatcher = {
  name: 'SGLang',
  forms: '`python -m sglang.launch_server …` or `sglang serve …`',
  matches: (args) =>
    (basename(args[0] ?? '') === 'sglang' && args[1] === 'serve') ||
    (/^python[0-9.]*$/.test(basename(args[0] ?? '')) && pythonModule(args) === 'sglang.launch_server'),
};

/** The module of `python [options] -m MODULE …`, or undefined. */
function pythonModule(args: readonly string[]): string | undefined {
  for (let i = 1; i < args.length; i++) {
    const a = args[i] ?? '';
    if (a === '-m') return args[i + 1];
    if (a.startsWith('-m')) return a.slice(2);
    if (a === '-X' || a === '-W') i++;
    else if (!a.startsWith('-')) return undefined;
  }
  return undefined;
}

/**
 * The launch in a backend command whose flags multinode inserts (SGLang), found before anything is placed;
 * a located error when there is not exactly one; undefined for vLLM and TRT-LLM, which run the command
 * whole (after `ray start`, under `mpirun`).
 */
export function backendLaunch(kind: BackendKind, command: string): Launch | LaunchError | undefined {
  return kind === 'sglang' ? findLaunch(command, SGLANG_LAUNCH) : undefined;
}

/** Why the backend command cannot be rewritten for `rank` (a flag it sets contradicts the plan), or undefined. */
export function backendCommandError(ctx: BackendContext, rank: number): LaunchError | undefined {
  const r = rewriteSglang(ctx, rank);
  return r === undefined || r.ok ? undefined : r;
}

/**
 * Stand-ins for parts inside inserted flags: letters only, so they pass through shell quoting at every
 * nesting level unchanged, then become the parts (`symbolicParts`). What they resolve to — a host name, a
 * rank number — needs no quoting in any context either.
 */
const LEADER_HOST_TOKEN = 'MULTINODEPARTLEADERHOST';
const SELF_RANK_TOKEN = 'MULTINODEPARTSELFRANK';

/** The rewritten text with the stand-ins turned into the parts they stand for. */
function symbolicParts(text: string): Part[] {
  const out: Part[] = [];
  const re = new RegExp(`${LEADER_HOST_TOKEN}|${SELF_RANK_TOKEN}`, 'g');
  let last = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(m[0] === LEADER_HOST_TOKEN ? { host: 0 } : { rank: 'self' });
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function rewriteSglang(ctx: BackendContext, rank: number | 'self'): InsertResult | undefined {
  const launch = ctx.launch ?? backendLaunch(ctx.kind, ctx.command);
  if (launch === undefined) return undefined;
  return launch.ok ? insertFlagsAt(launch, sglangFlags(ctx, rank)) : launch;
}

function sglangFlags(ctx: BackendContext, rank: number | 'self'): string[] {
  const port = ctx.masterPort ?? DEFAULTS.sglangDistPort;
  return [
    '--dist-init-addr',
    `${LEADER_HOST_TOKEN}:${port}`,
    '--nnodes',
    String(ctx.nodes),
    '--node-rank',
    rank === 'self' ? SELF_RANK_TOKEN : String(rank),
  ];
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
    case 'sglang': {
      // One command for every rank: the leader's host and this rank's index are parts the target resolves.
      const r = rewriteSglang(ctx, n === 1 ? 0 : 'self');
      // The planner checks backendCommandError first, so a refusal here is a planner bug.
      if (!r?.ok) throw new Error(`backend command not rewritable: ${r?.message ?? 'no launch'}`);
      return sh(...symbolicParts(r.text));
    }
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
