/**
 * Slurm target: a Plan → one sbatch script per service. Pure (no I/O, clock or environment).
 *
 *   renderSlurm(plan: Plan, opts: SlurmRenderOptions = {}): string
 *     The script for `opts.service`, or for the plan's only service; with several services and no choice,
 *     every script in plan order, separated by a `SLURM_SCRIPT_SEPARATOR` line (submit each on its own).
 *   renderSlurmJobs(plan, opts): SlurmJobScript[]   one `{ service, script, ranks, launch }` per service.
 *   slurmEndpoints(service): SlurmEndpoint[]       where rank 0 serves each endpoint (Slurm has no ingress).
 *
 * What the script does. `#SBATCH` asks for `--nodes=N --ntasks-per-node=S --cpus-per-task=C --mem`, where S
 * is the MPI slots per host the local hostfile offers (`slotsPerHost`: GPUs per node, else cores) and C is
 * the node's cores shared among them, so OpenMPI's Slurm allocation offers the same `mpirun -np N×S`
 * (`--gres=gpu:G`, the GPU model as a `--constraint` feature, `--exclusive`, partition/time/account when
 * given). At run time it reads Slurm's own view — `scontrol show hostnames $SLURM_JOB_NODELIST` for the
 * hosts (batch host first) and `scontrol show node` NodeAddr for their IPv4 addresses — and computes the same
 * rank environment the local runtime gives (`MULTINODE_*`, `MASTER_ADDR`/`MASTER_PORT`, `TF_CONFIG`, hostfile,
 * cluster file): planned host name of rank r → r-th Slurm node name, planned address → that node's
 * NodeAddr, planned file paths → `$MN_JOB_DIR/files/…` (default a fresh private
 * `${TMPDIR:-/tmp}/multinode-$SLURM_JOB_ID.XXXXXXXXXX` from mktemp -d, written on every node). The rank is the index of `$SLURMD_NODENAME` in that host list.
 *
 * Every step starts exactly one rank per node (`--ntasks-per-node=1`), whatever S is.
 *
 * Launch: `launch: all` → one `srun` step, one task per node (`--mpi=pmix` for ompi, `--mpi=pmi2` for
 * mpich). `launch: leader` with waiting workers → rank 0 runs in the batch step on the first node and
 * `MULTINODE_SSH_WRAPPER HOST CMD…` is a generated script running `srun --nodes=1 --ntasks=1 --overlap -w
 * NODE` (no sshd). Leader launch with active workers (backend presets) → workers in one background `srun`
 * step, rank 0 in the batch step; the group lives as long as rank 0, and a failing worker step ends it.
 */
import { keepPublished, usesBatchLines, usesEndLines } from './uses.js';
import type { Plan, RankPlan, ServicePlan, Value } from '../../api/plan.js';
import { ENV, SLURM_TARGET } from '../../api/names.js';
import { escapeDq, featureName, jobName } from './template.js';
import { SlurmValues, WRAPPER_REL } from './resolve.js';
import { shQuote } from '../../lib/shell.js';
import { EXIT, MultinodeError } from '../../api/issues.js';
import { checkSlurmValue } from '../../spec/names.js';
import { slotsPerHost } from '../../plan/env.js';

export { featureName } from './template.js';

export interface SlurmRenderOptions {
  readonly partition?: string;
  readonly exclusive?: boolean;
  /** `--time` as Slurm takes it (`1:00:00`, `30`, `2-0`). */
  readonly time?: string;
  readonly account?: string;
  /** Render only this service. */
  readonly service?: string;
}

export interface SlurmJobScript {
  readonly service: string;
  readonly script: string;
  readonly nodes: number;
  /** How the ranks start: `srun` all, rank 0 in the batch step, or rank 0 plus a worker step. */
  readonly launch: 'srun-all' | 'leader' | 'leader-and-workers';
}

export interface SlurmEndpoint {
  readonly name: string;
  readonly protocol: string;
  readonly port: number;
}

