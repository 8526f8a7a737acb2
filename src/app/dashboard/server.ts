/**
 * The dashboard's HTTP server (Hono on Node's http): the page (a prebuilt bundle from `dist/ui`), a JSON
 * snapshot, one server-sent-event stream with state changes and traffic rates, a log stream per service, the
 * plan of a file, and, only with `allowActions`, a `down` action.
 *
 * Access: a random token. The URL printed carries it once (`/?token=…`); the server answers with an
 * HttpOnly, SameSite=Strict cookie scoped to this port and redirects to the same page without the token, so
 * it leaves the address bar and history. API clients may send `Authorization: Bearer <token>` instead.
 * Anything else gets 401. On a loopback address the Host header must name loopback too (a DNS-rebinding page
 * cannot borrow the browser's cookie), and actions also need a same-origin `Origin`.
 */
import { serve } from '@hono/node-server';
import type { ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import type { Context, Next } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { streamSSE } from 'hono/streaming';
import type { SSEStreamingApi } from 'hono/streaming';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT, MultinodeError } from '../../api/issues.js';
import { checkName } from '../../spec/names.js';
import { downLocal } from '../down.js';
import { followFrom, logSources, tailLogs } from '../logs.js';
import { readServiceState } from '../../targets/local/service-state.js';
import { planView } from './plan-view.js';
import { nodeNamespaces, readSnapshot } from './snapshot.js';
import { TrafficSampler } from './traffic.js';
import type { DashSnapshot, DashTraffic } from './wire.js';

export interface DashboardOptions {
  /** Address to listen on (default 127.0.0.1). */
  readonly listen?: string;
  /** Port (default 0: a free one). */
  readonly port?: number;
  readonly allowActions?: boolean;
  /** A spec file whose plan the page draws. */
  readonly planFile?: string;
  /** The access token (default: 32 random bytes, base64url). */
  readonly token?: string;
  /** Where index.html, app.js and app.css are (default: found next to the program). */
  readonly uiDir?: string;
  /** How often the records are re-read while a page listens (ms). */
  readonly stateIntervalMs?: number;
  readonly trafficIntervalMs?: number;
}

export interface Dashboard {
  /** The URL to open, with the token. */
  readonly url: string;
  readonly origin: string;
  readonly port: number;
  readonly token: string;
  close(): Promise<void>;
}

const UI_FILES = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
} as const;

/** The page bundle: `ui/` beside the program (dist/), or dist/ui of the source tree. */
export function findUiDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    for (const c of [join(dir, 'ui'), join(dir, 'dist', 'ui')])
      if (existsSync(join(c, 'index.html')) && existsSync(join(c, 'app.js'))) return c;
    dir = dirname(dir);
  }
  return undefined;
}

