// An interactive, self-contained SVG flame graph: open it in a browser (no network, no other
// files). Each frame is a <g class="f"> holding a <title> (tooltip), a <rect> and a <text>, with
// its position in time units (ms; samples when no interval is known) in data attributes; the
// embedded script (flamegraph-script.ts) zooms, searches and shows details. Viewers without
// scripts still show the static graph.
//
// The x axis is the share of sampled time (each sample's weight, see ProfileOptions.intervalMs;
// of samples when no interval is known), not a timeline: children are sorted by name and
// merged, as in Brendan Gregg's flame graphs. The root is "all"; by default each thread name
// gets its own tower.
import { FLAMEGRAPH_SCRIPT } from './flamegraph-script';
import { sanitizeName, toBuilder, type ProfileBuilder, type ProfileInput, type ProfileOptions } from './profile';

export interface FlameGraphOptions extends ProfileOptions {
  /** Title at the top (default "Flame Graph"). */
  title?: string;
  /** Image width in pixels (default 1200). */
  width?: number;
  /** Height of one frame in pixels (default 16). */
  frameHeight?: number;
  /** Icicle graph: the root at the top (default false: flames grow upward). */
  inverted?: boolean;
  /** Frames narrower than this many pixels are left out (default 0.1). */
  minWidth?: number;
  /** One tower per thread name above "all" (default true). */
  threadRoot?: boolean;
}

interface Node {
  name: string;
  kind: FrameKind;
  /** Width: the time of the samples under this frame in ms, or their count when no interval is known. */
  value: number;
  /** Samples under this frame. */
  count: number;
  children: Map<string, Node>;
}

type FrameKind = 'root' | 'thread' | 'jit' | 'unknown' | 'native';

function newNode(name: string, kind: FrameKind): Node {
  return { name, kind, value: 0, count: 0, children: new Map() };
}

function frameKind(name: string, module: string | null): FrameKind {
  if (name === '[unknown]' || (module !== null && name.startsWith(`${module.split('/').pop()}+0x`))) return 'unknown';
  if (name.startsWith('JS:') || name.startsWith('LazyCompile:') || module === '[anon]') return 'jit';
  return module === null ? 'unknown' : 'native';
}

/** FNV-1a of a string, as a number in [0, 1). */
function hash01(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h / 0x100000000;
}

/** Stable colors: warm for native code, green for JIT code, gray for unknown, blue-gray for roots. */
function colorOf(node: Node): string {
  const a = hash01(node.name);
  const b = hash01(node.name, 0x9747b28c);
  switch (node.kind) {
    case 'root':
    case 'thread':
      return `hsl(225,${Math.round(20 + 15 * a)}%,${Math.round(78 + 6 * b)}%)`;
    case 'unknown':
      return `hsl(0,0%,${Math.round(72 + 10 * a)}%)`;
    case 'jit':
      return `hsl(${Math.round(85 + 45 * a)},${Math.round(50 + 20 * b)}%,${Math.round(55 + 10 * a)}%)`;
    default:
      return `hsl(${Math.round(2 + 50 * a)},${Math.round(78 + 17 * b)}%,${Math.round(56 + 10 * b)}%)`;
  }
}

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function fmtCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** A static first fit of a name into a width, for viewers without scripts (the script refits). */
function fitName(name: string, px: number, charW: number): string {
  const max = Math.floor((px - 6) / charW);
  if (max < 3) return '';
  return name.length <= max ? name : `${name.slice(0, max - 2)}..`;
}

/** A node's child of that name (created at first use). */
function childOf(node: Node, key: string, name: string, kind: FrameKind): Node {
  let child = node.children.get(key);
  if (child === undefined) node.children.set(key, (child = newNode(name, kind)));
  return child;
}

