/**
 * Extractive summaries for retention: when a user has too many memories, the oldest are replaced
 * by one `summary` memory that quotes the most representative of them. Nothing is generated, so
 * a summary never says anything the user did not say.
 */

/** One memory to summarise; `embedding` is L2-normalised. */
export interface SummaryItem {
  readonly text: string;
  readonly embedding: Float32Array;
  readonly time: number;
}

/** Options of {@link summariseExtractively}. */
export interface ExtractiveSummaryOptions {
  /** Memories quoted at most. Default 3. */
  readonly maxQuotes?: number;
  /** Length limit of the whole summary in characters. Default 480. */
  readonly maxChars?: number;
  /** A candidate this similar (cosine) to an already chosen quote is skipped as a repetition. Default 0.9. */
  readonly duplicateSimilarity?: number;
}

const dot = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) s += a[i]! * b[i]!;
  return s;
};

const day = (time: number) => new Date(time).toISOString().slice(0, 10);

/**
 * Picks the most central memories (highest total similarity to the others: what the user kept
 * coming back to), drops near-repetitions, and quotes them in time order.
 *
 * @example
 * ```ts
 * summariseExtractively(oldest, { maxQuotes: 3 });
 * // 'Summary of 20 earlier memories (2024-01-02 to 2024-03-01): "card declined at the shop" | "..."'
 * ```
 */
export function summariseExtractively(items: readonly SummaryItem[], options: ExtractiveSummaryOptions = {}): string {
  const maxQuotes = options.maxQuotes ?? 3;
  const maxChars = options.maxChars ?? 480;
  const duplicate = options.duplicateSimilarity ?? 0.9;
  if (items.length === 0) return '';
  const centrality = items.map((item, i) => {
    let s = 0;
    for (let j = 0; j < items.length; j++) if (j !== i) s += dot(item.embedding, items[j]!.embedding);
    return s;
  });
  const order = items.map((_, i) => i).sort((a, b) => centrality[b]! - centrality[a]! || items[b]!.time - items[a]!.time);
  const chosen: number[] = [];
  for (const i of order) {
    if (chosen.length >= maxQuotes) break;
    if (items[i]!.text.trim().length === 0) continue;
    if (chosen.some((c) => dot(items[c]!.embedding, items[i]!.embedding) >= duplicate)) continue;
    chosen.push(i);
  }
  chosen.sort((a, b) => items[a]!.time - items[b]!.time);
  const times = items.map((item) => item.time);
  const head = `Summary of ${items.length} earlier memories (${day(Math.min(...times))} to ${day(Math.max(...times))}): `;
  const budget = Math.max(16, Math.floor((maxChars - head.length) / Math.max(1, chosen.length)) - 5);
  const quotes = chosen.map((i) => {
    const text = items[i]!.text.replace(/\s+/g, ' ').trim();
    return `"${text.length > budget ? `${text.slice(0, budget - 1)}…` : text}"`;
  });
  const summary = head + quotes.join(' | ');
  return summary.length > maxChars ? `${summary.slice(0, maxChars - 1)}…` : summary;
}
