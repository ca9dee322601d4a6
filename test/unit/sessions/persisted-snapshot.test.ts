import { describe, expect, it } from 'vitest';
import { assign, createActor, createMachine, fromCallback, fromPromise, setup, type AnyActor } from 'xstate';
import { persistedSnapshotOf } from '../../../src/sessions/persisted-snapshot.js';
import { createTestMachine } from '../../fixtures/test-machines.js';

/** Same object as XState's, key for key in the same order (the JSON is what LMDB stores). */
function expectSameAsXState(actor: AnyActor): void {
  const ours = persistedSnapshotOf(actor);
  const theirs = actor.getPersistedSnapshot();
  expect(ours).toStrictEqual(theirs);
  expect(JSON.stringify(ours)).toBe(JSON.stringify(theirs));
}

const never = fromPromise(() => new Promise<never>(() => undefined));
const ticker = fromCallback(() => () => undefined);

describe('persistedSnapshotOf (what each commit stores)', () => {
  it('equals XState’s persisted snapshot on the test agent, before and after turns', () => {
    const actor = createActor(createTestMachine(), { input: { tenant: 't', user: 'u', channel: 'api', sessionId: 's' } as never }).start();
    expectSameAsXState(actor);
    actor.send({ type: 'user.message', text: 'hello', messageId: 'm1', turnKey: 's:1', at: 1 } as never);
    expectSameAsXState(actor);
    actor.send({ type: 'user.message', text: 'wait', messageId: 'm2', turnKey: 's:3', at: 2 } as never);
    expectSameAsXState(actor);
    actor.stop();
  });

  it('equals it with invoked and spawned children, an actor in context, parallel regions and history', () => {
    const machine = setup({ actors: { never, ticker } }).createMachine({
      id: 'rich',
      context: { child: undefined as unknown, list: [1, { deep: 'x' }], nested: { a: { b: 2 } } },
      type: 'parallel',
      states: {
        left: {
          initial: 'one',
          states: {
            one: { on: { NEXT: 'two' } },
            two: {
              initial: 'inner',
              invoke: { src: 'never', id: 'waiter' },
              states: { inner: { on: { DEEPER: 'deeper' } }, deeper: {}, hist: { type: 'history', history: 'deep' } },
              on: { BACK: 'one' },
            },
            again: { on: { RESUME: 'two.hist' } },
          },
          on: { AWAY: '.again' },
        },
        right: {
          entry: assign({ child: ({ spawn }) => spawn('ticker', { id: 'ticker-1', systemId: 'ticker' }) }),
          initial: 'idle',
          states: { idle: {} },
        },
      },
    });
    const actor = createActor(machine).start();
    expectSameAsXState(actor);
    actor.send({ type: 'NEXT' });
    actor.send({ type: 'DEEPER' });
    expectSameAsXState(actor);
    actor.send({ type: 'AWAY' });
    expectSameAsXState(actor);
    const persisted = persistedSnapshotOf(actor) as { historyValue: Record<string, unknown>; children: Record<string, unknown>; context: { child: unknown; list: unknown } };
    expect(Object.keys(persisted.historyValue).length).toBeGreaterThan(0);
    expect(Object.keys(persisted.children).sort()).toEqual(['ticker-1']);
    expect(persisted.context.child).toEqual({ xstate$$type: 1, id: 'ticker-1' });
    // Parts of the context without actors are shared, as XState shares them.
    expect(persisted.context.list).toBe((actor.getSnapshot().context as { list: unknown }).list);
    actor.send({ type: 'RESUME' });
    expectSameAsXState(actor);
    actor.stop();
  });

  it('equals it on a final state with output, and on an errored actor', () => {
    const done = createActor(createMachine({ id: 'done', initial: 'a', states: { a: { on: { GO: 'b' } }, b: { type: 'final' } }, output: () => ({ ok: true }) })).start();
    done.send({ type: 'GO' });
    expect(done.getSnapshot().status).toBe('done');
    expectSameAsXState(done);
    const failing = createActor(createMachine({ id: 'fails', entry: () => { throw new Error('boom'); } }));
    failing.subscribe({ error: () => undefined });
    failing.start();
    expect(failing.getSnapshot().status).toBe('error');
    expectSameAsXState(failing);
  });

  it('an inline child actor is refused with XState’s own error', () => {
    const machine = createMachine({ id: 'inline', context: {}, entry: assign({ child: ({ spawn }) => spawn(fromPromise(() => new Promise<never>(() => undefined))) }) });
    const actor = createActor(machine).start();
    expect(() => actor.getPersistedSnapshot()).toThrow(/inline child actor cannot be persisted/);
    expect(() => persistedSnapshotOf(actor)).toThrow(/inline child actor cannot be persisted/);
    actor.stop();
  });
});