/**
 * `srun --mpi=pmix` steps use one PMIx fence algorithm. Slurm's default ("mixed") runs MPI_Init's modex
 * (data) as a ring and its barrier (no data) as a tree; with Slurm 22.05 + OpenMPI 4.1.4 about 1 step in
 * 46 then lets rank 0 out of the barrier before a slower rank has set up its PML, which segfaults on
 * rank 0's first message (docs/guides/slurm.md, "OpenMPI direct launch"). A user's SLURM_PMIX_FENCE wins.
 */
export const PMIX_FENCE_LINES: readonly string[] = [
  '# One PMIx fence algorithm for the whole step (Slurm\'s default "mixed" races MPI_Init; see docs/guides/slurm.md).',
  'export SLURM_PMIX_FENCE=${SLURM_PMIX_FENCE:-tree}',
];

/** Separates scripts when a plan with several services is rendered as one text. */
export const SLURM_SCRIPT_SEPARATOR =
  '# ---- multinode: next job script (submit each with its own sbatch) ----';

/** Variables the script must not take from the plan: Slurm sets its own, and they win. */
const SLURM_OWNED = (key: string): boolean => key === ENV.cudaVisibleDevices || key.startsWith('SLURM_');

export function renderSlurm(plan: Plan, opts: SlurmRenderOptions = {}): string {
  const jobs = renderSlurmJobs(plan, opts);
  return jobs.map((j) => j.script).join(`\n${SLURM_SCRIPT_SEPARATOR}\n`);
}

export function renderSlurmJobs(plan: Plan, opts: SlurmRenderOptions = {}): SlurmJobScript[] {
  const services =
    opts.service === undefined ? plan.services : plan.services.filter((s) => s.name === opts.service);
  return services.map((svc) => renderService(plan, svc, opts));
}

/** Where rank 0 serves each endpoint: `<first node>:<port>` (the port rank 0 binds). */
export function slurmEndpoints(svc: ServicePlan): SlurmEndpoint[] {
  const leader = svc.ranks[0];
  return svc.endpoints.map((e) => {
    const bound = leader?.ports.find((p) => p.name === e.portName);
    return { name: e.name, protocol: e.protocol, port: bound?.hostPort ?? e.targetPort };
  });
}

/** MPI slots per node, as in the local hostfile: GPUs per node, else the rank's cores. */
export function slurmSlots(svc: ServicePlan): number {
  return slotsPerHost(svc.gpusPerNode, svc.ranks[0]?.cpus.length ?? 1);
}

function launchKind(svc: ServicePlan): SlurmJobScript['launch'] {
  if (svc.launch === 'all') return 'srun-all';
  const workers = svc.ranks.slice(1);
  return workers.every((r) => r.command.kind === 'wait') ? 'leader' : 'leader-and-workers';
}

