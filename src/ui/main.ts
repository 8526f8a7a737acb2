/**
 * The dashboard page: an overview (topology, services, clusters), live logs and a file's plan. State and
 * traffic arrive on one server-sent-event stream (/api/events), logs on another (/api/logs); nothing polls.
 */
import type {
  DashCluster,
  DashPlan,
  DashPlanError,
  DashService,
  DashSnapshot,
  DashTraffic,
} from '../app/dashboard/wire.js';
import { ago, bytes, clock, h, ms, rankColor, rate, serviceColor } from './dom.js';
import type { Child } from './dom.js';
import { topology } from './topology.js';
import type { RankState, TopoModel, TopoRank, TopoService } from './topology.js';

type Tab = 'overview' | 'logs' | 'plan';

const app = document.getElementById('app') as HTMLElement;
let snapshot: DashSnapshot | undefined;
let traffic: DashTraffic | undefined;
let connected = false;
let tab: Tab = 'overview';

// ---------------------------------------------------------------- layout

const liveDot = h('span', { class: 'live', id: 'live' }, 'connecting…');
const hostLabel = h('span', { class: 'host' });
const tabs = h('nav', { class: 'tabs' });
const views: Record<Tab, HTMLElement> = {
  overview: h('section', { id: 'overview', class: 'view' }),
  logs: h('section', { id: 'logs', class: 'view' }),
  plan: h('section', { id: 'plan', class: 'view' }),
};
app.append(
  h(
    'header',
    { class: 'top' },
    h('div', { class: 'brand' }, h('strong', {}, 'multinode'), ' dashboard', hostLabel),
    tabs,
    liveDot,
  ),
  h('main', {}, views.overview, views.logs, views.plan),
);

function renderTabs(): void {
  const items: [Tab, string][] = [
    ['overview', 'Overview'],
    ['logs', 'Logs'],
    ['plan', 'Plan'],
  ];
  tabs.replaceChildren(
    ...items.map(([id, label]) =>
      h('a', { href: `#${id}`, class: id === tab ? 'tab active' : 'tab', 'data-tab': id }, label),
    ),
  );
  for (const [id, el] of Object.entries(views)) el.hidden = id !== tab;
}

