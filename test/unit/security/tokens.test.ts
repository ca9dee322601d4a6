import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { SignJWT, exportSPKI, generateKeyPair } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createManualClock, type ManualClock } from '../../../src/clock.js';
import { KeelError } from '../../../src/errors.js';
import { createRedactor } from '../../../src/security/redact.js';
import { createTokenKeyring, type TokenKeyring } from '../../../src/security/token-keyring.js';
import { createTokenService, parseTtlMs, type TokenFailure, type TokenService } from '../../../src/security/tokens.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2025, 0, 1);

async function refusal(p: Promise<unknown>): Promise<{ reason: TokenFailure; message: string }> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(KeelError);
    const e = err as KeelError;
    expect(e.code).toBe('unauthorized');
    return { reason: e.details?.reason as TokenFailure, message: e.message };
  }
  throw new Error('expected the token to be refused');
}

describe('token keyring and tokens', () => {
  let dir: string;
  let clock: ManualClock;
  let keyring: TokenKeyring;
  let tokens: TokenService;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keel-tokens-'));
    clock = createManualClock(T0);
    keyring = createTokenKeyring({ dir, clock, env: {}, graceMs: 24 * HOUR });
    tokens = createTokenService({ keyring, clock });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips an identity and creates the key file with mode 0600 on first use', async () => {
    const token = await tokens.issueToken({ tenant: 'acme', user: 'u-42', role: 'customer', ttlMs: HOUR });
    const who = await tokens.verifyToken(token);
    expect(who).toMatchObject({ tenant: 'acme', user: 'u-42', role: 'customer', expiresAt: T0 + HOUR, kid: keyring.current().kid });
    const file = join(dir, 'token-keys.json');
    if (process.platform !== 'win32') expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a second keyring on the same directory verifies tokens of the first (the CLI and the server)', async () => {
    const token = await tokens.issueToken({ tenant: 'acme', user: 'u-1', role: 'agent' });
    const other = createTokenService({ keyring: createTokenKeyring({ dir, clock, env: {} }), clock });
    await expect(other.verifyToken(token)).resolves.toMatchObject({ user: 'u-1', role: 'agent' });
  });

  it('never prints a secret through JSON, inspect or the key file name', async () => {
    const key = keyring.current();
    const secret = JSON.parse(readFileSync(join(dir, 'token-keys.json'), 'utf8')).keys[0].secret as string;
    expect(secret.length).toBeGreaterThanOrEqual(43);
    for (const shown of [JSON.stringify(key), inspect(key), inspect(keyring, { depth: 5 }), JSON.stringify(keyring.keys()), String(key)]) {
      expect(shown).not.toContain(secret);
      expect(shown).not.toContain(Buffer.from(secret, 'base64url').toString('hex'));
    }
    expect(inspect(key)).toContain('<hidden>');
  });

  it('tells missing, malformed, bad signature, unknown key, expired and invalid claims apart', async () => {
    const good = await tokens.issueToken({ tenant: 'acme', user: 'u-1', role: 'customer', ttlMs: HOUR });
    expect((await refusal(tokens.verifyToken(undefined))).reason).toBe('missing');
    expect((await refusal(tokens.verifyToken(''))).reason).toBe('missing');
    expect((await refusal(tokens.verifyToken('not-a-jwt'))).reason).toBe('malformed');
    expect((await refusal(tokens.verifyToken('x'.repeat(10_000)))).reason).toBe('malformed');

    const [h, p, s] = good.split('.') as [string, string, string];
    const flipped = s.startsWith('A') ? `B${s.slice(1)}` : `A${s.slice(1)}`;
    expect((await refusal(tokens.verifyToken(`${h}.${p}.${flipped}`))).reason).toBe('bad_signature');
    // A payload swapped in (another user) under the original signature.
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'admin-1', role: 'admin' })).toString('base64url');
    expect((await refusal(tokens.verifyToken(`${h}.${forged}.${s}`))).reason).toBe('bad_signature');

    const foreignKey = new Uint8Array(32).fill(7);
    const unknownKid = await new SignJWT({ tenant: 'acme', role: 'admin' }).setProtectedHeader({ alg: 'HS256', kid: 'nope' })
      .setSubject('u-1').setIssuer('keel').setIssuedAt(T0 / 1000).setExpirationTime(T0 / 1000 + 60).sign(foreignKey);
    expect((await refusal(tokens.verifyToken(unknownKid))).reason).toBe('unknown_key');

    const noneAlg = `${Buffer.from(JSON.stringify({ alg: 'none', kid: keyring.current().kid })).toString('base64url')}.${p}.`;
    expect((await refusal(tokens.verifyToken(noneAlg))).reason).toBe('bad_algorithm');

    clock.advance(HOUR + 6_000);
    const expired = await refusal(tokens.verifyToken(good));
    expect(expired.reason).toBe('expired');
    expect(expired.message).toMatch(/expired/);
  });

  it('refuses every algorithm but HS256, before any key is used (alg none, RS/HS confusion, HS512)', async () => {
    const kid = keyring.current().kid;
    const claims = (jwt: SignJWT) => jwt.setSubject('u-1').setIssuer('keel').setAudience('keel').setIssuedAt(T0 / 1000).setExpirationTime(T0 / 1000 + 60);
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const rs = await claims(new SignJWT({ tenant: 'acme', role: 'admin' }).setProtectedHeader({ alg: 'RS256', kid })).sign(privateKey);
    const es = await claims(new SignJWT({ tenant: 'acme', role: 'admin' }).setProtectedHeader({ alg: 'ES256', kid })).sign((await generateKeyPair('ES256')).privateKey);
    const hs512 = await claims(new SignJWT({ tenant: 'acme', role: 'admin' }).setProtectedHeader({ alg: 'HS512', kid })).sign(new Uint8Array(64).fill(1));
    for (const token of [rs, es, hs512]) {
      const r = await refusal(tokens.verifyToken(token));
      expect(r.reason).toBe('bad_algorithm');
      expect(r.message).toMatch(/only HS256/);
    }
    // The classic confusion: an HS256 token whose HMAC secret is a public key the attacker knows.
    const pem = new TextEncoder().encode(await exportSPKI(publicKey));
    const confused = await claims(new SignJWT({ tenant: 'acme', role: 'admin' }).setProtectedHeader({ alg: 'HS256', kid })).sign(pem);
    expect((await refusal(tokens.verifyToken(confused))).reason).toBe('bad_signature');
    // A header that names its own key (jwk) is not trusted either.
    const jwk = await claims(new SignJWT({ tenant: 'acme', role: 'admin' }).setProtectedHeader({ alg: 'HS256', kid, jwk: { kty: 'oct', k: 'AAAA' } as never })).sign(new Uint8Array(32));
    expect((await refusal(tokens.verifyToken(jwk))).reason).toBe('bad_signature');
  });

  it('refuses tokens whose claims are not an identity, even when correctly signed', async () => {
    const key = await keyring.current().cryptoKey();
    const sign = (claims: Record<string, unknown>, sub = 'u-1') =>
      new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: keyring.current().kid })
        .setSubject(sub).setIssuer('keel').setAudience('keel').setIssuedAt(T0 / 1000).setExpirationTime(T0 / 1000 + 60).sign(key);
    for (const [claims, sub, pattern] of [
      [{ tenant: 'acme', role: 'root' }, 'u-1', /role/],
      [{ tenant: 'acme' }, 'u-1', /role/],
      [{ tenant: '../etc', role: 'admin' }, 'u-1', /tenant/],
      [{ role: 'admin' }, 'u-1', /tenant/],
      [{ tenant: 'acme', role: 'admin' }, 'bad user id!', /subject/],
    ] as const) {
      const r = await refusal(tokens.verifyToken(await sign(claims, sub)));
      expect(r.reason).toBe('invalid_claims');
      expect(r.message).toMatch(pattern);
    }
    const wrongIssuer = await new SignJWT({ tenant: 'acme', role: 'admin' }).setProtectedHeader({ alg: 'HS256', kid: keyring.current().kid })
      .setSubject('u-1').setIssuer('evil').setAudience('keel').setIssuedAt(T0 / 1000).setExpirationTime(T0 / 1000 + 60).sign(key);
    expect((await refusal(tokens.verifyToken(wrongIssuer))).reason).toBe('wrong_issuer');
    for (const audience of ['billing', undefined]) {
      const jwt = new SignJWT({ tenant: 'acme', role: 'admin' }).setProtectedHeader({ alg: 'HS256', kid: keyring.current().kid })
        .setSubject('u-1').setIssuer('keel').setIssuedAt(T0 / 1000).setExpirationTime(T0 / 1000 + 60);
      const r = await refusal((audience ? jwt.setAudience(audience) : jwt).sign(key).then((t) => tokens.verifyToken(t)));
      expect(r.reason).toBe('wrong_audience');
      expect(r.message).toMatch(/aud/);
    }
    const notYet = await new SignJWT({ tenant: 'acme', role: 'admin' }).setProtectedHeader({ alg: 'HS256', kid: keyring.current().kid })
      .setSubject('u-1').setIssuer('keel').setAudience('keel').setIssuedAt(T0 / 1000).setNotBefore(T0 / 1000 + 600).setExpirationTime(T0 / 1000 + 900).sign(key);
    expect((await refusal(tokens.verifyToken(notYet))).reason).toBe('not_yet_valid');
    const noExp = await new SignJWT({ tenant: 'acme', role: 'admin' }).setProtectedHeader({ alg: 'HS256', kid: keyring.current().kid })
      .setSubject('u-1').setIssuer('keel').setAudience('keel').setIssuedAt(T0 / 1000).sign(key);
    expect((await refusal(tokens.verifyToken(noExp))).reason).toBe('invalid_claims');
  });

  it('rotation keeps old tokens valid through the grace period, then retires the old key', async () => {
    const before = await tokens.issueToken({ tenant: 'acme', user: 'u-1', role: 'customer', ttlMs: 48 * HOUR });
    const oldKid = keyring.current().kid;
    const fresh = keyring.rotate();
    expect(fresh.kid).not.toBe(oldKid);
    const after = await tokens.issueToken({ tenant: 'acme', user: 'u-1', role: 'customer', ttlMs: 48 * HOUR });
    expect(JSON.parse(Buffer.from(after.split('.')[0] as string, 'base64url').toString()).kid).toBe(fresh.kid);
    await expect(tokens.verifyToken(before)).resolves.toMatchObject({ user: 'u-1' });

    clock.advance(24 * HOUR + 1);
    expect((await refusal(tokens.verifyToken(before))).reason).toBe('unknown_key');
    await expect(tokens.verifyToken(after)).resolves.toMatchObject({ user: 'u-1' });
  });

  it('picks up a rotation made by another process and honours retire()', async () => {
    const server = createTokenService({ keyring: createTokenKeyring({ dir, clock, env: {} }), clock });
    const old = await server.issueToken({ tenant: 'acme', user: 'u-1', role: 'customer' });
    const cli = createTokenKeyring({ dir, clock, env: {} });
    const oldKid = cli.current().kid;
    cli.rotate();
    const fromCli = await createTokenService({ keyring: cli, clock }).issueToken({ tenant: 'acme', user: 'u-2', role: 'customer' });
    await expect(server.verifyToken(fromCli)).resolves.toMatchObject({ user: 'u-2' });
    expect(cli.retire(oldKid)).toBe(true);
    expect(cli.retire(oldKid)).toBe(false);
    expect((await refusal(createTokenService({ keyring: createTokenKeyring({ dir, clock, env: {} }), clock }).verifyToken(old))).reason).toBe('unknown_key');
    expect(() => cli.retire(cli.current().kid)).toThrow(/current/);
  });

  it('takes the keys from KEEL_TOKEN_SECRET: the first signs, all verify, and rotation is refused', async () => {
    const a = 'a'.repeat(40);
    const b = 'b'.repeat(40);
    const oldRing = createTokenKeyring({ env: { KEEL_TOKEN_SECRET: a }, clock });
    const oldToken = await createTokenService({ keyring: oldRing, clock }).issueToken({ tenant: 't', user: 'u', role: 'engineer' });
    const ring = createTokenKeyring({ env: { KEEL_TOKEN_SECRET: `${b}, ${a}` }, clock });
    expect(ring.source).toBe('env');
    const svc = createTokenService({ keyring: ring, clock });
    await expect(svc.verifyToken(oldToken)).resolves.toMatchObject({ role: 'engineer' });
    expect(ring.current().kid).not.toBe(oldRing.current().kid);
    expect(() => ring.rotate()).toThrow(KeelError);
    expect(() => createTokenKeyring({ env: { KEEL_TOKEN_SECRET: 'short' } })).toThrow(/32 bytes/);
    expect(() => createTokenKeyring({ env: { KEEL_TOKEN_SECRET: ' , ,,' } })).toThrow(expect.objectContaining({ code: 'invalid_option', message: 'KEEL_TOKEN_SECRET is set but holds no secret' }));
    expect(inspect(ring.current())).not.toContain(a);
  });

  it('makes key ids a CLI flag and the audit trail take as they are: no leading dash, nothing redaction masks', () => {
    // Hex ids would fail this in about 45 % of runs (the redactor alters about 12 in 10,000 of them,
    // mostly as card numbers); bare base64url ids in nearly every run (one in 64 starts with '-').
    const ring = createTokenKeyring({ dir, clock, env: {}, graceMs: 1 });
    const redactor = createRedactor();
    for (let i = 0; i < 500; i++) {
      const kid = ring.rotate().kid;
      expect(kid).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]*$/);
      expect(redactor.text(`token-key:${kid}`)).toBe(`token-key:${kid}`);
      clock.advance(2);
    }
  });

  it('refuses a key file that others can read', () => {
    if (process.platform === 'win32') return;
    keyring.current();
    chmodSync(join(dir, 'token-keys.json'), 0o644);
    expect(() => createTokenKeyring({ dir, clock, env: {} }).current()).toThrow(/chmod 600/);
  });

  it('reports a corrupt key file instead of silently making a new key', () => {
    writeFileSync(join(dir, 'token-keys.json'), '{"format":"other"}', { mode: 0o600 });
    expect(() => createTokenKeyring({ dir, clock, env: {} }).current()).toThrow(/not usable/);
  });

  it('validates options and claims with TypeErrors naming the field', async () => {
    expect(() => createTokenKeyring({ env: {} })).toThrow(/dir/);
    expect(() => createTokenKeyring({ dir, graceMs: -1 })).toThrow(/graceMs/);
    expect(() => createTokenService({ keyring, defaultTtlMs: 0 })).toThrow(/defaultTtlMs/);
    await expect(tokens.issueToken({ tenant: 'acme', user: 'u', role: 'root' as never })).rejects.toThrow(/role/);
    await expect(tokens.issueToken({ tenant: 'a b', user: 'u', role: 'admin' })).rejects.toThrow(/tenant/);
    await expect(tokens.issueToken({ tenant: 'a', user: 'u', role: 'admin', ttlMs: 365 * 24 * HOUR })).rejects.toThrow(/ttlMs/);
  });
});

describe('parseTtlMs', () => {
  it('parses the CLI forms', () => {
    expect(parseTtlMs('30s')).toBe(30_000);
    expect(parseTtlMs('15m')).toBe(900_000);
    expect(parseTtlMs('1h')).toBe(HOUR);
    expect(parseTtlMs('7d')).toBe(7 * 24 * HOUR);
    expect(parseTtlMs('2w')).toBe(14 * 24 * HOUR);
    expect(parseTtlMs('1h30m')).toBe(1.5 * HOUR);
    expect(parseTtlMs('500ms')).toBe(500);
  });
  it('refuses anything else', () => {
    for (const bad of ['', '1', 'h', '1y', '-1h', '0s', '1.5h', '1 h', 'abc']) expect(() => parseTtlMs(bad), bad).toThrow(TypeError);
  });
});
