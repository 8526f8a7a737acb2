import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStandby } from './standby.js';

const MAIN = join(import.meta.dirname, '../cli/main.ts');
const SELF = [process.execPath, '--import', 'tsx', MAIN];

function alive(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 300 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  return !alive(pid);
}

test('a standby supervisor: cancelled it exits and leaves nothing; handed a service its output is that service’s supervisor log', async () => {
  const state = mkdtempSync(join(tmpdir(), 'mn-standby-'));
  const before = process.env['MULTINODE_STATE_DIR'];
  process.env['MULTINODE_STATE_DIR'] = state;
  try {
    const services = join(state, 'services');

    const idle = await startStandby(SELF, 'web');
    assert.ok(idle?.pid !== undefined);
    assert.deepEqual(readdirSync(services).length, 1, 'its log waits in the services directory');
    idle.cancel();
    assert.ok(await gone(idle.pid), 'told nothing, it exits');
    assert.deepEqual(readdirSync(services), [], 'and leaves no log behind');

    // Handed over: `go` links its log into the service's directory; this service has no record, so the
    // supervisor says so there and exits.
    const sb = await startStandby(SELF, 'api');
    assert.ok(sb?.pid !== undefined);
    mkdirSync(join(services, 'api'), { mode: 0o700 });
    assert.equal(await sb.go(), sb.pid);
    assert.ok(await gone(sb.pid));
    assert.match(readFileSync(join(services, 'api', 'supervisor.log'), 'utf8'), /no service named "api"/);
    assert.deepEqual(readdirSync(services), ['api']);
    sb.cancel(); // a no-op after go

    // Nowhere to hand it over (no record directory): `go` says so, and it is let go.
    const lost = await startStandby(SELF, 'db');
    assert.ok(lost?.pid !== undefined);
    assert.equal(await lost.go(), undefined);
    assert.ok(await gone(lost.pid));
    assert.equal(existsSync(join(services, 'db')), false);
    assert.deepEqual(readdirSync(services), ['api']);
  } finally {
    if (before === undefined) delete process.env['MULTINODE_STATE_DIR'];
    else process.env['MULTINODE_STATE_DIR'] = before;
    rmSync(state, { recursive: true, force: true });
  }
});