function route(): void {
  const [name, query] = location.hash.replace(/^#/, '').split('?');
  tab = name === 'logs' || name === 'plan' ? name : 'overview';
  renderTabs();
  if (tab === 'logs') {
    const service = new URLSearchParams(query ?? '').get('service');
    if (service) logs.select(service);
    logs.render();
  }
  if (tab === 'plan') void plan.load();
  if (tab === 'overview') renderOverview();
}
window.addEventListener('hashchange', route);

// ---------------------------------------------------------------- overview

function rankState(r: DashService['ranks'][number]): RankState {
  if (r.alive) return 'alive';
  if (r.status === 'exited' || r.status === 'stopped') return 'done';
  return 'missing';
}

function serviceColors(): Map<string, string> {
  return new Map((snapshot?.services ?? []).map((s, i) => [s.name, serviceColor(i)]));
}

/** A rank as the topology draws it: where it runs, and its state. */
function topoRank(
  r: { readonly rank: number; readonly hostname: string; readonly node: string; readonly address: string },
  state: RankState,
): TopoRank {
  return { rank: r.rank, hostname: r.hostname, node: r.node, address: r.address, state };
}

function topoFor(cluster: DashCluster | undefined, services: readonly DashService[]): TopoModel {
  const colors = serviceColors();
  const svcs: TopoService[] = services.map((s) => ({
    name: s.name,
    color: colors.get(s.name) ?? '#2563eb',
    network: s.network,
    ranks: s.ranks.map((r) => topoRank(r, rankState(r))),
    endpoints: s.endpoints
      .filter((e) => e.protocol === 'http' || e.protocol === 'https')
      .map((e) => ({ name: e.name, url: e.url, open: e.published })),
  }));
  if (cluster)
    return {
      underlay: `${cluster.underlaySubnet} (host ${cluster.hostAddress})`,
      nodes: cluster.nodes,
      services: svcs,
    };
  // Degraded services: no cluster, ranks on loopback addresses of this machine.
  const nodes = [...new Set(services.flatMap((s) => s.ranks.map((r) => r.node)))].map((n) => ({
    name: n,
    address: 'this machine',
    fabric: [],
  }));
  return { underlay: 'loopback (no root: no emulated network)', nodes, services: svcs };
}

function badge(status: string): HTMLElement {
  const tone =
    status === 'ready' || status === 'completed'
      ? 'ok'
      : status === 'failed'
        ? 'bad'
        : status === 'restarting' || status === 'starting' || status === 'stopping'
          ? 'warn'
          : 'info';
  return h('span', { class: `badge ${tone}`, 'data-status': status }, status);
}

const PHASES = ['place', 'network', 'spawn', 'ready'] as const;
const PHASE_COLORS: Record<string, string> = {
  place: '#6366f1',
  network: '#0ea5e9',
  spawn: '#f59e0b',
  ready: '#10b981',
  detect: '#ef4444',
  backoff: '#a3a3a3',
  stop: '#f97316',
  replan: '#8b5cf6',
};

function phaseBar(timings: Readonly<Record<string, number>>, order: readonly string[]): HTMLElement {
  const keys = [
    ...order.filter((k) => timings[k] !== undefined),
    ...Object.keys(timings).filter((k) => !order.includes(k)),
  ];
  const total = keys.reduce((a, k) => a + (timings[k] ?? 0), 0);
  const bar = h('div', { class: 'phasebar', role: 'img', 'aria-label': 'phase timings' });
  const legend = h('div', { class: 'phaselegend' });
  for (const k of keys) {
    const v = timings[k] ?? 0;
    const seg = h('span', { class: 'seg', title: `${k} ${ms(v)}`, 'data-phase': k });
    seg.style.flexGrow = String(Math.max(v, total / 100));
    seg.style.background = PHASE_COLORS[k] ?? '#94a3b8';
    bar.append(seg);
    const dot = h('i', {});
    dot.style.background = PHASE_COLORS[k] ?? '#94a3b8';
    legend.append(h('span', {}, dot, `${k} ${ms(v)}`));
  }
  if (keys.length === 0) return h('div', { class: 'muted' }, 'no timings yet');
  return h(
    'div',
    { class: 'phases' },
    bar,
    h('div', { class: 'phasemeta' }, legend, h('span', { class: 'total' }, `total ${ms(total)}`)),
  );
}

function timeline(s: DashService): HTMLElement {
  const hist = s.restart.history;
  const start = Date.parse(s.createdAt);
  const end = Date.now();
  const span = Math.max(1, end - start);
  const axis = h('div', { class: 'timeline', role: 'img', 'aria-label': 'restart timeline' });
  axis.append(h('span', { class: 'tl-start' }, clock(s.createdAt)), h('span', { class: 'tl-end' }, 'now'));
  for (const e of hist) {
    const at = Date.parse(e.at);
    const m = h('span', {
      class: `tl-mark ${e.action === 'fail' ? 'bad' : 'warn'}`,
      title: `${clock(e.at)} ${e.trigger} → ${e.action} [${e.ranks.join(',')}] ${e.reason}`,
    });
    m.style.left = `${Math.min(100, Math.max(0, ((at - start) / span) * 100))}%`;
    axis.append(m);
  }
  const list = h(
    'ol',
    { class: 'history' },
    [...hist]
      .reverse()
      .slice(0, 8)
      .map((e) =>
        h(
          'li',
          { 'data-action': e.action },
          h('time', { datetime: e.at }, clock(e.at)),
          h('span', { class: `pill ${e.action === 'fail' ? 'bad' : 'warn'}` }, e.action),
          h('span', {}, ` rank${e.ranks.length === 1 ? '' : 's'} ${e.ranks.join(', ')}: ${e.trigger}`),
          e.reason ? h('span', { class: 'muted' }, ` — ${e.reason}`) : null,
          e.moved.length > 0 ? h('div', { class: 'moved' }, `ports moved: ${e.moved.join(', ')}`) : null,
          Object.keys(e.timings).length > 0
            ? h(
                'div',
                { class: 'muted small' },
                Object.entries(e.timings)
                  .map(([k, v]) => `${k} ${ms(v)}`)
                  .join(' · '),
              )
            : null,
        ),
      ),
  );
  return h(
    'div',
    { class: 'restarts' },
    axis,
    hist.length === 0 ? h('div', { class: 'muted small' }, 'no restarts') : list,
  );
}

function serviceCard(s: DashService): HTMLElement {
  const color = serviceColors().get(s.name) ?? '#2563eb';
  const alive = s.ranks.filter((r) => r.alive).length;
  const net =
    s.network.mode === 'overlay'
      ? `overlay ${s.network.subnet}${s.network.vni !== undefined ? ` · VXLAN ${s.network.vni}` : ''} · MTU ${s.network.mtu}`
      : `host networking (${s.network.subnet})`;
  const card = h(
    'article',
    { class: 'card service', 'data-service': s.name },
    h(
      'header',
      {},
      h('h3', {}, h('span', { class: 'svc-dot' }), s.name),
      badge(s.status),
      s.statusNote ? h('span', { class: 'note' }, s.statusNote) : null,
      snapshot?.allowActions
        ? h(
            'button',
            {
              class: 'danger',
              onclick: () => {
                if (confirm(`Stop ${s.name} and remove everything it created?`)) void stopService(s.name);
              },
            },
            'Stop',
          )
        : null,
    ),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'cluster'),
      h('dd', {}, s.cluster),
      h('dt', {}, 'ranks'),
      h('dd', { 'data-field': 'ranks' }, `${alive}/${s.ranks.length} running`),
      h('dt', {}, 'readiness'),
      h(
        'dd',
        {},
        s.probe.status === 'none' ? 'no probe' : s.probe.status,
        s.groupReady === undefined ? '' : s.groupReady ? ' · group ready' : ' · group not ready',
        s.probe.last ? h('span', { class: 'muted' }, ` (${s.probe.last})`) : null,
      ),
      h('dt', {}, 'network'),
      h('dd', {}, net),
      h('dt', {}, 'restarts'),
      h(
        'dd',
        {},
        `${s.restart.restartsAfterStart}/${s.restart.maxRestarts} after start · policy ${s.restart.policy}`,
      ),
      s.endpoints.length > 0 ? h('dt', {}, 'endpoints') : null,
      s.endpoints.length > 0
        ? h(
            'dd',
            {},
            s.endpoints.map((e) =>
              h(
                'div',
                {},
                e.protocol === 'tcp'
                  ? h('code', {}, `${e.hostAddress}:${e.hostPort}`)
                  : h('a', { href: e.url, target: '_blank', rel: 'noopener', class: 'endpoint' }, e.url),
                ` → ${e.name} (rank 0 ${e.targetAddress}:${e.targetPort})`,
                e.published ? null : h('span', { class: 'pill bad' }, 'withdrawn'),
              ),
            ),
          )
        : null,
      h('dt', {}, 'file'),
      h('dd', {}, h('code', {}, s.file)),
    ),
    s.message ? h('p', { class: 'error' }, s.message) : null,
    s.missing.length > 0
      ? h(
          'div',
          { class: 'missing' },
          s.missing.map((m) =>
            h(
              'div',
              { 'data-missing-rank': m.rank },
              h('strong', {}, `rank ${m.rank} missing`),
              ' since ',
              h('time', { datetime: m.since }, clock(m.since)),
              ' (',
              h('span', { class: 'since', 'data-since': m.since }, ago(m.since)),
              `) — ${m.why}`,
            ),
          ),
        )
      : null,
    h('h4', {}, 'Start-up phases'),
    phaseBar(s.timings, PHASES),
    h('h4', {}, 'Restarts'),
    timeline(s),
    h('h4', {}, 'Ranks'),
    h(
      'div',
      { class: 'table-scroll' },
      h(
        'table',
        { class: 'ranks' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['rank', 'host', 'node', 'address', 'pid', 'state', 'restarts', 'ports'].map((c) =>
              h('th', {}, c),
            ),
          ),
        ),
        h(
          'tbody',
          {},
          s.ranks.map((r) =>
            h(
              'tr',
              { 'data-rank': r.rank, class: `rank-row ${rankState(r)}` },
              h(
                'td',
                {},
                String(r.rank),
                r.role === 'leader' ? h('span', { class: 'muted' }, ' leader') : null,
              ),
              h('td', {}, r.hostname),
              h('td', {}, r.node),
              h('td', {}, h('code', {}, r.address)),
              h('td', {}, r.pid === undefined ? '-' : String(r.pid)),
              h(
                'td',
                { class: 'state' },
                r.alive
                  ? h('span', { class: 'pill ok' }, 'running')
                  : rankState(r) === 'done'
                    ? h('span', { class: 'pill' }, r.status)
                    : h(
                        'span',
                        { class: 'pill bad' },
                        `missing${r.exitCode !== undefined ? ` (exit ${r.exitCode})` : r.signal ? ` (${r.signal})` : ''}`,
                      ),
                !r.alive && r.missingSince
                  ? h(
                      'span',
                      { class: 'muted small' },
                      ' for ',
                      h('span', { class: 'since', 'data-since': r.missingSince }, ago(r.missingSince)),
                    )
                  : null,
              ),
              h('td', {}, String(r.restarts)),
              h(
                'td',
                {},
                r.ports
                  .map((p) =>
                    p.hostPort === p.port ? `${p.name} ${p.port}` : `${p.name} ${p.hostPort}→${p.port}`,
                  )
                  .join(', ') || '-',
              ),
            ),
          ),
        ),
      ),
    ),
    h(
      'p',
      {},
      h(
        'a',
        { href: `#logs?service=${encodeURIComponent(s.name)}`, class: 'button' },
        'Logs of ',
        s.name,
        ' →',
      ),
    ),
  );
  const dot = card.querySelector<HTMLElement>('.svc-dot');
  if (dot) dot.style.background = color;
  return card;
}