function renderService(plan: Plan, svc: ServicePlan, opts: SlurmRenderOptions): SlurmJobScript {
  const launch = launchKind(svc);
  const n = svc.ranks.length;
  const leader: RankPlan | undefined = svc.ranks[0];
  // Roles with their own resources share one allocation, whose per-node request is the same on every node:
  // the largest role's (cores, memory, GPUs), so every role's members fit wherever Slurm puts them.
  const roleShapes = svc.roles?.some((r) => r.resource) ? svc.ranks : undefined;
  const cpus = Math.max(1, ...(roleShapes ?? [leader]).map((r) => r?.cpus.length ?? 1));
  const gpusPerNode = Math.max(svc.gpusPerNode, ...(svc.roles ?? []).map((r) => r.resource?.gpus ?? 0));
  const slots = slurmSlots(svc);
  const cpusPerSlot = Math.max(1, Math.floor(cpus / slots));
  // A rank step has one task per node holding every CPU the job has there (not one slot's share).
  const rankStep = `--ntasks-per-node=1 --cpus-per-task=${slots * cpusPerSlot}`;
  const memBytes = Math.max(...(roleShapes ?? [leader]).map((r) => r?.memoryBytes ?? 0));
  const memMiB = Math.max(1, Math.ceil(memBytes / (1024 * 1024)));

  const head: string[] = ['#!/bin/bash'];
  const sb = (line: string): void => {
    head.push(`#SBATCH ${line}`);
  };
  sb(`--job-name=${jobName(svc.name)}`);
  sb(`--nodes=${n}`);
  // Tasks = MPI slots (what the local hostfile offers); the ranks themselves are one step task per node.
  sb(`--ntasks-per-node=${slots}`);
  sb(`--cpus-per-task=${cpusPerSlot}`);
  sb(`--mem=${memMiB}M`);
  if (gpusPerNode > 0) sb(`--gres=gpu:${gpusPerNode}`);
  if (svc.gpuModel !== undefined && gpusPerNode > 0) sb(`--constraint=${featureName(svc.gpuModel)}`);
  if (opts.exclusive) sb('--exclusive');
  // Guard (app/ checks these first, with the same words): nothing but a Slurm word reaches an #SBATCH line.
  for (const [option, value] of [
    ['partition', opts.partition],
    ['time', opts.time],
    ['account', opts.account],
  ] as const) {
    const c = value ? checkSlurmValue(option, value) : undefined;
    if (c && !c.ok) throw new MultinodeError('input.bad-slurm-value', c.message, { exitCode: EXIT.badInput });
  }
  if (opts.partition) sb(`--partition=${opts.partition}`);
  if (opts.time) sb(`--time=${opts.time}`);
  if (opts.account) sb(`--account=${opts.account}`);
  head.push(
    '#',
    `# multinode: service ${svc.name}, plan ${plan.hash}, ${n} rank(s), implementation ${svc.implementation}, launch ${svc.launch}.`,
    '# Generated by `multinode render --target slurm`. The rank environment is computed at run time from',
    "# Slurm's node list; see docs/guides/slurm.md for the mapping.",
  );
  if (svc.imageUri !== undefined)
    head.push(`# note: image ${svc.imageUri} is not used; ranks run on the Slurm nodes' own software.`);
  if (svc.mounts.length > 0)
    head.push('# note: mounts are not applied under Slurm; use the cluster file systems.');
  if (roleShapes)
    head.push(
      "# note: the roles ask for different resources; one allocation asks every node for the largest role's.",
    );

  const program = rankProgram(svc);
  let delim = 'MULTINODE_RANK_PROGRAM';
  while (program.split('\n').includes(delim)) delim += '_';

  const body: string[] = [];
  body.push(
    '',
    `MN_NODES=${n}`,
    'export MN_JOB_ID="${SLURM_JOB_ID:?this script runs under Slurm: submit it with sbatch}"',
    '# Hosts in rank order (batch host first), and their IPv4 addresses from Slurm (NodeAddr).',
    'if [ -z "${MN_JOB_HOSTS:-}" ]; then',
    '  mn_all=$(scontrol show hostnames "$SLURM_JOB_NODELIST") || { echo "multinode: scontrol show hostnames failed" >&2; exit 1; }',
    '  mn_first=${SLURMD_NODENAME:-$(hostname -s)}',
    '  MN_JOB_HOSTS=$mn_first',
    '  for mn_h in $mn_all; do [ "$mn_h" = "$mn_first" ] || MN_JOB_HOSTS="$MN_JOB_HOSTS $mn_h"; done',
    'fi',
    'if [ -z "${MN_JOB_ADDRS:-}" ]; then',
    '  declare -A mn_addr=()',
    '  while IFS= read -r mn_line; do',
    '    mn_name=; mn_a=',
    '    for mn_kv in $mn_line; do',
    '      case $mn_kv in NodeName=*) mn_name=${mn_kv#NodeName=} ;; NodeAddr=*) mn_a=${mn_kv#NodeAddr=} ;; esac',
    '    done',
    '    [ -n "$mn_name" ] && mn_addr[$mn_name]=$mn_a',
    '  done < <(scontrol -o show node "$SLURM_JOB_NODELIST" 2>/dev/null)',
    '  MN_JOB_ADDRS=',
    '  for mn_h in $MN_JOB_HOSTS; do',
    '    mn_a=${mn_addr[$mn_h]:-$mn_h}',
    '    if ! [[ $mn_a =~ ^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$ ]]; then',
    '      mn_a=$(getent ahostsv4 "$mn_a" | awk \'NR == 1 { print $1 }\')',
    '    fi',
    '    MN_JOB_ADDRS="$MN_JOB_ADDRS ${mn_a:-$mn_h}"',
    '  done',
    '  MN_JOB_ADDRS=${MN_JOB_ADDRS# }',
    'fi',
    'export MN_JOB_HOSTS MN_JOB_ADDRS',
    '# A fresh private job directory: mktemp -d makes an unguessable name 0700 and never reuses one; a',
    `# directory named by $${SLURM_TARGET.jobDirEnv} is removed and made again with mkdir, which fails if it exists.`,
    `if [ -n "\${${SLURM_TARGET.jobDirEnv}:-}" ]; then`,
    `  MN_JOB_DIR=$${SLURM_TARGET.jobDirEnv}`,
    '  rm -rf "$MN_JOB_DIR"',
    '  mkdir -m 700 "$MN_JOB_DIR" || { echo "multinode: cannot create the job directory $MN_JOB_DIR" >&2; exit 1; }',
    'else',
    `  MN_JOB_DIR=$(mktemp -d "\${TMPDIR:-/tmp}/${SLURM_TARGET.jobDirPrefix}$SLURM_JOB_ID.XXXXXXXXXX") || { echo "multinode: cannot create a private job directory" >&2; exit 1; }`,
    'fi',
    'export MN_JOB_DIR',
    '# Cancelled (scancel sends TERM): remove the job directory on this node before going.',
    'trap \'rm -rf "$MN_JOB_DIR"; exit 143\' TERM',
    'read -r -a MN_H <<< "$MN_JOB_HOSTS"',
    'read -r -a MN_A <<< "$MN_JOB_ADDRS"',
    'if [ "${#MN_H[@]}" -ne "$MN_NODES" ]; then',
    '  echo "multinode: the plan has $MN_NODES ranks but Slurm gave ${#MN_H[@]} node(s): $MN_JOB_HOSTS" >&2',
    '  exit 1',
    'fi',
    'echo "multinode: job $MN_JOB_ID service ' + escapeDq(svc.name) + ': ranks on ${MN_H[*]}"',
  );
  for (const ep of slurmEndpoints(svc)) {
    body.push(
      `echo "multinode: endpoint ${escapeDq(ep.name)}: ${escapeDq(ep.protocol)}://\${MN_H[0]}:${ep.port} (rank 0 on \${MN_H[0]}, \${MN_A[0]}:${ep.port})"`,
    );
  }
  body.push(...usesBatchLines(plan, svc));
  body.push(
    '',
    '# The rank program: run by every rank (and by the SSH wrapper for remote commands), from the environment.',
    'export MN_RANK_PROGRAM',
    `IFS= read -r -d '' MN_RANK_PROGRAM <<'${delim}'`,
    program,
    delim,
    '',
  );
  const mpi =
    svc.implementation === 'ompi' ? ' --mpi=pmix' : svc.implementation === 'mpich' ? ' --mpi=pmi2' : '';
  const rankCmd = '/bin/bash -c "$MN_RANK_PROGRAM" multinode-rank rank';
  if (launch === 'srun-all') {
    if (svc.implementation === 'ompi') body.push(...PMIX_FENCE_LINES);
    body.push(
      `srun --label --kill-on-bad-exit=1 --nodes=${n} --ntasks=${n} ${rankStep} --nodelist="\${MN_JOB_HOSTS// /,}"${mpi} ${rankCmd}`,
      'mn_rc=$?',
    );
  } else if (launch === 'leader') {
    body.push(
      '# Rank 0 runs here, on the first node; the other nodes are held by the allocation.',
      rankCmd,
      'mn_rc=$?',
    );
  } else {
    body.push(
      `srun --kill-on-bad-exit=1 --nodes=${n - 1} --ntasks=${n - 1} ${rankStep} --exclude="\${MN_H[0]}" ${rankCmd} &`,
      'mn_workers=$!',
      `${rankCmd} &`,
      'mn_leader=$!',
      '# The group lives as long as rank 0; a failing worker step ends it early.',
      'wait -n "$mn_leader" "$mn_workers"',
      'mn_rc=$?',
      'if kill -0 "$mn_leader" 2>/dev/null; then',
      '  if [ "$mn_rc" -ne 0 ]; then echo "multinode: a worker rank failed (exit $mn_rc); stopping rank 0" >&2; kill "$mn_leader"; else wait "$mn_leader"; mn_rc=$?; fi',
      'fi',
      'kill "$mn_leader" "$mn_workers" 2>/dev/null',
      'wait',
    );
  }
  body.push(
    ...usesEndLines(plan, svc),
    'rm -rf "$MN_JOB_DIR"',
    'if [ "$mn_rc" -ne 0 ]; then echo "multinode: service ' +
      escapeDq(svc.name) +
      ' failed (exit $mn_rc)" >&2; fi',
    'exit "$mn_rc"',
    '',
  );
  return { service: svc.name, script: [...head, ...body].join('\n'), nodes: n, launch };
}

