/**
 * The dashboard in a real browser (Debian's chromium driven by puppeteer-core; nothing is downloaded):
 * with the quickstart running, the page shows its 3 nodes and ranks, a line rank 0 prints after the page
 * loaded appears in the log view (and hides when only rank 1 is shown), a SIGKILLed worker shows missing and
 * then restarted, the endpoint link answers, and nothing is served without the token. Runs the built
 * program (dist/ built into a temporary directory), as a user would. Screenshots at a laptop (1366×768) and
 * a phone (390×844) width go to $TEST_ARTIFACTS or .artifacts/dashboard/ (gitignored); at both widths the
 * page must not scroll sideways.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import puppeteer from 'puppeteer-core';
import type { Browser, Page } from 'puppeteer-core';
import { ROOT_DIR, cleanupStateDir, cli, httpGet, makeStateDir, skipReason } from './runtime-helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = skipReason(['curl']) || (existsSync(CHROMIUM) ? false : 'needs chromium (scripts/install-deps)');
const ARTIFACTS = process.env['TEST_ARTIFACTS'] ?? join(ROOT_DIR, '.artifacts', 'dashboard');
const VIEWPORTS = [
  { name: 'laptop', width: 1366, height: 768 },
  { name: 'phone', width: 390, height: 844 },
] as const;

interface StateFile {
  ranks: { rank: number; pid?: number }[];
}

/** Starts `multinode dashboard FILE` from the built program; resolves with its URL (first stdout line). */
async function startDashboard(
  program: string,
  state: string,
  args: readonly string[],
): Promise<{ proc: ChildProcessByStdio<null, Readable, Readable>; url: string }> {
  const proc = spawn(process.execPath, [program, 'dashboard', ...args], {
    cwd: ROOT_DIR,
    env: { ...process.env, MULTINODE_STATE_DIR: state, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`dashboard did not print its URL: ${err}`)), 20_000);
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) {
        clearTimeout(t);
        resolve(line.trim());
      }
    });
    proc.on('exit', (code) => reject(new Error(`dashboard exited ${code}: ${err}`)));
  });
  return { proc, url };
}

/** Page does not scroll sideways at its current width. */
async function noHorizontalOverflow(page: Page, what: string): Promise<void> {
  const [scrollWidth, innerWidth] = (await page.evaluate(
    '[document.scrollingElement.scrollWidth, window.innerWidth]',
  )) as [number, number];
  assert.ok(
    scrollWidth <= innerWidth,
    `${what}: page is ${scrollWidth} px wide in a ${innerWidth} px window`,
  );
}

async function shots(page: Page, view: string): Promise<void> {
  for (const v of VIEWPORTS) {
    await page.setViewport({ width: v.width, height: v.height });
    await new Promise((r) => setTimeout(r, 400)); // the topology re-lays out after a resize
    await page.evaluate('window.scrollTo(0, 0)');
    await noHorizontalOverflow(page, `${view} at ${v.name} width`);
    await page.screenshot({ path: join(ARTIFACTS, `${view}-${v.name}.png`), fullPage: view !== 'logs' });
  }
  await page.setViewport({ width: VIEWPORTS[0].width, height: VIEWPORTS[0].height });
}

