/**
 * A policy-driven {@link ToolGuard}: every tool call a model proposes is checked here, outside
 * the model, before it runs (DESIGN §5; OWASP LLM06 excessive agency). Identity comes only from
 * the session's context; arguments are hostile until validated.
 *
 * Checks, in order (the first that fails decides): identity → tool known → tool allowed in the
 * current state → role → calls per turn → session tokens → arguments → tenant and user scope →
 * record ownership → approval for high-impact calls.
 */
import { KeelError } from '../errors.js';
import type { GuardDecision, ProposedToolCall, ToolContext, ToolGuard } from '../ports.js';
import { ROLES, isValidId, type Identity, type Role, type SessionId, type TenantId } from '../types.js';
import { schemaProblem, validateArgs, type ArgSchema } from './arg-schema.js';
import { can } from './roles.js';

/** A rule that asks for a human approval: `{ arg: 'amount', above: 100 }`, or a function returning why (or `undefined`). */
export type ApprovalRule =
  | { readonly arg: string; readonly above: number }
  | ((args: Readonly<Record<string, unknown>>, identity: Identity) => string | undefined);

/** What a tool may do and who may ask for it. */
export interface ToolPolicy {
  /** Roles that may call it. No roles, no calls. */
  readonly roles: readonly Role[];
  /** Declared arguments; undeclared ones are refused. */
  readonly args: ArgSchema;
  /** Overrides the guard's `maxCallsPerTurn` for this tool. */
  readonly maxCallsPerTurn?: number;
  /** Refuse once the session has used this many LLM tokens. Overrides the guard's `maxSessionTokens`. */
  readonly maxSessionTokens?: number;
  /** High-impact calls wait for a human. */
  readonly approval?: ApprovalRule;
}

/** Resolves who owns a record in a tenant, `undefined` when there is no such record there. */
export type OwnerResolver = (tenant: TenantId, recordId: string, tool: string) => string | undefined | Promise<string | undefined>;

/** Options of {@link createToolGuard}. */
export interface ToolGuardOptions {
  /** Policies by tool name. A tool without a policy is refused. Required. */
  readonly tools: Readonly<Record<string, ToolPolicy>>;
  /** Required when a tool has a `record`-scoped argument. */
  readonly resolveOwner?: OwnerResolver;
  /** LLM tokens used so far by a session; enables the session token budget. */
  readonly sessionTokens?: (session: SessionId) => number;
  /** Tool calls allowed per turn. Default 3. */
  readonly maxCallsPerTurn?: number;
  /** Session token budget when `sessionTokens` is given. Default 100 000. */
  readonly maxSessionTokens?: number;
  /** Roles that reach only records they own; other roles reach any record of their tenant. Default `['customer']`. */
  readonly ownRecordsOnly?: readonly Role[];
  /** Raw arguments longer than this are refused by `checkCall`. Default 16 384. */
  readonly maxArgumentBytes?: number;
  /** Default `maxLength` of string arguments. Default 2000. */
  readonly maxStringLength?: number;
}

/** Defaults of {@link ToolGuardOptions}. */
export const defaultToolGuardOptions = Object.freeze({
  maxCallsPerTurn: 3,
  maxSessionTokens: 100_000,
  ownRecordsOnly: Object.freeze(['customer']) as readonly Role[],
  maxArgumentBytes: 16_384,
  maxStringLength: 2000,
});

type ResolvedToolGuardOptions = Readonly<Omit<Required<ToolGuardOptions>, 'resolveOwner' | 'sessionTokens'>> &
  Pick<ToolGuardOptions, 'resolveOwner' | 'sessionTokens'>;

/**
 * Validates guard options and every policy; throws a TypeError naming the bad option.
 *
 * @example
 * ```ts
 * resolveToolGuardOptions({ tools: { refund: { roles: ['pirate'], args: {} } } as never }); // TypeError: tools.refund.roles ...
 * ```
 */
