/**
 * Per-rank sshd: the config text (Debian's OpenSSH with a config of our own, never the system service),
 * the argv that runs it in the foreground so a supervisor owns its PID, the privilege-separation directory
 * it needs, and a readiness check that waits for the `SSH-2.0-` banner. sshd must run inside the rank's
 * namespaces (the caller prefixes the argv with its namespace exec); sessions then inherit the rank's
 * network and UTS namespaces.
 */
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { singleQuote } from '../../../lib/shell.js';

export const SSHD = '/usr/sbin/sshd';
/** Debian's sshd chroots its unprivileged child here; absent when the system service never ran. */
export const SSHD_PRIVSEP_DIR = '/run/sshd';

export interface SshdConfigOptions {
  readonly listenAddress: string;
  readonly port: number;
  readonly hostKey: string;
  readonly authorizedKeysFile: string;
  readonly pidFile: string;
  /**
   * HOME for the login shell sshd starts. Pointing it at an empty directory keeps root's `~/.bashrc`
   * (pyenv init, ~100 ms per command) out of every session; the remote runner restores the rank's HOME.
   */
  readonly sessionHome?: string;
  /** `ForceCommand`: every session runs this (given the client's command as SSH_ORIGINAL_COMMAND). */
  readonly forceCommand?: string;
  /** Extra `SetEnv` variables for every session. */
  readonly setEnv?: Readonly<Record<string, string>>;
  readonly comment?: string;
  /**
   * sshd's LogLevel. Default ERROR: the rank log gets failures, not a line per login or per probe. (A bare
   * TCP probe still logs `kex_exchange_identification: Connection closed by remote host`.)
   */
  readonly logLevel?: 'QUIET' | 'FATAL' | 'ERROR' | 'INFO' | 'VERBOSE' | 'DEBUG';
}

function sshdQuote(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  if (value.includes('"') || /[\n\r]/.test(value))
    throw new Error(`cannot put ${JSON.stringify(value)} in sshd_config`);
  return `"${value}"`;
}

/** sshd takes ForceCommand's rest of line as it is: one line, no quoting of its own. */
function forceCommandLine(command: string): string {
  if (/[\n\r]/.test(command) || command.trim() === '')
    throw new Error(`cannot put ${JSON.stringify(command)} in sshd_config as ForceCommand`);
  return command;
}

/** The sshd_config text for one rank. Pure. */
export function buildSshdConfig(o: SshdConfigOptions): string {
  const env: Record<string, string> = {
    ...(o.sessionHome === undefined ? {} : { HOME: o.sessionHome }),
    ...o.setEnv,
  };
  const setEnv = Object.keys(env)
    .sort()
    .map((k) => sshdQuote(`${k}=${env[k] ?? ''}`));
  const lines = [
    `# ${o.comment ?? 'multinode sshd'} (generated; do not edit)`,
    `Port ${o.port}`,
    `ListenAddress ${o.listenAddress.includes(':') ? `[${o.listenAddress}]` : o.listenAddress}`,
    `HostKey ${sshdQuote(o.hostKey)}`,
    `PidFile ${sshdQuote(o.pidFile)}`,
    `AuthorizedKeysFile ${sshdQuote(o.authorizedKeysFile)}`,
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'HostbasedAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'UseDNS no',
    'PermitRootLogin prohibit-password',
    'PermitUserEnvironment no',
    'MaxStartups 100:30:200',
    'MaxSessions 100',
    'KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org',
    'HostKeyAlgorithms ssh-ed25519',
    'PrintMotd no',
    'PrintLastLog no',
    'X11Forwarding no',
    'AllowAgentForwarding no',
    'ClientAliveInterval 15',
    'ClientAliveCountMax 4',
    'LoginGraceTime 30',
    `LogLevel ${o.logLevel ?? 'ERROR'}`,
    'Subsystem sftp internal-sftp',
    ...(setEnv.length > 0 ? [`SetEnv ${setEnv.join(' ')}`] : []),
    ...(o.forceCommand !== undefined ? [`ForceCommand ${forceCommandLine(o.forceCommand)}`] : []),
  ];
  return `${lines.join('\n')}\n`;
}

/** argv running sshd in the foreground, logging to stderr, so the caller owns its PID and log. */
export function sshdArgv(configPath: string): string[] {
  return [SSHD, '-D', '-e', '-f', configPath];
}

/** Creates sshd's privilege-separation directory if missing (root-owned, 0755, as Debian expects). */
export async function ensureSshdPrivsepDir(dir: string = SSHD_PRIVSEP_DIR): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
}

