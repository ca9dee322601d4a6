/**
 * Draws a {@link MachineGraph} as SVG for the inspector: states as nested boxes (a compound
 * state holds its children, flowed into rows; parallel regions have a dashed border), the actors
 * a state invokes under its name, and every transition as an arrow. Each state carries
 * `data-path` and each arrow `data-from`, `data-to` and `data-event`, so the page lights the
 * active states and the ways out of them with CSS classes, without laying anything out itself.
 */
import type { GraphNode, MachineGraph } from './machine-graph.js';

/** Options of {@link renderStatechartSvg}. */
export interface StatechartSvgOptions {
  /** Width the layout wraps at, in SVG units. Default 1100. */
  readonly maxWidth?: number;
}

interface Box {
  readonly node: GraphNode;
  x: number;
  y: number;
  readonly w: number;
  readonly h: number;
  readonly children: Box[];
}

const PAD = 10;
const HEADER = 22;
const GAP = 8;
const LEAF_H = 28;
const LEAF_INVOKE_H = 42;
const CHAR_W = 6.6;
const SMALL_CHAR_W = 5.6;

const escapeXml = (s: string): string => s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c] as string);

function measure(node: GraphNode, maxWidth: number): Box {
  const label = node.key || 'machine';
  const invoke = node.invoke.length > 0 ? `⚙ ${node.invoke.join(', ')}` : '';
  if (node.states.length === 0) {
    const w = Math.ceil(Math.max(72, label.length * CHAR_W + 20, invoke.length * SMALL_CHAR_W + 16));
    return { node, x: 0, y: 0, w: Math.min(w, maxWidth), h: invoke ? LEAF_INVOKE_H : LEAF_H, children: [] };
  }
  const inner = Math.max(80, maxWidth - 2 * PAD);
  const children = node.states.map((child) => measure(child, inner));
  const top = HEADER + (invoke ? 14 : 0);
  let x = PAD;
  let y = top;
  let rowH = 0;
  let right = 0;
  for (const child of children) {
    if (x > PAD && x + child.w > maxWidth - PAD) {
      y += rowH + GAP;
      x = PAD;
      rowH = 0;
    }
    child.x = x;
    child.y = y;
    x += child.w + GAP;
    right = Math.max(right, x - GAP);
    rowH = Math.max(rowH, child.h);
  }
  const w = Math.max(right + PAD, label.length * CHAR_W + 2 * PAD, invoke.length * SMALL_CHAR_W + 2 * PAD);
  return { node, x: 0, y: 0, w: Math.ceil(w), h: Math.ceil(y + rowH + PAD), children };
}

/** Moves every box to absolute coordinates and indexes them by path. */
function place(box: Box, dx: number, dy: number, byPath: Map<string, Box>): void {
  box.x += dx;
  box.y += dy;
  byPath.set(box.node.path, box);
  for (const child of box.children) place(child, box.x, box.y, byPath);
}

/** Where the ray from the centre of `b` towards (tx, ty) leaves `b`. */
function exitPoint(b: Box, tx: number, ty: number): [number, number] {
  const cx = b.x + b.w / 2;
  const cy = b.y + b.h / 2;
  const dx = tx - cx;
  const dy = ty - cy;
  if (dx === 0 && dy === 0) return [cx, cy];
  const scale = Math.min(dx === 0 ? Infinity : b.w / 2 / Math.abs(dx), dy === 0 ? Infinity : b.h / 2 / Math.abs(dy));
  return [cx + dx * scale, cy + dy * scale];
}

const within = (ancestor: string, path: string): boolean => ancestor === '' || path === ancestor || path.startsWith(`${ancestor}.`);
const round = (n: number): number => Math.round(n * 10) / 10;

