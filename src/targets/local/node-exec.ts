/**
 * The one primitive for running anything "on a node" of an emulated cluster (or in one rank's network
 * namespace): enter the node's network namespace (or the rank's) and the node's persistent UTS namespace,
 * then a private mount namespace with a fresh sysfs (so /sys/class/net shows this namespace's interfaces —
 * UCX and friends read it) with the host's /sys/fs/cgroup carried over (slurmd and others need it), and the
 * node's own /etc/hosts, /etc/resolv.conf and /etc/hostname bind-mounted over the real ones (which are never
 * edited). A rank also gets its service's volumes there (`mounts`: a script from volumes.ts, sourced when it
 * exists) and then enters its cwd (`cwd`), which may exist only through a volume. Everything is mounted in
 * that private namespace only, so nothing reaches the root mount namespace and nothing stays mounted once
 * the last process in it exits. The argv is a prefix: append the command. It is one Perl process doing all
 * of that with system calls, then exec-ing the command (NODE_EXEC_SCRIPT), or where that cannot run, the
 * nsenter / unshare / sh / mount(8) chain (MOUNT_SCRIPT); root tests hold the two to the same result.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcessSpawner, RunOptions, RunResult } from '../ports.js';
import { realSpawner } from '../ports.js';
import { clusterDir, clusterNames, stateRoot } from './paths.js';

export interface NodeTarget {
  readonly clusterName: string;
  readonly node: string;
  /** Run in this rank network namespace (a name under /run/netns) instead of the node's. */
  readonly rankNetns?: string;
  /** Persistent UTS namespace to enter instead of the node's (a rank's own host name). */
  readonly uts?: string;
  /** Directory with the hosts/resolv.conf/hostname files to bind-mount (default: the namespace's own). */
  readonly etcDir?: string;
  /** A mount script (volumes.ts `rankMountScript`) to source in the namespace, when that file exists. */
  readonly mounts?: string;
  /** Directory to enter once everything is mounted (the command then starts there). */
  readonly cwd?: string;
}

/** Marks the optional arguments of the mount script (a command never starts with these). */
const MOUNTS_ARG = '--mn-mounts=';
const CWD_ARG = '--mn-cwd=';

export const NETNS_DIR = '/run/netns';

/** Network namespace name of a node (a file under /run/netns). */
export function nodeNetnsName(clusterName: string, node: string): string {
  return `mn-${clusterNames(clusterName).hash}-${node}`;
}

export function nodeUtsPath(clusterName: string, node: string): string {
  return join(clusterDir(clusterName), 'uts', node);
}

/** Directory holding the hosts/resolv.conf/hostname files seen inside a network namespace. */
export function etcDirFor(netnsName: string): string {
  return join(stateRoot(), 'etc', netnsName);
}

/** The etc files bound over /etc/<name> (each when it exists in the etc directory and in /etc). */
export const ETC_FILES = ['hosts', 'resolv.conf', 'hostname'] as const;

/**
 * The fstab `mount -a` reads in a namespace with etc directory `etcDir` (see MOUNT_SCRIPT), or undefined
 * when the path needs the slow way (fstab splits fields on blanks). `etcFiles`: those present in the etc
 * directory and in /etc. Written with the etc files (cluster.ts `writeEtcFiles`); the script writes the
 * same itself when it is missing.
 */
export function etcFstab(etcDir: string, etcFiles: readonly string[]): string | undefined {
  if (!/^[A-Za-z0-9/._-]+$/.test(etcDir)) return undefined;
  return [
    ...etcFiles.map((f) => `${etcDir}/${f} /etc/${f} none bind 0 0`),
    `/sys/fs/cgroup ${etcDir} none rbind 0 0`,
    'multinode-sysfs /sys sysfs defaults 0 0',
    '',
  ].join('\n');
}

/**
 * The end of both ways (MOUNT_SCRIPT, and NODE_EXEC_SCRIPT when a volume mount script exists or the cwd is
 * unusual): the optional `--mn-mounts=` / `--mn-cwd=` arguments, then the command. `set -e` holds while the
 * mount script is sourced.
 */
const RANK_TAIL = [
  'm="" c=""',
  'while :; do',
  `  case $1 in ${MOUNTS_ARG}*) m=\${1#*=}; shift ;; ${CWD_ARG}*) c=\${1#*=}; shift ;; *) break ;; esac`,
  'done',
  'if [ -n "$m" ] && [ -f "$m" ]; then . "$m"; fi',
  'if [ -n "$c" ]; then cd "$c" || { echo "multinode: cwd $c does not exist in this rank" >&2; exit 1; }; fi',
  'exec "$@"',
];

