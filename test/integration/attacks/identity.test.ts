/**
 * Identity attacks on a running server (OWASP LLM06, and plain broken authentication): forged,
 * expired, not-yet-valid, wrong-algorithm (`none`, RS/HS confusion, HS512), wrong-issuer,
 * wrong-audience, unknown-key and garbage tokens are refused on the chat socket and on the
 * operational endpoints with a reason that says which, and every refusal is audited. Rotating
 * the signing key with `keel token --rotate` drops nobody.
 */
import { SignJWT, generateKeyPair, type JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli/cli-main.js';
import { createManualClock } from '../../../src/clock.js';
import { createTokenKeyring } from '../../../src/security/token-keyring.js';
import { createTokenService } from '../../../src/security/tokens.js';
import { CLOSE_CODES } from '../../../src/server/close-codes.js';
import { useCleanups } from '../../support/cleanups.js';
import { tempDir } from '../../support/temp-dir.js';
import { fakeIo } from '../server/support/fake-io.js';
import { connect, isReplyTo, openChat } from '../server/support/keel-harness.js';
import { eventually, secureKeelPerTest, type SecureKeel } from './support/secure-keel.js';

const defer = useCleanups();

const keel = secureKeelPerTest(defer);

/** Tokens an attacker can make, each with the refusal reason keel must give. */
async function forgeries(k: SecureKeel): Promise<Array<{ name: string; token: string; reason: string }>> {
  const keyring = createTokenKeyring({ dir: k.dir, env: {} });
  const kid = keyring.current().kid;
  const key = await keyring.current().cryptoKey();
  const now = Math.floor(Date.now() / 1000);
  const claims = (jwt: SignJWT, over: { iss?: string; aud?: string; iat?: number; exp?: number; nbf?: number } = {}) => {
    jwt.setSubject('mallory').setIssuer(over.iss ?? 'keel').setAudience(over.aud ?? 'keel').setIssuedAt(over.iat ?? now).setExpirationTime(over.exp ?? now + 600);
    if (over.nbf !== undefined) jwt.setNotBefore(over.nbf);
    return jwt;
  };
  const admin: JWTPayload = { tenant: 'acme', role: 'admin' };
  const good = await k.token({ user: 'alice' });
  const [h, p, s] = good.split('.') as [string, string, string];
  const elevated = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'mallory', role: 'admin' })).toString('base64url');
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const rsa = await generateKeyPair('RS256');
  const past = createTokenService({ keyring, clock: createManualClock(Date.now() - 3 * 3_600_000) });
  return [
    { name: 'payload swapped under a valid signature', token: `${h}.${elevated}.${s}`, reason: 'bad_signature' },
    { name: 'alg none', token: `${b64({ alg: 'none', typ: 'JWT', kid })}.${elevated}.`, reason: 'bad_algorithm' },
    { name: 'RS256 signed by an attacker key', token: await claims(new SignJWT(admin).setProtectedHeader({ alg: 'RS256', kid })).sign(rsa.privateKey), reason: 'bad_algorithm' },
    { name: 'HS512', token: await claims(new SignJWT(admin).setProtectedHeader({ alg: 'HS512', kid })).sign(new Uint8Array(64)), reason: 'bad_algorithm' },
    { name: 'HS256 with a guessed secret', token: await claims(new SignJWT(admin).setProtectedHeader({ alg: 'HS256', kid })).sign(new TextEncoder().encode('secret'.repeat(8))), reason: 'bad_signature' },
    { name: 'an unknown key id', token: await claims(new SignJWT(admin).setProtectedHeader({ alg: 'HS256', kid: 'not-a-key' })).sign(new Uint8Array(32)), reason: 'unknown_key' },
    { name: 'another issuer', token: await claims(new SignJWT(admin).setProtectedHeader({ alg: 'HS256', kid }), { iss: 'evil' }).sign(key), reason: 'wrong_issuer' },
    { name: 'another audience', token: await claims(new SignJWT(admin).setProtectedHeader({ alg: 'HS256', kid }), { aud: 'billing' }).sign(key), reason: 'wrong_audience' },
    { name: 'not valid yet', token: await claims(new SignJWT(admin).setProtectedHeader({ alg: 'HS256', kid }), { nbf: now + 3600, exp: now + 7200 }).sign(key), reason: 'not_yet_valid' },
    { name: 'expired', token: await past.issueToken({ tenant: 'acme', user: 'alice', role: 'customer', ttlMs: 3_600_000 }), reason: 'expired' },
    { name: 'a role that does not exist', token: await claims(new SignJWT({ tenant: 'acme', role: 'root' }).setProtectedHeader({ alg: 'HS256', kid })).sign(key), reason: 'invalid_claims' },
    { name: 'garbage', token: 'not.a.jwt', reason: 'malformed' },
    { name: 'oversized', token: `${h}.${'A'.repeat(5000)}.${s}`, reason: 'malformed' },
  ];
}

