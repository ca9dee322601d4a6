/**
 * Reply templates: a string with `{{path.to.value}}` placeholders, or a pure function of the
 * variables. Replies stay grounded because a template can only say what the data holds.
 */

/** Variables a template sees (slots, facts, tool result, task title, pattern data...). */
export type TemplateVars = Readonly<Record<string, unknown>>;

/**
 * A reply template.
 *
 * @example
 * ```ts
 * const t: Template = 'Order {{slots.orderId}} is {{result.status}}.';
 * const f: Template = (v) => `You have ${(v.result as { count: number }).count} orders.`;
 * ```
 */
export type Template = string | ((vars: TemplateVars) => string);

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_.]+)\s*\}\}/g;

/**
 * The value at a dotted path of the variables (`undefined` when any part is missing): what a
 * `{{path}}` placeholder shows, for function templates that need the raw value.
 *
 * @example
 * ```ts
 * valueAt({ slots: { orderId: '1042' } }, 'slots.orderId'); // '1042'
 * ```
 */
export function valueAt(vars: TemplateVars, path: string): unknown {
  let value: unknown = vars;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function show(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.map(show).join(', ');
  return JSON.stringify(value);
}

/**
 * Renders a template; a missing value renders as an empty string, and a throwing function
 * template renders `fallback` so that a bad template never breaks a turn.
 *
 * @example
 * ```ts
 * renderTemplate('Hi {{name}}!', { name: 'Ada' }); // 'Hi Ada!'
 * ```
 */
export function renderTemplate(template: Template, vars: TemplateVars, fallback = ''): string {
  if (typeof template === 'function') {
    try {
      const out = template(vars);
      return typeof out === 'string' ? out : fallback;
    } catch {
      return fallback;
    }
  }
  return template.replace(PLACEHOLDER, (_m, path: string) => show(valueAt(vars, path))).replace(/[ \t]{2,}/g, ' ').trim();
}