function held(used: number, cap: number, fmt: (n: number) => string): HTMLElement {
  const bar = h('span', { class: 'meter' }, h('span', { class: 'fill' }));
  const fill = bar.firstElementChild as HTMLElement;
  fill.style.width = `${cap > 0 ? Math.min(100, (used / cap) * 100) : 0}%`;
  return h('span', { class: 'held' }, bar, `${fmt(used)} / ${fmt(cap)}`);
}

function trafficCell(cluster: string, node: string): HTMLElement {
  return h('td', { class: 'traffic', 'data-traffic': `${cluster}/${node}` }, trafficText(cluster, node));
}

function trafficText(cluster: string, node: string): Child {
  const rates = traffic?.nodes[cluster]?.[node];
  if (!rates) return h('span', { class: 'muted' }, traffic ? 'no counters' : 'sampling…');
  const entries = Object.entries(rates).sort(
    ([a], [b]) => ifaceOrder(a) - ifaceOrder(b) || a.localeCompare(b),
  );
  return entries
    .filter(([name, r]) => ifaceOrder(name) < 2 || r.rx + r.tx > 0)
    .map(([name, r]) =>
      h('div', { class: 'iface' }, h('code', {}, name), ` ↓ ${rate(r.rx)} ↑ ${rate(r.tx)}`),
    );
}

