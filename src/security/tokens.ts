/**
 * Signed session tokens (JWT, HS256, via `jose`): who is acting (tenant, user, role) until when.
 * Every connection presents one; nothing in keel is anonymous (DESIGN §5).
 */
import { SignJWT, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import { KeelError } from '../errors.js';
import { systemClock } from '../clock.js';
import type { Clock } from '../ports.js';
import { ROLES, isValidId, type Identity, type Role, type TenantId, type UserId } from '../types.js';
import type { TokenKeyring } from './token-keyring.js';

/**
 * Why a token was refused; also in the KeelError's `details.reason`. `bad_algorithm` covers
 * `alg: none` and every algorithm but HS256 (so an RS/HS confusion cannot happen);
 * `wrong_issuer` and `wrong_audience` name tokens made for another service.
 */
export type TokenFailure =
  | 'missing' | 'malformed' | 'bad_algorithm' | 'bad_signature' | 'unknown_key' | 'expired' | 'not_yet_valid'
  | 'wrong_issuer' | 'wrong_audience' | 'invalid_claims';

/** An identity read from a verified token, with the facts a server needs to keep it honest. */
export interface VerifiedIdentity extends Identity {
  /** When the token expires (ms since the epoch); a server closes the connection then. */
  readonly expiresAt: number;
  /** The key that signed it. */
  readonly kid: string;
}

/** What a token says; `ttlMs` defaults to the service's `defaultTtlMs`. */
export interface TokenClaims {
  readonly tenant: string;
  readonly user: string;
  readonly role: Role;
  readonly ttlMs?: number;
}

/** Issues and verifies tokens against one keyring. */
export interface TokenService {
  /** Signs a token with the keyring's current key. Throws TypeError for bad claims. */
  issueToken(claims: TokenClaims): Promise<string>;
  /** The identity in `token`, or a KeelError `unauthorized` whose message says what is wrong. */
  verifyToken(token: string | null | undefined): Promise<VerifiedIdentity>;
}

/** Options of {@link createTokenService}. */
export interface TokenServiceOptions {
  readonly keyring: TokenKeyring;
  /** Default {@link systemClock}. */
  readonly clock?: Clock;
  /** `iss` claim written and required. Default `'keel'`. */
  readonly issuer?: string;
  /** `aud` claim written and required: a token made for another service is refused. Default `'keel'`. */
  readonly audience?: string;
  /** TTL when a caller gives none. Default 1 hour. */
  readonly defaultTtlMs?: number;
  /** Longest TTL `issueToken` accepts. Default 30 days. */
  readonly maxTtlMs?: number;
  /** Clock skew tolerated on `exp` between hosts. Default 5 seconds. */
  readonly clockToleranceMs?: number;
  /** Longer strings are refused unparsed. Default 4096. */
  readonly maxTokenBytes?: number;
}

/** Defaults of {@link TokenServiceOptions}. */
export const defaultTokenOptions: Readonly<{ issuer: string; audience: string; defaultTtlMs: number; maxTtlMs: number; clockToleranceMs: number; maxTokenBytes: number }> = Object.freeze({
  issuer: 'keel',
  audience: 'keel',
  defaultTtlMs: 60 * 60 * 1000,
  maxTtlMs: 30 * 24 * 60 * 60 * 1000,
  clockToleranceMs: 5_000,
  maxTokenBytes: 4096,
});

type ResolvedTokenOptions = Readonly<Required<Omit<TokenServiceOptions, 'clock'>> & { clock: Clock }>;

/**
 * Validates token service options; throws a TypeError naming the bad option.
 *
 * @example
 * ```ts
 * resolveTokenOptions({ keyring, defaultTtlMs: 0 }); // TypeError: defaultTtlMs ...
 * ```
 */
export function resolveTokenOptions(options: TokenServiceOptions): ResolvedTokenOptions {
  const o = { ...defaultTokenOptions, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as TokenServiceOptions & typeof defaultTokenOptions;
  if (typeof o.keyring?.current !== 'function' || typeof o.keyring.find !== 'function') throw new TypeError('keyring must be a TokenKeyring');
  if (typeof o.issuer !== 'string' || o.issuer === '') throw new TypeError('issuer must be a non-empty string');
  if (typeof o.audience !== 'string' || o.audience === '') throw new TypeError('audience must be a non-empty string');
  for (const name of ['defaultTtlMs', 'maxTtlMs', 'maxTokenBytes'] as const) {
    if (!Number.isSafeInteger(o[name]) || o[name] <= 0) throw new TypeError(`${name} must be a positive integer`);
  }
  if (!Number.isSafeInteger(o.clockToleranceMs) || o.clockToleranceMs < 0) throw new TypeError('clockToleranceMs must be an integer >= 0');
  if (o.defaultTtlMs > o.maxTtlMs) throw new TypeError('defaultTtlMs must not exceed maxTtlMs');
  return Object.freeze({ ...o, clock: options.clock ?? systemClock });
}

/**
 * Creates a token service.
 *
 * @example
 * ```ts
 * const tokens = createTokenService({ keyring: createTokenKeyring({ dir: '.keel' }) });
 * const token = await tokens.issueToken({ tenant: 'acme', user: 'u-42', role: 'customer', ttlMs: parseTtlMs('1h') });
 * const who = await tokens.verifyToken(token); // { tenant: 'acme', user: 'u-42', role: 'customer', ... }
 * ```
 */
export function createTokenService(options: TokenServiceOptions): TokenService {
  const o = resolveTokenOptions(options);
  return Object.freeze({
    async issueToken(claims: TokenClaims): Promise<string> {
      if (!isValidId(claims.tenant)) throw new TypeError('tenant must be a valid id');
      if (!isValidId(claims.user)) throw new TypeError('user must be a valid id');
      if (!(ROLES as readonly string[]).includes(claims.role)) throw new TypeError(`role must be one of ${ROLES.join(', ')}`);
      const ttlMs = claims.ttlMs ?? o.defaultTtlMs;
      if (!Number.isSafeInteger(ttlMs) || ttlMs < 1000 || ttlMs > o.maxTtlMs) {
        throw new TypeError(`ttlMs must be an integer between 1000 and ${o.maxTtlMs}`);
      }
      const key = o.keyring.current();
      const nowS = Math.floor(o.clock.now() / 1000);
      return new SignJWT({ tenant: claims.tenant, role: claims.role })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: key.kid })
        .setSubject(claims.user)
        .setIssuer(o.issuer)
        .setAudience(o.audience)
        .setIssuedAt(nowS)
        .setExpirationTime(nowS + Math.ceil(ttlMs / 1000))
        .sign(await key.cryptoKey());
    },

    async verifyToken(token: string | null | undefined): Promise<VerifiedIdentity> {
      if (token === undefined || token === null || token === '') throw refused('missing', 'no token was presented');
      if (typeof token !== 'string' || token.length > o.maxTokenBytes) throw refused('malformed', 'the token is not a compact JWT of acceptable size');
      let kid: unknown;
      try {
        const header = decodeProtectedHeader(token);
        // Decided before any key is touched: `none`, RS256/ES256 (a public key misused as an HMAC
        // secret) and other HMAC sizes never reach signature verification.
        if (header.alg !== 'HS256') throw refused('bad_algorithm', `the token uses algorithm ${printable(header.alg)}; only HS256 is accepted`);
        kid = header.kid;
      } catch (err) {
        if (err instanceof KeelError) throw err;
        throw refused('malformed', 'the token is not a compact JWT', err);
      }
      if (typeof kid !== 'string' || kid === '') throw refused('malformed', 'the token header names no key (kid)');
      const key = o.keyring.find(kid);
      if (!key) throw refused('unknown_key', 'the token was signed by an unknown or retired key');
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(token, await key.cryptoKey(), {
          algorithms: ['HS256'],
          issuer: o.issuer,
          audience: o.audience,
          currentDate: new Date(o.clock.now()),
          clockTolerance: Math.floor(o.clockToleranceMs / 1000),
          requiredClaims: ['exp', 'iat', 'sub'],
        }));
      } catch (err) {
        throw translateJoseError(err);
      }
      return identityFrom(payload, kid);
    },
  });
}