/** Runs `sshd -t` on a config (syntax and key check) and resolves with its error text, '' when fine. */
export function checkSshdConfig(configPath: string): Promise<string> {
  return new Promise((resolve) => {
    execFile(SSHD, ['-t', '-f', configPath], { timeout: 10_000 }, (err, _out, stderr) => {
      resolve(err === null ? '' : stderr.trim() || err.message);
    });
  });
}

/** What readiness probes say to sshd (then they hang up, which sshd does not log at our level). */
const PROBE_IDENT = 'SSH-2.0-multinode-probe';

export interface WaitForSshdOptions {
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
  /**
   * argv prefix that runs a command inside the namespace the address lives in. Without it the check
   * connects from this process (the address must then be reachable from here).
   */
  readonly execPrefix?: readonly string[];
}

function bannerDirect(address: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: address, port });
    let buf = '';
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.on('error', () => done(false));
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (buf.includes('\n')) {
        sock.write(`${PROBE_IDENT}\r\n`, () => done(buf.startsWith('SSH-')));
      }
    });
    sock.on('end', () => done(false));
  });
}

// Inside a namespace: bash's /dev/tcp, so no extra tool is needed; prints the banner's first 4 bytes.
// Answering with our own identification string before closing keeps sshd from logging an error per probe.
const BANNER_SCRIPT =
  'exec 3<>"/dev/tcp/$0/$1" || exit 1; IFS= read -r -t "$2" line <&3; ' +
  `printf '${PROBE_IDENT}\\r\\n' >&3 2>/dev/null; printf %s "\${line%%-*}"`;

function bannerInNamespace(
  prefix: readonly string[],
  address: string,
  port: number,
  timeoutMs: number,
): Promise<boolean> {
  const [cmd, ...rest] = [
    ...prefix,
    '/bin/bash',
    '--norc',
    '--noprofile',
    '-c',
    BANNER_SCRIPT,
    address,
    String(port),
    String(Math.max(1, Math.ceil(timeoutMs / 1000))),
  ];
  if (cmd === undefined) return Promise.resolve(false);
  return new Promise((resolve) => {
    execFile(cmd, rest, { timeout: timeoutMs + 2000 }, (err, stdout) =>
      resolve(err === null && stdout === 'SSH'),
    );
  });
}

/** Resolves once an sshd on address:port answers with an SSH banner; rejects after `timeoutMs` (default 10 s). */
export async function waitForSshd(
  address: string,
  port: number,
  options: WaitForSshdOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = Math.max(200, Math.min(2000, deadline - Date.now()));
    const ok =
      options.execPrefix === undefined
        ? await bannerDirect(address, port, left)
        : await bannerInNamespace(options.execPrefix, address, port, left);
    if (ok) return;
    if (Date.now() >= deadline) throw new Error(`sshd on ${address}:${port} not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * A bash script that runs one rank's sshd in the foreground and, when it is asked to stop (TERM, INT, HUP)
 * or sshd exits, also stops every session that the wrapper started on that rank (SIGTERM to each recorded
 * session's process group, SIGKILL after `graceSeconds`). Those sessions are not in the rank's process
 * group, so without this they would outlive the rank. Args: `<rank> <sshd_config>`. Pure.
 */
export function buildSshdRunScript(sessionsDir: string, graceSeconds = 2): string {
  const dir = singleQuote(sessionsDir);
  return `# Runs sshd for one rank and takes the rank's wrapper sessions down with it (generated; do not edit).
rank=$1 cfg=$2 sessions=${dir}
stop_sessions() {
  local f p st cur a i left live=()
  for f in "$sessions/$rank".*; do
    [ -f "$f" ] || continue
    read -r p st < "$f" || { rm -f "$f"; continue; }
    if read -r cur 2>/dev/null < "/proc/$p/stat"; then
      a=(\${cur##*) })
      if [ "\${a[19]}" = "$st" ] && [ "\${a[0]}" != Z ]; then
        kill -TERM -- "-$p" "$p" 2>/dev/null
        live+=("$p $st")
      fi
    fi
    rm -f "$f"
  done
  for ((i = 0; i < ${graceSeconds * 10} && \${#live[@]} > 0; i++)); do
    /bin/sleep 0.1
    left=()
    for f in "\${live[@]}"; do
      read -r p st <<< "$f"
      read -r cur 2>/dev/null < "/proc/$p/stat" || continue
      a=(\${cur##*) })
      [ "\${a[19]}" = "$st" ] && [ "\${a[0]}" != Z ] && left+=("$f")
    done
    live=("\${left[@]}")
  done
  for f in "\${live[@]}"; do
    read -r p st <<< "$f"
    kill -KILL -- "-$p" "$p" 2>/dev/null
  done
}
${SSHD} -D -e -f "$cfg" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null; stop_sessions; wait "$pid"; exit 143' TERM INT HUP
wait "$pid"
rc=$?
stop_sessions
exit "$rc"
`;
}