/**
 * The fallback way (where NODE_EXEC_SCRIPT cannot run: see linuxSyscalls), under `nsenter` and `unshare`.
 * The mounts take two mount(8) calls, not one per mount: `mount -a` over a small fstab kept in the etc
 * directory (written once, on first use, atomically), which binds the etc files, binds the host's
 * /sys/fs/cgroup tree over the etc directory itself (ours, and already used: it is uncovered again by the
 * move) and mounts a fresh sysfs (its source is named `multinode-sysfs`: `mount -a` skips an entry whose
 * source and target are mounted already, and the host's /sys is `sysfs`); then the cgroup tree moves into
 * the new sysfs (fstab has no move). Without etc files (or with an unusual path), one call per mount.
 */
const MOUNT_SCRIPT = [
  'set -e',
  'e="$1"; shift',
  // fstab fields are split on blanks: a path with anything unusual takes the one-call-per-mount way
  'case $e in *[!A-Za-z0-9/._-]*) fast="" ;; *) fast=1 ;; esac',
  'if [ -n "$fast" ] && [ -f "$e/hosts" ]; then',
  '  t="$e/fstab"',
  '  if [ ! -f "$t" ]; then',
  '    for f in hosts resolv.conf hostname; do',
  '      if [ -f "$e/$f" ] && [ -e "/etc/$f" ]; then echo "$e/$f /etc/$f none bind 0 0"; fi',
  '    done >"$t.$$"',
  '    echo "/sys/fs/cgroup $e none rbind 0 0" >>"$t.$$"',
  '    echo "multinode-sysfs /sys sysfs defaults 0 0" >>"$t.$$"',
  '    /bin/mv -f "$t.$$" "$t"',
  '  fi',
  '  /bin/mount -a -T "$t"',
  '  /bin/mount --move "$e" /sys/fs/cgroup',
  'else',
  // the cgroup tree waits on a directory that always exists (covered in this mount namespace only, and
  // uncovered again by the move), so nothing is created in the host's tree
  '  /bin/mount --rbind /sys/fs/cgroup /mnt',
  '  /bin/mount -t sysfs sysfs /sys',
  '  /bin/mount --move /mnt /sys/fs/cgroup',
  '  for f in hosts resolv.conf hostname; do',
  '    if [ -f "$e/$f" ] && [ -e "/etc/$f" ]; then /bin/mount --bind "$e/$f" "/etc/$f"; fi',
  '  done',
  'fi',
  ...RANK_TAIL,
].join('\n');

/** Where NODE_EXEC_SCRIPT hands over to a shell (a volume mount script to source, or an unusual cwd). */
const TAIL_SCRIPT = ['set -e', ...RANK_TAIL].join('\n');

const PERL = '/usr/bin/perl';

/**
 * The fast way: ONE process does what nsenter, unshare, sh and two mount(8) runs do (about six execs per
 * started process, each paying for its loader and mount(8) reading the machine-sized mount table): setns
 * into the UTS and then the network namespace (files opened first, as nsenter does), unshare the mount
 * namespace and make / a recursive slave (`unshare --propagation slave`), then mount(2) exactly what
 * MOUNT_SCRIPT's fstab mounts, in its order (the etc binds; the cgroup tree rbound over the etc directory, or
 * /mnt without one; a fresh sysfs named `multinode-sysfs`; the cgroup tree moved under it), then exec the
 * command itself (execvp, as `exec "$@"`). A shell comes in only where it adds meaning: a volume mount
 * script that exists (sourced by TAIL_SCRIPT, given the same arguments) or a cwd that is not plainly absolute
 * (dash's logical `cd`). What the shell would change in the environment is done here too: dash exports PWD
 * (kept when it names the working directory, else the physical path) and, after `cd`, OLDPWD.
 * Arguments: `setns:unshare:mount` numbers, `--uts=PATH`, `--net=PATH`, the etc directory, then what
 * MOUNT_SCRIPT takes after it. Exit codes as the old chain: 1 for a namespace (nsenter, unshare) or cwd,
 * 32 for a mount (mount(8)), 127 / 126 for a command not found / not runnable (sh).
 */
