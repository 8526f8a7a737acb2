/**
 * The dashboard server without a browser or root: token handling (401, the one-time query token turned into
 * a cookie, bearer header), the loopback Host check, read-only actions, the plan of a file, the first
 * server-sent event, and the pieces it reads logs and traffic with.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDashboard } from '../../src/app/dashboard/server.js';
import type { Dashboard } from '../../src/app/dashboard/server.js';
import { parseIpLinkStats } from '../../src/app/dashboard/traffic.js';
import type { DashPlan, DashPlanError, DashSnapshot } from '../../src/app/dashboard/wire.js';
import { followFrom, tailLogs } from '../../src/app/logs.js';
import type { LogLine } from '../../src/app/logs.js';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request on a fresh connection; `firstChunk` resolves with the first bytes of a stream. */
function request(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; firstChunk?: boolean } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: opts.method ?? 'GET', headers: opts.headers, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
          if (opts.firstChunk && body.includes('\n\n')) {
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
            req.destroy();
          }
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', (e) => (opts.firstChunk ? undefined : reject(e)));
    req.end();
  });
}

async function withDashboard(
  opts: { allowActions?: boolean; planFile?: string },
  fn: (d: Dashboard) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mn-dash-unit-'));
  const ui = join(dir, 'ui');
  mkdirSync(ui);
  writeFileSync(join(ui, 'index.html'), '<!doctype html><title>t</title>');
  writeFileSync(join(ui, 'app.js'), 'export {};');
  writeFileSync(join(ui, 'app.css'), 'body{}');
  const prev = process.env['MULTINODE_STATE_DIR'];
  process.env['MULTINODE_STATE_DIR'] = join(dir, 'state');
  const d = await startDashboard({ uiDir: ui, ...opts });
  try {
    await fn(d);
  } finally {
    await d.close();
    if (prev === undefined) delete process.env['MULTINODE_STATE_DIR'];
    else process.env['MULTINODE_STATE_DIR'] = prev;
    rmSync(dir, { recursive: true, force: true });
  }
}

test('token: 401 without it; the query token becomes an HttpOnly SameSite cookie and leaves the URL', async () => {
  await withDashboard({}, async (d) => {
    assert.match(d.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{43}$/);
    for (const path of ['/', '/api/state', '/ui/app.js', '/?token=nope', '/api/events'])
      assert.equal((await request(`${d.origin}${path}`)).status, 401, path);
    const first = await request(d.url);
    assert.equal(first.status, 303);
    assert.equal(first.headers.location, '/');
    const cookie = first.headers['set-cookie']?.[0] ?? '';
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    const pair = cookie.split(';')[0] ?? '';
    const page = await request(`${d.origin}/`, { headers: { cookie: pair } });
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-security-policy']), /default-src 'none'/);
    const state = await request(`${d.origin}/api/state`, { headers: { authorization: `Bearer ${d.token}` } });
    assert.equal(state.status, 200);
    const snap = JSON.parse(state.body) as DashSnapshot;
    assert.deepEqual([snap.clusters, snap.services, snap.allowActions], [[], [], false]);
    // A page on another name that resolves to 127.0.0.1 (DNS rebinding) does not get in, token or not.
    const rebound = await request(`${d.origin}/api/state`, {
      headers: { authorization: `Bearer ${d.token}`, host: `evil.example:${d.port}` },
    });
    assert.equal(rebound.status, 403);
  });
});

test('actions: refused when read-only, and cross-origin when allowed', async () => {
  await withDashboard({}, async (d) => {
    const r = await request(`${d.origin}/api/services/x/down`, {
      method: 'POST',
      headers: { authorization: `Bearer ${d.token}`, origin: d.origin },
    });
    assert.equal(r.status, 403);
    assert.match(r.body, /--allow-actions/);
  });
  await withDashboard({ allowActions: true }, async (d) => {
    const r = await request(`${d.origin}/api/services/x/down`, {
      method: 'POST',
      headers: { authorization: `Bearer ${d.token}`, origin: 'http://evil.example' },
    });
    assert.equal(r.status, 403);
    assert.match(r.body, /cross-origin/);
  });
});

