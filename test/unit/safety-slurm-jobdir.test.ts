/**
 * The Slurm job directory under fake Slurm (plain bash, fake srun/scontrol): made fresh and private by the
 * batch script, its files written 0600/0700, a planted directory or symlink never trusted, and a rank
 * program that finds a job directory it did not make (another user's, or one open to others) refuses it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync, rmSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { renderSlurm } from '../../src/targets/slurm/index.js';
import { extractRankProgram, fakeSlurmBin, fixturePlan } from './render-slurm-helpers.js';

/** Each rank writes the octal modes of its job directory and of the files in it to $OUT/modes-<rank>. */
const REPORT_MODES = [
  '/bin/sh',
  '-c',
  'd=$(dirname "$(dirname "$MULTINODE_HOSTFILE")"); stat -c "%n %a" "$d" "$d/job.env" "$d/rank-program" "$d/bin/multinode-ssh" "$MULTINODE_HOSTFILE" > "$OUT/modes-$MULTINODE_NODE_RANK"; cat "$d/job.env" > "$OUT/jobenv-$MULTINODE_NODE_RANK"',
];

function runJob(fake: string, extraEnv: Record<string, string> = {}) {
  const out = join(fake, 'out');
  mkdirSync(out, { recursive: true });
  const script = renderSlurm(fixturePlan({ name: 'jd', nodes: 2, launch: 'all', argv: REPORT_MODES }));
  writeFileSync(join(fake, 'job.sh'), script);
  const r = spawnSync('bash', [join(fake, 'job.sh')], {
    encoding: 'utf8',
    env: {
      PATH: `${fake}/bin:/usr/bin:/bin`,
      OUT: out,
      SLURM_JOB_ID: '77',
      SLURM_JOB_NODELIST: 'cn[1-2]',
      SLURMD_NODENAME: 'cn1',
      TMPDIR: fake,
      FAKE_NODES: 'cn1 cn2',
      FAKE_ADDRS: '10.1.0.1 10.1.0.2',
      ...extraEnv,
    },
  });
  return { ...r, out, script };
}

test('the job directory is fresh and 0700, its files 0600 (scripts 0700)', () => {
  const fake = fakeSlurmBin();
  try {
    const r = runJob(fake);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    for (const rank of [0, 1]) {
      const modes = Object.fromEntries(
        readFileSync(join(r.out, `modes-${rank}`), 'utf8')
          .trim()
          .split('\n')
          .map((l) => {
            const [p, m] = l.split(' ');
            return [(p ?? '').replace(/^.*multinode-77\.[A-Za-z0-9]{10}/, '<dir>'), m];
          }),
      );
      assert.deepEqual(modes, {
        '<dir>': '700',
        '<dir>/job.env': '600',
        '<dir>/rank-program': '600',
        '<dir>/bin/multinode-ssh': '700',
        '<dir>/files/hostfile': '600',
      });
    }
  } finally {
    rmSync(fake, { recursive: true, force: true });
  }
});

test('MULTINODE_JOB_DIR planted as a symlink with a job.env: the job makes its own directory, never uses theirs', () => {
  const fake = fakeSlurmBin();
  try {
    const theirs = join(fake, 'theirs');
    mkdirSync(theirs);
    writeFileSync(join(theirs, 'job.env'), 'MN_JOB_HOSTS=evil\n');
    const planted = join(fake, 'jobdir');
    symlinkSync(theirs, planted);
    const r = runJob(fake, { MULTINODE_JOB_DIR: planted });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.doesNotMatch(readFileSync(join(r.out, 'jobenv-0'), 'utf8'), /evil/);
    assert.match(readFileSync(join(r.out, 'modes-1'), 'utf8'), new RegExp(`^${planted} 700$`, 'm'));
    assert.equal(
      readFileSync(join(theirs, 'job.env'), 'utf8'),
      'MN_JOB_HOSTS=evil\n',
      'their file untouched',
    );
  } finally {
    rmSync(fake, { recursive: true, force: true });
  }
});

test('a rank program refuses a job directory that is open to others or a symlink', () => {
  const fake = fakeSlurmBin();
  try {
    const program = extractRankProgram(
      renderSlurm(fixturePlan({ name: 'jd', nodes: 2, launch: 'all', argv: ['/bin/true'] })),
    );
    const open = join(fake, 'open');
    mkdirSync(open);
    chmodSync(open, 0o755);
    const link = join(fake, 'link');
    symlinkSync(join(fake, 'elsewhere'), link);
    mkdirSync(join(fake, 'elsewhere'), { mode: 0o700 });
    for (const dir of [open, link]) {
      const r = spawnSync('bash', ['-c', program, 'multinode-rank', 'rank'], {
        encoding: 'utf8',
        env: {
          PATH: `${fake}/bin:/usr/bin:/bin`,
          MN_JOB_ID: '77',
          MN_JOB_HOSTS: 'cn1 cn2',
          MN_JOB_ADDRS: '10.1.0.1 10.1.0.2',
          MN_JOB_DIR: dir,
          MN_RANK_PROGRAM: program,
          SLURMD_NODENAME: 'cn2',
        },
      });
      assert.equal(r.status, 1, `${dir}: ${r.stderr}`);
      assert.match(r.stderr, /is not a private \(0700\) directory of this user; refusing it/);
      assert.equal(existsSync(join(dir, 'job.env')), false, `${dir}: wrote into it`);
    }
  } finally {
    rmSync(fake, { recursive: true, force: true });
  }
});