/** The stacks merged into a tree (same name under the same parent = one frame), weighted. */
function buildTree(b: ProfileBuilder, threadRoot: boolean, intervalMs: number | undefined): Node {
  const root = newNode('all', 'root');
  for (const track of b.threads.values()) {
    // Per distinct stack of the thread: its weight and sample count.
    const perStack = new Map<number, { w: number; n: number }>();
    const weights = b.weightsMs(track, intervalMs);
    track.stacks.forEach((s, i) => {
      const e = perStack.get(s) ?? { w: 0, n: 0 };
      e.w += weights === undefined ? 1 : weights[i]!;
      e.n++;
      perStack.set(s, e);
    });
    const tname = sanitizeName(track.name || `tid ${track.tid}`);
    const base = threadRoot ? childOf(root, `\0thread:${tname}`, tname, 'thread') : root;
    for (const [s, { w, n }] of perStack) {
      const path = base === root ? [root] : [root, base];
      let node = base;
      for (const fi of b.functionStack(s)) {
        const f = b.functions[fi]!;
        node = childOf(node, f.name, f.name, frameKind(f.name, f.module));
        path.push(node);
      }
      for (const at of path) {
        at.value += w;
        at.count += n;
      }
    }
  }
  return root;
}

interface Placed {
  node: Node;
  x: number;
  depth: number;
}

/** Frames placed with x in weight units, children sorted by name; narrower than minWidth px left out. */
function placeFrames(root: Node, scale: number, minWidth: number): { placed: Placed[]; maxDepth: number } {
  const placed: Placed[] = [];
  let maxDepth = 0;
  const place = (node: Node, x: number, depth: number): void => {
    if (node.value * scale < minWidth) return;
    placed.push({ node, x, depth });
    if (depth > maxDepth) maxDepth = depth;
    let cx = x;
    const kids = [...node.children.values()].sort((p, q) => (p.name < q.name ? -1 : p.name > q.name ? 1 : 0));
    for (const k of kids) {
      place(k, cx, depth + 1);
      cx += k.value;
    }
  };
  if (root.value > 0) place(root, 0, 0);
  return { placed, maxDepth };
}

/** "1.25 s", "830 ms" or "0.4 ms": a time in ms. */
function fmtMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return ms >= 10 ? `${Math.round(ms)} ms` : `${ms.toFixed(1)} ms`;
}

/** "pid 1234 (node) — 95 samples (0.94 s) from 95 snapshots over 1.0 s, on-CPU (state R) only" */
function subtitleOf(b: ProfileBuilder, root: Node, weighted: boolean): string {
  const spanS =
    Number.isFinite(b.startMs) && b.endMs > b.startMs ? ` over ${((b.endMs - b.startMs) / 1000).toFixed(1)} s` : '';
  const who = b.pid === null ? '' : `pid ${b.pid}${b.command ? ` (${b.command})` : ''} — `;
  const stateNote =
    b.state === 'all' ? '' : `, ${b.state === 'running' ? 'on-CPU (state R)' : 'off-CPU (blocked)'} only`;
  const time = weighted && root.count > 0 ? ` (${fmtMs(root.value)})` : '';
  return `${who}${fmtCount(root.count)} samples${time} from ${fmtCount(b.snapshots)} snapshots${spanS}${stateNote}`;
}

/** The document's head: styles, title, buttons, the details line. */
function svgHead(
  g: { width: number; height: number; total: number; xpad: number; fontSize: number },
  title: string,
  subtitle: string,
): string[] {
  const { width, height, total, xpad, fontSize } = g;
  return [
    '<?xml version="1.0" encoding="UTF-8" standalone="no"?>',
    `<svg version="1.1" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" data-total="${total}" data-xpad="${xpad}">`,
    '<!-- Flame graph by stackshot. Click a frame to zoom, Ctrl-F or "/" to search, Escape to reset. -->',
    '<defs><linearGradient id="bg" x1="0" y1="0" x2="0" y2="1"><stop offset="0%" stop-color="#f7f7f7"/><stop offset="100%" stop-color="#e9e9ee"/></linearGradient></defs>',
    '<style type="text/css"><![CDATA[',
    `  text { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: ${fontSize}px; fill: #111; }`,
    '  #title { font-size: 17px; text-anchor: middle; font-weight: bold; }',
    '  #subtitle { text-anchor: middle; fill: #555; }',
    '  #matched { text-anchor: end; }',
    '  .btn { cursor: pointer; fill: #224; opacity: 0.75; } .btn:hover { opacity: 1; text-decoration: underline; }',
    '  .off { display: none; }',
    '  g.f { cursor: pointer; } g.f:hover rect { stroke: #000; stroke-width: 0.6; }',
    '  g.f text { pointer-events: none; }',
    '  g.anc rect { opacity: 0.55; }',
    '  .probe { visibility: hidden; }',
    ']]></style>',
    `<rect x="0" y="0" width="${width}" height="${height}" fill="url(#bg)"/>`,
    `<text id="title" x="${width / 2}" y="24">${escapeXml(title)}</text>`,
    `<text id="subtitle" x="${width / 2}" y="44">${escapeXml(subtitle)}</text>`,
    `<text id="unzoom" class="btn off" x="${xpad}" y="24">Reset Zoom</text>`,
    `<text id="search" class="btn" x="${width - xpad - 100}" y="24">Search</text>`,
    `<text id="details" x="${xpad}" y="${height - 12}"> </text>`,
    `<text id="matched" class="off" x="${width - xpad}" y="${height - 12}"></text>`,
    '<g id="frames">',
  ];
}