test(
  'dashboard: quickstart in chromium — nodes and ranks, live logs, kill → missing → restarted, endpoint, token',
  { skip, timeout: 300_000 },
  async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const state = makeStateDir('dash');
    const dist = mkdtempSync(join(tmpdir(), 'mn-dash-dist-'));
    let dash: Awaited<ReturnType<typeof startDashboard>> | undefined;
    let browser: Browser | undefined;
    try {
      const built = spawnSync(process.execPath, [join(ROOT_DIR, 'scripts/build.mjs'), dist], {
        encoding: 'utf8',
      });
      assert.equal(built.status, 0, built.stderr);
      const up = cli(state, ['up', '-d', 'examples/quickstart.yaml']);
      assert.equal(up.code, 0, `up failed:\n${up.stdout}\n${up.stderr}`);

      dash = await startDashboard(join(dist, 'multinode.mjs'), state, ['examples/quickstart.yaml']);
      const url = new URL(dash.url);
      assert.equal(url.hostname, '127.0.0.1', 'loopback by default');
      const token = url.searchParams.get('token') ?? '';
      assert.ok(token.length >= 32, 'a long random token');

      // No token, a wrong one: 401, page and API alike. The token as a bearer header: 200.
      for (const path of ['/', '/api/state', '/api/events', '/ui/app.js', `/?token=${token.slice(1)}x`])
        assert.equal((await httpGet(`${url.origin}${path}`)).status, 401, path);
      const bearer = await fetch(`${url.origin}/api/state`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(bearer.status, 200);
      // Read-only without --allow-actions.
      const down = await fetch(`${url.origin}/api/services/quickstart/down`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, origin: url.origin },
      });
      assert.equal(down.status, 403);

      browser = await puppeteer.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-dev-shm-usage'],
      });
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.setViewport({ width: 1366, height: 768 });
      await page.goto(dash.url, { waitUntil: 'domcontentloaded' });
      assert.equal(page.url(), `${url.origin}/`, 'the token leaves the address bar');

      // 3 nodes, 3 ranks of quickstart, one on each.
      await page.waitForFunction("document.querySelectorAll('[data-topology] .topo-node').length === 3", {
        timeout: 15_000,
      });
      const placed = (await page.evaluate(
        `[...document.querySelectorAll('[data-topology] .rank-chip')].map((c) => c.dataset.service + '/' + c.dataset.rank)`,
      )) as string[];
      assert.deepEqual(placed.sort(), ['quickstart/0', 'quickstart/1', 'quickstart/2']);
      const nodes = (await page.evaluate(
        `[...document.querySelectorAll('[data-cluster="default"] tr[data-node]')].map((r) => r.dataset.node)`,
      )) as string[];
      assert.deepEqual(nodes, ['node-1', 'node-2', 'node-3']);
      await page.waitForFunction(
        `document.querySelector('[data-service="quickstart"] .badge')?.textContent === 'ready'`,
        { timeout: 30_000 },
      );
      // Traffic counters arrive from the node namespaces.
      await page.waitForFunction(
        `/under0/.test(document.querySelector('td[data-traffic="default/node-1"]')?.textContent ?? '')`,
        { timeout: 15_000 },
      );
      await shots(page, 'overview');

      // The endpoint link answers (the link the page shows, opened from here).
      const href = (await page.evaluate(
        `document.querySelector('[data-service="quickstart"] a.endpoint')?.getAttribute('href')`,
      )) as string | undefined;
      assert.ok(href);
      const ep = await httpGet(href);
      assert.equal(ep.status, 200, ep.body);
      assert.equal((JSON.parse(ep.body) as { sum: number }).sum, 60);

      // Logs: a line rank 0 prints after the page loaded shows up; rank 1 only hides it.
      await page.goto(`${url.origin}/#logs?service=quickstart`, { waitUntil: 'domcontentloaded' });
      await page.waitForFunction("document.querySelectorAll('#logpane .logline').length >= 3", {
        timeout: 15_000,
      });
      const marker = `dash-marker-${process.pid}-${Date.now()}`;
      assert.equal((await httpGet(`${href}${marker}`)).status, 200);
      await page.waitForFunction(
        `[...document.querySelectorAll('#logpane .logline[data-rank="0"]')].some((l) => l.textContent.includes(${JSON.stringify(marker)}) && !l.hidden)`,
        { timeout: 15_000 },
      );
      await shots(page, 'logs');
      await page.select('#log-rank', '1');
      const hidden = await page.evaluate(
        `[...document.querySelectorAll('#logpane .logline')].filter((l) => l.textContent.includes(${JSON.stringify(marker)})).every((l) => l.hidden)`,
      );
      assert.ok(hidden, 'rank 1 only: rank 0 lines are hidden');
      await page.select('#log-rank', 'all');

      // The plan of the file, drawn before anything runs.
      await page.goto(`${url.origin}/#plan`, { waitUntil: 'domcontentloaded' });
      await page.waitForSelector('[data-plan-service="quickstart"]', { timeout: 15_000 });
      const envCount = (await page.evaluate(
        `document.querySelectorAll('[data-plan-service="quickstart"] details.env').length`,
      )) as number;
      assert.equal(envCount, 3, 'environment of each rank');
      await shots(page, 'plan');

      // Kill worker 1: the page shows it missing, then restarted (the restart history has an entry).
      await page.goto(`${url.origin}/#overview`, { waitUntil: 'domcontentloaded' });
      await page.waitForSelector('[data-service="quickstart"] tr[data-rank="1"].alive', { timeout: 15_000 });
      // Recorded on every change of the page: the missing state may last only a couple of seconds.
      await page.evaluate(`
        window.sawMissing = false;
        new MutationObserver(() => {
          if (document.querySelector('[data-service="quickstart"] tr[data-rank="1"].missing')) window.sawMissing = true;
        }).observe(document.body, { subtree: true, childList: true, attributes: true });
      `);
      const st = JSON.parse(readFileSync(join(state, 'services/quickstart/state.json'), 'utf8')) as StateFile;
      const pid = st.ranks.find((r) => r.rank === 1)?.pid;
      assert.ok(pid);
      process.kill(pid, 'SIGKILL');
      await page.waitForFunction('window.sawMissing === true', { timeout: 20_000 });
      await page.screenshot({ path: join(ARTIFACTS, 'missing-laptop.png'), fullPage: true });
      await page.waitForFunction(
        `document.querySelector('[data-service="quickstart"] tr[data-rank="1"]')?.classList.contains('alive') &&
         document.querySelectorAll('[data-service="quickstart"] ol.history li').length >= 1`,
        { timeout: 60_000 },
      );
      const restarts = Number(
        await page.evaluate(
          `document.querySelector('[data-service="quickstart"] tr[data-rank="1"] td:nth-child(7)')?.textContent`,
        ),
      );
      assert.ok(restarts >= 1, `rank 1 restarted (${restarts})`);
      await page.waitForFunction(
        `document.querySelector('[data-service="quickstart"] .badge')?.textContent === 'ready'`,
        { timeout: 60_000 },
      );
      await shots(page, 'restarted');
      assert.deepEqual(errors, [], 'no script errors on the page');
    } finally {
      await browser?.close();
      if (dash) {
        dash.proc.kill('SIGTERM');
        await new Promise((r) => dash?.proc.once('exit', r));
      }
      cleanupStateDir(state);
      rmSync(dist, { recursive: true, force: true });
    }
  },
);
