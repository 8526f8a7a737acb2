/** A few DOM helpers: elements from tag, attributes and children; formatting of bytes, durations, times. */

export type Child = Node | string | number | null | undefined | false | readonly Child[];
type Attr = string | number | boolean | undefined | ((e: Event) => void);
export type Attrs = Readonly<Record<string, Attr>>;

function append(parent: Node, children: readonly Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c as readonly Child[]);
    else if (c instanceof Node) parent.appendChild(c);
    else parent.appendChild(document.createTextNode(String(c as string | number)));
  }
}

function setAttrs(el: Element, attrs: Attrs | undefined): void {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

/** An HTML element. Attributes named `on<event>` are listeners. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element. */
export function s(tag: string, attrs?: Attrs, ...children: Child[]): SVGElement {
  const el: SVGElement = document.createElementNS(SVG_NS, tag as keyof SVGElementTagNameMap);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i] ?? ''}`;
}

export function rate(n: number): string {
  if (n < 1000) return `${n} B/s`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB/s`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB/s`;
  return `${(n / 1e9).toFixed(2)} GB/s`;
}

export function ms(n: number): string {
  return n < 1000 ? `${Math.round(n)} ms` : `${(n / 1000).toFixed(n < 10_000 ? 2 : 1)} s`;
}

/** "12 s", "3 min 4 s", "2 h 5 min" */
export function ago(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const sec = Math.max(0, Math.round((now - t) / 1000));
  if (sec < 60) return `${sec} s`;
  if (sec < 3600) return `${Math.floor(sec / 60)} min ${sec % 60} s`;
  return `${Math.floor(sec / 3600)} h ${Math.floor((sec % 3600) / 60)} min`;
}

export function clock(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString([], { hour12: false });
}

/** A colour per service (stable by order of appearance). */
const PALETTE = ['#2563eb', '#d97706', '#059669', '#9333ea', '#dc2626', '#0891b2', '#65a30d', '#db2777'];
export function serviceColor(index: number): string {
  return PALETTE[index % PALETTE.length] ?? '#2563eb';
}

/** A colour per rank in the log view. */
const RANK_COLORS = ['#0e7490', '#b45309', '#15803d', '#a21caf', '#1d4ed8', '#b91c1c'];
export function rankColor(rank: number): string {
  return RANK_COLORS[rank % RANK_COLORS.length] ?? '#0e7490';
}