function drawBox(box: Box, out: string[]): void {
  const n = box.node;
  const cls = `state state-${n.type}${n.path === '' ? ' state-root' : ''}${n.tags.length > 0 ? ` ${n.tags.map((t) => `tag-${t.replace(/[^a-z0-9_-]/gi, '')}`).join(' ')}` : ''}`;
  const label = n.key || 'machine';
  const invoke = n.invoke.length > 0 ? `⚙ ${n.invoke.join(', ')}` : '';
  const title = [n.path || label, n.description ?? '', n.tags.length > 0 ? `tags: ${n.tags.join(', ')}` : ''].filter((s) => s !== '').join('\n');
  out.push(`<g class="${escapeXml(cls)}" data-path="${escapeXml(n.path)}"><title>${escapeXml(title)}</title>`);
  out.push(`<rect x="${box.x}" y="${box.y}" width="${box.w}" height="${box.h}" rx="${n.type === 'history' ? box.h / 2 : 6}"/>`);
  if (box.children.length === 0) {
    const ty = invoke ? box.y + 17 : box.y + box.h / 2 + 4;
    out.push(`<text class="label" x="${round(box.x + box.w / 2)}" y="${round(ty)}" text-anchor="middle">${escapeXml(n.type === 'history' ? `H ${label}` : label)}</text>`);
    if (invoke) out.push(`<text class="invoke" x="${round(box.x + box.w / 2)}" y="${box.y + 33}" text-anchor="middle">${escapeXml(invoke)}</text>`);
  } else {
    out.push(`<text class="label" x="${box.x + PAD}" y="${box.y + 15}">${escapeXml(label)}</text>`);
    if (invoke) out.push(`<text class="invoke" x="${box.x + PAD}" y="${box.y + 29}">${escapeXml(invoke)}</text>`);
  }
  out.push('</g>');
  for (const child of box.children) drawBox(child, out);
}

/**
 * Renders the graph as a standalone SVG document fragment (`<svg class="statechart">…</svg>`).
 *
 * @example
 * ```ts
 * const svg = renderStatechartSvg(machineGraph(runtime.options.machine));
 * // <svg ...><g class="state state-atomic" data-path="conversation.idle">...</g>...</svg>
 * ```
 */
export function renderStatechartSvg(graph: MachineGraph, options: StatechartSvgOptions = {}): string {
  const maxWidth = options.maxWidth ?? 1100;
  if (!Number.isFinite(maxWidth) || maxWidth < 200) throw new TypeError('option maxWidth must be a number of at least 200');
  const root = measure(graph.root, maxWidth);
  const byPath = new Map<string, Box>();
  place(root, 1, 1, byPath);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="statechart" viewBox="0 0 ${root.w + 2} ${root.h + 2}" width="${root.w + 2}" height="${root.h + 2}" data-machine="${escapeXml(graph.id)}">`,
    '<defs><marker id="statechart-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>',
  );
  drawBox(root, out);
  out.push('<g class="edges">');
  for (const source of byPath.values()) {
    for (const t of source.node.transitions) {
      for (const target of t.targets) {
        const dest = byPath.get(target);
        const from = source.node.path;
        if (!dest || within(from, target) || within(target, from)) continue;
        const [sx, sy] = exitPoint(source, dest.x + dest.w / 2, dest.y + dest.h / 2);
        const [ex, ey] = exitPoint(dest, source.x + source.w / 2, source.y + source.h / 2);
        // A slight bend keeps arrows between the same two states apart.
        const mx = (sx + ex) / 2 - (ey - sy) * 0.15;
        const my = (sy + ey) / 2 + (ex - sx) * 0.15;
        const label = `${t.event}${t.guard !== undefined ? ` [${t.guard}]` : ''}`;
        out.push(
          `<path class="edge" data-from="${escapeXml(from)}" data-to="${escapeXml(target)}" data-event="${escapeXml(t.event)}" d="M${round(sx)},${round(sy)} Q${round(mx)},${round(my)} ${round(ex)},${round(ey)}" marker-end="url(#statechart-arrow)"><title>${escapeXml(`${from} → ${target}: ${label}`)}</title></path>`,
        );
      }
    }
  }
  out.push('</g></svg>');
  return out.join('');
}
