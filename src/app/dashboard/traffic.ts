/**
 * Interface byte counters of each emulated node, read inside the node's network namespace
 * (`ip -n <netns> -s -j link`), turned into bytes per second between two samples. Only runs while someone
 * listens: the server starts it with the first traffic subscriber and stops it with the last.
 */
import { execFile } from 'node:child_process';
import type { DashTraffic } from './wire.js';

export interface NodeNs {
  readonly cluster: string;
  readonly node: string;
  readonly netns: string;
}

type Counters = Map<string, { rx: number; tx: number }>;

interface IpLinkStats {
  ifname?: unknown;
  stats64?: { rx?: { bytes?: unknown }; tx?: { bytes?: unknown } };
}

/** Our node namespaces are named `mn-<hash>-<node>`; nothing else is ever read. */
const NODE_NETNS = /^mn-[0-9a-f]{6}-[a-z0-9][a-z0-9-]{0,40}$/;

export function parseIpLinkStats(json: string): Counters {
  const out: Counters = new Map();
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return out;
  }
  if (!Array.isArray(parsed)) return out;
  for (const item of parsed as IpLinkStats[]) {
    const rx = item.stats64?.rx?.bytes;
    const tx = item.stats64?.tx?.bytes;
    if (typeof item.ifname !== 'string' || typeof rx !== 'number' || typeof tx !== 'number') continue;
    if (item.ifname === 'lo') continue;
    out.set(item.ifname, { rx, tx });
  }
  return out;
}

function readCounters(netns: string): Promise<Counters> {
  return new Promise((resolve) => {
    if (!NODE_NETNS.test(netns)) {
      resolve(new Map());
      return;
    }
    execFile('ip', ['-n', netns, '-s', '-j', 'link', 'show'], { timeout: 2000 }, (err, stdout) => {
      resolve(err ? new Map() : parseIpLinkStats(stdout));
    });
  });
}

/** Samples every `intervalMs` while started; `onSample` gets the rates since the previous sample. */
export class TrafficSampler {
  private timer: NodeJS.Timeout | undefined;
  private previous = new Map<string, { at: number; counters: Counters }>();
  private running = false;

  constructor(
    private readonly nodes: () => Promise<readonly NodeNs[]>,
    private readonly onSample: (t: DashTraffic) => void,
    private readonly intervalMs = 1500,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.tick();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.previous.clear();
  }

  private async tick(): Promise<void> {
    if (!this.running) return;
    try {
      await this.sample();
    } finally {
      if (this.running) this.timer = setTimeout(() => void this.tick(), this.intervalMs);
    }
  }

  private async sample(): Promise<void> {
    const nodes = await this.nodes();
    const result: Record<string, Record<string, Record<string, { rx: number; tx: number }>>> = {};
    const seen = new Set<string>();
    let rated = false;
    // A few namespaces at a time: one short `ip` process each.
    for (let i = 0; i < nodes.length; i += 8) {
      const batch = nodes.slice(i, i + 8);
      const counters = await Promise.all(batch.map((n) => readCounters(n.netns)));
      const at = Date.now();
      batch.forEach((n, j) => {
        const now: Counters = counters[j] ?? new Map<string, { rx: number; tx: number }>();
        const key = `${n.cluster}/${n.node}`;
        seen.add(key);
        const prev = this.previous.get(key);
        this.previous.set(key, { at, counters: now });
        if (!prev) return;
        rated = true;
        const dt = Math.max(1, at - prev.at) / 1000;
        const rates: Record<string, { rx: number; tx: number }> = {};
        for (const [ifname, c] of now) {
          const p = prev.counters.get(ifname);
          if (!p) continue;
          rates[ifname] = {
            rx: Math.max(0, Math.round((c.rx - p.rx) / dt)),
            tx: Math.max(0, Math.round((c.tx - p.tx) / dt)),
          };
        }
        (result[n.cluster] ??= {})[n.node] = rates;
      });
    }
    for (const k of [...this.previous.keys()]) if (!seen.has(k)) this.previous.delete(k);
    // The first sample only sets the baseline: nothing to report yet.
    if (this.running && rated)
      this.onSample({ at: new Date().toISOString(), intervalMs: this.intervalMs, nodes: result });
  }
}