function ifaceOrder(name: string): number {
  if (name === 'under0') return 0;
  if (name.startsWith('fabric')) return 1;
  return 2;
}

function extraBlock(extra: Readonly<Record<string, unknown>>): HTMLElement | null {
  const keys = Object.keys(extra);
  if (keys.length === 0) return null;
  return h(
    'dl',
    { class: 'extra' },
    keys.map((k) => [
      h('dt', {}, k),
      h('dd', {}, h('pre', {}, typeof extra[k] === 'string' ? extra[k] : JSON.stringify(extra[k], null, 1))),
    ]),
  );
}

function clusterCard(c: DashCluster): HTMLElement {
  const hasExtra = c.nodes.some((n) => Object.keys(n.extra).length > 0);
  return h(
    'article',
    { class: 'card cluster', 'data-cluster': c.name },
    h(
      'header',
      {},
      h('h3', {}, c.name),
      h('span', { class: 'muted' }, `${c.nodes.length} node${c.nodes.length === 1 ? '' : 's'}`),
    ),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'underlay'),
      h('dd', {}, `${c.underlaySubnet} · host side ${c.hostAddress}`),
      h('dt', {}, 'fabric rails'),
      h('dd', {}, c.fabricNics === 0 ? 'none' : `${c.fabricNics} per node`),
      h('dt', {}, 'each node'),
      h(
        'dd',
        {},
        `${c.cores} cores · ${bytes(c.memoryBytes)}${c.gpusPerNode > 0 ? ` · ${c.gpusPerNode}× ${c.gpuModel}` : ' · no GPUs'}${c.blocks > 1 ? ` · ${c.blocks} blocks` : ''}`,
      ),
      h('dt', {}, 'services'),
      h('dd', {}, c.services.join(', ') || 'none'),
    ),
    Object.keys(c.extra).length > 0 ? h('h4', {}, 'Link conditions and other settings') : null,
    extraBlock(c.extra),
    h(
      'div',
      { class: 'table-scroll' },
      h(
        'table',
        { class: 'nodes' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            [
              'node',
              'address',
              'fabric',
              'CPU held',
              'memory held',
              c.gpusPerNode > 0 ? 'GPUs held' : null,
              'traffic',
              hasExtra ? 'conditions' : null,
            ]
              .filter((x): x is string => x !== null)
              .map((x) => h('th', {}, x)),
          ),
        ),
        h(
          'tbody',
          {},
          c.nodes.map((n) =>
            h(
              'tr',
              { 'data-node': n.name },
              h('td', {}, n.name, n.block ? h('span', { class: 'muted' }, ` ${n.block}`) : null),
              h('td', {}, h('code', {}, n.address)),
              h(
                'td',
                {},
                n.fabric.length === 0
                  ? '-'
                  : n.fabric.map((f) => h('div', {}, h('code', {}, `${f.name} ${f.address}`))),
              ),
              h('td', {}, held(n.held.cpus, c.cores, String)),
              h('td', {}, held(n.held.memoryBytes, c.memoryBytes, bytes)),
              c.gpusPerNode > 0 ? h('td', {}, held(n.held.gpus, c.gpusPerNode, String)) : null,
              trafficCell(c.name, n.name),
              hasExtra ? h('td', {}, extraBlock(n.extra)) : null,
            ),
          ),
        ),
      ),
    ),
    h(
      'p',
      { class: 'muted small' },
      'Traffic: bytes per second in each node namespace, sampled every 1.5 s while this page is open. under0: underlay · fabricN: fabric rails · mx…: a service’s VXLAN · mb…: its bridge · veth…: a rank’s link.',
    ),
  );
}

