/**
 * The launch agent `multinode-ssh HOST CMD…` and its remote half, as generated shell scripts (pure
 * builders; `index.ts` writes them). The wrapper behaves like `ssh HOST CMD`: leading ssh-style options
 * (`-x`, `-T`, `-p 22`, `-o K=V`, as OpenMPI's plm_rsh and MPICH hydra pass them) are ignored, HOST is a
 * rank's host name, address or alias (`user@` stripped), the words of CMD are joined with spaces and run
 * by a shell on the remote rank, stdin is passed, and the exit status comes back. It reaches the rank's own
 * sshd, so the command runs in that rank's namespaces; the remote half then replaces the session's
 * environment with the rank's (`env -i` + the rank file), enters the rank's cwd, and sends stdout/stderr to
 * the rank's log unless the caller set `MULTINODE_WRAPPER_FORWARD_STREAMS=1`.
 *
 * Speed: connections are shared (ControlMaster=auto, ControlPersist, one socket per caller host × rank),
 * the key exchange is curve25519-sha256, and sshd's login shell gets an empty HOME so root's `.bashrc`
 * (pyenv init) never runs. `MULTINODE_SSH_MUX=0` in the caller's environment turns sharing off.
 */
import { ENV } from '../../../api/names.js';
import { SKIP_SSH_OPTIONS, wrapperCommandShell } from '../../ssh-wrapper-shell.js';
import { shQuote } from '../../../lib/shell.js';

export const SSH_CLIENT = '/usr/bin/ssh';

/** How the wrapper's remote command line starts (the session script runs it as it is). */
export const WRAPPER_REMOTE_PREFIX = 'exec /usr/bin/env -i MULTINODE_SSH_FWD=';

/** Caller-side knob: `0` disables connection sharing for one call (benchmarks, debugging). */
export const SSH_MUX_ENV = ENV.sshMux;

export { shQuote };

function isShellName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name);
}

export interface WrapperRank {
  readonly rank: number;
  readonly hostname: string;
  readonly address: string;
  readonly sshPort: number;
  readonly aliases?: readonly string[];
}

export interface WrapperScriptOptions {
  readonly serviceName: string;
  readonly ranks: readonly WrapperRank[];
  readonly userKey: string;
  readonly knownHosts: string;
  /** Directory of the ControlMaster sockets (short: the socket path must stay under ~100 bytes). */
  readonly controlDir: string;
  /** Path of the remote runner script, as every rank sees it. */
  readonly remoteExec: string;
  /** Seconds an idle shared connection stays open. */
  readonly controlPersistSeconds?: number;
  /** The ssh client to exec (default `/usr/bin/ssh`; tests substitute a recorder). */
  readonly sshClient?: string;
}

/** ssh options every wrapper call uses; exported for the benchmark and docs. */
export function wrapperSshOptions(o: Pick<WrapperScriptOptions, 'userKey' | 'knownHosts'>): string[] {
  return [
    '-F',
    '/dev/null',
    '-i',
    o.userKey,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'IdentityAgent=none',
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${o.knownHosts}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'CheckHostIP=no',
    '-o',
    'LogLevel=ERROR',
    '-o',
    'KexAlgorithms=curve25519-sha256',
    '-o',
    'ConnectTimeout=10',
    '-o',
    'ConnectionAttempts=3',
    '-o',
    'ServerAliveInterval=5',
    '-o',
    'ServerAliveCountMax=6',
    '-o',
    'ForwardX11=no',
    '-o',
    'ForwardAgent=no',
  ];
}

