/**
 * The audit trail as an insider with write access to the data directory sees it: sign-ins,
 * tool calls and refusals, approvals, hand-offs, erasures and configuration changes are all
 * recorded; `keel audit verify` proves the chain intact, and names the first bad record when a
 * record is altered, removed, reordered or the tail cut — edits made on the raw LMDB records.
 * A complete rewrite of the chain is caught against a head kept elsewhere (`--expect-head`).
 */
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli/cli-main.js';
import { EXIT_AUDIT_BROKEN } from '../../../src/cli/audit-command.js';
import { hashOf, type AuditRecord } from '../../../src/security/audit-log.js';
import { openEnv } from '../../../src/store/lmdb-env.js';
import { tenantId, userId } from '../../../src/types.js';
import { useCleanups } from '../../support/cleanups.js';
import { tempDir } from '../../support/temp-dir.js';
import { fakeIo } from '../server/support/fake-io.js';
import { connect, isReplyTo, openChat } from '../server/support/keel-harness.js';
import { eventually, secureKeelPerTest } from './support/secure-keel.js';

const defer = useCleanups();
const keel = secureKeelPerTest(defer);

/** Runs a day of keel: every kind of audited action happens at least once. Returns the stopped data directory. */
async function aDayOfKeel(): Promise<string> {
  const k = await keel();
  const alice = await openChat(k, { token: await k.token({ user: 'alice' }) });
  for (const [id, text] of [
    ['a1', 'where is my order 2001?'], // bob's order: refused by the guard
    ['a2', 'where is my order 1042?'], // hers: allowed
    ['a3', 'I want a refund for order 1044, it arrived damaged'],
    ['a4', 'yes'], // above the limit: held for a human
  ] as const) {
    alice.send({ type: 'message', id, text });
    await alice.next(isReplyTo(id), 20_000);
  }
  await k.runtime.send(alice.sessionId, { type: 'operator.approve', approver: { tenant: 'acme', user: 'sam', role: 'agent' } }, { as: { tenant: tenantId('acme'), user: userId('sam'), role: 'agent' } });
  // A human agent on duty at the desk, so the hand-off is queued for them.
  const desk = connect(k.deskUrl, { token: await k.token({ role: 'agent', user: 'sam' }) });
  await desk.next((f) => f.type === 'ready');
  alice.send({ type: 'message', id: 'a5', text: 'I want to talk to a human' });
  await alice.next(isReplyTo('a5'), 20_000);
  desk.close();
  alice.close();
  const bad = connect(k.wsUrl, { token: 'forged.token.here' });
  await bad.closed;
  const io = fakeIo({ env: { KEEL_DATA_DIR: k.dir } });
  expect(await runCli(['token', '--rotate'], io)).toBe(0);
  await k.runtime.forget({ tenant: tenantId('acme'), user: userId('carol') }, { tenant: tenantId('acme'), user: userId('root'), role: 'admin' });
  await eventually(() => k.audit().some((a) => a.action === 'handoff.queued'), 10_000, 'the hand-off record');
  await k.stop();
  return k.dir;
}

async function verify(dir: string, ...extra: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = fakeIo({ env: { KEEL_DATA_DIR: dir } });
  const code = await runCli(['audit', 'verify', ...extra], io);
  return { code, out: io.out(), err: io.err() };
}

/** A copy of `dir` whose raw audit records were changed by `tamper` (straight through LMDB, as an insider would). */
async function tampered(dir: string, tamper: (db: ReturnType<ReturnType<typeof openEnv>['db']>, records: AuditRecord[]) => void): Promise<string> {
  const copy = tempDir('keel-tampered-');
  defer(copy.remove);
  cpSync(dir, copy.dir, { recursive: true });
  const env = openEnv({ dir: copy.dir });
  const db = env.db('audit');
  const records = [...db.getRange({})].map(({ value }) => value as AuditRecord);
  await env.root.transaction(() => tamper(db, records));
  await env.close();
  return copy.dir;
}

