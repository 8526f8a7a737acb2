/**
 * Replicas on the local target, for real (namespaces, overlays, nftables): 2 replicas behind one endpoint
 * both answer; a replica whose rank 0 is SIGKILLed under a hammering client costs no request and comes back; `scale` to 3
 * and back to 1; a rolling update of a changed command keeps the endpoint answering (a hammering client
 * sees no failed request) and ends with only new replicas; nothing is left after `down`.
 * One cluster for all steps (each `up` costs tens of seconds on the test machine).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  EMPTY_SNAPSHOT,
  cleanupStateDir,
  cli,
  cliAsync,
  hashesFor,
  httpGet,
  makeStateDir,
  skipReason,
  sleep,
  snapshot,
  untilGone,
} from './runtime-helpers.js';

const skip = skipReason(['curl']);

function spec(version: string, replicas: number): string {
  return `version: v1
services:
  rsw:
    replicas: ${replicas}
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
    restart:
      policy: on-failure
      backoff-seconds: 8
`;
}

interface SetRow {
  name: string;
  kind?: string;
  members: { name: string }[];
  inRotation: string[];
  endpoints: { hostPort: number }[];
  ranks?: { pid: number }[];
}

function ps(dir: string): SetRow[] {
  const r = cli(dir, ['ps', '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as SetRow[];
}

function setRow(dir: string): SetRow {
  const s = ps(dir).find((x) => x.kind === 'replica-set' && x.name === 'rsw');
  assert.ok(s, 'replica set rsw in ps');
  return s;
}

/** What the endpoint controller published last (read directly: a `ps` per poll is too slow to see a restart). */
function rotation(dir: string): string[] {
  try {
    const r = JSON.parse(readFileSync(join(dir, 'replicasets', 'rsw', 'rotation.json'), 'utf8')) as {
      members: string[];
    };
    return r.members;
  } catch {
    return [];
  }
}

/** When the controller last changed the rotation (ms since the epoch). */
function rotationAt(dir: string): number {
  const r = JSON.parse(readFileSync(join(dir, 'replicasets', 'rsw', 'rotation.json'), 'utf8')) as {
    at: string;
  };
  return Date.parse(r.at);
}

async function waitRotation(dir: string, want: (r: string[]) => boolean, ms = 60_000): Promise<string[]> {
  const end = Date.now() + ms;
  for (;;) {
    const r = rotation(dir);
    if (want(r)) return r;
    if (Date.now() > end) throw new Error(`rotation still ${JSON.stringify(r)}`);
    await sleep(20);
  }
}

async function answers(url: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await httpGet(url, 3000)).body.trim());
  return out;
}

interface Hammering {
  /** Waits until the answers so far satisfy `want`. */
  until(want: (answers: readonly string[]) => boolean, ms?: number): Promise<void>;
  /** Runs `fn` between two requests (the first time `when` holds); resolves to the number of answers before it. */
  between(fn: () => Promise<void>, when?: (answers: readonly string[]) => boolean): Promise<number>;
  stop(): Promise<{ answers: string[]; failures: string[]; slow: number }>;
}

/**
 * A sequential client hammering `url` every 20 ms (one connection per request). `slow` counts requests that
 * took over 900 ms: a SYN the kernel had to send again.
 */
function hammer(url: string): Hammering {
  let stopped = false;
  const answers: string[] = [];
  const failures: string[] = [];
  let slow = 0;
  let hook:
    | { fn: () => Promise<void>; when: (a: readonly string[]) => boolean; done: (n: number) => void }
    | undefined;
  const loop = (async () => {
    while (!stopped) {
      const h = hook;
      if (h?.when(answers)) {
        hook = undefined;
        const n = answers.length;
        await h.fn();
        h.done(n);
      }
      const t = Date.now();
      try {
        const r = await httpGet(url, 5000);
        if (r.status === 200) answers.push(r.body.trim());
        else failures.push(`HTTP ${r.status}`);
      } catch (e) {
        failures.push(String(e));
      }
      if (Date.now() - t > 900) slow++;
      await sleep(20);
    }
  })();
  return {
    async until(want, ms = 30_000) {
      const end = Date.now() + ms;
      while (!want(answers)) {
        if (Date.now() > end)
          throw new Error(`hammering: still ${answers.length} answers, ${failures.length} failures`);
        await sleep(20);
      }
    },
    between: (fn, when = () => true) => new Promise<number>((done) => (hook = { fn, when, done })),
    async stop() {
      stopped = true;
      await loop;
      return { answers, failures, slow };
    },
  };
}

