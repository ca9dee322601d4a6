import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createManualClock } from '../../../src/clock.js';
import { KeelError } from '../../../src/errors.js';
import { createAuditLog, hashOf, type AuditLog, type AuditRecord } from '../../../src/security/audit-log.js';
import { openEnv, type LmdbEnv } from '../../../src/store/lmdb-env.js';
import { tenantId, userId, type Identity } from '../../../src/types.js';

const admin: Identity = { tenant: tenantId('acme'), user: userId('adm-1'), role: 'admin' };
const clock = createManualClock(Date.UTC(2025, 0, 1));

describe('audit log', () => {
  let dir: string;
  let env: LmdbEnv;
  let audit: AuditLog;

  const fill = async (n: number) => {
    for (let i = 1; i <= n; i++) {
      clock.advance(1000);
      await audit.append({ actor: admin, action: 'user.forget', target: `user:u-${i}`, outcome: 'ok', details: { i } });
    }
  };
  const raw = (seq: number) => env.db('audit').get(seq) as AuditRecord;
  const put = (seq: number, value: unknown) => env.db('audit').put(seq, value);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keel-audit-'));
    env = openEnv({ dir });
    audit = createAuditLog({ env, clock });
  });
  afterEach(async () => {
    await env.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('appends chained records with redacted details and verifies them', async () => {
    expect(await audit.verify()).toEqual({ ok: true, count: 0, head: undefined });
    const first = await audit.append({
      actor: admin, action: 'tool.call', target: 'refund for ann@example.com', outcome: 'pending',
      details: { note: 'card 4111 1111 1111 1111', amount: 250 },
    });
    expect(first).toMatchObject({ seq: 1, time: clock.now(), target: 'refund for [email]', details: { note: 'card [card]', amount: 250 }, prevHash: '0'.repeat(64) });
    expect(first.hash).toMatch(/^[0-9a-f]{64}$/);
    await fill(4);
    expect(raw(2).prevHash).toBe(first.hash);
    const result = await audit.verify();
    expect(result).toEqual({ ok: true, count: 5, head: { seq: 5, hash: raw(5).hash } });
    expect(audit.head()).toEqual({ seq: 5, hash: raw(5).hash });
    expect(audit.read({ fromSeq: 4 }).map((r) => r.seq)).toEqual([4, 5]);
  });

  it('concurrent appends never fork the chain', async () => {
    const other = createAuditLog({ env, clock });
    await Promise.all(Array.from({ length: 100 }, (_, i) =>
      (i % 2 ? audit : other).append({ actor: admin, action: 'config.change', target: `k${i}`, outcome: 'ok' })));
    const result = await audit.verify();
    expect(result).toMatchObject({ ok: true, count: 100 });
    const seqs = audit.read({ limit: 1000 }).map((r) => r.seq);
    expect(seqs).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it('names an altered record', async () => {
    await fill(5);
    await put(3, { ...raw(3), outcome: 'denied' });
    expect(await audit.verify()).toMatchObject({ ok: false, firstBad: 3, reason: 'altered', count: 2 });
  });

  it('names a record altered and re-hashed (its successor no longer links to it)', async () => {
    await fill(5);
    const forged = { ...raw(3), target: 'user:someone-else' };
    await put(3, { ...forged, hash: hashOf(forged) });
    expect(await audit.verify()).toMatchObject({ ok: false, firstBad: 3, reason: 'broken_link' });
  });

  it('names a removed record', async () => {
    await fill(5);
    await env.db('audit').remove(2);
    expect(await audit.verify()).toMatchObject({ ok: false, firstBad: 2, reason: 'missing', count: 1 });
  });

  it('names reordered records', async () => {
    await fill(5);
    const [three, four] = [raw(3), raw(4)];
    await put(3, four);
    await put(4, three);
    expect(await audit.verify()).toMatchObject({ ok: false, firstBad: 3, reason: 'reordered' });
  });

  it('names an inserted entry', async () => {
    await fill(4);
    await put(2.5, { ...raw(2) });
    expect(await audit.verify()).toMatchObject({ ok: false, firstBad: 3, reason: 'inserted' });
  });

  it('notices a truncated tail through the anchored head, and appends do not hide it', async () => {
    await fill(5);
    await env.db('audit').remove(5);
    await env.db('audit').remove(4);
    expect(await audit.verify()).toMatchObject({ ok: false, firstBad: 4, reason: 'truncated', count: 3 });
    await audit.append({ actor: admin, action: 'config.change', target: 'x', outcome: 'ok' });
    expect(await audit.verify()).toMatchObject({ ok: false, firstBad: 4, reason: 'missing' });
  });

  it('notices a re-hashed last record through the anchor, and records appended behind its back', async () => {
    await fill(3);
    const forged = { ...raw(3), outcome: 'failed' as const };
    await put(3, { ...forged, hash: hashOf(forged) });
    expect(await audit.verify()).toMatchObject({ ok: false, firstBad: 3, reason: 'altered' });
    await put(3, { ...forged, outcome: 'ok', hash: hashOf({ ...forged, outcome: 'ok' }) });
    expect(await audit.verify()).toMatchObject({ ok: true, count: 3 });
    const extra = { ...raw(3), seq: 4, prevHash: raw(3).hash };
    await put(4, { ...extra, hash: hashOf(extra) });
    expect(await audit.verify()).toMatchObject({ ok: false, firstBad: 4, reason: 'unanchored' });
  });

  it('checks against a head kept elsewhere, which catches a rewritten anchor', async () => {
    await fill(4);
    const kept = audit.head()!;
    await env.db('audit').remove(4);
    await env.db('meta').put('audit.head', { seq: 3, hash: raw(3).hash });
    expect(await audit.verify()).toMatchObject({ ok: true, count: 3 });
    expect(await audit.verify({ expectedHead: kept })).toMatchObject({ ok: false, firstBad: 4, reason: 'truncated' });
  });

  it('assertIntact throws audit_broken naming the record', async () => {
    await fill(3);
    await put(2, { ...raw(2), details: { i: 99 } });
    await expect(audit.assertIntact()).rejects.toSatisfy((err: unknown) => err instanceof KeelError && err.code === 'audit_broken' && /record 2/.test(err.message));
  });

  it('reports a malformed record', async () => {
    await fill(2);
    await put(2, 'garbage');
    expect(await audit.verify()).toMatchObject({ ok: false, firstBad: 2, reason: 'malformed' });
  });

  it('verifies long chains across chunks (1000 records each)', async () => {
    await Promise.all(Array.from({ length: 1100 }, (_, i) => audit.append({ actor: admin, action: 'events.read', target: `t${i}`, outcome: 'ok' })));
    expect(await audit.verify()).toMatchObject({ ok: true, count: 1100 });
    await put(1050, { ...raw(1050), target: 'x' });
    expect(await audit.verify()).toMatchObject({ ok: false, firstBad: 1050, reason: 'altered' });
    await put(1000.5, { ...raw(1000) });
    expect(await audit.verify()).toMatchObject({ ok: false, firstBad: 1001, reason: 'inserted' });
  });

  it('refuses bad entries before writing anything', async () => {
    await expect(audit.append({ actor: { ...admin, role: 'root' as never }, action: 'x', target: 't', outcome: 'ok' })).rejects.toThrow(/actor/);
    await expect(audit.append({ actor: admin, action: 'Bad Action', target: 't', outcome: 'ok' })).rejects.toThrow(/action/);
    await expect(audit.append({ actor: admin, action: 'a.b', target: 't', outcome: 'maybe' as never })).rejects.toThrow(/outcome/);
    await expect(audit.append({ actor: admin, action: 'a.b', target: 't', outcome: 'ok', details: { n: Number.NaN } })).rejects.toThrow(/NaN/);
    expect(audit.head()).toBeUndefined();
  });
});
