/**
 * Reads the LLM failover chain from the environment into a validated, frozen config. API keys
 * stay out of every printed form: JSON, `util.inspect`, spreads.
 */
import { inspect } from 'node:util';

/** One endpoint of the chain. `apiKey` is present but not enumerable and never serialised. */
export interface LlmEndpointConfig {
  /** `<host>/<model>`, made unique with `#2`, `#3`... Used in decisions, metrics and status. */
  readonly name: string;
  readonly baseURL: string;
  readonly model: string;
  /** The bearer key; `''` when the endpoint needs none. */
  readonly apiKey: string;
  /** Where the key came from (an env var name), for diagnostics; never the key itself. */
  readonly apiKeySource: string | null;
  toJSON(): Record<string, string | null>;
}

/** The LLM configuration: an empty chain means "local provider only". */
export interface LlmConfig {
  readonly chain: readonly LlmEndpointConfig[];
  readonly localOnly: boolean;
  toJSON(): { chain: Record<string, string | null>[]; localOnly: boolean };
}

/** The environment variables read, and their defaults. */
export const LLM_ENV = Object.freeze({
  baseURL: 'OPENAI_BASE_URL',
  apiKey: 'OPENAI_API_KEY',
  model: 'KEEL_MODEL',
  chain: 'KEEL_LLM_CHAIN',
});

/** Endpoint used when only `OPENAI_API_KEY` is set. */
export const DEFAULT_OPENAI_BASE_URL = 'https://api.openai.com/v1';
/** Model used when `KEEL_MODEL` is not set. */
export const DEFAULT_MODEL = 'gpt-4o-mini';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

interface RawEndpoint {
  readonly baseURL: unknown;
  readonly model: unknown;
  readonly apiKeyEnv?: unknown;
  readonly name?: unknown;
}

/**
 * Reads the chain from `env` (default `process.env`):
 *
 * 1. The primary endpoint, when `OPENAI_BASE_URL` or `OPENAI_API_KEY` is set: `OPENAI_BASE_URL`
 *    (default `https://api.openai.com/v1`), key `OPENAI_API_KEY` (default none), model
 *    `KEEL_MODEL` (default `gpt-4o-mini`).
 * 2. Then the fallbacks of `KEEL_LLM_CHAIN`, in order, in either form:
 *    - comma-separated `baseURL|model[|KEY_ENV]` entries:
 *      `KEEL_LLM_CHAIN=https://api.groq.com/openai/v1|llama-3.1-8b-instant|GROQ_API_KEY,http://127.0.0.1:11434/v1|qwen2.5`
 *    - a JSON array of such strings or of objects `{ "baseURL", "model", "apiKeyEnv"?, "name"? }`.
 *
 *    Keys are referenced by the name of the env var holding them, never written inline, so the
 *    chain variable itself is safe to print. A fallback without `KEY_ENV` sends no key: the
 *    primary's key never goes to another host by accident.
 *
 * Nothing configured gives an empty chain: the local provider answers everything. A bad value
 * throws a TypeError naming the variable (and entry), never echoing a key.
 *
 * @example
 * ```ts
 * const config = readLlmConfig({ OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1', KEEL_MODEL: 'qwen2.5' });
 * config.chain[0]?.name; // '127.0.0.1:11434/qwen2.5'
 * JSON.stringify(config); // apiKey shows as '[redacted]' (or '' when none)
 * ```
 */