export function resolveToolGuardOptions(options: ToolGuardOptions): ResolvedToolGuardOptions {
  const o = { ...defaultToolGuardOptions, ...Object.fromEntries(Object.entries(options ?? {}).filter(([, v]) => v !== undefined)) } as ToolGuardOptions & typeof defaultToolGuardOptions;
  if (typeof o.tools !== 'object' || o.tools === null) throw new TypeError('tools must be an object of policies');
  for (const name of ['maxCallsPerTurn', 'maxSessionTokens', 'maxArgumentBytes', 'maxStringLength'] as const) {
    if (!Number.isSafeInteger(o[name]) || o[name] < 0) throw new TypeError(`${name} must be an integer >= 0`);
  }
  if (!Array.isArray(o.ownRecordsOnly) || o.ownRecordsOnly.some((r) => !(ROLES as readonly string[]).includes(r))) throw new TypeError('ownRecordsOnly must list roles');
  if (o.resolveOwner !== undefined && typeof o.resolveOwner !== 'function') throw new TypeError('resolveOwner must be a function');
  if (o.sessionTokens !== undefined && typeof o.sessionTokens !== 'function') throw new TypeError('sessionTokens must be a function');
  for (const [tool, p] of Object.entries(o.tools)) {
    const at = `tools.${tool}`;
    if (!Array.isArray(p?.roles) || p.roles.some((r) => !(ROLES as readonly string[]).includes(r))) throw new TypeError(`${at}.roles must list roles`);
    const problem = schemaProblem(p.args);
    if (problem) throw new TypeError(`${at}.args: ${problem}`);
    if (Object.values(p.args).some((s) => s.scope === 'record') && !o.resolveOwner) throw new TypeError(`resolveOwner is required: ${at} has a record argument`);
    if (p.maxCallsPerTurn !== undefined && (!Number.isSafeInteger(p.maxCallsPerTurn) || p.maxCallsPerTurn < 0)) throw new TypeError(`${at}.maxCallsPerTurn must be an integer >= 0`);
    if (p.maxSessionTokens !== undefined && (!Number.isSafeInteger(p.maxSessionTokens) || p.maxSessionTokens < 0 || !o.sessionTokens)) {
      throw new TypeError(`${at}.maxSessionTokens needs sessionTokens and an integer >= 0`);
    }
    const a = p.approval;
    if (a !== undefined && typeof a !== 'function' && (typeof a?.arg !== 'string' || typeof a.above !== 'number' || !['number', 'integer'].includes(p.args[a.arg]?.type ?? ''))) {
      throw new TypeError(`${at}.approval must be { arg: <declared number argument>, above: number } or a function`);
    }
  }
  return Object.freeze({ ...o, ownRecordsOnly: Object.freeze([...o.ownRecordsOnly]) });
}

/** Which check decided. */
export type ToolGuardRule =
  | 'invalid_identity' | 'unknown_tool' | 'not_in_state' | 'role' | 'calls_per_turn' | 'session_tokens'
  | 'bad_arguments' | 'tenant' | 'user' | 'ownership' | 'owner_unresolved' | 'approval' | 'approver';

/** A {@link GuardDecision} with the rule that decided. */
export type ToolGuardDecision =
  | { readonly allow: true; readonly rule: 'allowed' }
  | (Extract<GuardDecision, { allow: false }> & { readonly rule: ToolGuardRule });

/** The guard, with the extras a runtime needs around the port. */
export interface PolicyToolGuard extends ToolGuard {
  check(tool: string, args: Readonly<Record<string, unknown>>, context: ToolContext): Promise<ToolGuardDecision>;
  /** Parses the model's raw arguments (size-limited JSON) and checks the call. `args` is set only when allowed. */
  checkCall(call: ProposedToolCall, context: ToolContext): Promise<{ decision: ToolGuardDecision; args?: Record<string, unknown> }>;
  /** Re-checks a call a human approved: every rule but the approval, plus the approver's right to approve. */
  checkApproved(tool: string, args: Readonly<Record<string, unknown>>, context: ToolContext, approver: Identity): Promise<ToolGuardDecision>;
}

const CODES: Readonly<Record<ToolGuardRule, Extract<GuardDecision, { allow: false }>['code']>> = {
  invalid_identity: 'forbidden',
  unknown_tool: 'tool_denied',
  not_in_state: 'tool_denied',
  role: 'tool_denied',
  calls_per_turn: 'budget_exceeded',
  session_tokens: 'budget_exceeded',
  bad_arguments: 'tool_denied',
  tenant: 'forbidden',
  user: 'forbidden',
  ownership: 'forbidden',
  owner_unresolved: 'tool_denied',
  approval: 'approval_required',
  approver: 'forbidden',
};

const ALLOWED: ToolGuardDecision = Object.freeze({ allow: true as const, rule: 'allowed' as const });

/**
 * Creates the guard.
 *
 * @example
 * ```ts
 * const guard = createToolGuard({
 *   tools: {
 *     order_status: { roles: ['customer', 'agent'], args: { orderId: { type: 'string', scope: 'record' } } },
 *     refund: {
 *       roles: ['customer'],
 *       args: { orderId: { type: 'string', scope: 'record' }, amount: { type: 'number', min: 0 } },
 *       approval: { arg: 'amount', above: 100 },
 *     },
 *   },
 *   resolveOwner: (tenant, orderId) => orders.ownerOf(tenant, orderId),
 * });
 * await guard.check('refund', { orderId: 'A-1', amount: 250 }, context); // { allow: false, code: 'approval_required', ... }
 * ```
 */
