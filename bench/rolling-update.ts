/**
 * Rolling update bench (run as root: `node --import tsx bench/rolling-update.ts [rounds]`): a 2-replica HTTP
 * service behind one endpoint on a 3-node emulated cluster. Each round, side by side:
 *   rolling   `up -d` of the file with a changed command: replicas replaced one at a time (the endpoint
 *             answers throughout: docs/guides/replicas-and-updates.md)
 *   down+up   `down FILE`, then `up -d` of the next version (the endpoint is gone in between)
 * Figures: wall time of the command(s) until the service is back with 2 ready replicas of the new version,
 * and the requests a client hammering the endpoint (one every 20 ms, one connection each) saw fail meanwhile.
 * Each round first SIGKILLs one replica's rank 0 under the same client, until both replicas answer again:
 * the kill lands between two requests (a request the killed process had already accepted is lost behind any
 * kernel balancer), at the victim's turn in the endpoint's round robin, so the next connection is the one the
 * endpoint may still send to the dead replica; `retried` counts requests that took over 900 ms (a SYN sent
 * again after the victim's listen guard dropped it). Medians over the rounds, the ratio rolling / down+up,
 * and the load average. Both rows run the CLI the same way (tsx), so its start-up is in both.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  cleanupStateDir,
  cli,
  cliAsync,
  httpGet,
  makeStateDir,
  sleep,
  untilGone,
} from '../test/root/runtime-helpers.js';
import { median } from './stats.js';

const ROUNDS = Number(process.argv[2] ?? 3);
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function spec(version: string): string {
  return `version: v1
services:
  rub:
    replicas: 2
    script: |
      #!/bin/sh
      d=$(mktemp -d) && echo "${version} $(hostname)" > "$d/index.html" && cd "$d" && exec /usr/bin/python3 -m http.server 8080
    resource:
      cpu:
        cores: 1
      memory:
        size: 64MB
    ports:
      - name: http
        port: 8080
    endpoints:
      - name: web
        port-name: http
        protocol: http
    readiness-probe:
      tcp-socket:
        port: 8080
      period-seconds: 1
`;
}

function must(r: { code: number; out?: string; stdout?: string; stderr?: string }, what: string): void {
  if (r.code !== 0) throw new Error(`${what} failed:\n${r.out ?? `${r.stdout ?? ''}${r.stderr ?? ''}`}`);
}

function endpointUrl(dir: string): string {
  const r = cli(dir, ['ps', '--output', 'json']);
  must({ code: r.code, stdout: r.stdout, stderr: r.stderr }, 'ps');
  const rows = JSON.parse(r.stdout) as { name: string; kind?: string; endpoints?: { hostPort: number }[] }[];
  const set = rows.find((x) => x.kind === 'replica-set' && x.name === 'rub');
  const port = set?.endpoints?.[0]?.hostPort;
  if (port === undefined) throw new Error('no endpoint for rub');
  return `http://127.0.0.1:${port}/`;
}

/** Until 2 distinct replicas of `version` answer at `url` (or 60 s). */
async function waitVersion(url: () => string, version: string): Promise<void> {
  const end = Date.now() + 60_000;
  for (;;) {
    const seen = new Set<string>();
    try {
      const u = url();
      for (let i = 0; i < 8; i++) {
        const b = (await httpGet(u, 2000)).body.trim();
        if (b.startsWith(`${version} `)) seen.add(b);
      }
    } catch {
      // not there yet
    }
    if (seen.size >= 2) return;
    if (Date.now() > end) throw new Error(`${version}: 2 replicas never answered`);
    await sleep(100);
  }
}

interface Figures {
  ms: number;
  failed: number;
  ok: number;
  retried: number;
}

/** Runs once between two requests of the hammering client, after an answer `after` accepts. */
let between: { after: (body: string) => boolean; fn: () => Promise<void> } | undefined;

/** Runs `work` while hammering `url()`; wall time until `version` answers from 2 replicas, and failures. */
async function timed(url: () => string, version: string, work: () => Promise<void>): Promise<Figures> {
  let stop = false;
  const f = { failed: 0, ok: 0, retried: 0 };
  let last = '';
  const hammer = (async () => {
    while (!stop) {
      const b = between;
      if (b?.after(last)) {
        between = undefined;
        await b.fn();
      }
      const t = Date.now();
      try {
        const r = await httpGet(url(), 5000);
        last = r.body.trim();
        if (r.status === 200) f.ok++;
        else f.failed++;
      } catch {
        last = '';
        f.failed++;
      }
      if (Date.now() - t > 900) f.retried++;
      await sleep(20);
    }
  })();
  const t0 = Date.now();
  await work();
  await waitVersion(url, version);
  const ms = Date.now() - t0;
  stop = true;
  await hammer;
  return { ms, ...f };
}

