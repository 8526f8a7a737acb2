import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopSessions } from './sessions.js';

function alive(pid: number): boolean {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\S+ \(.*\) [ZX]/.test(st);
  } catch {
    return false;
  }
}

test('stopSessions stops a recorded session and its whole process group, ignores stale records', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mn-sessions-'));
  try {
    // A session leader with a background child, like a remote `cmd &` started through the wrapper;
    // it ignores SIGTERM so the SIGKILL path runs too.
    const leader = spawn('/bin/sh', ['-c', "trap '' TERM; /bin/sleep 300 & echo $!; wait"], {
      detached: true,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const childPid = await new Promise<number>((resolve) =>
      leader.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
    );
    const pid = leader.pid ?? 0;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
    writeFileSync(join(dir, `1.${pid}`), `${pid} ${start}\n`);
    writeFileSync(join(dir, '1.999999'), '999999 1\n');
    writeFileSync(join(dir, `0.${process.pid}`), `${process.pid} 12345\n`); // reused PID: wrong start time
    const exited = new Promise((r) => leader.once('exit', r));
    const r = await stopSessions(dir, 300);
    await exited;
    assert.equal(r.stopped, 1);
    assert.equal(r.killed, 1);
    // SIGKILL went to the whole group; the background child's exit may still be under way a moment after.
    for (let i = 0; i < 100 && alive(childPid); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(alive(childPid), false);
    assert.deepEqual(readdirSync(dir), []);
    assert.deepEqual(await stopSessions(join(dir, 'missing')), { stopped: 0, killed: 0 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