export function createToolGuard(options: ToolGuardOptions): PolicyToolGuard {
  const o = resolveToolGuardOptions(options);

  const run = async (tool: string, args: Readonly<Record<string, unknown>>, context: ToolContext, approver?: Identity): Promise<ToolGuardDecision> => {
    const identity = context?.identity;
    if (!isIdentity(identity)) return deny('invalid_identity', 'the session has no valid identity');
    if (typeof tool !== 'string' || !Object.hasOwn(o.tools, tool)) return deny('unknown_tool', 'no such tool');
    const policy = o.tools[tool] as ToolPolicy;
    if (!Array.isArray(context.allowedTools) || !context.allowedTools.includes(tool)) {
      return deny('not_in_state', `tool '${tool}' is not allowed in the current state`);
    }
    if (!policy.roles.includes(identity.role)) return deny('role', `role '${identity.role}' may not call '${tool}'`);
    const maxCalls = policy.maxCallsPerTurn ?? o.maxCallsPerTurn;
    if (!(context.callsThisTurn < maxCalls)) return deny('calls_per_turn', `at most ${maxCalls} tool calls per turn`);
    if (o.sessionTokens) {
      const budget = policy.maxSessionTokens ?? o.maxSessionTokens;
      const used = o.sessionTokens(context.session);
      if (!(used < budget)) return deny('session_tokens', `the session used its budget of ${budget} LLM tokens`);
    }
    const checked = validateArgs(policy.args, args, o.maxStringLength);
    if (!checked.ok) return deny('bad_arguments', checked.reason);

    const ownOnly = o.ownRecordsOnly.includes(identity.role);
    for (const [name, spec] of Object.entries(policy.args)) {
      const value = args[name];
      if (spec.scope === undefined || value === undefined) continue;
      if (spec.scope === 'tenant' && value !== identity.tenant) return deny('tenant', `argument '${name}' names another tenant`);
      if (spec.scope === 'user' && (ownOnly ? value !== identity.user : !isValidId(value))) return deny('user', `argument '${name}' names another user`);
      if (spec.scope === 'record') {
        let owner: string | undefined;
        try {
          owner = await (o.resolveOwner as OwnerResolver)(identity.tenant, value as string, tool);
        } catch {
          // Fail closed: a record whose owner cannot be checked is not touched.
          return deny('owner_unresolved', `the owner of argument '${name}' could not be checked`);
        }
        // One message for "no such record" and "someone else's": no oracle for guessing ids.
        if (owner === undefined || (ownOnly && owner !== identity.user)) return deny('ownership', `argument '${name}' is not a record this user may access`);
      }
    }

    if (approver !== undefined) {
      if (!isIdentity(approver) || !can(approver, 'tool.approve', { tenant: identity.tenant }) || (approver.user === identity.user && approver.tenant === identity.tenant)) {
        return deny('approver', 'the approver may not approve this call');
      }
      return ALLOWED;
    }
    const why = approvalNeeded(policy.approval, args, identity);
    if (why !== undefined) return deny('approval', why);
    return ALLOWED;
  };

  return Object.freeze({
    check: (tool: string, args: Readonly<Record<string, unknown>>, context: ToolContext) => run(tool, args, context),
    checkApproved: (tool: string, args: Readonly<Record<string, unknown>>, context: ToolContext, approver: Identity) => run(tool, args, context, approver),
    async checkCall(call: ProposedToolCall, context: ToolContext) {
      const raw = call?.arguments;
      if (typeof raw !== 'string' || Buffer.byteLength(raw) > o.maxArgumentBytes) {
        return { decision: deny('bad_arguments', `arguments must be JSON of at most ${o.maxArgumentBytes} bytes`) };
      }
      let args: unknown;
      try {
        args = raw.trim() === '' ? {} : JSON.parse(raw);
      } catch {
        return { decision: deny('bad_arguments', 'arguments are not valid JSON') };
      }
      if (typeof args !== 'object' || args === null || Array.isArray(args)) return { decision: deny('bad_arguments', 'arguments must be an object') };
      const decision = await run(call.name, args as Record<string, unknown>, context);
      return decision.allow ? { decision, args: args as Record<string, unknown> } : { decision };
    },
  });
}

/**
 * The KeelError for a refusal, to throw or send to a client.
 *
 * @example
 * ```ts
 * const decision = await guard.check(tool, args, context);
 * if (!decision.allow) throw guardError(decision);
 * ```
 */
export function guardError(decision: Extract<ToolGuardDecision, { allow: false }>): KeelError {
  return new KeelError(decision.code, decision.reason, { details: { rule: decision.rule } });
}

function approvalNeeded(rule: ApprovalRule | undefined, args: Readonly<Record<string, unknown>>, identity: Identity): string | undefined {
  if (rule === undefined) return undefined;
  if (typeof rule === 'function') {
    try {
      return rule(args, identity);
    } catch {
      // Fail closed: when the rule cannot decide, a human does.
      return 'the approval rule failed; a human must approve';
    }
  }
  const value = args[rule.arg];
  return typeof value === 'number' && value > rule.above ? `'${rule.arg}' above ${rule.above} needs a human approval` : undefined;
}

function deny(rule: ToolGuardRule, reason: string): ToolGuardDecision {
  return Object.freeze({ allow: false as const, code: CODES[rule], reason, rule });
}

function isIdentity(i: unknown): i is Identity {
  const x = i as Partial<Identity> | null | undefined;
  return typeof x === 'object' && x !== null && isValidId(x.tenant) && isValidId(x.user) && typeof x.role === 'string' && (ROLES as readonly string[]).includes(x.role);
}
