/**
 * A tiny schema check for tool arguments proposed by a model: declared fields only, each with a
 * type and optional bounds. Model output is hostile input; anything undeclared is refused rather
 * than passed through. Deliberately small instead of a JSON-Schema engine: tool arguments are flat
 * records, and every rule here is one the guard can explain in one sentence.
 */

/** Types a tool argument may have. */
export type ArgType = 'string' | 'number' | 'integer' | 'boolean';

/**
 * What an argument refers to, for the tool guard: `tenant` must be the caller's tenant, `user`
 * the caller (for roles that act only for themselves), `record` an id whose owner is resolved.
 */
export type ArgScope = 'tenant' | 'user' | 'record';

/** One declared argument. Required unless `optional`. */
export interface ArgSpec {
  readonly type: ArgType;
  /** Default false: an argument is required unless said otherwise. */
  readonly optional?: boolean;
  readonly enum?: readonly (string | number | boolean)[];
  /** Inclusive bounds for numbers. */
  readonly min?: number;
  readonly max?: number;
  /** Length bounds for strings; `maxLength` defaults to the validator's `maxStringLength`. */
  readonly minLength?: number;
  readonly maxLength?: number;
  /** Strings must match (anchor it: `^...$`). */
  readonly pattern?: RegExp;
  readonly scope?: ArgScope;
}

/** The declared arguments of a tool, by name. */
export type ArgSchema = Readonly<Record<string, ArgSpec>>;

/** The outcome of {@link validateArgs}. */
export type ArgCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/**
 * Checks `args` against `schema`. Reasons name the field, never echo its value (values come from
 * a model and may carry injected text into the trace).
 *
 * @example
 * ```ts
 * validateArgs({ orderId: { type: 'string', scope: 'record' } }, { orderId: 'A-1', extra: 1 });
 * // { ok: false, reason: "argument 'extra' is not declared" }
 * ```
 */
export function validateArgs(schema: ArgSchema, args: unknown, maxStringLength = 2000): ArgCheck {
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return no('arguments must be an object');
  const proto = Object.getPrototypeOf(args) as unknown;
  if (proto !== Object.prototype && proto !== null) return no('arguments must be a plain object');
  for (const name of Object.keys(args)) {
    if (!Object.hasOwn(schema, name)) return no(/^[A-Za-z_][A-Za-z0-9_]{0,39}$/.test(name) ? `argument '${name}' is not declared` : 'an undeclared argument was given');
  }
  for (const [name, spec] of Object.entries(schema)) {
    const present = Object.hasOwn(args, name) && (args as Record<string, unknown>)[name] !== undefined;
    if (!present) {
      if (spec.optional) continue;
      return no(`argument '${name}' is required`);
    }
    const problem = checkValue(spec, (args as Record<string, unknown>)[name], maxStringLength);
    if (problem) return no(`argument '${name}' ${problem}`);
  }
  return { ok: true };
}

function checkValue(spec: ArgSpec, v: unknown, maxStringLength: number): string | undefined {
  switch (spec.type) {
    case 'string': {
      if (typeof v !== 'string') return 'must be a string';
      if (v.length > (spec.maxLength ?? maxStringLength)) return 'is too long';
      if (spec.minLength !== undefined && v.length < spec.minLength) return 'is too short';
      if (spec.pattern && !spec.pattern.test(v)) return 'has the wrong format';
      break;
    }
    case 'number':
    case 'integer': {
      if (typeof v !== 'number' || !Number.isFinite(v)) return 'must be a finite number';
      if (spec.type === 'integer' && !Number.isSafeInteger(v)) return 'must be an integer';
      if (spec.min !== undefined && v < spec.min) return `must be at least ${spec.min}`;
      if (spec.max !== undefined && v > spec.max) return `must be at most ${spec.max}`;
      break;
    }
    case 'boolean':
      if (typeof v !== 'boolean') return 'must be a boolean';
      break;
    default:
      return 'has an unknown declared type';
  }
  if (spec.enum && !spec.enum.includes(v as string | number | boolean)) return 'is not one of the allowed values';
  return undefined;
}

/**
 * Checks a schema declaration itself; returns a problem or `undefined`.
 *
 * @example
 * ```ts
 * schemaProblem({ amount: { type: 'money' as never } }); // "argument 'amount' has an unknown type"
 * ```
 */
export function schemaProblem(schema: ArgSchema): string | undefined {
  if (typeof schema !== 'object' || schema === null) return 'args must be an object';
  for (const [name, spec] of Object.entries(schema)) {
    if (!['string', 'number', 'integer', 'boolean'].includes(spec?.type)) return `argument '${name}' has an unknown type`;
    if (spec.scope !== undefined && (spec.type !== 'string' || !['tenant', 'user', 'record'].includes(spec.scope))) {
      return `argument '${name}' has a scope but is not a string, or an unknown scope`;
    }
    if (spec.pattern !== undefined && (!(spec.pattern instanceof RegExp) || /[gy]/.test(spec.pattern.flags))) {
      // A g or y RegExp keeps lastIndex between calls, so test() would alternate results.
      return `argument '${name}' needs a pattern RegExp without the g or y flag`;
    }
  }
  return undefined;
}

function no(reason: string): ArgCheck {
  return { ok: false, reason };
}
