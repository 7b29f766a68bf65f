/**
 * Small, dependency-free SVG charts for the HTML report (pure string builders). Each series is
 * one <polyline> whose `data-series` names it and `data-points` counts its points, so a browser
 * test can check what was drawn; points get <title> tooltips, so the report needs no script.
 */

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
  /** Dashed line, e.g. for a secondary measure. */
  dashed?: boolean;
}

export interface Axis {
  label: string;
  format: (v: number) => string;
  min?: number;
  max?: number;
  /** Category ticks at these x values (e.g. the cycles' user counts). */
  ticks?: number[];
}

/** A shaded x range with a label (a cycle's recording window, a fault window). */
export interface Band {
  from: number;
  to: number;
  label: string;
  /** Extra CSS class, e.g. "fault" (default: a cycle band). */
  className?: string;
}

/** A vertical mark at x (a proxy mix change, a recovery). */
export interface Marker {
  x: number;
  label: string;
  color: string;
  /** Extra CSS class, e.g. "recovery"; `text` draws the label at the top of the line. */
  className?: string;
  text?: string;
}

export interface ChartOptions {
  id: string;
  title: string;
  x: Axis;
  y: Axis;
  series: Series[];
  bands?: Band[];
  markers?: Marker[];
  width?: number;
  height?: number;
  /** Categorical x (cycles): points evenly spaced in order, labelled with `ticks`. */
  categorical?: boolean;
}

export const PAD = { left: 64, right: 16, top: 28, bottom: 44 };
export const WIDTH = 900;

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": '#39' }[c]};`);
}

const r1 = (v: number) => Math.round(v * 10) / 10;

