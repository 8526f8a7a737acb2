/**
 * The file lock (src/targets/file-lock.ts, flock(2) through util-linux flock(1)) against the three ways the
 * old pid-file lock broke: two waiters on a lock whose holder died both entering, a lock file naming a
 * live (reused) pid holding forever, an empty pid file never broken. Plus: mutual exclusion under load, a
 * holder killed with SIGKILL releases at once, a lock file replaced while waited on, the timeout message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { acquireFileLock, withFileLock } from '../../src/targets/file-lock.js';
import { closeSync } from 'node:fs';

const ROOT = resolve(import.meta.dirname, '../..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` with a fresh directory, removed afterwards. */
async function inTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mn-lock-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Critical sections that record overlap: returns the most holders ever inside at once. */
function exclusivityProbe() {
  let inside = 0;
  let most = 0;
  return {
    async section(ms: number) {
      inside++;
      most = Math.max(most, inside);
      await sleep(ms);
      inside--;
    },
    most: () => most,
  };
}

/** A child process that takes the lock, says `held`, and keeps it until killed. */
async function childHolding(path: string): Promise<ReturnType<typeof spawn>> {
  const code = `import { withFileLock } from ${JSON.stringify(join(ROOT, 'src/targets/file-lock.ts'))};
await withFileLock(${JSON.stringify(path)}, async () => { process.stdout.write('held\\n'); await new Promise(() => setInterval(() => {}, 1000)); });`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((res, rej) => {
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('held')) res();
    });
    child.on('exit', (c) => rej(new Error(`holder exited early (${c})`)));
  });
  return child;
}

test('mutual exclusion: 12 concurrent holders of one lock never overlap', async () => {
  await inTmp(async (dir) => {
    const path = join(dir, 'x.lock');
    const probe = exclusivityProbe();
    await Promise.all(Array.from({ length: 12 }, () => withFileLock(path, () => probe.section(15))));
    assert.equal(probe.most(), 1);
  });
});

test('a holder killed with SIGKILL releases at once; two waiters on its lock still enter one at a time', async () => {
  await inTmp(async (dir) => {
    const path = join(dir, 'x.lock');
    const holder = await childHolding(path);
    const probe = exclusivityProbe();
    const t0 = Date.now();
    const waiters = [0, 1].map(() => withFileLock(path, () => probe.section(200), { timeoutMs: 20_000 }));
    await sleep(300);
    holder.kill('SIGKILL');
    await Promise.all(waiters);
    assert.equal(probe.most(), 1, 'the two waiters overlapped');
    assert.ok(Date.now() - t0 < 10_000, 'the dead holder kept the lock');
  });
});

test('a lock file naming a live pid (a reused one) does not hold the lock', async () => {
  await inTmp(async (dir) => {
    const path = join(dir, 'x.lock');
    // pid 1 and this very process are alive; the start times are made up.
    for (const content of ['1 12345\n', `${process.pid} 1\n`]) {
      writeFileSync(path, content);
      const t0 = Date.now();
      await withFileLock(path, () => Promise.resolve(), { timeoutMs: 2000 });
      assert.ok(Date.now() - t0 < 2000);
    }
  });
});

test('an empty lock file (a holder killed before writing its pid) does not hold the lock', async () => {
  await inTmp(async (dir) => {
    const path = join(dir, 'x.lock');
    writeFileSync(path, '');
    // And the old format (a `lock` directory with an empty pid file) is not a lock any more.
    mkdirSync(join(dir, 'lock'));
    writeFileSync(join(dir, 'lock', 'pid'), '');
    let ran = false;
    await withFileLock(
      path,
      async () => {
        ran = true;
        await Promise.resolve();
      },
      { timeoutMs: 2000 },
    );
    assert.ok(ran);
  });
});

test('a lock file removed and made again while waited on: the waiter never shares it with the new holder', async () => {
  await inTmp(async (dir) => {
    const path = join(dir, 'x.lock');
    const first = await acquireFileLock(path);
    const probe = exclusivityProbe();
    const waiter = withFileLock(path, () => probe.section(200), { timeoutMs: 10_000 });
    await sleep(200);
    // The holder removes the file and lets go; a newcomer creates a new file and takes that.
    unlinkSync(path);
    closeSync(first);
    const newcomer = withFileLock(path, () => probe.section(200), { timeoutMs: 10_000 });
    await Promise.all([waiter, newcomer]);
    assert.equal(probe.most(), 1);
  });
});

test('timing out names the lock and its holder', async () => {
  await inTmp(async (dir) => {
    const path = join(dir, 'x.lock');
    const holder = await childHolding(path);
    try {
      await assert.rejects(
        withFileLock(path, () => Promise.resolve(), { timeoutMs: 300 }),
        (e: Error) => {
          assert.match(
            e.message,
            new RegExp(`waiting for the lock ${path} \\(held by pid ${holder.pid} \\(start time \\d+\\)\\)`),
          );
          return true;
        },
      );
    } finally {
      holder.kill('SIGKILL');
    }
  });
});
