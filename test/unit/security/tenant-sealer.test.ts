import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createManualClock } from '../../../src/clock.js';
import { KeelError } from '../../../src/errors.js';
import { createTenantSealer, defaultSealerCipher, resolveSealerOptions, type OpenFailure, type SealerCipher } from '../../../src/security/tenant-sealer.js';
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

const ciphers: SealerCipher[] = ['xchacha20-poly1305', 'aes-256-gcm'];
const headerBytes = { 'xchacha20-poly1305': 30, 'aes-256-gcm': 18 } as const;

describe('tenant keys and the sealer', () => {
  let dir: string;
  const clock = createManualClock(1_000);
  const store = (env: Record<string, string> = {}) => createTenantKeyStore({ dir, env, clock, recheckMs: 0 });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keel-seal-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it.each(ciphers)('%s round-trips, with a fresh nonce per seal, and the sealed bytes hold no plaintext', (cipher) => {
    const sealer = createTenantSealer({ keys: store(), cipher });
    expect(sealer.cipher).toBe(cipher);
    const secret = 'my card is 4111 1111 1111 1111 and my email ann@example.com';
    const a = sealer.seal(acme, enc(secret));
    const b = sealer.seal(acme, enc(secret));
    expect(dec(sealer.open(acme, a))).toBe(secret);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    for (const sealed of [a, b]) {
      const raw = Buffer.from(sealed);
      for (const needle of ['4111', 'ann@example', 'my card', secret.slice(10, 20)]) expect(raw.includes(needle)).toBe(false);
    }
    expect(a.length).toBe(enc(secret).length + headerBytes[cipher] + 16);
    expect(a[1]).toBe(cipher === 'aes-256-gcm' ? 1 : 2);
    expect(dec(sealer.open(acme, sealer.seal(acme, new Uint8Array(0))))).toBe('');
  });

  it.each(ciphers)('%s: data sealed for one tenant never opens as another', (cipher) => {
    const sealer = createTenantSealer({ keys: store(), cipher });
    sealer.seal(globex, enc('globex has a key too'));
    const sealed = sealer.seal(acme, enc('acme only'));
    expect(openFailure(() => sealer.open(globex, sealed))).toBe('altered_or_wrong_tenant');
    expect(openFailure(() => sealer.open(tenantId('initech'), sealed))).toBe('unknown_key');
  });

  it.each(ciphers)('%s binds the tenant as AAD: even under one shared key, data sealed for A does not open as B', (cipher) => {
    const key = store().current(acme);
    const shared = { ...store(), current: () => key, lookup: () => key } as ReturnType<typeof store>;
    const sealer = createTenantSealer({ keys: shared, cipher });
    const sealed = sealer.seal(acme, enc('acme only'));
    expect(dec(sealer.open(acme, sealed))).toBe('acme only');
    expect(openFailure(() => sealer.open(globex, sealed))).toBe('altered_or_wrong_tenant');
  });

  it.each(ciphers)('%s: any altered byte, header included, makes open fail', (cipher) => {
    const sealer = createTenantSealer({ keys: store(), cipher });
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
    const sealer = createTenantSealer({ keys });
    const acmeData = sealer.seal(acme, enc('acme'));
    const globexData = sealer.seal(globex, enc('globex'));
    expect(sealer.deleteTenantKey(acme)).toBe(true);
    expect(sealer.deleteTenantKey(acme)).toBe(false);
    expect(openFailure(() => sealer.open(acme, acmeData))).toBe('key_deleted');
    expect(dec(sealer.open(globex, globexData))).toBe('globex');

    const restarted = createTenantSealer({ keys: store() });
    expect(openFailure(() => restarted.open(acme, acmeData))).toBe('key_deleted');
    // The tenant may come back; its new key opens only new data.
    const fresh = restarted.seal(acme, enc('acme again'));
    expect(dec(restarted.open(acme, fresh))).toBe('acme again');
    expect(openFailure(() => restarted.open(acme, acmeData))).toBe('key_deleted');
    expect(readFileSync(join(dir, 'tenant-keys.json'), 'utf8')).toContain('erasedThrough');
  });

  it('a key deleted by another process stops opening data here once the file is re-checked', () => {
    const server = createTenantSealer({ keys: createTenantKeyStore({ dir, env: {}, clock, recheckMs: 1000 }) });
    const sealed = server.seal(acme, enc('x'));
    store().deleteTenantKey(acme);
    clock.advance(1000);
    expect(openFailure(() => server.open(acme, sealed))).toBe('key_deleted');
  });

  it('rotation seals with the new version and still opens data sealed with the old one', () => {
    const keys = store();
    const sealer = createTenantSealer({ keys });
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
    const sealer = createTenantSealer({ keys });
    const sealed = sealer.seal(acme, enc('wrapped'));
    const path = join(dir, 'tenant-keys.json');
    if (process.platform !== 'win32') expect(statSync(path).mode & 0o777).toBe(0o600);
    const file = JSON.parse(readFileSync(path, 'utf8'));
    expect(Buffer.from(file.tenants.acme.keys['1'], 'base64url').length).toBe(60);

    expect(dec(createTenantSealer({ keys: store({ KEEL_MASTER_KEY: master }) }).open(acme, sealed))).toBe('wrapped');
    expect(() => store({}).current(acme)).toThrow(/KEEL_MASTER_KEY/);
    expect(() => store({ KEEL_MASTER_KEY: randomBytes(32).toString('hex') }).current(acme)).toThrow(/does not match/);
    expect(() => store({ KEEL_MASTER_KEY: 'too-short' })).toThrow(/32 bytes/);
  });

  it('a wrapped key moved to another tenant in the file does not unwrap', () => {
    const master = randomBytes(32).toString('hex');
    const sealer = createTenantSealer({ keys: store({ KEEL_MASTER_KEY: master }) });
    const sealed = sealer.seal(acme, enc('acme'));
    sealer.seal(globex, enc('globex'));
    const path = join(dir, 'tenant-keys.json');
    const file = JSON.parse(readFileSync(path, 'utf8'));
    file.tenants.globex.keys['1'] = file.tenants.acme.keys['1'];
    writeFileSync(path, JSON.stringify(file), { mode: 0o600 });
    const tampered = createTenantSealer({ keys: store({ KEEL_MASTER_KEY: master }) });
    expect(() => tampered.open(globex, sealed)).toThrow(/does not unwrap/);
  });

  it('a plain key file is wrapped in place when a master key is first given, keeping the data', () => {
    const sealed = createTenantSealer({ keys: store() }).seal(acme, enc('before'));
    const master = randomBytes(32).toString('base64url');
    const keys = store({ KEEL_MASTER_KEY: master });
    expect(dec(createTenantSealer({ keys }).open(acme, sealed))).toBe('before');
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

  it('falls back to AES-256-GCM where sodium-native does not load, and says why XChaCha20 data cannot open there', () => {
    const keys = store();
    const xchacha = createTenantSealer({ keys }).seal(acme, enc('sealed with xchacha'));
    const gcm = createTenantSealer({ keys, cipher: 'aes-256-gcm' }).seal(acme, enc('sealed with gcm'));
    const dist = (path: string) => new URL(`../../../dist/src/security/${path}`, import.meta.url).href;
    const script = `
      const { createTenantSealer, defaultSealerCipher } = await import(${JSON.stringify(dist('tenant-sealer.js'))});
      const { createTenantKeyStore } = await import(${JSON.stringify(dist('tenant-keys.js'))});
      const acme = 'acme';
      const sealer = createTenantSealer({ keys: createTenantKeyStore({ dir: ${JSON.stringify(dir)}, env: {} }) });
      const text = (b) => new TextDecoder().decode(b);
      const reason = (fn) => { try { fn(); return 'opened'; } catch (err) { return err.details?.reason ?? err.message; } };
      const fresh = sealer.seal(acme, new TextEncoder().encode('sealed without sodium'));
      let refused = '';
      try { createTenantSealer({ keys: createTenantKeyStore({ dir: ${JSON.stringify(dir)}, env: {} }), cipher: 'xchacha20-poly1305' }); } catch (err) { refused = err.message; }
      process.stdout.write(JSON.stringify({
        defaultSealerCipher, cipher: sealer.cipher, format: fresh[1], fresh: text(sealer.open(acme, fresh)),
        gcm: text(sealer.open(acme, Buffer.from(${JSON.stringify(Buffer.from(gcm).toString('base64'))}, 'base64'))),
        xchacha: reason(() => sealer.open(acme, Buffer.from(${JSON.stringify(Buffer.from(xchacha).toString('base64'))}, 'base64'))),
        refused,
      }));`;
    const preload = fileURLToPath(new URL('../../fixtures/without-sodium.cjs', import.meta.url));
    const run = spawnSync(process.execPath, ['--require', preload, '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({
      defaultSealerCipher: 'aes-256-gcm',
      cipher: 'aes-256-gcm',
      format: 1,
      fresh: 'sealed without sodium',
      gcm: 'sealed with gcm',
      xchacha: 'cipher_unavailable',
      refused: expect.stringMatching(/needs sodium-native, which did not load here \(Cannot find module 'sodium-native'/),
    });
  });

  it('is fast once the key is cached', () => {
    const sealer = createTenantSealer({ keys: createTenantKeyStore({ dir, env: {}, clock }) });
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
    expect(() => createTenantSealer({ keys: {} as never })).toThrow(/keys/);
    expect(() => resolveSealerOptions({ keys: store(), cipher: 'rot13' as never })).toThrow(/cipher must be one of aes-256-gcm, xchacha20-poly1305/);
    expect(() => store().current('bad id!' as never)).toThrow(/tenant/);
  });

  it.each(ciphers)('%s never reuses a nonce, across refills of its random pool', (cipher) => {
    const sealer = createTenantSealer({ keys: store(), cipher });
    const nonces = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const sealed = Buffer.from(sealer.seal(acme, new Uint8Array([i & 255])));
      nonces.add(sealed.subarray(6, headerBytes[cipher]).toString('hex'));
    }
    expect(nonces.size).toBe(3000);
  });

  it('seals with XChaCha20-Poly1305 by default here, and opens what either cipher sealed whichever seals', () => {
    expect(defaultSealerCipher).toBe('xchacha20-poly1305');
    const keys = store();
    const xchacha = createTenantSealer({ keys });
    const gcm = createTenantSealer({ keys, cipher: 'aes-256-gcm' });
    expect(xchacha.cipher).toBe('xchacha20-poly1305');
    const before = gcm.seal(acme, enc('sealed before the upgrade'));
    const after = xchacha.seal(acme, enc('sealed after it'));
    for (const sealer of [xchacha, gcm]) {
      expect(dec(sealer.open(acme, before))).toBe('sealed before the upgrade');
      expect(dec(sealer.open(acme, after))).toBe('sealed after it');
      expect(openFailure(() => sealer.open(globex, before))).toBe('unknown_key');
    }
    // A format byte neither cipher wrote is not taken for either.
    const unknown = Buffer.from(after);
    unknown[1] = 3;
    expect(openFailure(() => xchacha.open(acme, unknown))).toBe('not_sealed');
    // Rotation and erasure work the same on both formats.
    keys.rotate(acme);
    expect(Buffer.from(xchacha.seal(acme, enc('v2'))).readUInt32BE(2)).toBe(2);
    expect(dec(xchacha.open(acme, before))).toBe('sealed before the upgrade');
    xchacha.deleteTenantKey(acme);
    expect(openFailure(() => gcm.open(acme, after))).toBe('key_deleted');
    expect(openFailure(() => xchacha.open(acme, before))).toBe('key_deleted');
  });
});
