/**
 * A small parser of the Prometheus text exposition format (version 0.0.4), strict enough to fail
 * on malformed output: every sample belongs to a family declared by `# HELP` and `# TYPE`.
 */
export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface PromText {
  readonly samples: readonly PromSample[];
  readonly types: ReadonlyMap<string, string>;
  /** The value of one sample, or undefined; `labels` must match exactly. */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy;
const SUFFIXES = ['_bucket', '_sum', '_count', '_total', '_created', ''];

export function parsePromText(text: string): PromText {
  const samples: PromSample[] = [];
  const types = new Map<string, string>();
  const helps = new Set<string>();
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    if (line.startsWith('# HELP ')) {
      helps.add(line.split(' ')[2] as string);
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type as string)) throw new Error(`line ${i + 1}: bad type ${type}`);
      types.set(name as string, type as string);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`line ${i + 1}: not a sample: ${line}`);
    const [, name, rawLabels, rawValue] = m as unknown as [string, string, string | undefined, string];
    const labels: Record<string, string> = {};
    if (rawLabels) {
      LABEL.lastIndex = 0;
      let consumed = 0;
      for (let l = LABEL.exec(rawLabels); l; l = LABEL.exec(rawLabels)) {
        labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
        consumed = LABEL.lastIndex;
      }
      if (consumed !== rawLabels.length) throw new Error(`line ${i + 1}: bad labels: ${rawLabels}`);
    }
    // The exposition format parses values like Go's ParseFloat: NaN in any letter case
    // (prom-client writes `Nan`), and signed infinities.
    const isNaNText = rawValue.toLowerCase() === 'nan';
    const value = rawValue === '+Inf' ? Infinity : rawValue === '-Inf' ? -Infinity : isNaNText ? NaN : Number(rawValue);
    if (Number.isNaN(value) && !isNaNText) throw new Error(`line ${i + 1}: bad value ${rawValue}`);
    const family = SUFFIXES.map((s) => (s && name.endsWith(s) ? name.slice(0, -s.length) : name)).find((f) => types.has(f) && helps.has(f));
    if (family === undefined) throw new Error(`line ${i + 1}: sample ${name} has no # HELP/# TYPE`);
    samples.push({ name, labels, value });
  }
  const same = (a: Readonly<Record<string, string>>, b: Record<string, string>) =>
    Object.keys(a).length === Object.keys(b).length && Object.entries(b).every(([k, v]) => a[k] === v);
  return {
    samples,
    types,
    value: (name, labels = {}) => samples.find((s) => s.name === name && same(s.labels, labels))?.value,
  };
}