/** "Nice" tick values covering [min, max] (1-2-5 steps), at most ~6. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step, guard = 0; v <= max + step * 1e-9 && guard < 50; v += step, guard++) out.push(Number(v.toPrecision(12)));
  return out;
}

export interface Scale {
  x(v: number): number;
  y(v: number): number;
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

export function makeScale(xMin: number, xMax: number, yMin: number, yMax: number, width: number, height: number): Scale {
  const x0 = PAD.left;
  const x1 = width - PAD.right;
  const y0 = height - PAD.bottom;
  const y1 = PAD.top;
  const dx = xMax > xMin ? xMax - xMin : 1;
  const dy = yMax > yMin ? yMax - yMin : 1;
  return {
    x: (v) => x0 + ((v - xMin) / dx) * (x1 - x0),
    y: (v) => y0 - ((v - yMin) / dy) * (y0 - y1),
    x0,
    x1,
    y0,
    y1,
  };
}

export function lineChart(o: ChartOptions): string {
  const width = o.width ?? WIDTH;
  const height = o.height ?? 260;
  const all = o.series.flatMap((s) => s.points);
  // Categorical: x positions are indexes 0..n-1.
  const cats = o.categorical ? (o.x.ticks ?? []) : [];
  const xs = o.categorical ? cats.map((_, i) => i) : all.map((p) => p[0]);
  const xMin = o.categorical ? -0.3 : (o.x.min ?? Math.min(...xs, 0));
  const xMax = o.categorical ? Math.max(cats.length - 1, 0) + 0.3 : (o.x.max ?? Math.max(...xs, 1));
  const yMax = o.y.max ?? niceCeil(Math.max(...all.map((p) => p[1]), 0));
  const yMin = o.y.min ?? 0;
  const sc = makeScale(xMin, xMax, yMin, yMax, width, height);
  const px = (x: number) => (o.categorical ? sc.x(cats.indexOf(x) >= 0 ? cats.indexOf(x) : x) : sc.x(x));
  const parts: string[] = [];
  parts.push(`<svg class="chart" id="${esc(o.id)}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(o.title)}" xmlns="http://www.w3.org/2000/svg">`);
  parts.push(`<text class="title" x="${PAD.left}" y="16">${esc(o.title)}</text>`);
  for (const b of o.bands ?? []) {
    const a = sc.x(Math.max(xMin, b.from));
    const z = sc.x(Math.min(xMax, b.to));
    if (z <= a) continue;
    const cls = b.className ? ` ${esc(b.className)}` : '';
    parts.push(`<rect class="band${cls}" x="${r1(a)}" y="${sc.y1}" width="${r1(z - a)}" height="${sc.y0 - sc.y1}"><title>${esc(b.label)}</title></rect>`);
    // Fault labels sit lower than the cycles' so both stay readable where they overlap.
    parts.push(`<text class="band-label${cls}" x="${r1(a + 3)}" y="${sc.y1 + (b.className ? 23 : 11)}">${esc(b.label)}</text>`);
  }
  // y grid and labels
  for (const t of niceTicks(yMin, yMax)) {
    const y = r1(sc.y(t));
    parts.push(`<line class="grid" x1="${sc.x0}" x2="${sc.x1}" y1="${y}" y2="${y}"/>`);
    parts.push(`<text class="tick" x="${sc.x0 - 6}" y="${y + 4}" text-anchor="end">${esc(o.y.format(t))}</text>`);
  }
  // x ticks
  const xticks = o.categorical ? cats : (o.x.ticks ?? niceTicks(xMin, xMax, 8));
  for (const t of xticks) {
    const x = r1(px(t));
    if (x < sc.x0 - 1 || x > sc.x1 + 1) continue;
    parts.push(`<line class="axis" x1="${x}" x2="${x}" y1="${sc.y0}" y2="${sc.y0 + 4}"/>`);
    parts.push(`<text class="tick" x="${x}" y="${sc.y0 + 16}" text-anchor="middle">${esc(o.x.format(t))}</text>`);
  }
  parts.push(`<line class="axis" x1="${sc.x0}" x2="${sc.x1}" y1="${sc.y0}" y2="${sc.y0}"/>`);
  parts.push(`<line class="axis" x1="${sc.x0}" x2="${sc.x0}" y1="${sc.y1}" y2="${sc.y0}"/>`);
  parts.push(`<text class="axis-label" x="${(sc.x0 + sc.x1) / 2}" y="${height - 6}" text-anchor="middle">${esc(o.x.label)}</text>`);
  parts.push(`<text class="axis-label" transform="translate(14 ${(sc.y0 + sc.y1) / 2}) rotate(-90)" text-anchor="middle">${esc(o.y.label)}</text>`);
  for (const m of o.markers ?? []) {
    if (m.x < xMin || m.x > xMax) continue;
    const x = r1(sc.x(m.x));
    const cls = m.className ? ` ${esc(m.className)}` : '';
    parts.push(`<line class="marker${cls}" x1="${x}" x2="${x}" y1="${sc.y1}" y2="${sc.y0}" stroke="${m.color}"><title>${esc(m.label)}</title></line>`);
    if (m.text) parts.push(`<text class="marker-label${cls}" x="${r1(x + 3)}" y="${sc.y1 + 35}" fill="${m.color}">${esc(m.text)}</text>`);
  }
  for (const s of o.series) {
    const pts = s.points.map(([x, y]) => `${r1(px(x))},${r1(sc.y(Math.min(y, yMax)))}`).join(' ');
    parts.push(
      `<polyline class="series" data-series="${esc(s.name)}" data-points="${s.points.length}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 3"' : ''} points="${pts}"/>`,
    );
    // Dots with tooltips when there are few points (per-cycle charts).
    if (s.points.length <= 60) {
      for (const [x, y] of s.points) {
        parts.push(
          `<circle class="dot" cx="${r1(px(x))}" cy="${r1(sc.y(Math.min(y, yMax)))}" r="3" fill="${s.color}"><title>${esc(`${s.name}: ${o.y.format(y)} at ${o.x.format(x)}`)}</title></circle>`,
        );
      }
    }
  }
  // legend
  let lx = sc.x1;
  for (const s of [...o.series].reverse()) {
    const w = 14 + s.name.length * 6.5;
    lx -= w + 10;
    parts.push(`<rect x="${r1(lx)}" y="7" width="10" height="10" fill="${s.color}"/><text class="legend" x="${r1(lx + 14)}" y="16">${esc(s.name)}</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** Rounds a maximum up to a readable axis end (1, 2, 2.5, 5 × 10^n). */
export function niceCeil(v: number): number {
  if (!(v > 0)) return 1;
  const mag = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * mag >= v) return m * mag;
  return 10 * mag;
}

export interface HBar {
  label: string;
  value: number;
  color: string;
}

/** Horizontal bars (errors by kind). */
export function barChart(id: string, title: string, bars: HBar[], format: (v: number) => string): string {
  const rowH = 22;
  const height = 30 + bars.length * rowH + 10;
  const labelW = 260;
  const max = Math.max(...bars.map((b) => b.value), 1);
  const parts = [`<svg class="chart" id="${esc(id)}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="${esc(title)}" xmlns="http://www.w3.org/2000/svg">`];
  parts.push(`<text class="title" x="8" y="16">${esc(title)}</text>`);
  bars.forEach((b, i) => {
    const y = 28 + i * rowH;
    const w = ((WIDTH - labelW - 90) * b.value) / max;
    const label = b.label.length > 40 ? `${b.label.slice(0, 39)}…` : b.label;
    parts.push(`<text class="tick" x="${labelW - 8}" y="${y + 14}" text-anchor="end">${esc(label)}<title>${esc(b.label)}</title></text>`);
    parts.push(`<rect class="bar" data-label="${esc(b.label)}" x="${labelW}" y="${y + 3}" width="${r1(Math.max(1, w))}" height="${rowH - 6}" fill="${b.color}"><title>${esc(`${b.label}: ${format(b.value)}`)}</title></rect>`);
    parts.push(`<text class="tick" x="${r1(labelW + Math.max(1, w) + 6)}" y="${y + 14}">${esc(format(b.value))}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
