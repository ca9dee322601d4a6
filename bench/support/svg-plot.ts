/**
 * A dependency-free line plot as SVG text, so benchmarks can draw their own figures for
 * `docs/benchmarks.md` without a plotting library.
 */

/** One line of a plot. */
export interface PlotSeries {
  readonly name: string;
  readonly points: ReadonlyArray<readonly [x: number, y: number]>;
  /** CSS colour. Default: from a fixed palette, in order. */
  readonly color?: string;
  /** Draw dashed (a baseline or a ceiling). Default false. */
  readonly dashed?: boolean;
}

/** What to draw. */
export interface PlotOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly PlotSeries[];
  /** Logarithmic y axis (latencies spanning decades). Default false. */
  readonly logY?: boolean;
  /** Logarithmic x axis. Default false. */
  readonly logX?: boolean;
  /** Horizontal reference lines, e.g. a target. */
  readonly hLines?: ReadonlyArray<{ readonly y: number; readonly label: string }>;
  readonly widthPx?: number;
  readonly heightPx?: number;
}

const PALETTE = ['#1f6feb', '#d1242f', '#1a7f37', '#9a6700', '#8250df', '#57606a'];

/**
 * Renders `options` as a standalone SVG document.
 *
 * @example
 * ```ts
 * writeFileSync('docs/latency.svg', linePlotSvg({ title: 'p99', xLabel: 'turns/s', yLabel: 'ms',
 *   series: [{ name: 'keel', points: [[1000, 2.1], [5000, 4.8]] }] }));
 * ```
 */
export function linePlotSvg(options: PlotOptions): string {
  const width = options.widthPx ?? 720;
  const height = options.heightPx ?? 420;
  const margin = { left: 72, right: 180, top: 40, bottom: 56 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const all = options.series.flatMap((s) => s.points);
  const ys = [...all.map((p) => p[1]), ...(options.hLines ?? []).map((h) => h.y)].filter((v) => Number.isFinite(v) && (!options.logY || v > 0));
  const xs = all.map((p) => p[0]).filter((v) => Number.isFinite(v) && (!options.logX || v > 0));
  if (xs.length === 0 || ys.length === 0) return emptySvg(options.title, width, height);
  const tx = axis(Math.min(...xs), Math.max(...xs), options.logX === true, options.logX ? Math.min(...xs) : 0);
  const ty = axis(Math.min(...ys), Math.max(...ys), options.logY === true, options.logY ? Math.min(...ys) : 0);
  const px = (x: number): number => margin.left + tx.scale(x) * plotW;
  const py = (y: number): number => margin.top + plotH - ty.scale(y) * plotH;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${width / 2 - margin.right / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">${esc(options.title)}</text>`);
  for (const t of ty.ticks) {
    const y = py(t);
    out.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${f(y)}" y2="${f(y)}" stroke="#d0d7de" stroke-width="1"/>`);
    out.push(`<text x="${margin.left - 6}" y="${f(y + 4)}" text-anchor="end" fill="#57606a">${esc(fmt(t))}</text>`);
  }
  for (const t of tx.ticks) {
    const x = px(t);
    out.push(`<line x1="${f(x)}" x2="${f(x)}" y1="${margin.top}" y2="${margin.top + plotH}" stroke="#eaeef2" stroke-width="1"/>`);
    out.push(`<text x="${f(x)}" y="${margin.top + plotH + 16}" text-anchor="middle" fill="#57606a">${esc(fmt(t))}</text>`);
  }
  out.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#57606a"/>`);
  out.push(`<text x="${margin.left + plotW / 2}" y="${height - 14}" text-anchor="middle">${esc(options.xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(options.yLabel)}</text>`);
  for (const h of options.hLines ?? []) {
    const y = py(h.y);
    out.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${f(y)}" y2="${f(y)}" stroke="#cf222e" stroke-dasharray="2 4" stroke-width="1.5"/>`);
    out.push(`<text x="${margin.left + plotW - 4}" y="${f(y - 4)}" text-anchor="end" fill="#cf222e">${esc(h.label)}</text>`);
  }
  options.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!options.logY || y > 0) && (!options.logX || x > 0));
    const path = pts.map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${f(px(x))},${f(py(y))}`).join(' ');
    if (pts.length > 1) out.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    for (const [x, y] of pts) out.push(`<circle cx="${f(px(x))}" cy="${f(py(y))}" r="3" fill="${color}"/>`);
    const ly = margin.top + 10 + i * 20;
    out.push(`<line x1="${width - margin.right + 14}" x2="${width - margin.right + 38}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    out.push(`<text x="${width - margin.right + 44}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

interface Axis {
  scale(v: number): number;
  readonly ticks: number[];
}

function axis(min: number, max: number, log: boolean, floor: number): Axis {
  if (log) {
    const lo = Math.floor(Math.log10(min));
    const hi = Math.max(lo + 1, Math.ceil(Math.log10(max)));
    const ticks: number[] = [];
    for (let e = lo; e <= hi; e++) ticks.push(10 ** e);
    return { scale: (v) => (Math.log10(v) - lo) / (hi - lo), ticks };
  }
  const lo = Math.min(floor, min);
  const step = niceStep((max - lo) / 5 || 1);
  const hi = Math.ceil(max / step) * step || step;
  const start = Math.floor(lo / step) * step;
  const ticks: number[] = [];
  for (let v = start; v <= hi + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  return { scale: (v) => (v - start) / (hi - start || 1), ticks };
}

function niceStep(raw: number): number {
  const e = 10 ** Math.floor(Math.log10(raw));
  const m = raw / e;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * e;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 1000) return `${Number((v / 1000).toPrecision(3))}k`;
  if (Math.abs(v) < 0.01) return v.toExponential(0);
  return String(Number(v.toPrecision(3)));
}

const f = (v: number): string => v.toFixed(1);

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function emptySvg(title: string, width: number, height: number): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><text x="20" y="30">${esc(title)}: no data</text></svg>\n`;
}