function renderOverview(): void {
  if (tab !== 'overview') return;
  const view = views.overview;
  if (!snapshot) {
    view.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    return;
  }
  const width = Math.max(280, view.clientWidth - 32);
  const groups: { title: string; model: TopoModel }[] = [];
  for (const c of snapshot.clusters)
    groups.push({
      title: `cluster ${c.name}`,
      model: topoFor(
        c,
        snapshot.services.filter((s) => s.cluster === c.name),
      ),
    });
  const orphans = snapshot.services.filter((s) => !snapshot?.clusters.some((c) => c.name === s.cluster));
  if (orphans.length > 0)
    groups.push({ title: 'this machine (no emulated cluster)', model: topoFor(undefined, orphans) });
  const scrollY = window.scrollY;
  view.replaceChildren(
    h(
      'section',
      { class: 'block' },
      h('h2', {}, 'Topology'),
      groups.length === 0
        ? h(
            'p',
            { class: 'empty' },
            'No clusters or services yet. Start one with ',
            h('code', {}, 'multinode up examples/quickstart.yaml'),
            '.',
          )
        : groups.map((g) =>
            h(
              'div',
              { class: 'card topo', 'data-topology': g.title },
              h('h3', {}, g.title),
              topology(g.model, width),
            ),
          ),
    ),
    h(
      'section',
      { class: 'block' },
      h('h2', {}, 'Services'),
      snapshot.services.length === 0
        ? h('p', { class: 'empty' }, 'No services.')
        : h('div', { class: 'grid' }, snapshot.services.map(serviceCard)),
    ),
    h(
      'section',
      { class: 'block' },
      h('h2', {}, 'Clusters'),
      snapshot.clusters.length === 0
        ? h('p', { class: 'empty' }, 'No emulated clusters.')
        : snapshot.clusters.map(clusterCard),
    ),
  );
  window.scrollTo(0, scrollY);
}

function renderTraffic(): void {
  for (const td of document.querySelectorAll<HTMLElement>('td[data-traffic]')) {
    const [cluster, node] = (td.dataset['traffic'] ?? '').split('/');
    if (cluster !== undefined && node !== undefined)
      td.replaceChildren(...[trafficText(cluster, node)].flat(2).filter((x): x is Node => x instanceof Node));
  }
}