/** One frame: its tooltip (name, samples, time, share), rectangle and first-fit label. */
function frameElement(
  p: Placed,
  x: number,
  y: number,
  w: number,
  total: number,
  weighted: boolean,
  style: { frameH: number; charW: number },
): string {
  const n = p.node;
  const pct = ((100 * n.value) / total).toFixed(2);
  const time = weighted ? `, ${fmtMs(n.value)}` : '';
  const label = `${n.name} (${fmtCount(n.count)} sample${n.count === 1 ? '' : 's'}${time}, ${pct}%)`;
  return (
    `<g class="f" data-x="${p.x}" data-w="${n.value}" data-d="${p.depth}" data-n="${escapeXml(n.name)}">` +
    `<title>${escapeXml(label)}</title>` +
    `<rect x="${x.toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${style.frameH - 1}" fill="${colorOf(n)}" rx="2" ry="2"/>` +
    `<text x="${(x + 3).toFixed(2)}" y="${y + style.frameH - 4.5}">${escapeXml(fitName(n.name, w, style.charW))}</text>` +
    '</g>'
  );
}

/**
 * The snapshots as an interactive SVG flame graph (a complete SVG document as a string). Frame
 * widths are the wall time of their samples when the interval is known (see
 * ProfileOptions.intervalMs), else sample counts.
 */
export function toFlameGraph(input: ProfileInput, opts: FlameGraphOptions = {}): string {
  const b = toBuilder(input, opts);
  const width = opts.width ?? 1200;
  const frameH = opts.frameHeight ?? 16;
  const fontSize = 12;
  const charW = fontSize * 0.6; // monospace advance, a close first guess
  const xpad = 10;
  const top = 64;
  const bottom = 32;

  const intervalMs = b.intervalMs(opts.intervalMs);
  const weighted = intervalMs !== undefined;
  const root = buildTree(b, opts.threadRoot ?? true, intervalMs);
  const total = root.value;
  const scale = total > 0 ? (width - 2 * xpad) / total : 0;
  const { placed, maxDepth } = placeFrames(root, scale, opts.minWidth ?? 0.1);

  const height = top + (maxDepth + 1) * frameH + bottom + 8;
  const yOf = (depth: number): number =>
    opts.inverted ? top + depth * frameH : height - bottom - (depth + 1) * frameH;
  const out = svgHead(
    { width, height, total, xpad, fontSize },
    opts.title ?? 'Flame Graph',
    subtitleOf(b, root, weighted),
  );
  if (total === 0) {
    out.push(`<text x="${width / 2}" y="${top + 12}" style="text-anchor:middle">No samples</text>`);
  }
  for (const p of placed) {
    out.push(
      frameElement(p, xpad + p.x * scale, yOf(p.depth), p.node.value * scale, total, weighted, { frameH, charW }),
    );
  }
  out.push('</g>', '<script type="text/ecmascript"><![CDATA[', FLAMEGRAPH_SCRIPT, ']]></script>', '</svg>', '');
  return out.join('\n');
}