/** The bash program each rank runs: `multinode-rank rank|exec CMD|env`. */
function rankProgram(svc: ServicePlan): string {
  const n = svc.ranks.length;
  const values = new SlurmValues(svc);
  const lines: string[] = [
    'mn_mode=${1:-rank}',
    'shift',
    'read -r -a MN_H <<< "$MN_JOB_HOSTS"',
    'read -r -a MN_A <<< "$MN_JOB_ADDRS"',
    'MN_DIR=$MN_JOB_DIR',
    'mn_self=${SLURMD_NODENAME:-$(hostname -s)}',
    'MN_RANK=',
    'for mn_i in "${!MN_H[@]}"; do',
    '  if [ "${MN_H[$mn_i]}" = "$mn_self" ]; then MN_RANK=$mn_i; break; fi',
    'done',
    'if [ -z "$MN_RANK" ]; then',
    '  echo "multinode: this node ($mn_self) is not one of the job\'s nodes ($MN_JOB_HOSTS)" >&2',
    '  exit 1',
    'fi',
    `if [ "\${#MN_H[@]}" -ne ${n} ]; then echo "multinode: expected ${n} nodes, got \${#MN_H[@]}" >&2; exit 1; fi`,
    "# The cluster network as OpenMPI's *_if_include wants it: the interface that carries this node's address.",
    'MN_IFACE=$(ip -o -4 addr show 2>/dev/null | awk -v a="${MN_A[$MN_RANK]}" \'{ split($4, p, "/"); if (p[1] == a) { print $2; exit } }\')',
    '# The job directory: made here (0700) by the first process of this job on this node, or accepted only',
    "# when it is this user's own real 0700 directory (never a symlink or someone else's planted one).",
    'if ! mkdir -m 700 "$MN_DIR" 2>/dev/null; then',
    '  if [ -L "$MN_DIR" ] || ! [ -d "$MN_DIR" ] || ! [ -O "$MN_DIR" ] || [ "$(stat -c %a "$MN_DIR")" != 700 ]; then',
    '    echo "multinode: $MN_DIR exists but is not a private (0700) directory of this user; refusing it" >&2',
    '    exit 1',
    '  fi',
    'fi',
    'mkdir -p -m 700 "$MN_DIR/files" "$MN_DIR/bin" || exit 1',
    '# Each file is written once per job directory (atomically: temp file + rename); the directory is fresh',
    "# and private, so a file that exists is this job's. Files are created under umask 077 (the rank's own umask",
    "# is left alone) and keep the owner's bits only (644 → 600, 755 → 700): they carry env values.",
    'mn_put() {',
    '  [ -e "$1" ] && return 0',
    '  local t="$1.tmp.$$"',
    '  (umask 077 && printf \'%s\' "$3" > "$t") || return 1',
    '  chmod "${2%??}00" "$t"',
    '  mv -f "$t" "$1"',
    '}',
    '# Job facts for the SSH wrapper, and this program itself (the wrapper runs it on the target node).',
    'printf -v mn_env \'MN_JOB_ID=%q\\nMN_JOB_HOSTS=%q\\nMN_JOB_ADDRS=%q\\nMN_JOB_DIR=%q\\n\' "$MN_JOB_ID" "$MN_JOB_HOSTS" "$MN_JOB_ADDRS" "$MN_JOB_DIR"',
    'mn_put "$MN_DIR/job.env" 644 "$mn_env"',
    'mn_put "$MN_DIR/rank-program" 644 "$MN_RANK_PROGRAM"',
    `mn_put "$MN_DIR/${WRAPPER_REL}" 755 ${shQuote(WRAPPER_SCRIPT)}`,
  ];
  // Everything below names host lists, ports and files symbolically; what they use is declared first.
  const rest: string[] = [];
  if (svc.files.length > 0) rest.push('# Files every rank sees (hostfile, cluster file).');
  for (const f of svc.files) {
    rest.push(`mn_put "${values.leaves.file(f.name)}" ${f.mode.toString(8)} "${values.dq(f.content)}"`);
  }
  const usesIface = (v: Value): boolean => v.some((p) => typeof p !== 'string' && 'iface' in p);
  const exportLine = (key: string, v: Value): string =>
    keepPublished(
      key,
      usesIface(v)
        ? `[ -z "$MN_IFACE" ] || export ${key}="${values.dq(v)}"`
        : `export ${key}="${values.dq(v)}"`,
    );
  const exportable = (key: string): boolean => !SLURM_OWNED(key) && /^[A-Za-z_][A-Za-z0-9_]*$/.test(key);
  rest.push('# The rank environment (one template; MN_RANK is this rank).');
  for (const key of Object.keys(svc.env).sort())
    if (exportable(key)) rest.push(exportLine(key, svc.env[key] ?? []));
  const leaderKeys = Object.keys(svc.leaderEnv).filter(exportable).sort();
  if (leaderKeys.length > 0) {
    rest.push('if [ "$MN_RANK" = 0 ]; then');
    for (const key of leaderKeys) rest.push(`  ${exportLine(key, svc.leaderEnv[key] ?? [])}`);
    rest.push('fi');
  }
  rest.push(...roleEnvLines(svc, exportable, exportLine));
  if (svc.implementation === 'ompi') {
    rest.push(
      'if [ "$(id -u)" = 0 ]; then',
      '  export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}',
      'fi',
    );
  }
  lines.push(...values.declarations(), ...rest);

  lines.push('case $mn_mode in', 'rank)');
  if (svc.cwd !== undefined) {
    const cwd = `"${escapeDq(svc.cwd)}"`;
    lines.push(
      `  cd ${cwd} 2>/dev/null || echo "multinode: cwd ${escapeDq(svc.cwd)} does not exist on $mn_self; running in $PWD" >&2`,
    );
  }
  // One branch per distinct command (workers usually share one), the most common as the default.
  const byCommand = new Map<string, { line: string; ranks: number[] }>();
  for (const r of svc.ranks) {
    const line =
      r.command.kind === 'wait' || r.command.argv.length === 0
        ? 'exec sleep infinity'
        : `exec ${r.command.argv.map((a) => `"${values.dq(a)}"`).join(' ')}`;
    const hit = byCommand.get(line);
    if (hit) hit.ranks.push(r.rank);
    else byCommand.set(line, { line, ranks: [r.rank] });
  }
  const branches = [...byCommand.values()];
  let common = branches[0];
  for (const b of branches) if (common && b.ranks.length > common.ranks.length) common = b;
  lines.push('  case $MN_RANK in');
  for (const b of branches) if (b !== common) lines.push(`  ${b.ranks.join('|')}) ${b.line} ;;`);
  if (common) lines.push(`  *) ${common.line} ;;`);
  lines.push(
    '  esac',
    '  ;;',
    'exec) exec /bin/sh -c "$1" ;;',
    'env) exec env -0 ;;',
    '*) echo "multinode: unknown mode $mn_mode" >&2; exit 2 ;;',
    'esac',
  );
  return lines.join('\n');
}