const REASON_TEXT: Readonly<Record<string, RegExp>> = {
  bad_signature: /signature does not verify/,
  bad_algorithm: /only HS256 is accepted|algorithm/,
  unknown_key: /unknown or retired key/,
  wrong_issuer: /not issued by this service/,
  wrong_audience: /not meant for this service/,
  not_yet_valid: /not valid yet/,
  expired: /expired/,
  invalid_claims: /role/,
  malformed: /not a compact JWT|acceptable size|could not be parsed/,
};

describe('identity', () => {
  it('refuses every forged, expired or foreign token on /chat, in a header or an auth frame, with a reason; each refusal audited', async () => {
    const k = await keel();
    const forged = await forgeries(k);
    for (const f of forged) {
      for (const via of ['header', 'frame'] as const) {
        const c = via === 'header' ? connect(k.wsUrl, { token: f.token }) : connect(k.wsUrl);
        if (via === 'frame') {
          await c.opened;
          c.send({ type: 'auth', token: f.token });
        }
        const closed = await c.closed;
        expect(closed.code, `${f.name} via ${via}`).toBe(CLOSE_CODES.unauthorized);
        // Oversized tokens in a frame are cut by the frame parser before the token service.
        if (!(f.name === 'oversized' && via === 'frame')) expect(closed.reason, `${f.name} via ${via}`).toMatch(REASON_TEXT[f.reason]!);
        expect(c.frames.some((fr) => fr.type === 'ready')).toBe(false);
      }
    }
    // No session was opened for anyone, and the audit trail names every refusal by its reason.
    expect(k.runtime.listSessions({})).toEqual([]);
    const refusals = await eventually(() => {
      const r = k.audit().filter((a) => a.action === 'auth.signin');
      return r.length >= forged.length * 2 ? r : undefined;
    }, 10_000, 'the sign-in refusals in the audit trail');
    expect(refusals.every((r) => r.outcome === 'denied' && r.actor.role === 'anonymous')).toBe(true);
    const reasons = new Set(refusals.map((r) => r.details.reason));
    for (const f of forged) if (f.name !== 'oversized') expect(reasons.has(f.reason), f.reason).toBe(true);
    // The tokens themselves are never written down.
    const audit = JSON.stringify(k.audit());
    for (const f of forged) expect(audit).not.toContain(f.token.split('.')[2] || f.token);
  });

  it('refuses the same tokens on /metrics, /healthz, /desk and the inspector, and anonymous callers everywhere data lives', async () => {
    const k = await keel({ server: { opsAccess: 'token' } });
    for (const path of ['/metrics', '/healthz']) {
      const anonymous = await fetch(`${k.url}${path}`);
      expect(anonymous.status, path).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toMatch(/Bearer/);
      for (const f of (await forgeries(k)).slice(0, 10)) {
        const res = await fetch(`${k.url}${path}`, { headers: { authorization: `Bearer ${f.token}` } });
        expect(res.status, `${path} ${f.name}`).toBe(401);
        expect(((await res.json()) as { message: string }).message, f.name).toMatch(REASON_TEXT[f.reason]!);
      }
    }
    // Every socket: without a token nothing is served; with a forged one it is refused with the reason.
    const forged = (await forgeries(k)).slice(0, 3);
    for (const url of [k.wsUrl, k.deskUrl, k.inspectorUrl]) {
      const quiet = connect(url);
      await quiet.opened;
      quiet.send({ type: 'hello' });
      expect((await quiet.closed).code, url).toBe(CLOSE_CODES.unauthorized);
      expect(quiet.frames.filter((f) => f.type !== 'error'), url).toEqual([]);
      for (const f of forged) {
        const c = connect(url, { token: f.token });
        const closed = await c.closed;
        expect(closed.code, `${url} ${f.name}`).toBe(CLOSE_CODES.unauthorized);
        expect(closed.reason, `${url} ${f.name}`).toMatch(REASON_TEXT[f.reason]!);
      }
    }
    const endpoints = await eventually(() => {
      const seen = new Set(k.audit().filter((a) => a.action === 'auth.signin' && a.outcome === 'denied').map((a) => a.target));
      return seen.size >= 4 ? seen : undefined;
    }, 10_000, 'refusals audited per endpoint');
    expect([...endpoints].sort()).toEqual(['endpoint:chat', 'endpoint:desk', 'endpoint:inspector', 'endpoint:ops']);
    const refused = await eventually(() => {
      const r = k.audit().filter((a) => a.action === 'auth.signin' && a.target === 'endpoint:ops');
      return r.length >= 20 ? r : undefined;
    }, 10_000, 'the ops refusals in the audit trail');
    expect(refused.every((r) => r.outcome === 'denied')).toBe(true);
  });

  it('throttles the audit records of a refusal flood but keeps their count', async () => {
    const k = await keel();
    const started = Date.now();
    const garbage = Array.from({ length: 120 }, () => connect(k.wsUrl, { token: 'x.y.z' }));
    await Promise.all(garbage.map((c) => c.closed));
    const elapsedS = (Date.now() - started) / 1000;
    const records = await eventually(() => {
      const r = k.audit().filter((a) => a.action === 'auth.signin');
      return r.length >= 50 ? r : undefined;
    }, 10_000, 'throttled refusals');
    // A burst of 50 is recorded one by one, then 5 a second; the rest are counted into the next record that gets through.
    expect(records.length).toBeLessThanOrEqual(50 + Math.ceil(elapsedS * 5) + 1);
    const good = connect(k.wsUrl, { token: await k.token() });
    await good.opened;
    defer(() => good.close());
    await eventually(() => k.audit().find((a) => a.action === 'auth.signin' && a.outcome === 'ok'), 10_000, 'the accepted sign-in');
    // Each refusal is a record, or counted in the next record that got through.
    const signIns = k.audit().filter((a) => a.action === 'auth.signin');
    const counted = signIns.filter((a) => a.outcome === 'denied').length + signIns.reduce((n, a) => n + Number(a.details.refusalsNotRecorded ?? 0), 0);
    expect(counted).toBe(120);
  });

  it('rotates the signing key with keel token --rotate while a client is connected: nobody is dropped, old tokens work until retired', async () => {
    const k = await keel();
    const io = () => fakeIo({ env: { KEEL_DATA_DIR: k.dir } });
    const oldToken = await k.token({ user: 'alice' });
    const oldKid = createTokenKeyring({ dir: k.dir, env: {} }).current().kid;
    const alice = await openChat(k, { token: oldToken });
    defer(() => alice.close());
    alice.send({ type: 'message', id: 'a1', text: 'hello' });
    await alice.next(isReplyTo('a1'), 20_000);

    const rotate = io();
    expect(await runCli(['token', '--rotate'], rotate)).toBe(0);
    expect(rotate.err()).toMatch(new RegExp(`key ${oldKid} keeps verifying`));
    const newKid = createTokenKeyring({ dir: k.dir, env: {} }).current().kid;
    expect(newKid).not.toBe(oldKid);

    // The connected client goes on as if nothing happened.
    alice.send({ type: 'message', id: 'a2', text: 'how much does express delivery cost?' });
    expect((await alice.next(isReplyTo('a2'), 20_000)).text).toMatch(/express/i);
    // A token signed by the previous key still opens a connection and resumes the session.
    const again = await openChat(k, { token: oldToken, sessionId: alice.sessionId, lastSeq: 0 });
    defer(() => again.close());
    expect(again.ready.sessionId).toBe(alice.sessionId);
    // A token minted after the rotation (by the CLI, another process's view of the key file) is accepted at once.
    const issue = io();
    expect(await runCli(['token', '--tenant', 'acme', '--user', 'bob', '--role', 'customer'], issue)).toBe(0);
    const fresh = issue.out().trim();
    expect(JSON.parse(Buffer.from(fresh.split('.')[0]!, 'base64url').toString()).kid).toBe(newKid);
    const bob = await openChat(k, { token: fresh });
    defer(() => bob.close());

    // Retiring the old key refuses it from then on; connections made earlier stay until their token expires.
    expect(await runCli(['token', '--retire', oldKid], io())).toBe(0);
    const late = connect(k.wsUrl, { token: oldToken });
    expect(await late.closed).toMatchObject({ code: CLOSE_CODES.unauthorized, reason: expect.stringMatching(/unknown or retired key/) });
    alice.send({ type: 'message', id: 'a3', text: 'thanks' });
    await alice.next(isReplyTo('a3'), 20_000);

    // Issuance, rotation and retirement are configuration facts in the audit trail, with no secret in them.
    const changes = k.audit().filter((a) => a.action === 'config.change' || a.action === 'token.issue');
    expect(changes.map((a) => `${a.action}:${String(a.details.change ?? a.details.role)}`)).toEqual(['config.change:token.rotate', 'token.issue:customer', 'config.change:token.retire']);
    expect(JSON.stringify(changes)).not.toContain(fresh.split('.')[2]);
    const keys = io();
    expect(await runCli(['token', '--keys'], keys)).toBe(0);
    expect(keys.out()).toContain(`${newKid} (current)`);
    expect(keys.out()).not.toContain(oldKid);
  });

  it('with KEEL_TOKEN_SECRET, rotation is refused with the procedure to follow', async () => {
    const dir = tempDir();
    defer(dir.remove);
    const io = fakeIo({ env: { KEEL_DATA_DIR: dir.dir, KEEL_TOKEN_SECRET: 's'.repeat(40) } });
    expect(await runCli(['token', '--rotate'], io)).toBe(1);
    expect(io.err()).toMatch(/prepending a new secret/);
  });
});