export function readLlmConfig(env: Readonly<Record<string, string | undefined>> = process.env): LlmConfig {
  const get = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const endpoints: Omit<LlmEndpointConfig, 'name' | 'toJSON'>[] = [];
  const names: (string | undefined)[] = [];

  const baseURL = get(LLM_ENV.baseURL);
  const primaryKey = get(LLM_ENV.apiKey);
  if (baseURL !== undefined || primaryKey !== undefined) {
    endpoints.push({
      baseURL: checkURL(baseURL ?? DEFAULT_OPENAI_BASE_URL, LLM_ENV.baseURL),
      model: checkModel(get(LLM_ENV.model) ?? DEFAULT_MODEL, LLM_ENV.model),
      apiKey: primaryKey ?? '',
      apiKeySource: primaryKey === undefined ? null : LLM_ENV.apiKey,
    });
    names.push(undefined);
  }

  const chain = get(LLM_ENV.chain);
  if (chain !== undefined) {
    parseChain(chain).forEach((raw, index) => {
      const where = `${LLM_ENV.chain}[${index}]`;
      const keyEnv = raw.apiKeyEnv;
      if (keyEnv !== undefined && (typeof keyEnv !== 'string' || !ENV_NAME.test(keyEnv))) {
        throw new TypeError(`invalid ${where}: apiKeyEnv must name an environment variable`);
      }
      const apiKey = keyEnv === undefined ? '' : get(keyEnv);
      if (apiKey === undefined) throw new TypeError(`invalid ${where}: ${String(keyEnv)} is not set`);
      if (raw.name !== undefined && (typeof raw.name !== 'string' || raw.name.trim() === '')) {
        throw new TypeError(`invalid ${where}: name must be a non-empty string`);
      }
      endpoints.push({
        baseURL: checkURL(raw.baseURL, `${where}.baseURL`),
        model: checkModel(raw.model, `${where}.model`),
        apiKey,
        apiKeySource: keyEnv === undefined ? null : (keyEnv as string),
      });
      names.push(raw.name as string | undefined);
    });
  }

  const used = new Set<string>();
  const frozen = endpoints.map((endpoint, index) => {
    const base = names[index] ?? `${new URL(endpoint.baseURL).host}/${endpoint.model}`;
    let name = base;
    for (let n = 2; used.has(name); n++) name = `${base}#${n}`;
    used.add(name);
    return endpointConfig({ ...endpoint, name });
  });

  const config: LlmConfig = {
    chain: Object.freeze(frozen),
    localOnly: frozen.length === 0,
    toJSON: () => ({ chain: frozen.map((e) => e.toJSON()), localOnly: frozen.length === 0 }),
  };
  Object.defineProperty(config, inspect.custom, { value: () => config.toJSON() });
  return Object.freeze(config);
}

function endpointConfig(fields: Omit<LlmEndpointConfig, 'toJSON'>): LlmEndpointConfig {
  const redacted = () => ({
    name: fields.name,
    baseURL: fields.baseURL,
    model: fields.model,
    apiKey: fields.apiKey === '' ? '' : '[redacted]',
    apiKeySource: fields.apiKeySource,
  });
  const endpoint = {
    name: fields.name,
    baseURL: fields.baseURL,
    model: fields.model,
    apiKeySource: fields.apiKeySource,
    toJSON: redacted,
  };
  // Not enumerable: `{ ...endpoint }`, Object.entries and loggers walking own keys never see it.
  Object.defineProperty(endpoint, 'apiKey', { value: fields.apiKey, enumerable: false });
  Object.defineProperty(endpoint, inspect.custom, { value: redacted });
  return Object.freeze(endpoint) as unknown as LlmEndpointConfig;
}

function parseChain(text: string): RawEndpoint[] {
  if (text.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new TypeError(`invalid ${LLM_ENV.chain}: not valid JSON`);
    }
    if (!Array.isArray(parsed)) throw new TypeError(`invalid ${LLM_ENV.chain}: expected a JSON array`);
    return parsed.map((item, index) => {
      if (typeof item === 'string') return parseEntry(item, index);
      if (typeof item !== 'object' || item === null || Array.isArray(item)) {
        throw new TypeError(`invalid ${LLM_ENV.chain}[${index}]: expected "baseURL|model[|KEY_ENV]" or an object`);
      }
      if ('apiKey' in item) {
        throw new TypeError(`invalid ${LLM_ENV.chain}[${index}]: put the key in its own variable and name it with apiKeyEnv`);
      }
      return item as RawEndpoint;
    });
  }
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map(parseEntry);
}

function parseEntry(entry: string, index: number): RawEndpoint {
  const parts = entry.split('|').map((part) => part.trim());
  if (parts.length < 2 || parts.length > 3) {
    throw new TypeError(`invalid ${LLM_ENV.chain}[${index}]: expected "baseURL|model[|KEY_ENV]"`);
  }
  const [baseURL, model, apiKeyEnv] = parts;
  return { baseURL, model, ...(apiKeyEnv === undefined || apiKeyEnv === '' ? {} : { apiKeyEnv }) };
}

function checkURL(value: unknown, where: string): string {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw new TypeError(`invalid ${where}: expected an absolute http(s) URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`invalid ${where}: expected an http(s) URL`);
  // Credentials in a URL end up in logs and decision traces; keys go in their own variable.
  if (url.username !== '' || url.password !== '') throw new TypeError(`invalid ${where}: the URL must not carry credentials`);
  return String(value).replace(/\/+$/, '');
}

function checkModel(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new TypeError(`invalid ${where}: expected a model id`);
  return value.trim();
}