function identityFrom(payload: Record<string, unknown>, kid: string): VerifiedIdentity {
  const { tenant, sub, role, exp } = payload;
  if (!isValidId(tenant)) throw refused('invalid_claims', 'the token has no valid tenant claim');
  if (!isValidId(sub)) throw refused('invalid_claims', 'the token has no valid subject (user) claim');
  if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) {
    throw refused('invalid_claims', `the token's role is not one of ${ROLES.join(', ')}`);
  }
  return Object.freeze({
    tenant: tenant as TenantId,
    user: sub as UserId,
    role: role as Role,
    expiresAt: (exp as number) * 1000,
    kid,
  });
}

function translateJoseError(err: unknown): KeelError {
  if (err instanceof joseErrors.JWTExpired) return refused('expired', 'the token has expired', err);
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return refused('bad_signature', 'the token signature does not verify', err);
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return refused('wrong_issuer', 'the token was not issued by this service (iss)', err);
    if (err.claim === 'aud') return refused('wrong_audience', 'the token is not meant for this service (aud)', err);
    if (err.claim === 'nbf') return refused('not_yet_valid', 'the token is not valid yet', err);
    return refused('invalid_claims', `the token's ${printable(err.claim)} claim is invalid`, err);
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return refused('bad_algorithm', 'the token algorithm is not accepted', err);
  return refused('malformed', 'the token could not be parsed', err);
}

/** A header or claim value as it may appear in a message: short, printable, never the token itself. */
function printable(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 20);
}

function refused(reason: TokenFailure, message: string, cause?: unknown): KeelError<'unauthorized'> {
  return new KeelError('unauthorized', `unauthorized: ${message}`, { details: { reason }, ...(cause === undefined ? {} : { cause }) });
}

const TTL_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * Parses a duration such as `'30s'`, `'15m'`, `'1h'`, `'7d'`, `'2w'` or `'1h30m'` into milliseconds
 * (for the CLI's `--ttl`). Throws a TypeError for anything else, including zero.
 *
 * @example
 * ```ts
 * parseTtlMs('1h');    // 3_600_000
 * parseTtlMs('1h30m'); // 5_400_000
 * ```
 */
export function parseTtlMs(text: string): number {
  const bad = (): never => {
    throw new TypeError(`invalid ttl ${JSON.stringify(text)}: expected e.g. 30s, 15m, 1h, 7d`);
  };
  if (typeof text !== 'string' || !/^(?:\d{1,9}(?:ms|s|m|h|d|w))+$/.test(text.trim())) bad();
  let total = 0;
  for (const [, amount, unit] of text.trim().matchAll(/(\d+)(ms|s|m|h|d|w)/g)) {
    total += Number(amount) * (TTL_UNITS[unit as string] as number);
  }
  if (total <= 0 || !Number.isSafeInteger(total)) bad();
  return total;
}
