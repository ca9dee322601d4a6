// The demo store's files: a snapshot per tenant and a log of the changes since, appended as they
// happen; restarts replay the log; a torn last line is skipped; the log is folded into the
// snapshot once it is long.
import { appendFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDemoStore } from '../../../src/agent/demo-store.js';
import { tempDir } from '../../support/temp-dir.js';

let remove: (() => void) | undefined;
afterEach(() => {
  remove?.();
  remove = undefined;
});
const fresh = () => {
  const t = tempDir('keel-demo-store-');
  remove = t.remove;
  return { dir: t.dir, snapshot: join(t.dir, 'demo-store', 'acme.json'), log: join(t.dir, 'demo-store', 'acme.log') };
};

describe('demo store', () => {
  it('appends each change to a log instead of writing the tenant again, and a restart finds every change', () => {
    const { dir, snapshot, log } = fresh();
    const store = openDemoStore({ dataDir: dir });
    expect(store.ordersOf('acme', 'alice').map((o) => o.id)).toEqual(['1042', '1043', '1044', '1045']);
    // 2,000 new customers: each gets two orders, each a few hundred bytes of log.
    for (let i = 0; i < 2_000; i++) store.ordersOf('acme', `guest-${i}`);
    const before = readFileSync(snapshot);
    const logBytes = statSync(log).size;
    const [first] = store.ordersOf('acme', 'guest-7');
    store.update('acme', first!.id, (o) => {
      o.address = '4 Rue Colbert, Lyon';
      o.owner = 'mallory'; // not kept: the owner is the guard's ground truth
    });
    const refund = store.nextReference('acme', 'R');
    const ticket = store.addTicket('acme', 'guest-7', 'ticket', 'late', 'parcel late');
    // The snapshot was not written again; the log grew by a few hundred bytes per change.
    expect(readFileSync(snapshot).equals(before)).toBe(true);
    expect(statSync(log).size - logBytes).toBeLessThan(2_000);
    expect(store.ownerOf('acme', first!.id)).toBe('guest-7');

    const again = openDemoStore({ dataDir: dir });
    expect(again.order('acme', first!.id)).toMatchObject({ owner: 'guest-7', address: '4 Rue Colbert, Lyon' });
    expect(again.ordersOf('acme', 'guest-1999')).toHaveLength(2);
    expect(again.ordersOf('acme', 'alice').map((o) => o.id)).toEqual(['1042', '1043', '1044', '1045']);
    // Counters carry on where they were: no id is handed out twice.
    expect(again.nextReference('acme', 'R')).not.toBe(refund);
    expect(again.addTicket('acme', 'guest-8', 'callback', 'call me', '')).not.toBe(ticket.replace('T-', 'CB-'));
    const newcomer = again.ordersOf('acme', 'newcomer').map((o) => o.id);
    expect(newcomer.some((id) => store.order('acme', id) !== undefined)).toBe(false);
  });

  it('skips a last line cut short by a crash', () => {
    const { dir, log } = fresh();
    const store = openDemoStore({ dataDir: dir });
    store.ordersOf('acme', 'bob');
    const [order] = store.ordersOf('acme', 'bob');
    store.update('acme', order!.id, (o) => {
      o.status = 'cancelled';
    });
    appendFileSync(log, '{"t":"order","order":{"id":"');
    const again = openDemoStore({ dataDir: dir });
    expect(again.order('acme', order!.id)?.status).toBe('cancelled');
    expect(again.ordersOf('acme', 'bob')).toHaveLength(2);
  });

  it('folds a long log into the snapshot, while open and when opened', () => {
    const { dir, snapshot, log } = fresh();
    const store = openDemoStore({ dataDir: dir, compactAfter: 3 });
    store.ordersOf('acme', 'u1');
    store.ordersOf('acme', 'u2');
    expect(readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(2);
    store.ordersOf('acme', 'u3');
    // The third change wrote the snapshot and emptied the log.
    expect(existsSync(log)).toBe(false);
    expect((JSON.parse(readFileSync(snapshot, 'utf8')) as { customers: Array<{ id: string }> }).customers.map((c) => c.id)).toEqual(expect.arrayContaining(['u1', 'u2', 'u3']));
    store.ordersOf('acme', 'u4');
    store.ordersOf('acme', 'u5');
    // Opened with a bound the log already reaches: folded at once.
    const again = openDemoStore({ dataDir: dir, compactAfter: 2 });
    expect(again.ordersOf('acme', 'u5')).toHaveLength(2);
    expect(existsSync(log)).toBe(false);
    expect(openDemoStore({ dataDir: dir }).ordersOf('acme', 'u4')).toHaveLength(2);
    expect(() => openDemoStore({ dataDir: dir, compactAfter: 0 })).toThrow(/compactAfter/);
  });
});