function loadUi(dir: string | undefined): Map<string, Buffer> {
  if (dir === undefined)
    throw new MultinodeError(
      'dashboard.no-ui',
      'the dashboard page is not built (dist/ui is missing); run `npm run build`',
    );
  const files = new Map<string, Buffer>();
  for (const name of Object.keys(UI_FILES)) files.set(name, readFileSync(join(dir, name)));
  return files;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

function isLoopback(address: string): boolean {
  return address === '::1' || address === 'localhost' || /^127\./.test(address);
}

function sameToken(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

/** Shared, change-only state stream: one reader of the records however many pages listen. */
class Hub {
  private readonly listeners = new Set<(event: string, data: string) => void>();
  private timer: NodeJS.Timeout | undefined;
  private last = '';
  private lastSnapshot: DashSnapshot | undefined;
  private readonly traffic: TrafficSampler;
  private lastTraffic = '';

  constructor(
    private readonly read: () => Promise<DashSnapshot>,
    private readonly intervalMs: number,
    trafficIntervalMs: number,
  ) {
    this.traffic = new TrafficSampler(
      async () => nodeNamespaces(this.lastSnapshot ?? (await this.current())),
      (t: DashTraffic) => {
        this.lastTraffic = JSON.stringify(t);
        this.emit('traffic', this.lastTraffic);
      },
      trafficIntervalMs,
    );
  }

  async current(): Promise<DashSnapshot> {
    const s = await this.read();
    this.lastSnapshot = s;
    return s;
  }

  /** Subscribes; the listener gets the current state at once. Returns the unsubscribe function. */
  async subscribe(listener: (event: string, data: string) => void): Promise<() => void> {
    const json = JSON.stringify(await this.current());
    listener('state', json);
    if (this.lastTraffic) listener('traffic', this.lastTraffic);
    this.listeners.add(listener);
    if (this.listeners.size === 1) {
      this.last = json;
      this.traffic.start();
      this.schedule();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  private emit(event: string, data: string): void {
    for (const l of this.listeners) l(event, data);
  }

  private schedule(): void {
    this.timer = setTimeout(() => void this.poll(), this.intervalMs);
  }

  private async poll(): Promise<void> {
    if (this.listeners.size === 0) return;
    try {
      const json = JSON.stringify(await this.current());
      if (json !== this.last) {
        this.last = json;
        this.emit('state', json);
      }
    } catch {
      // A record caught mid-replacement is read again next time.
    }
    if (this.listeners.size > 0) this.schedule();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.traffic.stop();
    this.lastTraffic = '';
  }
}

/** Keeps an SSE stream open until the client goes or the server closes; pings every 20 s. */
async function holdOpen(stream: SSEStreamingApi, closing: AbortSignal, extra?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => {
    const ping = setInterval(() => void stream.write(': ping\n\n').catch(() => undefined), 20_000);
    const done = () => {
      clearInterval(ping);
      resolve();
    };
    stream.onAbort(done);
    if (closing.aborted || extra?.aborted) done();
    closing.addEventListener('abort', done, { once: true });
    extra?.addEventListener('abort', done, { once: true });
  });
}

export function createDashboardApp(
  opts: DashboardOptions & { readonly token: string; readonly port: number; readonly listen: string },
  ui: Map<string, Buffer>,
  closing: AbortSignal,
): { app: Hono; hub: Hub } {
  const allowActions = opts.allowActions === true;
  const snapshotOptions = {
    allowActions,
    ...(opts.planFile !== undefined ? { planFile: opts.planFile } : {}),
  };
  const hub = new Hub(
    () => readSnapshot(snapshotOptions),
    opts.stateIntervalMs ?? 700,
    opts.trafficIntervalMs ?? 1500,
  );
  const cookieName = `multinode_dashboard_${opts.port}`;
  const app = new Hono();

  app.use('*', async (c: Context, next: Next) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.header(k, v);
    if (isLoopback(opts.listen)) {
      const host = (c.req.header('host') ?? '').replace(/:\d+$/, '');
      if (!LOOPBACK_HOSTS.has(host) && host !== opts.listen)
        return c.text('403: this dashboard answers only on its loopback address\n', 403);
    }
    const query = c.req.query('token');
    if (sameToken(query, opts.token)) {
      setCookie(c, cookieName, opts.token, { httpOnly: true, sameSite: 'Strict', path: '/' });
      if (c.req.method === 'GET' && !c.req.path.startsWith('/api/')) {
        const url = new URL(c.req.url);
        url.searchParams.delete('token');
        return c.redirect(`${url.pathname}${url.search}`, 303);
      }
      await next();
      return;
    }
    const bearer = /^Bearer (.+)$/.exec(c.req.header('authorization') ?? '')?.[1];
    if (sameToken(getCookie(c, cookieName), opts.token) || sameToken(bearer, opts.token)) {
      await next();
      return;
    }
    return c.text(
      '401: this dashboard needs its token: open the URL `multinode dashboard` printed (…/?token=…)\n',
      401,
    );
  });

  const page = (name: keyof typeof UI_FILES) => (c: Context) =>
    c.body(new Uint8Array(ui.get(name) ?? Buffer.alloc(0)), 200, { 'Content-Type': UI_FILES[name] });
  app.get('/', page('index.html'));
  app.get('/ui/app.js', page('app.js'));
  app.get('/ui/app.css', page('app.css'));

  app.get('/api/state', async (c) => c.json(await hub.current()));

  app.get('/api/events', (c) =>
    streamSSE(c, async (stream) => {
      const unsubscribe = await hub.subscribe((event, data) => {
        void stream.writeSSE({ event, data }).catch(() => undefined);
      });
      try {
        await holdOpen(stream, closing);
      } finally {
        unsubscribe();
      }
    }),
  );

  app.get('/api/logs', async (c) => {
    const service = c.req.query('service') ?? '';
    if (!checkName('service', service).ok) return c.json({ error: `no service named "${service}"` }, 400);
    const state = await readServiceState(service);
    if (!state) return c.json({ error: `no service named "${service}"` }, 404);
    const rank = c.req.query('rank');
    const ranks =
      rank === undefined || rank === '' ? state.ranks : state.ranks.filter((r) => String(r.rank) === rank);
    if (ranks.length === 0)
      return c.json({ error: `${service} has no rank ${rank} (0…${state.ranks.length - 1})` }, 400);
    const tail = Math.min(2000, Math.max(0, Number(c.req.query('tail') ?? '300') || 0));
    const sources = logSources(service, ranks);
    return streamSSE(c, async (stream) => {
      const stop = new AbortController();
      stream.onAbort(() => stop.abort());
      const first = await tailLogs(sources, tail);
      await stream.writeSSE({ event: 'lines', data: JSON.stringify({ lines: first.lines }) });
      // The service went away (down): say so and end the stream.
      const watch = setInterval(() => {
        void readServiceState(service).then(async (s) => {
          if (s || stop.signal.aborted) return;
          await stream.writeSSE({ event: 'end', data: '{}' }).catch(() => undefined);
          stop.abort();
        });
      }, 2000);
      const follow = followFrom(
        sources,
        first.offsets,
        (lines) =>
          void stream.writeSSE({ event: 'lines', data: JSON.stringify({ lines }) }).catch(() => undefined),
        { signal: stop.signal },
      );
      try {
        await holdOpen(stream, closing, stop.signal);
      } finally {
        clearInterval(watch);
        stop.abort();
        await follow;
      }
    });
  });

  app.get('/api/plan', (c) => {
    const file = opts.planFile;
    if (file === undefined)
      return c.json({ error: 'no file: start `multinode dashboard FILE` to see its plan' }, 404);
    return c.json(planView(file));
  });

  app.post('/api/services/:name/down', async (c) => {
    if (!allowActions)
      return c.json({ error: 'read-only dashboard: start it with --allow-actions to stop services' }, 403);
    const origin = c.req.header('origin');
    if (origin !== new URL(c.req.url).origin) return c.json({ error: 'cross-origin request refused' }, 403);
    const name = c.req.param('name');
    if (!checkName('service', name).ok) return c.json({ error: `no service named "${name}"` }, 400);
    const [r] = await downLocal(name);
    return c.json({ name, existed: r?.result.existed ?? false });
  });

  return { app, hub };
}

/** Starts the dashboard; resolves once it listens. */
export async function startDashboard(opts: DashboardOptions = {}): Promise<Dashboard> {
  const listen = opts.listen ?? '127.0.0.1';
  if (isIP(listen) === 0)
    throw new MultinodeError('dashboard.bad-listen', `--listen must be an IP address, got "${listen}"`, {
      exitCode: EXIT.badInput,
    });
  const ui = loadUi(opts.uiDir ?? findUiDir());
  const token = opts.token ?? randomBytes(32).toString('base64url');
  const closing = new AbortController();
  // The app needs the port (its cookie is named after it), known once the server listens.
  const ref: { app?: Hono; hub?: Hub } = {};
  const { server, port } = await new Promise<{ server: ServerType; port: number }>((resolve, reject) => {
    const server = serve(
      {
        fetch: (req: Request) => (ref.app ? ref.app.fetch(req) : new Response('starting', { status: 503 })),
        hostname: listen,
        port: opts.port ?? 0,
      },
      (info) => resolve({ server, port: info.port }),
    );
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new MultinodeError(
          'dashboard.listen-failed',
          `cannot listen on ${listen}:${opts.port ?? 0}: ${e.code ?? e.message}`,
        ),
      ),
    );
  });
  const { app, hub } = createDashboardApp({ ...opts, token, port, listen }, ui, closing.signal);
  ref.app = app;
  ref.hub = hub;
  const host = listen.includes(':') ? `[${listen}]` : listen;
  const origin = `http://${host}:${port}`;
  return {
    url: `${origin}/?token=${token}`,
    origin,
    port,
    token,
    close: async () => {
      closing.abort();
      ref.hub?.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ('closeAllConnections' in server) server.closeAllConnections();
      });
    },
  };
}
