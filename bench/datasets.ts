/**
 * Loaders for the routing benchmark's public datasets (their README sits beside them, in the
 * datasets folder next to the project's checkout):
 * CLINC150 (150 intents + out-of-scope) and Banking77 (77 intents, training split only, so a
 * fixed, seeded, stratified validation split is carved out of it here).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { IntentDefinitions } from '../src/routing/index.js';
import { seededRandom } from '../src/routing/linear-trainers.js';

/** One labelled message; `intent: null` is out of scope. */
export interface LabelledText {
  readonly text: string;
  readonly intent: string | null;
}

/** The datasets the benchmark knows. */
export type DatasetName = 'clinc150' | 'banking77';

/** Training and validation splits of one dataset. */
export interface RoutingDataset {
  readonly name: DatasetName;
  readonly intents: readonly string[];
  /** In-scope training messages. */
  readonly train: readonly LabelledText[];
  /** Out-of-scope training messages (CLINC150 `oos_train`), empty when the dataset has none. */
  readonly trainOutOfScope: readonly string[];
  /** Validation messages, in scope and out of scope; thresholds are tuned on these. */
  readonly validation: readonly LabelledText[];
  /** How the validation split was obtained, for the report. */
  readonly validationNote: string;
}

/** Seed and share of the Banking77 validation split: fixed so that every run scores the same split. */
export const BANKING77_VALIDATION = Object.freeze({ fraction: 0.1, seed: 77 });

/**
 * Where the datasets are: `--data DIR`, else `KEEL_DATASETS`, else `../shared/datasets` relative to
 * the current working directory.
 *
 * @example
 * ```ts
 * resolveDataDir(undefined, {}, '/srv/keel'); // '/srv/shared/datasets'
 * ```
 */
export function resolveDataDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  return resolve(cwd, flag ?? env.KEEL_DATASETS ?? '../shared/datasets');
}

type Row = [string, string];

function isRows(value: unknown): value is Row[] {
  return Array.isArray(value) && value.every((r) => Array.isArray(r) && r.length >= 2 && typeof r[0] === 'string' && typeof r[1] === 'string');
}

function rowsOf(json: Record<string, unknown>, key: string, source: string): Row[] {
  const rows = json[key];
  if (!isRows(rows)) throw new Error(`${source}: "${key}" must be an array of [text, intent] rows`);
  return rows;
}

const toLabelled = (rows: readonly Row[]): LabelledText[] => rows.map(([text, intent]) => ({ text, intent: intent === 'oos' ? null : intent }));

/**
 * Loads CLINC150 `train`, `oos_train`, `val`, `oos_val` from `<dir>/clinc150/train_val.json`.
 *
 * @example
 * ```ts
 * const { train, validation } = loadClinc150(resolveDataDir(undefined));
 * ```
 */
export function loadClinc150(dir: string): RoutingDataset {
  const source = join(dir, 'clinc150', 'train_val.json');
  const json = JSON.parse(readFileSync(source, 'utf8')) as Record<string, unknown>;
  const train = toLabelled(rowsOf(json, 'train', source));
  return {
    name: 'clinc150',
    intents: [...new Set(train.map((r) => r.intent!))],
    train,
    trainOutOfScope: rowsOf(json, 'oos_train', source).map(([text]) => text),
    validation: [...toLabelled(rowsOf(json, 'val', source)), ...toLabelled(rowsOf(json, 'oos_val', source))],
    validationNote: 'CLINC150 val + oos_val (official validation split)',
  };
}

