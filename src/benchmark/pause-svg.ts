// `stackshot bench -o pauses.svg`: the pause each stopped thread paid, one row per capture
// path, on a log scale (a self-contained SVG: no script, no external reference).
import { dur } from './format-units';
import type { BenchmarkReport } from './types';

const WIDTH = 760;
const LEFT = 150;
const RIGHT = 45;
const ROW = 56;
const TOP = 40;

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Powers of ten (ns) spanning [lo, hi]. */
function decades(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let d = 10 ** Math.floor(Math.log10(lo)); d <= hi * 10; d *= 10) out.push(d);
  return out;
}

export function pauseChartSvg(r: BenchmarkReport): string {
  const all = r.paths.flatMap((p) => p.pauses).filter((x) => x > 0);
  const lo = all.length > 0 ? Math.min(...all) : 1e3;
  const hi = all.length > 0 ? Math.max(...all) : 1e6;
  const ticks = decades(lo, hi);
  const min = Math.log10(ticks[0]!);
  const max = Math.log10(ticks[ticks.length - 1]!);
  const x = (ns: number) => LEFT + ((Math.log10(ns) - min) / (max - min || 1)) * (WIDTH - LEFT - RIGHT);
  const height = TOP + r.paths.length * ROW + 54;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="14">${esc(`pause per stopped thread: pid ${r.pid} (${r.command}), ${r.rounds} rounds`)}</text>`,
  ];
  const axisY = TOP + r.paths.length * ROW + 14;
  for (const t of ticks) {
    parts.push(`<line x1="${x(t)}" y1="${TOP}" x2="${x(t)}" y2="${axisY}" stroke="#ddd"/>`);
    parts.push(`<text x="${x(t)}" y="${axisY + 16}" text-anchor="middle">${esc(dur(t))}</text>`);
  }
  r.paths.forEach((p, i) => {
    const y = TOP + i * ROW + ROW / 2;
    parts.push(`<text x="10" y="${y + 4}">${esc(p.path)}</text>`);
    p.pauses.forEach((ns, k) => {
      const jitter = ((k * 37) % 21) - 10; // spread equal pauses apart, deterministically
      parts.push(`<circle cx="${x(ns).toFixed(1)}" cy="${y + jitter}" r="2.5" fill="#3568a8" fill-opacity="0.5"/>`);
    });
    if (p.pauseNs.median !== null) {
      const mx = x(p.pauseNs.median).toFixed(1);
      parts.push(`<line x1="${mx}" y1="${y - 16}" x2="${mx}" y2="${y + 16}" stroke="#c0392b" stroke-width="2"/>`);
      parts.push(
        `<text x="${mx}" y="${y - 19}" text-anchor="middle" fill="#c0392b">median ${esc(dur(p.pauseNs.median))}</text>`,
      );
    }
    if (p.notStopped > 0)
      parts.push(`<text x="${LEFT}" y="${y + 26}" fill="#555">${p.notStopped} thread captures without a stop</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