/**
 * The SSH wrapper under Slurm: `multinode-ssh [ssh options] HOST CMD…` runs CMD (joined like ssh does) on
 * HOST (a node name or address of this job) as a one-task job step that overlaps the running ones.
 */
const WRAPPER_SCRIPT = `#!/bin/bash
# multinode-ssh for Slurm: \`multinode-ssh [ssh options] HOST CMD...\` runs CMD on HOST with that rank's
# environment as a Slurm job step (srun --nodes=1 --ntasks=1 --overlap -w NODE). No sshd is involved.
mn_here=$(cd "$(dirname "$0")/.." && pwd)
. "$mn_here/job.env" || exit 255
while [ $# -gt 0 ]; do
  case $1 in
    -[bcDEeFIiJLlmOopQRSWw]) shift 2 ;;
    --) shift; break ;;
    -*) shift ;;
    *) break ;;
  esac
done
if [ $# -lt 1 ]; then echo "usage: multinode-ssh HOST CMD..." >&2; exit 255; fi
mn_host=\${1#*@}
shift
read -r -a mn_h <<< "$MN_JOB_HOSTS"
read -r -a mn_a <<< "$MN_JOB_ADDRS"
mn_node=
for mn_i in "\${!mn_h[@]}"; do
  if [ "$mn_host" = "\${mn_h[$mn_i]}" ] || [ "$mn_host" = "\${mn_a[$mn_i]}" ] || [ "\${mn_host%%.*}" = "\${mn_h[$mn_i]}" ]; then
    mn_node=\${mn_h[$mn_i]}
    break
  fi
done
if [ -z "$mn_node" ]; then
  echo "multinode-ssh: $mn_host is not a node of job $MN_JOB_ID ($MN_JOB_HOSTS)" >&2
  exit 255
fi
export MN_JOB_ID MN_JOB_HOSTS MN_JOB_ADDRS MN_JOB_DIR
MN_RANK_PROGRAM=$(cat "$mn_here/rank-program") || exit 255
export MN_RANK_PROGRAM
exec srun --jobid="$MN_JOB_ID" --nodes=1 --ntasks=1 --overlap --nodelist="$mn_node" --kill-on-bad-exit=1 --quiet \\
  /bin/bash -c "$MN_RANK_PROGRAM" multinode-rank exec "$*"
`;

/**
 * A service with roles: each role's own variables (TF_CONFIG, MULTINODE_ROLE*, Backend.AI's role), exported
 * by the ranks of that role (docs/guides/roles-and-dependencies.md).
 */
function roleEnvLines(
  svc: ServicePlan,
  exportable: (key: string) => boolean,
  exportLine: (key: string, v: Value) => string,
): string[] {
  const out: string[] = [];
  for (const role of svc.roles ?? []) {
    const own = svc.roleEnv?.[role.name] ?? {};
    const keys = Object.keys(own).filter(exportable).sort();
    if (keys.length === 0) continue;
    out.push(`if [ "$MN_RANK" -ge ${role.first} ] && [ "$MN_RANK" -lt ${role.first + role.nodes} ]; then`);
    for (const key of keys) out.push(`  ${exportLine(key, own[key] ?? [])}`);
    out.push('fi');
  }
  return out;
}