export const NODE_EXEC_SCRIPT = `my ($nrs, $utsArg, $netArg, $e, @rest) = @ARGV;
my ($setns, $unshare, $mount) = split(/:/, $nrs);
sub fail { print STDERR "multinode: $_[0]\\n"; exit($_[1] // 1) }
my ($uts, $net) = (substr($utsArg, 6), substr($netArg, 6));
open(my $u, '<', $uts) or fail("cannot open the UTS namespace $uts: $!");
open(my $n, '<', $net) or fail("cannot open the network namespace $net: $!");
syscall($setns, fileno($u), 0x04000000) == 0 or fail("cannot enter the UTS namespace $uts: $!");
syscall($setns, fileno($n), 0x40000000) == 0 or fail("cannot enter the network namespace $net: $!");
close $u;
close $n;
syscall($unshare, 0x00020000) == 0 or fail("cannot unshare the mount namespace: $!");
# syscall() may write through its string arguments: each is a variable of its own (a copy), never a literal.
sub mnt {
  my ($src, $dst, $type, $flags, $what) = @_;
  syscall($mount, $src, $dst, $type, $flags, 0) == 0 or fail("mount $what: $!", 32);
}
mnt('none', '/', 0, 0x4000 | 0x80000, '--make-rslave /');
for my $f ('hosts', 'resolv.conf', 'hostname') {
  mnt("$e/$f", "/etc/$f", 0, 4096, "--bind $e/$f /etc/$f") if -f "$e/$f" && -e "/etc/$f";
}
my $aside = -d $e ? $e : '/mnt';
mnt('/sys/fs/cgroup', $aside, 0, 4096 | 0x4000, "--rbind /sys/fs/cgroup $aside");
mnt('multinode-sysfs', '/sys', 'sysfs', 0, '-t sysfs multinode-sysfs /sys');
mnt($aside, '/sys/fs/cgroup', 0, 8192, "--move $aside /sys/fs/cgroup");
my ($m, $c, @cmd) = ('', '', @rest);
while (@cmd) {
  if ($cmd[0] =~ /^${MOUNTS_ARG}(.*)$/s) { $m = $1; shift @cmd }
  elsif ($cmd[0] =~ /^${CWD_ARG}(.*)$/s) { $c = $1; shift @cmd }
  else { last }
}
# dash's start: PWD kept when it names the working directory, else the physical path
my $pwd = $ENV{PWD};
my @here = stat('.');
my @there = defined $pwd && $pwd =~ m{^/} ? stat($pwd) : ();
unless (@here && @there && $here[0] == $there[0] && $here[1] == $there[1]) {
  $pwd = readlink('/proc/self/cwd');
  $ENV{PWD} = $pwd if defined $pwd;
}
if (($m ne '' && -f $m) || ($c ne '' && ($c !~ m{^/(?!/)}s || $c =~ m{(?:^|/)\\.\\.?(?:/|$)}s))) {
  my $tail = <<'MN_TAIL';
${TAIL_SCRIPT}
MN_TAIL
  exec { '/bin/sh' } '/bin/sh', '-c', $tail, 'multinode-nodexec', @rest;
  fail("cannot run /bin/sh: $!", 127);
}
if ($c ne '') {
  chdir($c) or fail("cwd $c does not exist in this rank");
  (my $p = $c) =~ s{/+}{/}g;
  $p =~ s{(?<=.)/$}{};
  $ENV{OLDPWD} = $pwd if defined $pwd;
  $ENV{PWD} = $p;
}
exit 0 unless @cmd;
exec { $cmd[0] } @cmd;
my $missing = $! == 2; # ENOENT (%! would load Errno.pm on every start)
fail("cannot run $cmd[0]: " . ($missing ? 'not found' : $!), $missing ? 127 : 126);
`;

let perlSeen: boolean | undefined;
/** Whether /usr/bin/perl exists (perl-base is essential on Debian; elsewhere it may be missing): looked once. */
function hasPerl(): boolean {
  perlSeen ??= existsSync(PERL);
  return perlSeen;
}

/**
 * argv prefix that runs a command on a node (or in a rank's netns on that node): NODE_EXEC_SCRIPT where this
 * architecture's system call numbers are known (`arch`: see linuxSyscalls) and Perl is there, else the
 * nsenter / unshare / MOUNT_SCRIPT chain.
 */