test('replicas: spread, failover, scale, rolling update, down', { skip, timeout: 900_000 }, async () => {
  const dir = makeStateDir('rs');
  const C = 'rsc';
  const file = join(dir, 'rsw.yaml');
  try {
    const made = cli(dir, ['cluster', 'create', C, '--nodes', '3', '--cores', '4']);
    assert.equal(made.code, 0, made.stderr);
    writeFileSync(file, spec('v1', 2));
    const up = cli(dir, ['up', '-d', '--cluster', C, file], 300_000);
    assert.equal(up.code, 0, up.stderr + up.stdout);
    const set = setRow(dir);
    const url = `http://127.0.0.1:${set.endpoints[0]?.hostPort ?? 0}/`;
    await waitRotation(dir, (r) => r.length === 2);

    // 1. Both replicas answer through the one endpoint.
    const first = await answers(url, 20);
    assert.deepEqual([...new Set(first)].sort(), ['v1 rsw-0-0', 'v1 rsw-1-0'], first.join(','));

    // 2. rsw-0's rank 0 SIGKILLed under a hammering client: no request fails, rsw-0 comes back.
    // The client is sequential (the python server speaks HTTP/1.0: one connection per request) and the kill
    // lands between two of its requests, once the process is really gone: a request the killed process had
    // already accepted cannot be saved by any kernel balancer (nor by a Kubernetes Service). Every connection
    // opened after the kill must be answered — by rsw-1, or by rsw-0 once it is back in rotation. Those sent
    // to rsw-0 before the controller took it out are dropped there (its listen guard) and retried by the
    // client's TCP; `slow` counts them (a retried SYN costs about a second).
    const victim = ps(dir).find((x) => x.name === 'rsw-0')?.ranks?.[0]?.pid;
    assert.ok(victim);
    const h1 = hammer(url);
    await h1.until((a) => a.length >= 10);
    let killMs = 0;
    // Right after an answer of rsw-1, so the next connection is rsw-0's turn (`numgen inc`): the one the
    // endpoint may still send to the dead replica. The 8 s restart backoff outlasts the client's 5 s
    // timeout: a retried SYN that went back to rsw-0 would fail.
    const killedAt = await h1.between(
      async () => {
        killMs = Date.now();
        process.kill(victim, 'SIGKILL');
        await untilGone(victim);
      },
      (a) => a.at(-1) === 'v1 rsw-1-0',
    );
    await waitRotation(dir, (r) => !r.includes('rsw-0'), 10_000);
    const outMs = rotationAt(dir) - killMs;
    await waitRotation(dir, (r) => r.length === 2);
    await h1.until((a) => a.slice(killedAt).includes('v1 rsw-0-0'), 60_000);
    const k = await h1.stop();
    const afterKill = k.answers.slice(killedAt);
    assert.deepEqual(
      k.failures,
      [],
      `${k.failures.length} failed of ${k.answers.length + k.failures.length}`,
    );
    assert.ok(afterKill.includes('v1 rsw-1-0'), 'rsw-1 answered after the kill');
    assert.ok(afterKill.includes('v1 rsw-0-0'), 'rsw-0 is back in rotation');
    console.log(
      `# kill under load: ${k.answers.length} requests (${afterKill.length} after the kill), 0 failed, ${k.slow} retried a SYN; out of rotation ${outMs} ms after the kill`,
    );

    // 3. scale to 3, then to 1 (the removed ones drained first).
    const s3 = cli(dir, ['scale', 'rsw', '--replicas', '3'], 300_000);
    assert.equal(s3.code, 0, s3.stderr + s3.stdout);
    await waitRotation(dir, (r) => r.length === 3);
    assert.equal(new Set(await answers(url, 30)).size, 3);
    const s1 = cli(dir, ['scale', 'rsw', '--replicas', '1'], 300_000);
    assert.equal(s1.code, 0, s1.stderr + s1.stdout);
    assert.deepEqual(
      setRow(dir).members.map((m) => m.name),
      ['rsw-0'],
    );
    assert.deepEqual(await waitRotation(dir, (r) => r.length === 1), ['rsw-0']);

    // 4. An unchanged file is a no-op.
    writeFileSync(file, spec('v1', 1));
    const same = cli(dir, ['up', '-d', file], 120_000);
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stderr + same.stdout, /unchanged/);

    // 5. Rolling update of a changed command (and 1 → 2 replicas) under a hammering client.
    writeFileSync(file, spec('v2', 2));
    const h5 = hammer(url);
    const t0 = Date.now();
    const roll = await cliAsync(dir, ['up', '-d', file]);
    const rollMs = Date.now() - t0;
    const r5 = await h5.stop();
    const ok = r5.answers.length;
    assert.equal(roll.code, 0, roll.out);
    assert.match(roll.out, /rolled/);
    assert.deepEqual(r5.failures, [], `${r5.failures.length} failed of ${ok + r5.failures.length}`);
    assert.ok(ok > 20, `only ${ok} requests went through`);
    const end = await answers(url, 20);
    assert.ok(
      end.every((a) => a.startsWith('v2 ')),
      end.join(','),
    );
    assert.equal(new Set(end).size, 2);
    console.log(`# rolling update of 1→2 replicas: ${rollMs} ms, ${ok} requests, 0 failed`);

    // 6. down: nothing left.
    const names = setRow(dir).members.map((m) => m.name);
    const down = cli(dir, ['down', file], 300_000);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(ps(dir), []);
    const gone = cli(dir, ['cluster', 'delete', C]);
    assert.equal(gone.code, 0, gone.stderr);
    const hashes = hashesFor(
      dir,
      [C],
      ['rsw', 'rsw-0', 'rsw-1', 'rsw-2', 'rsw-3', ...names].map((n) => [C, n] as const),
    );
    assert.deepEqual(snapshot(dir, hashes), EMPTY_SNAPSHOT);
  } finally {
    cleanupStateDir(dir);
  }
});
