import { afterEach, describe, expect, it } from 'vitest';
import { createManualClock } from '../../../src/clock.js';
import { createAuditLog } from '../../../src/security/audit-log.js';
import { mustRedactFor, viewFrames } from '../../../src/security/frame-view.js';
import { signInAuditFor } from '../../../src/security/sign-in-audit.js';
import { openEnv, type LmdbEnv } from '../../../src/store/lmdb-env.js';
import { tenantId, userId, type Identity } from '../../../src/types.js';
import { tempDir } from '../../support/temp-dir.js';

const who = (role: Identity['role'], user: string, tenant = 'acme'): Identity => ({ tenant: tenantId(tenant), user: userId(user), role });
const owner = { tenant: 'acme', user: 'alice' };

describe('what a viewer sees of a session', () => {
  const frames = [
    { type: 'ack', seq: 1, text: 'mail me at alice@example.com', time: 1 },
    { type: 'reply', seq: 2, text: 'Done, alice@example.com.', meta: { note: 'call +44 20 7946 0958', nested: { iban: 'GB82 WEST 1234 5698 7654 32' } }, time: 2 },
  ];

  it('the owner and a human agent see it as stored; engineers, admins and other customers see it redacted', () => {
    expect(viewFrames(frames, who('customer', 'alice'), owner)).toBe(frames);
    expect(viewFrames(frames, who('agent', 'sam'), owner)).toBe(frames);
    for (const viewer of [who('engineer', 'eve'), who('admin', 'root'), who('customer', 'bob'), who('customer', 'alice', 'globex')]) {
      expect(mustRedactFor(viewer, owner)).toBe(true);
      const shown = JSON.stringify(viewFrames(frames, viewer, owner));
      expect(shown).not.toMatch(/alice@example\.com|7946|GB82/);
      expect(shown).toContain('[email]');
      expect(shown).toContain('[phone]');
      expect(shown).toContain('[iban]');
    }
    // The stored frames are not changed by a redacted view.
    expect(frames[0]!.text).toBe('mail me at alice@example.com');
  });
});

describe('sign-in audit', () => {
  let env: LmdbEnv | undefined;
  let temp: ReturnType<typeof tempDir> | undefined;
  afterEach(async () => {
    await env?.close();
    env = undefined;
    temp?.remove();
  });

  it('records accepted and refused sign-ins, throttles refusals, and carries the count of those not recorded', async () => {
    temp = tempDir();
    env = openEnv({ dir: temp.dir });
    const clock = createManualClock(1_000_000);
    const audit = createAuditLog({ env, clock });
    const signIns = signInAuditFor(audit, { clock, failuresPerSecond: 1, failureBurst: 3 });
    expect(signInAuditFor(audit)).toBe(signIns);
    for (let i = 0; i < 10; i++) signIns.failed('bad_signature', 'chat');
    signIns.succeeded(who('customer', 'alice'), 'chat', { channel: 'web' });
    clock.advance(2000);
    signIns.failed('expired', 'ops');
    await env.flushed();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const records = audit.read({});
    expect(records.map((r) => `${r.actor.role}:${r.outcome}:${String(r.details.reason ?? '')}`)).toEqual([
      'anonymous:denied:bad_signature', 'anonymous:denied:bad_signature', 'anonymous:denied:bad_signature', 'customer:ok:', 'anonymous:denied:expired',
    ]);
    expect(records[3]!.details).toEqual({ channel: 'web', refusalsNotRecorded: 7 });
    expect(records[4]!.target).toBe('endpoint:ops');
    expect((await audit.verify()).ok).toBe(true);
  });
});