describe('the audit trail', () => {
  it('records sign-ins, tool calls and refusals, approvals, hand-offs, erasures and configuration changes; keel audit verify proves it intact', async () => {
    const dir = await aDayOfKeel();
    const io = fakeIo({ env: { KEEL_DATA_DIR: dir } });
    expect(await runCli(['audit', 'list', '--limit', '1000', '--json'], io)).toBe(0);
    const records = JSON.parse(io.out()) as AuditRecord[];
    const seen = new Set(records.map((r) => `${r.action}:${r.outcome}`));
    for (const expected of [
      'auth.signin:ok', 'auth.signin:denied', 'tool.lookup_order:denied', 'tool.lookup_order:ok', 'tool.request_refund:pending',
      'tool.request_refund:ok', 'handoff.queued:ok', 'config.change:ok', 'user.forget:ok',
    ]) expect(seen.has(expected), expected).toBe(true);
    expect(records.find((r) => r.action === 'tool.request_refund' && r.outcome === 'ok')?.details.approver).toBe('agent:sam');
    expect(records.find((r) => r.action === 'auth.signin' && r.outcome === 'denied')?.actor.role).toBe('anonymous');
    expect(records.find((r) => r.action === 'handoff.queued')?.actor).toMatchObject({ tenant: 'acme', role: 'system' });

    const ok = await verify(dir);
    expect(ok.code).toBe(0);
    const last = records.at(-1)!;
    expect(ok.out.trim()).toBe(`audit chain intact: ${records.length} records, head ${last.seq}:${last.hash}`);
    expect((await verify(dir, '--expect-head', `${last.seq}:${last.hash}`)).code).toBe(0);
  });

  it('names the first bad record when one is altered, removed, reordered, re-hashed, or the tail is cut', async () => {
    const dir = await aDayOfKeel();
    const io = fakeIo({ env: { KEEL_DATA_DIR: dir } });
    await runCli(['audit', 'list', '--limit', '1000', '--json'], io);
    const denial = (JSON.parse(io.out()) as AuditRecord[]).find((r) => r.action === 'tool.lookup_order' && r.outcome === 'denied')!;
    expect(denial.seq).toBeGreaterThan(1);
    const cases: Array<{ name: string; tamper: Parameters<typeof tampered>[1]; firstBad: number; reason: string }> = [
      { name: 'a denial rewritten as a success', firstBad: denial.seq, reason: 'altered', tamper: (db, r) => void db.put(denial.seq, { ...r[denial.seq - 1]!, outcome: 'ok' }) },
      { name: 'a record removed', firstBad: 4, reason: 'missing', tamper: (db) => void db.remove(4) },
      { name: 'two records swapped', firstBad: 2, reason: 'reordered', tamper: (db, r) => {
        db.put(2, r[2]!);
        db.put(3, r[1]!);
      } },
      { name: 'a record altered and re-hashed', firstBad: 4, reason: 'broken_link', tamper: (db, r) => {
        const changed = { ...r[3]!, details: {} };
        db.put(4, { ...changed, hash: hashOf(changed) });
      } },
      { name: 'the tail cut', firstBad: 0, reason: 'truncated', tamper: (db, r) => void db.remove(r.length) },
    ];
    for (const c of cases) {
      const copy = await tampered(dir, c.tamper);
      const result = await verify(copy);
      expect(result.code, c.name).toBe(EXIT_AUDIT_BROKEN);
      const firstBad = c.reason === 'truncated' ? Number(/record (\d+)/.exec(result.err)?.[1]) : c.firstBad;
      expect(result.err, c.name).toMatch(new RegExp(`chain broken at record ${firstBad} \\(${c.reason}\\)`));
    }
  });

  it('catches a rewrite of the whole chain and its anchor against a head kept elsewhere', async () => {
    const dir = await aDayOfKeel();
    const before = (await verify(dir)).out.match(/head (\d+:[0-9a-f]{64})/)![1]!;
    // The insider rewrites history from record 2 on and re-anchors the head: the chain alone verifies...
    const copy = await tampered(dir, (db, records) => {
      let prev = records[0]!.hash;
      for (const r of records.slice(1)) {
        const fields = { ...r, prevHash: prev, details: r.action.startsWith('tool.') ? {} : r.details };
        const rewritten = { ...fields, hash: hashOf(fields) };
        db.put(r.seq, rewritten);
        prev = rewritten.hash;
      }
    });
    const env = openEnv({ dir: copy });
    const meta = env.db('meta');
    const last = [...env.db('audit').getRange({ reverse: true, limit: 1 })][0]!.value as AuditRecord;
    await meta.put('audit.head', { seq: last.seq, hash: last.hash });
    await env.close();
    expect((await verify(copy)).code).toBe(0);
    // ...but not against the head printed before.
    const checked = await verify(copy, '--expect-head', before);
    expect(checked.code).toBe(EXIT_AUDIT_BROKEN);
    expect(checked.err).toMatch(/does not match the expected head/);
  });

  it('says so when there is no data, and refuses malformed heads', async () => {
    const empty = tempDir();
    defer(empty.remove);
    expect((await verify(join(empty.dir, 'nothing'))).code).toBe(1);
    const io = fakeIo();
    expect(await runCli(['audit', 'verify', '--expect-head', 'xyz'], io)).toBe(2);
    expect(io.err()).toMatch(/SEQ:HASH/);
  });
});