async function stopService(name: string): Promise<void> {
  const r = await fetch(`/api/services/${encodeURIComponent(name)}/down`, { method: 'POST' });
  if (!r.ok) alert(((await r.json()) as { error?: string }).error ?? `HTTP ${r.status}`);
}

// ---------------------------------------------------------------- logs

class LogView {
  private service: string | undefined;
  private source: EventSource | undefined;
  private hidden = new Set<number>();
  private filter = '';
  private follow = true;
  private readonly pane = h('div', { class: 'logpane', id: 'logpane', role: 'log', 'aria-live': 'off' });
  private readonly controls = h('div', { class: 'logcontrols' });
  private readonly status = h('span', { class: 'muted small' });
  private ranksKnown: number[] = [];

  constructor() {
    this.pane.addEventListener('scroll', () => {
      const atBottom = this.pane.scrollHeight - this.pane.scrollTop - this.pane.clientHeight < 24;
      if (this.follow !== atBottom) {
        this.follow = atBottom;
        this.renderControls();
      }
    });
    views.logs.append(this.controls, this.pane);
  }

  select(service: string): void {
    if (service === this.service) return;
    this.service = service;
    this.hidden.clear();
    this.connect();
  }

  private connect(): void {
    this.source?.close();
    this.pane.replaceChildren();
    if (!this.service) return;
    const src = new EventSource(`/api/logs?service=${encodeURIComponent(this.service)}&tail=500`);
    this.source = src;
    this.status.textContent = 'connecting…';
    src.addEventListener('open', () => (this.status.textContent = 'following'));
    src.addEventListener('lines', (e) => {
      const data = JSON.parse((e as MessageEvent<string>).data) as {
        lines: { rank: number; line: string }[];
      };
      this.append(data.lines);
    });
    src.addEventListener('end', () => {
      this.status.textContent = 'service removed';
      src.close();
    });
    src.addEventListener('error', () => {
      if (src.readyState === EventSource.CLOSED) this.status.textContent = 'disconnected';
      else this.status.textContent = 'reconnecting…';
    });
  }

  private append(lines: readonly { rank: number; line: string }[]): void {
    const host = new Map(
      snapshot?.services.find((s) => s.name === this.service)?.ranks.map((r) => [r.rank, r.hostname]) ?? [],
    );
    const frag = document.createDocumentFragment();
    for (const l of lines) {
      const prefix = h('span', { class: 'prefix' }, `${host.get(l.rank) ?? `rank ${l.rank}`} |`);
      prefix.style.color = rankColor(l.rank);
      const row = h('div', { class: 'logline', 'data-rank': l.rank }, prefix, ' ', l.line);
      row.hidden = !this.visible(l.rank, l.line);
      frag.append(row);
    }
    this.pane.append(frag);
    while (this.pane.childElementCount > 5000) this.pane.firstElementChild?.remove();
    if (this.follow) this.pane.scrollTop = this.pane.scrollHeight;
  }

  private visible(rank: number, text: string): boolean {
    return !this.hidden.has(rank) && (this.filter === '' || text.toLowerCase().includes(this.filter));
  }

  private refilter(): void {
    for (const row of this.pane.children) {
      const el = row as HTMLElement;
      el.hidden = !this.visible(Number(el.dataset['rank']), el.textContent ?? '');
    }
    if (this.follow) this.pane.scrollTop = this.pane.scrollHeight;
  }

  render(): void {
    const services = snapshot?.services ?? [];
    if (!this.service && services[0]) this.select(services[0].name);
    this.ranksKnown = services.find((s) => s.name === this.service)?.ranks.map((r) => r.rank) ?? [];
    this.renderControls();
  }

