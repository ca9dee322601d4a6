/**
 * Shared value types: branded ids that must never be mixed, identities and roles.
 */

declare const brand: unique symbol;
/** A string that the type system keeps apart from other strings. */
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Identifies one conversation session. */
export type SessionId = Brand<string, 'SessionId'>;
/** Identifies a tenant: an organisation whose data never mixes with another's. */
export type TenantId = Brand<string, 'TenantId'>;
/** Identifies a user inside one tenant. */
export type UserId = Brand<string, 'UserId'>;

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

/** True when `value` is usable as a tenant, user or session id (1-128 safe characters). */
export function isValidId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

function brandId<B extends string>(kind: B, value: string): Brand<string, B> {
  if (!isValidId(value)) throw new TypeError(`invalid ${kind}: expected 1-128 characters [A-Za-z0-9._:@-]`);
  return value as Brand<string, B>;
}

/** Validates and brands a session id. @example `sessionId('s-1')` */
export const sessionId = (value: string): SessionId => brandId('SessionId', value) as SessionId;
/** Validates and brands a tenant id. @example `tenantId('acme')` */
export const tenantId = (value: string): TenantId => brandId('TenantId', value) as TenantId;
/** Validates and brands a user id. @example `userId('u-42')` */
export const userId = (value: string): UserId => brandId('UserId', value) as UserId;

/** Roles, least to most privileged. Deny by default: a role reaches only what is granted to it. */
export const ROLES = ['customer', 'agent', 'engineer', 'admin'] as const;
/** One of {@link ROLES}. */
export type Role = (typeof ROLES)[number];

/** Who is acting: always taken from a verified token or the embedding program, never from message text. */
export interface Identity {
  readonly tenant: TenantId;
  readonly user: UserId;
  readonly role: Role;
}

/** The channel a session was opened on (`web`, `ws`, `cli`, `desktop`, ...). */
export type Channel = string;

/** A JSON-serialisable value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