/** The wrapper script (`<serviceDir>/bin/multinode-ssh`). Pure. */
export function buildWrapperScript(o: WrapperScriptOptions): string {
  const persist = o.controlPersistSeconds ?? 300;
  const known = o.ranks.map((r) => r.hostname).join(', ');
  const cases = o.ranks.map((r) => {
    const names = [...new Set([r.hostname, r.address, ...(r.aliases ?? [])])].filter((n) => n !== '');
    for (const n of names) {
      if (!/^[A-Za-z0-9_.:-]+$/.test(n))
        throw new Error(`host name ${JSON.stringify(n)} is not a plain name or address`);
    }
    return `    ${names.map((n) => `'${n}'`).join('|')}) rank=${r.rank} addr=${r.address} port=${r.sshPort} ;;`;
  });
  // The mux options are word-split by the shell and ssh expands % in ControlPath: keep it plain.
  if (!/^[A-Za-z0-9_@+=:,./-]+$/.test(o.controlDir))
    throw new Error(`control socket directory ${JSON.stringify(o.controlDir)} must be a plain path`);
  const opts = wrapperSshOptions(o).map(shQuote).join(' ');
  return `#!/bin/sh
# multinode-ssh for service ${o.serviceName} (generated; do not edit).
# Usage: multinode-ssh [ssh options, ignored] HOST [CMD...]
# Runs CMD on rank HOST (host name or address) in that rank's namespaces, cwd and environment, like
# \`ssh HOST CMD\`: CMD's words are joined with spaces and run by a shell there; stdin and the exit status
# pass through. Remote stdout/stderr go to the rank's log unless ${ENV.wrapperForwardStreams}=1.
${SKIP_SSH_OPTIONS}if [ $# -eq 0 ]; then
  echo "usage: multinode-ssh HOST [CMD...]" >&2
  exit 255
fi
host=\${1#*@}
shift
lookup() {
  case $1 in
${cases.join('\n')}
    *) return 1 ;;
  esac
}
# A fully qualified name (OpenMPI keeps FQDNs) falls back to its first label.
if ! lookup "$host" && ! { case $host in *.*) lookup "\${host%%.*}" ;; *) false ;; esac; }; then
  echo "multinode-ssh: unknown host '$host' (ranks of service ${o.serviceName}: ${known})" >&2
  exit 255
fi
${wrapperCommandShell('')}if [ "\${${SSH_MUX_ENV}:-1}" = 0 ]; then
  mux="-o ControlMaster=no -o ControlPath=none"
else
  mux="-o ControlMaster=auto -o ControlPath=${o.controlDir}/%C -o ControlPersist=${persist}"
fi
# shellcheck disable=SC2086
exec ${shQuote(o.sshClient ?? SSH_CLIENT)} ${opts} $mux -p "$port" $tty -- "$addr" "${WRAPPER_REMOTE_PREFIX}$fwd /bin/bash --noprofile --norc ${shQuote(o.remoteExec)} $rank '$cmd'"
`;
}

/**
 * The remote half, a bash script the wrapper's remote command line runs as
 * `env -i MULTINODE_SSH_FWD=0|1 /bin/bash --noprofile --norc remote-exec RANK 'CMD'`, so the sshd session's
 * environment is dropped and replaced by the rank's. Pure.
 */
export function buildRemoteExecScript(ranksDir: string, sessionsDir: string): string {
  return `# Remote side of multinode-ssh (generated; do not edit). Run by bash with an empty environment:
# $1 rank, $2 the command line ('' = interactive shell); MULTINODE_SSH_FWD=1 keeps stdout/stderr on the
# connection, otherwise they are appended to the rank's log. This process leads the sshd session's process
# group; it records itself (pid + start time) so the runtime can stop the session on down.
case $1 in ''|*[!0-9]*) echo "multinode-ssh: bad rank '$1'" >&2; exit 255 ;; esac
f=${shQuote(ranksDir)}/$1.sh
[ -r "$f" ] || { echo "multinode-ssh: no environment for rank $1" >&2; exit 255; }
if read -r st < /proc/$$/stat; then
  st=(\${st##*) })
  printf '%s %s\\n' "$$" "\${st[19]}" > ${shQuote(sessionsDir)}/"$1.$$" 2>/dev/null
fi
unset st
. "$f" || exit 255
cd -- "$mn_cwd" || exit 1
fwd=$MULTINODE_SSH_FWD
unset MULTINODE_SSH_FWD
[ -z "$2" ] && exec /bin/bash -i
[ "$fwd" = 1 ] && exec /bin/bash --norc --noprofile -c "$2"
exec /bin/bash --norc --noprofile -c "$2" >>"$mn_log" 2>&1
`;
}

export interface RankFileOptions {
  readonly rank: number;
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly logFile: string;
  /** Variables added when `env` lacks them (HOME, PATH, USER…). */
  readonly defaults: Readonly<Record<string, string>>;
}

/**
 * The per-rank file the remote half sources: `export K='v'` for the rank's environment (sorted), then the
 * cwd and log path as unexported shell variables. Names that are not shell identifiers cannot be exported
 * by a shell and are listed in a comment instead. Pure.
 */
export function buildRankFile(o: RankFileOptions): string {
  const env: Record<string, string> = { ...o.defaults, ...o.env };
  const names = Object.keys(env).sort();
  const skipped = names.filter((n) => !isShellName(n));
  const lines = [
    `# multinode-ssh: environment of rank ${o.rank} (generated; do not edit)`,
    ...names.filter(isShellName).map((n) => `export ${n}=${shQuote(env[n] ?? '')}`),
    ...(skipped.length > 0 ? [`# not exportable by a shell: ${skipped.join(' ')}`] : []),
    `mn_cwd=${shQuote(o.cwd)}`,
    `mn_log=${shQuote(o.logFile)}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** A wrapper for one fixed path shared by all services: dispatches on the caller's `MULTINODE_SERVICE`. */
export function buildDispatchWrapper(servicesDir: string, wrapperRelPath: string): string {
  return `#!/bin/sh
# multinode-ssh dispatcher (generated): runs the wrapper of the caller's service.
s=\${${ENV.service}:-}
case $s in ''|*/*|.*) echo "multinode-ssh: ${ENV.service} is not set" >&2; exit 255 ;; esac
exec ${shQuote(servicesDir)}/"$s"/${shQuote(wrapperRelPath)} "$@"
`;
}