  private renderControls(): void {
    const services = snapshot?.services ?? [];
    const select = h(
      'select',
      {
        id: 'log-service',
        'aria-label': 'service',
        onchange: (e: Event) => this.select((e.target as HTMLSelectElement).value),
      },
      services.map((s) => h('option', { value: s.name, selected: s.name === this.service }, s.name)),
    );
    const rankBoxes = this.ranksKnown.map((r) => {
      const box = h('input', {
        type: 'checkbox',
        checked: !this.hidden.has(r),
        'data-rank-filter': r,
        onchange: (e: Event) => {
          if ((e.target as HTMLInputElement).checked) this.hidden.delete(r);
          else this.hidden.add(r);
          this.refilter();
        },
      });
      const label = h('label', { class: 'rankbox' }, box, ` ${r}`);
      label.style.color = rankColor(r);
      return label;
    });
    const only = h(
      'select',
      {
        id: 'log-rank',
        'aria-label': 'rank',
        onchange: (e: Event) => {
          const v = (e.target as HTMLSelectElement).value;
          this.hidden = new Set(v === 'all' ? [] : this.ranksKnown.filter((r) => String(r) !== v));
          this.refilter();
          this.renderControls();
        },
      },
      h('option', { value: 'all' }, 'all ranks'),
      this.ranksKnown.map((r) =>
        h(
          'option',
          {
            value: String(r),
            selected: this.hidden.size === this.ranksKnown.length - 1 && !this.hidden.has(r),
          },
          `rank ${r} only`,
        ),
      ),
    );
    const search = h('input', {
      type: 'search',
      placeholder: 'filter text',
      value: this.filter,
      'aria-label': 'filter text',
      oninput: (e: Event) => {
        this.filter = (e.target as HTMLInputElement).value.toLowerCase();
        this.refilter();
      },
    });
    const follow = h(
      'label',
      { class: 'follow' },
      h('input', {
        type: 'checkbox',
        id: 'log-follow',
        checked: this.follow,
        onchange: (e: Event) => {
          this.follow = (e.target as HTMLInputElement).checked;
          if (this.follow) this.pane.scrollTop = this.pane.scrollHeight;
        },
      }),
      ' follow',
    );
    const focused = document.activeElement;
    const keepSearch = focused instanceof HTMLInputElement && focused.type === 'search';
    this.controls.replaceChildren(
      services.length === 0 ? h('span', { class: 'muted' }, 'No services.') : select,
      only,
      h('span', { class: 'rankboxes' }, rankBoxes),
      search,
      follow,
      this.status,
    );
    if (keepSearch) search.focus();
  }
}
const logs = new LogView();

// ---------------------------------------------------------------- plan

class PlanView {
  private loaded = false;

  async load(): Promise<void> {
    const view = views.plan;
    if (!snapshot) return;
    if (!snapshot.planFile) {
      view.replaceChildren(
        h(
          'section',
          { class: 'block' },
          h('h2', {}, 'Plan'),
          h(
            'p',
            { class: 'empty' },
            'Start ',
            h('code', {}, 'multinode dashboard FILE'),
            ' to see where the ranks of FILE would run, with their addresses and environment, before anything runs.',
          ),
        ),
      );
      return;
    }
    if (this.loaded) return;
    this.loaded = true;
    view.replaceChildren(h('p', { class: 'muted' }, 'Planning…'));
    const r = await fetch('/api/plan');
    const data = (await r.json()) as DashPlan | DashPlanError;
    view.replaceChildren(this.render(data));
  }

