/**
 * Tables for the terminal and for `docs/benchmarks.md`, and the writer that replaces one
 * benchmark's section of that file between its markers, leaving every other section as it is.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';

/** A table: a header row and rows of cells. */
export interface Table {
  readonly head: readonly string[];
  readonly rows: ReadonlyArray<readonly string[]>;
}

/**
 * Renders a table as aligned plain text.
 *
 * @example
 * ```ts
 * textTable({ head: ['clients', 'turns/s'], rows: [['200', '12,400']] });
 * ```
 */
export function textTable(table: Table): string {
  const widths = table.head.map((h, i) => Math.max(h.length, ...table.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(table.head), widths.map((w) => '-'.repeat(w)).join('  '), ...table.rows.map(line)].join('\n');
}

/**
 * Renders a table as GitHub markdown.
 *
 * @example
 * ```ts
 * markdownTable({ head: ['clients', 'turns/s'], rows: [['200', '12,400']] });
 * ```
 */
export function markdownTable(table: Table): string {
  const row = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [row(table.head), row(table.head.map((_, i) => (i === 0 ? '---' : '---:'))), ...table.rows.map(row)].join('\n');
}

/**
 * Replaces the section named `name` in the markdown file `file` (between
 * `<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->`), or appends it when absent.
 *
 * @example
 * ```ts
 * writeSection('docs/benchmarks.md', 'ws', '## WebSocket\n\n| ... |');
 * ```
 */
export function writeSection(file: string, name: string, markdown: string): void {
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const block = `${start}\n${markdown.trim()}\n${end}`;
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  const next = a >= 0 && b > a ? `${text.slice(0, a)}${block}${text.slice(b + end.length)}` : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, next);
}

/**
 * Formats a number with thousands separators and `digits` decimals.
 *
 * @example
 * ```ts
 * num(12400.5); // '12,401'
 * ```
 */
export function num(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return '—';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/**
 * The load average now, to tell readers how busy the machine was.
 *
 * @example
 * ```ts
 * machineLoad(); // 'load average 1.12 (1 min), 2.84 (5 min)'
 * ```
 */
export function machineLoad(): string {
  const [one, five] = loadavg();
  return `load average ${one!.toFixed(2)} (1 min), ${five!.toFixed(2)} (5 min)`;
}

/**
 * Median of a list (NaN when empty).
 *
 * @example
 * ```ts
 * median([3, 1, 2]); // 2
 * ```
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * The p-th percentile (0-100) of a list, nearest rank.
 *
 * @example
 * ```ts
 * percentile([1, 2, 3, 4], 50); // 2
 * ```
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
