import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildDispatchWrapper,
  buildRankFile,
  buildRemoteExecScript,
  buildWrapperScript,
  shQuote,
} from './wrapper.js';

// The whole wrapper path without sshd: a fake ssh records its argv and runs the remote command line with
// `bash -c` with an empty HOME, as sshd's login shell does with our config; everything else (option skipping, host lookup, quoting,
// env replacement, cwd, log redirection, exit status) is the real generated code.
function fixture() {
  const dir = mkdtempSync(join(tmpdir(), 'mn-wrapper-'));
  const ranksDir = join(dir, 'ranks');
  mkdirSync(ranksDir);
  mkdirSync(join(dir, 'work dir'));
  const fakeSsh = join(dir, 'fake-ssh');
  writeFileSync(
    fakeSsh,
    '#!/bin/sh\nprintf "%s\\n" "$@" > "$FAKE_SSH_ARGS"\nfor last; do :; done\nHOME=/nonexistent exec /bin/bash -c "$last"\n',
    { mode: 0o755 },
  );
  const remoteExec = join(dir, 'remote-exec');
  mkdirSync(join(dir, 'sessions'));
  writeFileSync(remoteExec, buildRemoteExecScript(ranksDir, join(dir, 'sessions')));
  const ranks = [0, 1].map((rank) => ({
    rank,
    hostname: `svc-${rank}`,
    address: `198.18.250.${10 + rank}`,
    sshPort: 2222 + rank,
    aliases: [`svc-${rank}.svc.local`],
  }));
  for (const r of ranks) {
    writeFileSync(
      join(ranksDir, `${r.rank}.sh`),
      buildRankFile({
        rank: r.rank,
        env: { MULTINODE_NODE_RANK: String(r.rank), ODD: `a 'b' "c" $d \\e\nline2`, 'NOT.A.NAME': 'x' },
        cwd: join(dir, 'work dir'),
        logFile: join(dir, `rank-${r.rank}.log`),
        defaults: { PATH: '/usr/bin:/bin', HOME: '/root' },
      }),
    );
  }
  const wrapper = join(dir, 'multinode-ssh');
  writeFileSync(
    wrapper,
    buildWrapperScript({
      serviceName: 'svc',
      ranks,
      userKey: join(dir, 'id'),
      knownHosts: join(dir, 'kh'),
      controlDir: join(dir, 'cm'),
      remoteExec,
      sshClient: fakeSsh,
    }),
    { mode: 0o755 },
  );
  const argsFile = join(dir, 'ssh-args');
  const call = (args: string[], o: { fwd?: boolean; input?: string; env?: Record<string, string> } = {}) => {
    const r = spawnSync(wrapper, args, {
      input: o.input ?? '',
      env: {
        PATH: '/usr/bin:/bin',
        FAKE_SSH_ARGS: argsFile,
        CALLER_ONLY: 'leak',
        ...(o.fwd === false ? {} : { MULTINODE_WRAPPER_FORWARD_STREAMS: '1' }),
        ...o.env,
      },
      encoding: 'utf8',
    });
    const sshArgs = (() => {
      try {
        return readFileSync(argsFile, 'utf8').split('\n').slice(0, -1);
      } catch {
        return [];
      }
    })();
    rmSync(argsFile, { force: true });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr, sshArgs };
  };
  return { dir, call, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('wrapper: host by name, address, alias and user@host; port and address from the rank table', () => {
  const f = fixture();
  try {
    for (const h of ['svc-1', '198.18.250.11', 'svc-1.svc.local', 'root@svc-1', 'svc-1.cluster.example']) {
      const r = f.call([h, 'echo', '$MULTINODE_NODE_RANK']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '1\n');
      const i = r.sshArgs.indexOf('-p');
      assert.equal(r.sshArgs[i + 1], '2223');
      assert.equal(r.sshArgs.at(-2), '198.18.250.11');
    }
  } finally {
    f.cleanup();
  }
});

test('wrapper: leading ssh options are ignored (OpenMPI, hydra, GASNet style)', () => {
  const f = fixture();
  try {
    const r = f.call([
      '-x',
      '-T',
      '-p',
      '22',
      '-o',
      'StrictHostKeyChecking=no',
      '-l',
      'root',
      '-p22',
      '-q',
      'svc-0',
      'hostname_is=$MULTINODE_NODE_RANK;',
      'echo',
      '$hostname_is',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '0\n');
    assert.ok(r.sshArgs.includes('StrictHostKeyChecking=yes'));
    assert.ok(!r.sshArgs.includes('StrictHostKeyChecking=no'));
  } finally {
    f.cleanup();
  }
});

test('wrapper: ssh semantics for the command line (words joined, remote shell parses), quotes survive', () => {
  const f = fixture();
  try {
    assert.equal(f.call(['svc-0', `printf '%s|' a 'b c' "it's"`]).stdout, 'a|b c|it' + "'" + 's|');
    assert.equal(f.call(['svc-0', 'printf', "'%s|'", 'x', 'y']).stdout, 'x|y|');
    // OpenMPI's plm_rsh passes shell fragments as separate words.
    assert.equal(f.call(['svc-0', 'A=1', ';', 'export', 'A', ';', 'echo', '$A']).stdout, '1\n');
  } finally {
    f.cleanup();
  }
});

test('wrapper: exit status, stdin, cwd, and only the rank environment', () => {
  const f = fixture();
  try {
    assert.equal(f.call(['svc-1', 'exit 7']).code, 7);
    assert.equal(f.call(['svc-1', 'tr a-z A-Z'], { input: 'hello\n' }).stdout, 'HELLO\n');
    assert.equal(f.call(['svc-1', 'pwd']).stdout, `${join(f.dir, 'work dir')}\n`);
    assert.equal(f.call(['svc-1', 'echo "${CALLER_ONLY:-unset}"']).stdout, 'unset\n');
    assert.equal(f.call(['svc-1', 'printf %s "$ODD"']).stdout, `a 'b' "c" $d \\e\nline2`);
    assert.equal(f.call(['svc-1', 'echo $HOME $PATH']).stdout, '/root /usr/bin:/bin\n');
  } finally {
    f.cleanup();
  }
});

test('wrapper: streams go to the remote rank log unless MULTINODE_WRAPPER_FORWARD_STREAMS=1', () => {
  const f = fixture();
  try {
    const r = f.call(['svc-1', 'echo out; echo err >&2; exit 3'], { fwd: false });
    assert.equal(r.code, 3);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, '');
    assert.equal(readFileSync(join(f.dir, 'rank-1.log'), 'utf8'), 'out\nerr\n');
    const g = f.call(['svc-1', 'echo out; echo err >&2'], { fwd: true });
    assert.equal(g.stdout, 'out\n');
    assert.equal(g.stderr, 'err\n');
  } finally {
    f.cleanup();
  }
});

test('wrapper: unknown host and missing host fail with 255 and say why', () => {
  const f = fixture();
  try {
    const r = f.call(['svc-9', 'true']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /unknown host 'svc-9'.*svc-0, svc-1/);
    assert.equal(r.sshArgs.length, 0);
    assert.equal(f.call(['-x']).code, 255);
    assert.equal(f.call(['198.18.250.99', 'true']).code, 255);
    assert.equal(f.call(['svc-9.svc.local', 'true']).code, 255);
  } finally {
    f.cleanup();
  }
});

test('wrapper: connection sharing on by default, off with MULTINODE_SSH_MUX=0', () => {
  const f = fixture();
  try {
    const on = f.call(['svc-0', 'true']).sshArgs;
    assert.ok(on.includes('ControlMaster=auto'));
    assert.ok(on.includes('KexAlgorithms=curve25519-sha256'));
    const off = f.call(['svc-0', 'true'], { env: { MULTINODE_SSH_MUX: '0' } }).sshArgs;
    assert.ok(off.includes('ControlMaster=no'));
  } finally {
    f.cleanup();
  }
});

test('rank file: non-shell names are skipped, values round-trip', () => {
  const text = buildRankFile({
    rank: 3,
    env: { B: '2', A: "x'y", 'a.b': '1' },
    cwd: '/w',
    logFile: '/l',
    defaults: { A: 'default' },
  });
  assert.match(text, /^export A='x'\\''y'$/m);
  assert.match(text, /# not exportable by a shell: a\.b/);
  assert.ok(text.indexOf('export A') < text.indexOf('export B'));
  assert.equal(shQuote('plain-1.2:3'), 'plain-1.2:3');
  assert.equal(shQuote(''), "''");
});

test('dispatch wrapper runs the calling service’s wrapper with the same arguments', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mn-dispatch-'));
  try {
    mkdirSync(join(dir, 'services', 'svc', 'bin'), { recursive: true });
    writeFileSync(join(dir, 'services', 'svc', 'bin', 'multinode-ssh'), '#!/bin/sh\nprintf "%s," "$@"\n', {
      mode: 0o755,
    });
    const d = join(dir, 'multinode-ssh');
    writeFileSync(d, buildDispatchWrapper(join(dir, 'services'), 'bin/multinode-ssh'), { mode: 0o755 });
    const ok = spawnSync(d, ['-x', 'h', 'a b'], { env: { MULTINODE_SERVICE: 'svc' }, encoding: 'utf8' });
    assert.equal(ok.stdout, '-x,h,a b,');
    const bad = spawnSync(d, ['h'], { env: {}, encoding: 'utf8' });
    assert.equal(bad.status, 255);
    assert.match(bad.stderr, /MULTINODE_SERVICE/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