export function nodeExecArgv(target: NodeTarget, arch: string = process.arch): string[] {
  const syscalls = hasPerl() ? linuxSyscalls(arch) : undefined;
  const nodeNs = nodeNetnsName(target.clusterName, target.node);
  const netns = target.rankNetns ?? nodeNs;
  let etc = target.etcDir ?? etcDirFor(netns);
  if (target.etcDir === undefined && target.rankNetns !== undefined && !existsSync(etc))
    etc = etcDirFor(nodeNs);
  const uts = `--uts=${target.uts ?? nodeUtsPath(target.clusterName, target.node)}`;
  const net = `--net=${join(NETNS_DIR, netns)}`;
  const rest = [
    etc,
    ...(target.mounts !== undefined ? [`${MOUNTS_ARG}${target.mounts}`] : []),
    ...(target.cwd !== undefined ? [`${CWD_ARG}${target.cwd}`] : []),
  ];
  if (syscalls !== undefined)
    return [
      PERL,
      '-e',
      NODE_EXEC_SCRIPT,
      `${syscalls.setns}:${syscalls.unshare}:${syscalls.mount}`,
      uts,
      net,
      ...rest,
    ];
  return [
    '/usr/bin/nsenter',
    uts,
    net,
    '/usr/bin/unshare',
    '--mount',
    '--propagation',
    'slave',
    '/bin/sh',
    '-c',
    MOUNT_SCRIPT,
    'multinode-nodexec',
    ...rest,
  ];
}

/** The same prefix without the volume mounts (for quick checks that need the namespaces only). */
export function withoutMounts(prefix: readonly string[]): string[] {
  return prefix.filter((a) => !a.startsWith(MOUNTS_ARG));
}

/**
 * For checks that need only the network (a TCP connection to an address): just the network namespace of a
 * `nodeExecArgv` prefix (`nsenter --net=…`: one process, where the whole prefix takes a mount namespace,
 * `mount -a` and `mount --move` as well); any other prefix without its volume mounts.
 */
export function networkOnly(prefix: readonly string[]): string[] {
  const ours = prefix[0] === '/usr/bin/nsenter' || (prefix[0] === PERL && prefix[2] === NODE_EXEC_SCRIPT);
  const net = ours ? prefix.find((a) => a.startsWith('--net=')) : undefined;
  return net !== undefined ? ['/usr/bin/nsenter', net] : withoutMounts(prefix);
}

/** System call numbers the Perl helpers use (x86-64; arm64 and riscv64 share the generic table). */
export interface LinuxSyscalls {
  readonly setns: number;
  readonly unshare: number;
  readonly sethostname: number;
  readonly mount: number;
}
const SYSCALLS: Readonly<Partial<Record<string, LinuxSyscalls>>> = {
  x64: { setns: 308, unshare: 272, sethostname: 170, mount: 165 },
  arm64: { setns: 268, unshare: 97, sethostname: 161, mount: 40 },
  riscv64: { setns: 268, unshare: 97, sethostname: 161, mount: 40 },
};

/**
 * The system call numbers on this machine's architecture (Node's `process.arch`), for the Perl helpers that
 * do from ONE process what would otherwise take a process per namespace (perl-base is essential, as for
 * file-lock.ts); undefined elsewhere, where callers take their one-process-per-namespace way.
 */
export function linuxSyscalls(arch: string = process.arch): LinuxSyscalls | undefined {
  return SYSCALLS[arch];
}

/** setns(2)'s number (see linuxSyscalls). */
export function setnsSyscall(arch: string = process.arch): number | undefined {
  return linuxSyscalls(arch)?.setns;
}

/** Perl: the start of a loop over namespace names (`$ns`) that enters each in turn; `$nr` is setns's number. */
export const PERL_EACH_NETNS = `use strict;
my $nr = shift @ARGV;
sub enter {
  my ($ns) = @_;
  open(my $fh, '<', "${NETNS_DIR}/$ns") or return 0;
  my $in = syscall($nr, fileno($fh), 0x40000000);
  close $fh;
  return $in == 0;
}
`;

/** Just the network namespace (cheap: no mount namespace), for iproute2/nft/CNI calls. */
export function netnsExecArgv(netnsName: string): string[] {
  return ['/usr/bin/nsenter', `--net=${join(NETNS_DIR, netnsName)}`];
}

/** Runs a command on a node and waits for it. */
export function runOnNode(
  target: NodeTarget,
  argv: readonly string[],
  options: RunOptions = {},
  spawner: ProcessSpawner = realSpawner,
): Promise<RunResult> {
  return spawner.run([...nodeExecArgv(target), ...argv], options);
}