/** SIGKILL of rub-0's rank 0 between two requests, right after rub-1 answered (rub-0's turn next). */
async function killReplica(dir: string): Promise<void> {
  const r = cli(dir, ['ps', '--output', 'json']);
  const rows = JSON.parse(r.stdout) as { name: string; ranks?: { pid: number }[] }[];
  const pid = rows.find((x) => x.name === 'rub-0')?.ranks?.[0]?.pid;
  if (pid === undefined) throw new Error('no rank 0 of rub-0');
  await new Promise<void>((done) => {
    between = {
      after: (body) => body.endsWith(' rub-1-0'),
      fn: async () => {
        process.kill(pid, 'SIGKILL');
        await untilGone(pid);
        done();
      },
    };
  });
  await sleep(500);
}

async function main(): Promise<void> {
  const dir = makeStateDir('rub');
  const C = 'rubc';
  const file = join(dir, 'rub.yaml');
  try {
    const made = cli(dir, ['cluster', 'create', C, '--nodes', '3', '--cores', '4']);
    must({ code: made.code, stdout: made.stdout, stderr: made.stderr }, 'cluster create');
    writeFileSync(file, spec('v0'));
    must(await cliAsync(dir, ['up', '-d', '--cluster', C, file]), 'up');
    let url = endpointUrl(dir);
    await waitVersion(() => url, 'v0');
    const kills: Figures[] = [];
    const rolling: Figures[] = [];
    const downUp: Figures[] = [];
    let v = 0;
    for (let i = 0; i < ROUNDS; i++) {
      kills.push(
        await timed(
          () => url,
          `v${v}`,
          () => killReplica(dir),
        ),
      );
      const rv = `v${++v}`;
      writeFileSync(file, spec(rv));
      rolling.push(
        await timed(
          () => url,
          rv,
          async () => must(await cliAsync(dir, ['up', '-d', file]), 'rolling up'),
        ),
      );
      const dv = `v${++v}`;
      downUp.push(
        await timed(
          () => url,
          dv,
          async () => {
            must(await cliAsync(dir, ['down', file]), 'down');
            writeFileSync(file, spec(dv));
            must(await cliAsync(dir, ['up', '-d', '--cluster', C, file]), 'up');
            url = endpointUrl(dir);
          },
        ),
      );
      process.stdout.write(
        `round ${i + 1}: kill ${kills.at(-1)?.ms} ms (${kills.at(-1)?.failed} of ${(kills.at(-1)?.ok ?? 0) + (kills.at(-1)?.failed ?? 0)} failed, ${kills.at(-1)?.retried} retried), rolling ${rolling.at(-1)?.ms} ms (${rolling.at(-1)?.failed} failed), down+up ${downUp.at(-1)?.ms} ms (${downUp.at(-1)?.failed} failed); load ${load()}\n`,
      );
    }
    const r = median(rolling.map((x) => x.ms));
    const d = median(downUp.map((x) => x.ms));
    const sum = (xs: Figures[], k: 'failed' | 'ok' | 'retried') => xs.reduce((a, x) => a + x[k], 0);
    process.stdout.write(
      [
        `rolling update of 2 replicas, ${ROUNDS} round(s), load ${load()}`,
        `  kill      median ${median(kills.map((x) => x.ms))} ms until both answer again   failed requests ${sum(kills, 'failed')} of ${sum(kills, 'failed') + sum(kills, 'ok')}, ${sum(kills, 'retried')} retried a SYN`,
        `  rolling   median ${r} ms   failed requests ${sum(rolling, 'failed')} of ${sum(rolling, 'failed') + sum(rolling, 'ok')}`,
        `  down+up   median ${d} ms   failed requests ${sum(downUp, 'failed')} of ${sum(downUp, 'failed') + sum(downUp, 'ok')}`,
        `  ratio rolling / down+up: ${(r / d).toFixed(2)}`,
        '',
      ].join('\n'),
    );
  } finally {
    cli(dir, ['down', file]);
    cli(dir, ['cluster', 'delete', C]);
    cleanupStateDir(dir);
  }
}

await main();
