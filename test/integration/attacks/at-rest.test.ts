/**
 * Someone with a copy of the data directory (a backup, a stolen disk): after real conversations
 * with the default agent — through the chat socket, with a model in the loop, tool calls that
 * carry what the customer typed — the raw bytes keel keeps hold no plaintext of any message, no
 * email, card, phone number or IBAN, and no address the customer typed — not in the journal, the
 * snapshots, the tool results, the decision trace nor the memories. The same run without
 * encryption shows the scan would find them. Key files are readable by the owner only.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../../support/cleanups.js';
import { isReplyTo, openChat } from '../server/support/keel-harness.js';
import { secureKeelPerTest, type SecureKeel } from './support/secure-keel.js';

const defer = useCleanups();
const keel = secureKeelPerTest(defer);

/** What customers type: every message carries at least one string no other data in keel has. */
const CONVERSATIONS: Record<string, readonly string[]> = {
  alice: [
    'hello, I am Marmaduke Fitzwilliam, reach me at zorblax.quintessence@example.org',
    'please change the delivery address of order 1043 to 99 Quixotic Lane, Frobtown FR0 8QQ',
    'yes',
    'my card is 4111 1111 1111 1111 and my IBAN is GB82 WEST 1234 5698 7654 32',
    'how much does express delivery cost? asking for my cousin Wilhelmina',
    'I want a refund for order 1044, it arrived damaged: the zipper of my Hyperborean backpack broke',
    'yes',
  ],
  bob: ['call me on +44 20 7946 0958 about order 2001, my neighbour Ptolemy Snodgrass can sign', 'where is my order 2001?', 'thanks Quetzalcoatl'],
};

/** Strings that must not appear in any raw byte: one or more per message, and the PII. */
const MUST_NOT_APPEAR = [
  'Marmaduke', 'Fitzwilliam', 'zorblax', 'quintessence', 'Quixotic', 'Frobtown', 'FR0 8QQ', '4111 1111 1111 1111', '4111111111111111',
  'GB82 WEST', 'GB82WEST', 'Wilhelmina', 'Hyperborean', 'zipper of my', '7946 0958', 'Ptolemy', 'Snodgrass', 'Quetzalcoatl',
  'asking for my cousin', 'change the delivery address', 'where is my order',
];

/** Every file keel wrote, except the demo store's order files (the shop's own system of record, see docs/security.md). */
function rawFiles(dir: string): Array<{ path: string; bytes: string }> {
  return readdirSync(dir, { recursive: true })
    .map((f) => join(dir, String(f)))
    .filter((f) => statSync(f).isFile() && !relative(dir, f).startsWith('demo-store'))
    .map((f) => ({ path: relative(dir, f), bytes: readFileSync(f).toString('latin1') }));
}

async function converse(k: SecureKeel): Promise<void> {
  for (const [user, messages] of Object.entries(CONVERSATIONS)) {
    const c = await openChat(k, { token: await k.token({ user }) });
    defer(() => c.close());
    for (const [i, text] of messages.entries()) {
      c.send({ type: 'message', id: `${user}-${i}`, text });
      await c.next(isReplyTo(`${user}-${i}`), 20_000);
    }
  }
}

describe('encryption at rest', () => {
  it('leaves no plaintext of any message, personal data or typed address in the raw data files', async () => {
    const k = await keel({ llm: true });
    await converse(k);
    // The conversation reached the tools: the typed address was applied, the refund is held for approval.
    expect(k.agent.store.order('acme', '1043')?.address).toBe('99 Quixotic Lane, Frobtown FR0 8QQ');
    expect(k.audit().some((a) => a.action === 'tool.request_refund' && a.outcome === 'pending')).toBe(true);
    // The model saw the messages (so the LLM path ran), yet nothing it saw is stored in clear.
    expect(k.model!.requestsTo('/v1/chat/completions').length).toBeGreaterThan(0);
    await k.stop();

    const files = rawFiles(k.dir);
    expect(files.map((f) => f.path)).toContain('keel.mdb');
    expect(files.reduce((n, f) => n + f.bytes.length, 0)).toBeGreaterThan(50_000);
    for (const { path, bytes } of files) {
      for (const secret of MUST_NOT_APPEAR) expect(bytes.includes(secret), `${secret} in ${path}`).toBe(false);
    }
  });

  it('the same scan finds the plaintext when encryption is turned off (the check can fail)', async () => {
    const k = await keel({ llm: true, runtime: { sealer: 'none' } });
    await converse(k);
    await k.stop();
    const all = rawFiles(k.dir).map((f) => f.bytes).join('');
    expect(all).toContain('Marmaduke');
    expect(all).toContain('Quixotic');
  });

  it('keeps key files readable by the owner only, and the data directory closed to others', async () => {
    if (process.platform === 'win32') return;
    const k = await keel();
    await converse(k);
    for (const file of ['token-keys.json', 'tenant-keys.json']) expect(statSync(join(k.dir, file)).mode & 0o777, file).toBe(0o600);
    expect(statSync(k.dir).mode & 0o077).toBe(0);
  });
});
