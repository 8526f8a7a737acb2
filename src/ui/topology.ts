/**
 * The topology picture (hand-made SVG): a cluster's nodes in a grid, each service's ranks inside the node
 * they run on, and under every row of nodes one lane per network (underlay, fabric rails, each service's
 * overlay) with a stub from each node attached to it; lanes of consecutive rows join on the left. Endpoints
 * are links on rank 0.
 */
import { h, s } from './dom.js';
import type { DashFabricNic, DashNetwork } from '../app/dashboard/wire.js';

export type RankState = 'alive' | 'missing' | 'done' | 'planned';

export interface TopoRank {
  readonly rank: number;
  readonly hostname: string;
  readonly node: string;
  readonly address: string;
  readonly state: RankState;
}

export interface TopoService {
  readonly name: string;
  readonly color: string;
  readonly network: DashNetwork;
  readonly ranks: readonly TopoRank[];
  readonly endpoints: readonly { readonly name: string; readonly url: string; readonly open: boolean }[];
}

export interface TopoNode {
  readonly name: string;
  readonly address: string;
  readonly fabric: readonly DashFabricNic[];
}

export interface TopoModel {
  readonly underlay: string;
  readonly nodes: readonly TopoNode[];
  readonly services: readonly TopoService[];
}

interface Lane {
  readonly key: string;
  readonly label: string;
  readonly color: string;
  readonly dash?: string;
  readonly nodes: ReadonlySet<string>;
}

const NODE_W = 230;
const GAP = 18;
const HEAD = 40;
const CHIP_H = 34;
const FOOT = 22;
const LANE_H = 12;
const LEFT = 20;

const RAIL_COLORS = ['#7c3aed', '#c026d3', '#0d9488', '#ea580c'];

function lanesOf(model: TopoModel): Lane[] {
  const lanes: Lane[] = [
    {
      key: 'underlay',
      label: `underlay ${model.underlay}`,
      color: '#64748b',
      nodes: new Set(model.nodes.map((n) => n.name)),
    },
  ];
  const rails = Math.max(0, ...model.nodes.map((n) => n.fabric.length));
  for (let k = 0; k < rails; k++) {
    const subnet = model.nodes.find((n) => n.fabric[k])?.fabric[k]?.address.replace(/\.\d+$/, '.0/24') ?? '';
    lanes.push({
      key: `rail${k}`,
      label: `fabric rail ${k}${subnet ? ` ${subnet}` : ''}`,
      color: RAIL_COLORS[k % RAIL_COLORS.length] ?? '#7c3aed',
      dash: '6 3',
      nodes: new Set(model.nodes.filter((n) => n.fabric[k]).map((n) => n.name)),
    });
  }
  for (const svc of model.services) {
    if (svc.network.mode !== 'overlay') continue;
    lanes.push({
      key: `svc-${svc.name}`,
      label: `${svc.name} overlay ${svc.network.subnet}${svc.network.vni !== undefined ? ` · VXLAN ${svc.network.vni}` : ''}`,
      color: svc.color,
      nodes: new Set(svc.ranks.map((r) => r.node)),
    });
  }
  return lanes;
}

const STATE_FILL: Record<RankState, string> = {
  alive: '#16a34a',
  missing: '#dc2626',
  done: '#94a3b8',
  planned: '#2563eb',
};