  private render(p: DashPlan | DashPlanError): HTMLElement {
    if ('error' in p)
      return h(
        'section',
        { class: 'block' },
        h('h2', {}, `Plan of ${p.file}`),
        h('p', { class: 'error' }, p.error),
        h(
          'ul',
          { class: 'issues' },
          p.issues.map((i) => h('li', {}, h('code', {}, i.where), ` ${i.message}`)),
        ),
      );
    const width = Math.max(280, views.plan.clientWidth - 32);
    const model: TopoModel = {
      underlay: `(emulated inventory ${p.inventory.name})`,
      nodes: p.inventory.nodes,
      services: p.services.map((s, i) => ({
        name: s.name,
        color: serviceColor(i),
        network: s.network,
        ranks: s.ranks.map((r) => topoRank(r, 'planned')),
        endpoints: [],
      })),
    };
    return h(
      'section',
      { class: 'block plan', 'data-plan': p.hash },
      h('h2', {}, 'Plan of ', h('code', {}, p.file)),
      h(
        'p',
        { class: 'muted' },
        `plan ${p.hash} · planned for the local target against an emulated inventory sized for the file (${p.inventory.nodes.length} nodes); nothing runs`,
      ),
      p.warnings.length > 0
        ? h(
            'ul',
            { class: 'issues' },
            p.warnings.map((w) => h('li', {}, w)),
          )
        : null,
      h('div', { class: 'card topo' }, topology(model, width)),
      p.services.map((s) =>
        h(
          'article',
          { class: 'card', 'data-plan-service': s.name },
          h(
            'header',
            {},
            h('h3', {}, s.name),
            h(
              'span',
              { class: 'muted' },
              `${s.ranks.length} ranks · ${s.implementation} · launch ${s.launch}`,
            ),
          ),
          h(
            'p',
            {},
            s.network.mode === 'overlay'
              ? `overlay ${s.network.subnet}${s.network.vni !== undefined ? ` · VXLAN ${s.network.vni}` : ''}`
              : 'host networking',
          ),
          s.endpoints.length > 0
            ? h(
                'p',
                {},
                s.endpoints.map((e) =>
                  h(
                    'div',
                    {},
                    `endpoint ${e.name}: ${e.protocol} port ${e.port} → rank 0 ${e.targetAddress}:${e.targetPort}`,
                  ),
                ),
              )
            : null,
          h(
            'div',
            { class: 'table-scroll' },
            h(
              'table',
              {},
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  [
                    'rank',
                    'role',
                    'node',
                    'host',
                    'address',
                    'cpuset',
                    'memory',
                    'GPUs',
                    'fabric',
                    'ports',
                  ].map((c) => h('th', {}, c)),
                ),
              ),
              h(
                'tbody',
                {},
                s.ranks.map((r) =>
                  h(
                    'tr',
                    {},
                    h('td', {}, String(r.rank)),
                    h('td', {}, r.role),
                    h('td', {}, r.node),
                    h('td', {}, r.hostname),
                    h('td', {}, h('code', {}, r.address)),
                    h('td', {}, r.cpus),
                    h('td', {}, bytes(r.memoryBytes)),
                    h('td', {}, r.gpus.length === 0 ? '-' : r.gpus.join(',')),
                    h('td', {}, r.fabric.map((f) => `${f.name} ${f.address}`).join(', ') || '-'),
                    h(
                      'td',
                      {},
                      r.ports
                        .map((x) =>
                          x.hostPort === x.port ? `${x.name} ${x.port}` : `${x.name} ${x.hostPort}→${x.port}`,
                        )
                        .join(', ') || '-',
                    ),
                  ),
                ),
              ),
            ),
          ),
          s.ranks.map((r) =>
            h(
              'details',
              { class: 'env' },
              h(
                'summary',
                {},
                `rank ${r.rank} (${r.hostname}): command and ${Object.keys(r.env).length} variables`,
              ),
              h('pre', {}, r.command),
              h(
                'pre',
                {},
                Object.entries(r.env)
                  .map(([k, v]) => `${k}=${v.includes('\n') ? JSON.stringify(v) : v}`)
                  .join('\n'),
              ),
            ),
          ),
        ),
      ),
    );
  }
}
const plan = new PlanView();

// ---------------------------------------------------------------- live updates

function setLive(ok: boolean): void {
  connected = ok;
  liveDot.textContent = ok ? 'live' : 'reconnecting…';
  liveDot.className = ok ? 'live on' : 'live off';
}

function connect(): void {
  const events = new EventSource('/api/events');
  events.addEventListener('open', () => setLive(true));
  events.addEventListener('error', () => setLive(false));
  events.addEventListener('state', (e) => {
    snapshot = JSON.parse((e as MessageEvent<string>).data) as DashSnapshot;
    hostLabel.textContent = ` · ${snapshot.host}`;
    if (!connected) setLive(true);
    if (tab === 'overview') renderOverview();
    if (tab === 'logs') logs.render();
    if (tab === 'plan') void plan.load();
  });
  events.addEventListener('traffic', (e) => {
    traffic = JSON.parse((e as MessageEvent<string>).data) as DashTraffic;
    renderTraffic();
  });
}

// Relative times ("missing for 12 s") tick without new data.
setInterval(() => {
  for (const el of document.querySelectorAll<HTMLElement>('[data-since]'))
    el.textContent = ago(el.dataset['since'] ?? '');
}, 1000);

let resizeTimer: number | undefined;
let lastWidth = window.innerWidth;
window.addEventListener('resize', () => {
  if (window.innerWidth === lastWidth) return;
  lastWidth = window.innerWidth;
  window.clearTimeout(resizeTimer);
  resizeTimer = window.setTimeout(() => renderOverview(), 150);
});

route();
connect();
