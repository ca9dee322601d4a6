/**
 * A real keel server running the demo support agent (with tools that can be made to fail), for
 * the inspector's tests: staff tokens, and turns driven through the runtime.
 */
import type { AnyStateMachine } from 'xstate';
import type { ServerOptions } from '../../../../src/server/server-options.js';
import type { TokenClaims } from '../../../../src/security/tokens.js';
import { tenantId, userId } from '../../../../src/types.js';
import { startKeel, type Harness } from '../../server/support/keel-harness.js';
import { createObservedAgent, type ObservedAgent } from '../../observe/support/observed-agent.js';
import { tempDir } from '../../../support/temp-dir.js';

export interface InspectorHarness extends Omit<Harness, 'agent'> {
  /** The agent's tools: which fail, and how often each was called. */
  readonly observed: ObservedAgent;
  /** A token of this role for tenant `acme`. */
  staff(role: 'engineer' | 'admin' | 'customer' | 'agent', claims?: Partial<TokenClaims>): Promise<string>;
  /** Opens a session for `user` in tenant `acme`. */
  open(user: string): Promise<string>;
  /** Sends one user message and waits for its committed answer. */
  say(sessionId: string, text: string): Promise<{ state: string; reply: string }>;
}

let messageSeq = 0;

export async function startInspectorHarness(options: { failing?: string[]; server?: Partial<Omit<ServerOptions, 'runtime'>> } = {}): Promise<InspectorHarness> {
  const temp = tempDir('keel-inspector-');
  const agent = await createObservedAgent({ dataDir: temp.dir, failing: new Set(options.failing ?? []) });
  const h = await startKeel({ dir: temp.dir, machine: agent.machine as unknown as AnyStateMachine, ...(options.server ? { server: options.server } : {}) });
  return Object.assign(h, {
    observed: agent,
    remove: temp.remove,
    staff: (role: 'engineer' | 'admin' | 'customer' | 'agent', claims: Partial<TokenClaims> = {}) => h.token({ user: `${role}-1`, role, ...claims }),
    async open(user: string) {
      return (await h.runtime.open({ tenant: tenantId('acme'), user: userId(user), channel: 'web' })).sessionId;
    },
    async say(sessionId: string, text: string) {
      const outcome = await h.runtime.send(sessionId, { type: 'user.message', id: `m-${++messageSeq}`, text });
      return { state: outcome.state, reply: outcome.frames.filter((f) => f.type === 'reply').map((f) => f.text ?? '').join('\n') };
    },
  });
}