test('events: the first server-sent event is the state', async () => {
  await withDashboard({}, async (d) => {
    const r = await request(`${d.origin}/api/events`, {
      headers: { authorization: `Bearer ${d.token}` },
      firstChunk: true,
    });
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'] ?? '', /text\/event-stream/);
    assert.match(r.body, /^event: state\ndata: \{/);
  });
});

test('plan: a file is planned before anything runs; a bad file gives located issues', async () => {
  await withDashboard({ planFile: 'examples/quickstart.yaml' }, async (d) => {
    const r = await request(`${d.origin}/api/plan`, { headers: { authorization: `Bearer ${d.token}` } });
    const plan = JSON.parse(r.body) as DashPlan;
    const svc = plan.services[0];
    assert.ok(svc);
    assert.deepEqual(
      svc.ranks.map((x) => [x.hostname, x.env['MULTINODE_NODE_RANK']]),
      [
        ['quickstart-0', '0'],
        ['quickstart-1', '1'],
        ['quickstart-2', '2'],
      ],
    );
    assert.equal(new Set(svc.ranks.map((x) => x.node)).size, 3);
  });
  const dir = mkdtempSync(join(tmpdir(), 'mn-dash-bad-'));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'version: v1\nservices:\n  x:\n    multinode:\n      nodes: zero\n');
  try {
    await withDashboard({ planFile: bad }, async (d) => {
      const r = await request(`${d.origin}/api/plan`, { headers: { authorization: `Bearer ${d.token}` } });
      const e = JSON.parse(r.body) as DashPlanError;
      assert.ok(e.error);
      assert.ok(
        e.issues.some((i) => /bad\.yaml:\d+:\d+/.test(i.where)),
        JSON.stringify(e.issues),
      );
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('logs: the last lines, then only what is appended, split into complete lines', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mn-dash-logs-'));
  try {
    const a = join(dir, 'rank-0.log');
    const b = join(dir, 'rank-1.log');
    writeFileSync(a, Array.from({ length: 10 }, (_, i) => `a${i}`).join('\n') + '\npartial');
    writeFileSync(b, '');
    const sources = [
      { rank: 0, path: a },
      { rank: 1, path: b },
    ];
    const tail = await tailLogs(sources, 3);
    assert.deepEqual(
      tail.lines.map((l) => l.line),
      ['a7', 'a8', 'a9'],
    );
    const got: LogLine[] = [];
    const stop = new AbortController();
    const done = followFrom(sources, tail.offsets, (lines) => got.push(...lines), {
      signal: stop.signal,
      pollMs: 20,
    });
    appendFileSync(a, ' end\nnext\n');
    appendFileSync(b, 'b0\n');
    for (let i = 0; i < 100 && got.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    stop.abort();
    await done;
    // Lines of one rank keep their order; ranks interleave as the polls find them.
    assert.deepEqual(
      [...got].sort((x, y) => x.rank - y.rank),
      [
        { rank: 0, line: 'partial end' },
        { rank: 0, line: 'next' },
        { rank: 1, line: 'b0' },
      ],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('traffic: byte counters per interface from `ip -s -j link`, loopback left out', () => {
  const json = JSON.stringify([
    { ifname: 'lo', stats64: { rx: { bytes: 5 }, tx: { bytes: 5 } } },
    { ifname: 'under0', stats64: { rx: { bytes: 1000 }, tx: { bytes: 2000 } } },
    { ifname: 'weird' },
  ]);
  assert.deepEqual([...parseIpLinkStats(json)], [['under0', { rx: 1000, tx: 2000 }]]);
  assert.equal(parseIpLinkStats('not json').size, 0);
});
