/**
 * Role scopes, deny by default: a permission is granted only to the roles listed for it, and a
 * permission ending in `.own` additionally needs the resource to belong to the caller. Every check
 * also enforces the tenant boundary: no role reaches another tenant's resources.
 */
import { KeelError } from '../errors.js';
import { ROLES, isValidId, type Identity, type Role } from '../types.js';

/**
 * The permission table: permission → roles granted. Anything not listed is denied.
 *
 * - customer: opens and reads only their own sessions and records; may ask to be forgotten.
 * - agent (human): takes hand-offs and reads the unredacted transcript of those; approves tools.
 * - engineer: sees redacted data (inspector, events, metrics) and verifies the audit chain.
 * - admin: everything an engineer sees, plus erasure, configuration, signals and tokens; still
 *   sees redacted data (erasing a user needs no reading of their messages).
 */
export const PERMISSIONS = Object.freeze({
  'session.open.own': ['customer'],
  'session.read.own': ['customer'],
  'record.read.own': ['customer'],
  'user.forget.own': ['customer'],
  'handoff.take': ['agent'],
  'handoff.read': ['agent'],
  'pii.view': ['agent'],
  'tool.approve': ['agent', 'admin'],
  'session.read.any': ['engineer', 'admin'],
  'inspector.view': ['engineer', 'admin'],
  'events.read': ['engineer', 'admin'],
  'metrics.read': ['engineer', 'admin'],
  'audit.verify': ['engineer', 'admin'],
  'audit.read': ['admin'],
  'inspector.signal': ['admin'],
  'user.forget': ['admin'],
  'tenant.erase': ['admin'],
  'config.change': ['admin'],
  'token.issue': ['admin'],
} as const satisfies Record<string, readonly Role[]>);

/** One permission of {@link PERMISSIONS}. */
export type Permission = keyof typeof PERMISSIONS;

/** What a permission is checked against: the resource's tenant and, for `.own`, its owner. */
export interface ResourceRef {
  readonly tenant: string;
  /** The user who owns the resource (session, order, memory), when it has one. */
  readonly owner?: string;
}

/** The outcome of a check: `allowed`, or which rule refused. */
export type PermissionVerdict = 'allowed' | 'unknown_permission' | 'invalid_identity' | 'role' | 'tenant' | 'ownership';

/**
 * Explains whether `identity` has `permission` on `resource`, naming the rule that refused.
 *
 * @example
 * ```ts
 * checkPermission(customer, 'session.read.own', { tenant: 'acme', owner: 'u-7' }); // 'ownership'
 * ```
 */
export function checkPermission(identity: Identity, permission: Permission, resource?: ResourceRef): PermissionVerdict {
  if (!Object.hasOwn(PERMISSIONS, permission)) return 'unknown_permission';
  if (!isIdentity(identity)) return 'invalid_identity';
  const roles: readonly Role[] = PERMISSIONS[permission];
  if (!roles.includes(identity.role)) return 'role';
  if (resource !== undefined && resource.tenant !== identity.tenant) return 'tenant';
  if (permission.endsWith('.own') && (resource === undefined || resource.owner === undefined || resource.owner !== identity.user)) {
    return 'ownership';
  }
  return 'allowed';
}

/**
 * True when `identity` has `permission` (on `resource`, when given). Deny by default: unknown
 * permissions, invalid identities, other tenants and, for `.own`, other owners are refused.
 *
 * @example
 * ```ts
 * if (can(identity, 'inspector.view')) serveInspector();
 * can(customer, 'session.open.own', { tenant: customer.tenant, owner: customer.user }); // true
 * ```
 */
export function can(identity: Identity, permission: Permission, resource?: ResourceRef): boolean {
  return checkPermission(identity, permission, resource) === 'allowed';
}

/**
 * Throws a KeelError `forbidden` unless `identity` has `permission` on `resource`. The message
 * names the role and permission, never the resource's owner.
 *
 * @example
 * ```ts
 * assertCan(identity, 'user.forget'); // KeelError forbidden: role 'engineer' may not 'user.forget'
 * ```
 */
export function assertCan(identity: Identity, permission: Permission, resource?: ResourceRef): void {
  const verdict = checkPermission(identity, permission, resource);
  if (verdict === 'allowed') return;
  const role = isIdentity(identity) ? identity.role : 'unknown';
  const why: Record<Exclude<PermissionVerdict, 'allowed'>, string> = {
    unknown_permission: `unknown permission '${String(permission)}'`,
    invalid_identity: 'the identity is not valid',
    role: `role '${role}' may not '${permission}'`,
    tenant: `'${permission}' is refused: the resource belongs to another tenant`,
    ownership: `'${permission}' is refused: the resource belongs to another user`,
  };
  throw new KeelError('forbidden', why[verdict], { details: { permission, role, rule: verdict } });
}

/**
 * The permissions a role holds, for documentation and the inspector.
 *
 * @example
 * ```ts
 * permissionsOf('engineer'); // ['session.read.any', 'inspector.view', ...]
 * ```
 */
export function permissionsOf(role: Role): readonly Permission[] {
  return (Object.keys(PERMISSIONS) as Permission[]).filter((p) => (PERMISSIONS[p] as readonly Role[]).includes(role));
}

/**
 * Whether what `identity` sees of other people's text must be redacted (everyone without `pii.view`).
 *
 * @example
 * ```ts
 * const shown = seesRedactedData(identity) ? redactor.value(event) : event;
 * ```
 */
export function seesRedactedData(identity: Identity): boolean {
  return !can(identity, 'pii.view');
}

function isIdentity(identity: unknown): identity is Identity {
  const i = identity as Partial<Identity> | null | undefined;
  return (
    typeof i === 'object' && i !== null &&
    isValidId(i.tenant) && isValidId(i.user) &&
    typeof i.role === 'string' && (ROLES as readonly string[]).includes(i.role)
  );
}
