/**
 * The examples run as documented: embedding the default agent without the server, and a custom
 * agent (an IT helpdesk) built from keel's building blocks on the same runtime.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runEmbedded } from '../../examples/embed.js';
import { createHelpdeskAgent, runHelpdesk } from '../../examples/custom-agent.js';
import { createRuntime, tenantId, userId } from '../../src/index.js';
import { tempDir } from '../support/temp-dir.js';

const dirs: { remove: () => void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});
const fresh = () => {
  const d = tempDir('keel-example-');
  dirs.push(d);
  return d.dir;
};

describe('examples/embed.ts', () => {
  it('holds a conversation with the default agent and closes the runtime', async () => {
    const lines = await runEmbedded({ dataDir: fresh() });
    expect(lines.map((l) => l.agent)).toEqual([
      expect.stringMatching(/^Hi! I'm the Keel Outfitters assistant/),
      expect.stringMatching(/^Order 1042 \(Trail running shoes, Merino socks\) is on its way/),
      "I'll cancel order 1043 (Rain jacket, €24.50). Shall I go ahead?",
      'Done: order 1043 is cancelled, and €24.50 will be refunded to your original payment method.',
      expect.stringMatching(/\(Source: Returns policy\)$/),
    ]);
  });

  it('keeps what it did in its data directory: a second run sees the cancelled order', async () => {
    const dataDir = fresh();
    await runEmbedded({ dataDir });
    const again = await runEmbedded({ dataDir });
    expect(again[3]!.agent).toBe("I can't cancel order 1043: it is already cancelled.");
  });
});

describe('examples/custom-agent.ts', () => {
  it('the helpdesk resets a password through its guarded tools and answers from its own knowledge base', async () => {
    const { lines, resets } = await runHelpdesk({ dataDir: fresh() });
    expect(lines.map((l) => l.agent)).toEqual([
      "Hi! I'm the IT helpdesk assistant. I can reset your password or answer questions about the VPN, Wi-Fi and printers.",
      'What is your username? It is the first part of your work email, like alice.',
      "I'll send a password reset link to the email on file for alice (a•••@example.com). Shall I go ahead?",
      'Done: a reset link is on its way to a•••@example.com; it expires in 30 minutes.',
      expect.stringMatching(/^Connect to the VPN with the Keel Connect app.*\(Source: VPN\)$/),
    ]);
    expect(lines[1]!.state).toContain('conversation.task.collecting');
    expect(resets).toEqual([{ username: 'alice', key: expect.stringMatching(/:reset_password:1$/) }]);
  });

  it("the helpdesk's guard keeps employees to their own account, and its patterns come with the chart", async () => {
    const helpdesk = await createHelpdeskAgent();
    const dataDir = fresh();
    const runtime = createRuntime({ dataDir, machine: helpdesk.machine });
    try {
      const { sessionId } = await runtime.open({ tenant: tenantId('keel-ltd'), user: userId('alice') });
      let n = 0;
      const say = async (text: string) => (await runtime.send(sessionId, { type: 'user.message', id: `m${++n}`, text })).frames.find((f) => f.type === 'reply')!;
      // P5 with the helpdesk's own wording.
      expect((await say('book me a flight to Rome')).text).toMatch(/^Sorry, I can't help with that here\. I can reset your password/);
      expect((await say('no')).text).toBe('OK, let me know if you change your mind.');
      expect((await say('reset the password of account bob')).text).toBe('I couldn\'t find "bob" on your account.\n\nWhat is your username? It is the first part of your work email, like alice.');
      // P13 cancel, then P8 hand-off to the helpdesk's desk.
      expect((await say('stop')).text).toBe('OK, your password stays as it is.');
      expect((await say('I want to talk to a person')).text).toMatch(/^I'm asking someone from IT to join\./);
      expect(helpdesk.handoffs).toHaveLength(1);
      expect(helpdesk.directory.resets).toEqual([]);
    } finally {
      await runtime.close();
    }
  });
});