/** Draws `model` to fit `width` pixels (one column of nodes on a phone, several on a laptop). */
export function topology(model: TopoModel, width: number): HTMLElement {
  const cols = Math.max(1, Math.min(model.nodes.length, Math.floor((width - LEFT) / (NODE_W + GAP))));
  // Wider boxes when there is room (up to 320 px), one column on a phone.
  const fit = Math.floor((width - LEFT - 8 - (cols - 1) * GAP) / cols);
  const nodeW = Math.max(200, Math.min(fit, cols === 1 ? 420 : 320));
  const lanes = lanesOf(model);
  const ranksOn = new Map<string, { svc: TopoService; r: TopoRank }[]>();
  for (const svc of model.services)
    for (const r of svc.ranks) {
      const list = ranksOn.get(r.node) ?? [];
      list.push({ svc, r });
      ranksOn.set(r.node, list);
    }
  const rows: TopoNode[][] = [];
  model.nodes.forEach((n, i) => {
    const row = Math.floor(i / cols);
    (rows[row] ??= []).push(n);
  });
  const rowHeights = rows.map(
    (row) =>
      HEAD + FOOT + Math.max(1, ...row.map((n) => ranksOn.get(n.name)?.length ?? 0)) * (CHIP_H + 4) + 4,
  );
  const laneBlock = lanes.length * LANE_H + 14;
  const svgW = LEFT + cols * nodeW + (cols - 1) * GAP + 4;
  let y = 4;
  const parts: SVGElement[] = [];
  const laneYs: number[][] = lanes.map(() => []);
  rows.forEach((row, ri) => {
    const rh = rowHeights[ri] ?? 100;
    row.forEach((n, ci) => {
      const x = LEFT + ci * (nodeW + GAP);
      const g = s('g', { class: 'topo-node', 'data-node': n.name });
      g.append(
        s('rect', { x, y, width: nodeW, height: rh, rx: 8, class: 'node-box' }),
        s('text', { x: x + 10, y: y + 18, class: 'node-name' }, n.name),
        s('text', { x: x + 10, y: y + 32, class: 'node-addr' }, n.address),
      );
      const chips = ranksOn.get(n.name) ?? [];
      chips.forEach(({ svc, r }, k) => {
        const cy = y + HEAD + k * (CHIP_H + 4);
        const chip = s(
          'g',
          { class: `rank-chip rank-${r.state}`, 'data-service': svc.name, 'data-rank': r.rank },
          s('rect', {
            x: x + 8,
            y: cy,
            width: nodeW - 16,
            height: CHIP_H,
            rx: 6,
            fill: svc.color,
            'fill-opacity': r.state === 'missing' ? 0.06 : 0.12,
            stroke: r.state === 'missing' ? '#dc2626' : svc.color,
            'stroke-dasharray': r.state === 'missing' ? '4 3' : undefined,
          }),
          s('circle', { cx: x + 20, cy: cy + 17, r: 5, fill: STATE_FILL[r.state] }),
          s('text', { x: x + 32, y: cy + 14, class: 'chip-title' }, `${r.hostname}`),
          s(
            'text',
            { x: x + 32, y: cy + 28, class: 'chip-sub' },
            `rank ${r.rank} · ${svc.network.mode === 'host' ? `host ${r.address}` : r.address}${r.state === 'missing' ? ' · missing' : ''}`,
          ),
          s('title', {}, `${svc.name} rank ${r.rank} (${r.state})`),
        );
        parts.push(chip);
        if (r.rank === 0)
          svc.endpoints.forEach((e, j) => {
            const label = `⇗ ${e.name}`;
            const ex = x + nodeW - 14 - (j + 1) * 58;
            const link = s(
              'a',
              { href: e.url, target: '_blank', rel: 'noopener', class: 'endpoint-link' },
              s('rect', {
                x: ex,
                y: cy + 8,
                width: 54,
                height: 18,
                rx: 9,
                class: e.open ? 'ep-open' : 'ep-closed',
              }),
              s('text', { x: ex + 27, y: cy + 21, 'text-anchor': 'middle', class: 'ep-text' }, label),
              s('title', {}, `${e.name}: ${e.url}${e.open ? '' : ' (withdrawn)'}`),
            );
            parts.push(link);
          });
      });
      if (n.fabric.length > 0)
        g.append(
          s(
            'text',
            { x: x + 10, y: y + rh - 8, class: 'node-fabric' },
            n.fabric.map((f) => `${f.name} ${f.address}`).join('  '),
          ),
        );
      parts.unshift(g);
      // Stubs from the node to each lane it is on.
      lanes.forEach((lane, li) => {
        if (!lane.nodes.has(n.name)) return;
        const ly = y + rh + 10 + li * LANE_H;
        const sx = x + 24 + li * 10;
        parts.push(
          s('line', {
            x1: sx,
            y1: y + rh,
            x2: sx,
            y2: ly,
            stroke: lane.color,
            'stroke-width': 2,
            'stroke-dasharray': lane.dash,
          }),
          s('circle', { cx: sx, cy: ly, r: 3, fill: lane.color }),
        );
      });
    });
    lanes.forEach((lane, li) => {
      const ly = y + rh + 10 + li * LANE_H;
      laneYs[li]?.push(ly);
      const lastX = LEFT + (row.length - 1) * (nodeW + GAP) + 24 + li * 10;
      parts.push(
        s('line', {
          x1: 6 + li * 2,
          y1: ly,
          x2: Math.max(lastX, LEFT + 60),
          y2: ly,
          stroke: lane.color,
          'stroke-width': 2,
          'stroke-dasharray': lane.dash,
          class: 'lane',
          'data-lane': lane.key,
        }),
      );
    });
    y += rh + laneBlock;
  });
  // Join each lane's segments across rows on the left margin.
  lanes.forEach((lane, li) => {
    const ys = laneYs[li] ?? [];
    const first = ys[0];
    const last = ys[ys.length - 1];
    if (ys.length > 1 && first !== undefined && last !== undefined)
      parts.push(
        s('line', {
          x1: 6 + li * 2,
          y1: first,
          x2: 6 + li * 2,
          y2: last,
          stroke: lane.color,
          'stroke-width': 2,
          'stroke-dasharray': lane.dash,
        }),
      );
  });
  const svg = s(
    'svg',
    {
      class: 'topology',
      viewBox: `0 0 ${svgW} ${y}`,
      width: svgW,
      height: y,
      role: 'img',
      'aria-label': 'topology',
    },
    ...parts,
  );
  const legend = h(
    'ul',
    { class: 'legend' },
    lanes.map((l) =>
      h('li', {}, h('span', { class: `swatch${l.dash ? ' dashed' : ''}`, 'data-color': l.color }), l.label),
    ),
    model.services
      .filter((svc) => svc.network.mode === 'host')
      .map((svc) =>
        h(
          'li',
          {},
          h('span', { class: 'swatch', 'data-color': svc.color }),
          `${svc.name}: host networking (ranks use their node's addresses)`,
        ),
      ),
  );
  for (const sw of legend.querySelectorAll<HTMLElement>('.swatch'))
    sw.style.borderColor = sw.dataset['color'] ?? '';
  return h('div', { class: 'topology-wrap' }, h('div', { class: 'topology-scroll' }, svg), legend);
}
