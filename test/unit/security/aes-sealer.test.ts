import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createManualClock } from '../../../src/clock.js';
import { KeelError } from '../../../src/errors.js';
import { createAesSealer, type OpenFailure } from '../../../src/security/aes-sealer.js';
import { createTenantKeyStore } from '../../../src/security/tenant-keys.js';
import { tenantId } from '../../../src/types.js';

const acme = tenantId('acme');
const globex = tenantId('globex');
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function openFailure(fn: () => unknown): OpenFailure {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(KeelError);
    expect((err as KeelError).code).toBe('forbidden');
    return (err as KeelError).details?.reason as OpenFailure;
  }
  throw new Error('expected open to fail');
}

describe('tenant keys and the AES-GCM sealer', () => {
  let dir: string;
  const clock = createManualClock(1_000);
  const store = (env: Record<string, string> = {}) => createTenantKeyStore({ dir, env, clock, recheckMs: 0 });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keel-seal-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips, with a fresh nonce per seal, and the sealed bytes hold no plaintext', () => {
    const sealer = createAesSealer({ keys: store() });
    const secret = 'my card is 4111 1111 1111 1111 and my email ann@example.com';
    const a = sealer.seal(acme, enc(secret));
    const b = sealer.seal(acme, enc(secret));
    expect(dec(sealer.open(acme, a))).toBe(secret);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    for (const sealed of [a, b]) {
      const raw = Buffer.from(sealed);
      for (const needle of ['4111', 'ann@example', 'my card', secret.slice(10, 20)]) expect(raw.includes(needle)).toBe(false);
    }
    expect(a.length).toBe(enc(secret).length + 18 + 16);
    expect(dec(sealer.open(acme, sealer.seal(acme, new Uint8Array(0))))).toBe('');
  });

  it('data sealed for one tenant never opens as another', () => {
    const sealer = createAesSealer({ keys: store() });
    sealer.seal(globex, enc('globex has a key too'));
    const sealed = sealer.seal(acme, enc('acme only'));
    expect(openFailure(() => sealer.open(globex, sealed))).toBe('altered_or_wrong_tenant');
    expect(openFailure(() => sealer.open(tenantId('initech'), sealed))).toBe('unknown_key');
  });

  it('binds the tenant as AAD: even under one shared key, data sealed for A does not open as B', () => {
    const key = store().current(acme);
    const shared = { ...store(), current: () => key, lookup: () => key } as ReturnType<typeof store>;
    const sealer = createAesSealer({ keys: shared });
    const sealed = sealer.seal(acme, enc('acme only'));
    expect(dec(sealer.open(acme, sealed))).toBe('acme only');
    expect(openFailure(() => sealer.open(globex, sealed))).toBe('altered_or_wrong_tenant');
  });

  it('any altered byte, header included, makes open fail', () => {
    const sealer = createAesSealer({ keys: store() });
    const sealed = Buffer.from(sealer.seal(acme, enc('pay 100 to bob')));
    for (let i = 0; i < sealed.length; i++) {
      const copy = Buffer.from(sealed);
      copy[i] = (copy[i] as number) ^ 0x01;
      expect(() => sealer.open(acme, copy), `byte ${i}`).toThrow(KeelError);
    }
    expect(openFailure(() => sealer.open(acme, enc('plain text, never sealed')))).toBe('not_sealed');
    expect(openFailure(() => sealer.open(acme, sealed.subarray(0, 20)))).toBe('not_sealed');
  });

  it('deleting a tenant key erases its data, survives a restart, and leaves other tenants alone', () => {
    const keys = store();
    const sealer = createAesSealer({ keys });
    const acmeData = sealer.seal(acme, enc('acme'));
    const globexData = sealer.seal(globex, enc('globex'));
    expect(sealer.deleteTenantKey(acme)).toBe(true);
    expect(sealer.deleteTenantKey(acme)).toBe(false);
    expect(openFailure(() => sealer.open(acme, acmeData))).toBe('key_deleted');
    expect(dec(sealer.open(globex, globexData))).toBe('globex');

    const restarted = createAesSealer({ keys: store() });
    expect(openFailure(() => restarted.open(acme, acmeData))).toBe('key_deleted');
    // The tenant may come back; its new key opens only new data.
    const fresh = restarted.seal(acme, enc('acme again'));
    expect(dec(restarted.open(acme, fresh))).toBe('acme again');
    expect(openFailure(() => restarted.open(acme, acmeData))).toBe('key_deleted');
    expect(readFileSync(join(dir, 'tenant-keys.json'), 'utf8')).toContain('erasedThrough');
  });

  it('a key deleted by another process stops opening data here once the file is re-checked', () => {
    const server = createAesSealer({ keys: createTenantKeyStore({ dir, env: {}, clock, recheckMs: 1000 }) });
    const sealed = server.seal(acme, enc('x'));
    store().deleteTenantKey(acme);
    clock.advance(1000);
    expect(openFailure(() => server.open(acme, sealed))).toBe('key_deleted');
  });

  it('rotation seals with the new version and still opens data sealed with the old one', () => {
    const keys = store();
    const sealer = createAesSealer({ keys });
    const old = sealer.seal(acme, enc('old'));
    expect(keys.rotate(acme).version).toBe(2);
    const fresh = sealer.seal(acme, enc('new'));
    expect(Buffer.from(fresh).readUInt32BE(2)).toBe(2);
    expect(dec(sealer.open(acme, old))).toBe('old');
    expect(dec(sealer.open(acme, fresh))).toBe('new');
  });

  it('the key file is 0600 and, with KEEL_MASTER_KEY, holds only wrapped keys', () => {
    const master = randomBytes(32).toString('base64');
    const keys = store({ KEEL_MASTER_KEY: master });
    expect(keys.protection).toBe('wrapped');
    const sealer = createAesSealer({ keys });
    const sealed = sealer.seal(acme, enc('wrapped'));
    const path = join(dir, 'tenant-keys.json');
    if (process.platform !== 'win32') expect(statSync(path).mode & 0o777).toBe(0o600);
    const file = JSON.parse(readFileSync(path, 'utf8'));
    expect(Buffer.from(file.tenants.acme.keys['1'], 'base64url').length).toBe(60);

    expect(dec(createAesSealer({ keys: store({ KEEL_MASTER_KEY: master }) }).open(acme, sealed))).toBe('wrapped');
    expect(() => store({}).current(acme)).toThrow(/KEEL_MASTER_KEY/);
    expect(() => store({ KEEL_MASTER_KEY: randomBytes(32).toString('hex') }).current(acme)).toThrow(/does not match/);
    expect(() => store({ KEEL_MASTER_KEY: 'too-short' })).toThrow(/32 bytes/);
  });

  it('a wrapped key moved to another tenant in the file does not unwrap', () => {
    const master = randomBytes(32).toString('hex');
    const sealer = createAesSealer({ keys: store({ KEEL_MASTER_KEY: master }) });
    const sealed = sealer.seal(acme, enc('acme'));
    sealer.seal(globex, enc('globex'));
    const path = join(dir, 'tenant-keys.json');
    const file = JSON.parse(readFileSync(path, 'utf8'));
    file.tenants.globex.keys['1'] = file.tenants.acme.keys['1'];
    writeFileSync(path, JSON.stringify(file), { mode: 0o600 });
    const tampered = createAesSealer({ keys: store({ KEEL_MASTER_KEY: master }) });
    expect(() => tampered.open(globex, sealed)).toThrow(/does not unwrap/);
  });

  it('a plain key file is wrapped in place when a master key is first given, keeping the data', () => {
    const sealed = createAesSealer({ keys: store() }).seal(acme, enc('before'));
    const master = randomBytes(32).toString('base64url');
    const keys = store({ KEEL_MASTER_KEY: master });
    expect(dec(createAesSealer({ keys }).open(acme, sealed))).toBe('before');
    const file = JSON.parse(readFileSync(join(dir, 'tenant-keys.json'), 'utf8'));
    expect(file.master).not.toBeNull();
    expect(Buffer.from(file.tenants.acme.keys['1'], 'base64url').length).toBe(60);
  });

  it('prints no key material', () => {
    const keys = store();
    const key = keys.current(acme);
    const raw = JSON.parse(readFileSync(join(dir, 'tenant-keys.json'), 'utf8')).tenants.acme.keys['1'] as string;
    for (const shown of [inspect(key, { depth: 5 }), JSON.stringify(key), inspect(keys, { depth: 5 })]) {
      expect(shown).not.toContain(raw);
      expect(shown).not.toContain(Buffer.from(raw, 'base64url').toString('hex'));
    }
  });

  it('is fast once the key is cached', () => {
    const sealer = createAesSealer({ keys: createTenantKeyStore({ dir, env: {}, clock }) });
    const payload = randomBytes(1024);
    sealer.open(acme, sealer.seal(acme, payload));
    const started = performance.now();
    for (let i = 0; i < 5000; i++) sealer.open(acme, sealer.seal(acme, payload));
    // 10 000 operations; generous for a shared 2-core machine (typically ~50 ms).
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('validates options', () => {
    expect(() => createTenantKeyStore({ dir: '' })).toThrow(/dir/);
    expect(() => createTenantKeyStore({ dir, recheckMs: -1 })).toThrow(/recheckMs/);
    expect(() => createAesSealer({ keys: {} as never })).toThrow(/keys/);
    expect(() => store().current('bad id!' as never)).toThrow(/tenant/);
  });

  it('never reuses a nonce, across refills of its random pool', () => {
    const sealer = createAesSealer({ keys: store() });
    const nonces = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const sealed = Buffer.from(sealer.seal(acme, new Uint8Array([i & 255])));
      nonces.add(sealed.subarray(6, 18).toString('hex'));
    }
    expect(nonces.size).toBe(3000);
  });
});