/**
 * Parses RFC 4180 CSV: quoted fields may hold commas, doubled quotes and line breaks.
 *
 * @example
 * ```ts
 * parseCsv('a,b\n"x, ""y""",z\n'); // [['a','b'], ['x, "y"','z']]
 * ```
 */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let fieldStarted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c !== '"') field += c;
      else if (text[i + 1] === '"') field += text[i++]!;
      else quoted = false;
    } else if (c === '"') {
      quoted = true;
      fieldStarted = true;
    } else if (c === ',') {
      row.push(field);
      field = '';
      fieldStarted = true;
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      if (fieldStarted || field.length > 0 || row.length > 0) {
        row.push(field);
        rows.push(row);
      }
      row = [];
      field = '';
      fieldStarted = false;
    } else {
      field += c;
      fieldStarted = true;
    }
  }
  if (fieldStarted || field.length > 0 || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/**
 * Reads a `text,category` CSV (header required, columns in any order).
 *
 * @example
 * ```ts
 * readTextCategoryCsv('banking77/train.csv')[0]; // { text: 'I am still waiting on my card?', intent: 'card_arrival' }
 * ```
 */
export function readTextCategoryCsv(path: string): LabelledText[] {
  const [header, ...rows] = parseCsv(readFileSync(path, 'utf8'));
  const textAt = header?.indexOf('text') ?? -1;
  const categoryAt = header?.indexOf('category') ?? -1;
  if (textAt < 0 || categoryAt < 0) throw new Error(`${path}: expected a header with "text" and "category" columns`);
  return rows.filter((r) => r.length > Math.max(textAt, categoryAt)).map((r) => ({ text: r[textAt]!, intent: r[categoryAt]! }));
}

/**
 * Loads Banking77 `train.csv` and splits it, per intent, into training and a validation share
 * ({@link BANKING77_VALIDATION}) with a seeded shuffle.
 *
 * @example
 * ```ts
 * const { train, validation } = loadBanking77(dir); // 8,998 and 1,005 rows
 * ```
 */
export function loadBanking77(dir: string, split = BANKING77_VALIDATION): RoutingDataset {
  const all = readTextCategoryCsv(join(dir, 'banking77', 'train.csv'));
  const byIntent = new Map<string, LabelledText[]>();
  for (const row of all) {
    let list = byIntent.get(row.intent!);
    if (!list) byIntent.set(row.intent!, (list = []));
    list.push(row);
  }
  const random = seededRandom(split.seed);
  const train: LabelledText[] = [];
  const validation: LabelledText[] = [];
  for (const list of byIntent.values()) {
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [list[i], list[j]] = [list[j]!, list[i]!];
    }
    const held = Math.round(list.length * split.fraction);
    validation.push(...list.slice(0, held));
    train.push(...list.slice(held));
  }
  return {
    name: 'banking77',
    intents: [...byIntent.keys()],
    train,
    trainOutOfScope: [],
    validation,
    validationNote: `Banking77 ships only train.csv: a stratified ${Math.round(split.fraction * 100)}% of it (seed ${split.seed}) is the validation split and is not trained on`,
  };
}

/**
 * Loads a dataset by name.
 *
 * @example
 * ```ts
 * const data = loadDataset('clinc150', dir);
 * ```
 */
export function loadDataset(name: DatasetName, dir: string): RoutingDataset {
  return name === 'clinc150' ? loadClinc150(dir) : loadBanking77(dir);
}

/**
 * Reads a test split: CLINC150 a JSON object with `test` and `oos_test` rows of `[text, intent]`;
 * Banking77 a CSV with `text,category` columns.
 *
 * @example
 * ```ts
 * const test = loadTestSplit('clinc150', 'data_full.json'); // test + oos_test rows
 * ```
 */
export function loadTestSplit(name: DatasetName, path: string): LabelledText[] {
  if (name === 'banking77') return readTextCategoryCsv(path);
  const json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  return [...toLabelled(rowsOf(json, 'test', path)), ...toLabelled(rowsOf(json, 'oos_test', path))];
}

/**
 * Groups labelled rows into intent definitions; the datasets have no descriptions, so an intent's
 * name in words ("card_arrival" → "card arrival") stands in for one.
 *
 * @example
 * ```ts
 * const intents = toIntentDefinitions(data.train, data.trainOutOfScope);
 * ```
 */
export function toIntentDefinitions(train: readonly LabelledText[], outOfScope: readonly string[] = []): IntentDefinitions {
  const byIntent = new Map<string, string[]>();
  for (const row of train) {
    if (row.intent === null) continue;
    let list = byIntent.get(row.intent);
    if (!list) byIntent.set(row.intent, (list = []));
    list.push(row.text);
  }
  return {
    intents: [...byIntent].map(([name, examples]) => ({ name, description: name.replace(/[_.-]+/g, ' '), examples })),
    ...(outOfScope.length > 0 ? { outOfScopeExamples: outOfScope } : {}),
  };
}
