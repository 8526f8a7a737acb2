/**
 * node-exec's two ways side by side, for real: the one-Perl-process prefix and the nsenter / unshare / sh
 * chain it replaced (still taken where the system call numbers are unknown) run the same probe in one network
 * namespace and one persistent UTS namespace of their own, and must agree on what the command sees: host
 * name, /sys/class/net, the etc files, the mount layout under /sys, /sys/fs/cgroup and /etc, PWD and OLDPWD,
 * a volume mount script sourced, a cwd entered; and on failures: a missing namespace file or cwd is a
 * non-zero exit whose message names it, a missing command exits 127. Everything lives in a temp dir and a
 * namespace named after this process, removed afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { etcFstab, linuxSyscalls, nodeExecArgv } from '../../src/targets/local/node-exec.js';
import type { NodeTarget } from '../../src/targets/local/node-exec.js';

const skip =
  process.getuid?.() !== 0
    ? 'needs root (namespaces, mounts)'
    : linuxSyscalls() === undefined
      ? 'no Perl way on this architecture'
      : false;

function run(argv: readonly string[], cwd = '/tmp'): { code: number; out: string; err: string } {
  const r = spawnSync(argv[0] ?? '', argv.slice(1), {
    encoding: 'utf8',
    cwd,
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', PWD: '/stale' },
  });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

const PROBE = [
  'hostname',
  'ls /sys/class/net | tr "\\n" " "; echo',
  'cat /etc/hosts /etc/hostname',
  'pwd; env | grep -E "^(PWD|OLDPWD)=" | sort',
  // root, mount point, options, fs type, source of what covers /sys, the cgroup tree and /etc (peer ids vary)
  'cut -d" " -f4- /proc/self/mountinfo | sed -E "s/(master|shared|propagate_from):[0-9]+/\\1:N/g" | grep -E "^[^ ]+ /(sys|etc)[/ ]" | sort',
].join('; ');

test('node-exec: the Perl way and the shell chain give a command the same node', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mn-nx-'));
  const netns = `mnx-t${process.pid}`;
  const utsDir = join(dir, 'uts');
  const etc = join(dir, 'etc');
  let mounted = false;
  let made = false;
  try {
    for (const d of [utsDir, etc, join(dir, 'work'), join(dir, 'work', 'sub'), join(dir, 'mnt')])
      mkdirSync(d);
    assert.equal(run(['ip', 'netns', 'add', netns]).code, 0);
    made = true;
    assert.equal(run(['mount', '--bind', utsDir, utsDir]).code, 0);
    mounted = true;
    assert.equal(run(['mount', '--make-private', utsDir]).code, 0);
    writeFileSync(join(utsDir, 'n'), '');
    assert.equal(run(['unshare', `--uts=${join(utsDir, 'n')}`, 'hostname', 'mnx-node']).code, 0);
    writeFileSync(join(etc, 'hosts'), '127.0.0.1 localhost\n198.18.0.9 mnx-node\n');
    writeFileSync(join(etc, 'resolv.conf'), 'options ndots:0\n');
    writeFileSync(join(etc, 'hostname'), 'mnx-node\n');
    writeFileSync(join(etc, 'fstab'), etcFstab(etc, ['hosts', 'resolv.conf', 'hostname']) ?? '');
    // a volume mount script: binds the work dir's `sub` over itself and says so
    writeFileSync(
      join(dir, 'mounts.sh'),
      `/bin/mount --bind '${dir}/work/sub' '${dir}/work'\necho sourced\n`,
    );

    const node: NodeTarget = {
      clusterName: 'x',
      node: 'n',
      rankNetns: netns,
      uts: join(utsDir, 'n'),
      etcDir: etc,
    };
    // 's390x': an architecture without system call numbers here, so the shell chain
    const both = (target: NodeTarget, cmd: readonly string[]) => ({
      perl: run([...nodeExecArgv(target), ...cmd]),
      shell: run([...nodeExecArgv(target, 's390x'), ...cmd]),
    });
    const same = (name: string, target: NodeTarget) => {
      const { perl, shell } = both(target, ['/bin/sh', '-c', PROBE]);
      assert.equal(perl.code, 0, `${name}: ${perl.err}`);
      assert.equal(shell.code, 0, `${name}: ${shell.err}`);
      assert.equal(perl.out, shell.out, name);
      return perl.out;
    };

    const plain = same('node command', node);
    assert.match(plain, /^mnx-node\nlo \n/, 'own host name and network namespace');
    assert.match(plain, /198\.18\.0\.9 mnx-node/);
    assert.match(plain, /PWD=\/tmp\n/, 'a stale PWD is replaced by the working directory, as dash does');
    assert.match(plain, / \/sys .* - sysfs multinode-sysfs /);
    assert.match(plain, / \/sys\/fs\/cgroup /);
    const cwd = same('cwd', { ...node, cwd: join(dir, 'work') });
    assert.match(cwd, new RegExp(`OLDPWD=/tmp\nPWD=${dir}/work\n`));
    same('cwd with doubled and trailing slashes', { ...node, cwd: `${dir}//work/` });
    same('cwd with ..', { ...node, cwd: `${dir}/work/sub/..` });
    const absent = same('mount script absent', {
      ...node,
      mounts: join(dir, 'none.sh'),
      cwd: join(dir, 'work'),
    });
    assert.doesNotMatch(absent, /sourced/);
    const sourced = same('mount script present', {
      ...node,
      mounts: join(dir, 'mounts.sh'),
      cwd: join(dir, 'work'),
    });
    assert.match(sourced, /^sourced\n/);
    // the fresh sysfs also where the etc directory has no files (the shell chain's slow way)
    const bare = both({ ...node, etcDir: join(dir, 'missing') }, ['/bin/sh', '-c', 'ls /sys/class/net']);
    assert.equal(bare.perl.out, 'lo\n');
    assert.equal(bare.shell.out, 'lo\n');

    // failures: non-zero, and the message names what is missing
    const noNs = both({ ...node, rankNetns: `${netns}-gone` }, ['/bin/true']);
    for (const r of [noNs.perl, noNs.shell]) {
      assert.notEqual(r.code, 0);
      assert.match(r.err, new RegExp(`/run/netns/${netns}-gone`));
    }
    const noUts = both({ ...node, uts: join(utsDir, 'gone') }, ['/bin/true']);
    for (const r of [noUts.perl, noUts.shell]) {
      assert.notEqual(r.code, 0);
      assert.match(r.err, /uts\/gone/);
    }
    const noCwd = both({ ...node, cwd: join(dir, 'nope') }, ['/bin/true']);
    for (const r of [noCwd.perl, noCwd.shell]) {
      assert.equal(r.code, 1);
      assert.match(r.err, new RegExp(`multinode: cwd ${dir}/nope does not exist in this rank`));
    }
    const noCmd = both(node, ['mnx-no-such-command']);
    for (const r of [noCmd.perl, noCmd.shell]) {
      assert.equal(r.code, 127);
      assert.match(r.err, /mnx-no-such-command: not found/);
    }
    const exit = both(node, ['/bin/sh', '-c', 'exit 7']);
    assert.deepEqual([exit.perl.code, exit.shell.code], [7, 7]);
  } finally {
    if (mounted) spawnSync('umount', ['-l', utsDir]);
    if (made) spawnSync('ip', ['netns', 'del', netns]);
    rmSync(dir, { recursive: true, force: true });
  }
});
