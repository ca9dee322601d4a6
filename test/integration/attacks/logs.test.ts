/**
 * What the logs of a real `keel serve` run give away (OWASP LLM02 sensitive information
 * disclosure): a conversation full of personal data — emails (one of them a user id), phone
 * numbers, card numbers, IBANs — plus refused tokens, a model endpoint with an API key and a
 * master key in the environment. The captured pino output holds none of it, and no secret:
 * not a token, not a key from the key files, not the API key, not the master key.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli/cli-main.js';
import { createTokenKeyring } from '../../../src/security/token-keyring.js';
import { createTokenService } from '../../../src/security/tokens.js';
import { useCleanups } from '../../support/cleanups.js';
import { startFakeOpenAiServer } from '../../support/fake-openai-server.js';
import { tempDir } from '../../support/temp-dir.js';
import { fakeIo } from '../server/support/fake-io.js';
import { connect, isReplyTo, openChat } from '../server/support/keel-harness.js';

const defer = useCleanups();

const USER_EMAIL = 'marmaduke.fitzwilliam@example.org';
const PII = [
  USER_EMAIL, 'zorblax.q@example.net', '+44 20 7946 0958', '020 7946 0958', '(415) 555-0132', '4111 1111 1111 1111', '5500-0000-0000-0004',
  '378282246310005', 'GB82 WEST 1234 5698 7654 32', 'DE89370400440532013000',
];
const MESSAGES = [
  `hello, I'm ${USER_EMAIL}, also reachable at ${PII[1]}`,
  `call me on ${PII[2]} or ${PII[3]}, my US number is ${PII[4]}`,
  `please change the delivery address of order 1043 to 99 Quay Street, Frobtown; phone ${PII[2]}`,
  'yes',
  `refund order 1044 to my card ${PII[5]} (or ${PII[6]}, or amex ${PII[7]}), it arrived damaged`,
  `my IBAN is ${PII[8]} and my German one ${PII[9]}`,
  'x'.repeat(5000), // over the message limit: refused, logged as an error frame
];

describe('logs of a keel serve run', () => {
  it('hold no personal data and no secret, while saying what happened', async () => {
    const dir = tempDir('keel-logs-');
    defer(dir.remove);
    const apiKey = `sk-live-${randomBytes(16).toString('hex')}`;
    const masterKey = randomBytes(32).toString('hex');
    const model = await startFakeOpenAiServer({ apiKey });
    defer(() => model.close());
    const io = fakeIo({
      env: {
        KEEL_DATA_DIR: dir.dir, HOST: '127.0.0.1', PORT: '0', KEEL_LOG_LEVEL: 'debug', KEEL_OPS_ACCESS: 'token',
        OPENAI_BASE_URL: model.baseURL, OPENAI_API_KEY: apiKey, KEEL_MODEL: 'm', KEEL_MASTER_KEY: masterKey,
      },
    });
    const served = runCli(['serve'], io);
    defer(async () => {
      io.stop();
      await served;
    });
    const url = (await io.waitFor(/keel serving (http:\/\/[^/\s]+)\//, 'err', 20_000))[1]!;
    const wsUrl = `${url.replace(/^http/, 'ws')}/chat`;
    const tokens = createTokenService({ keyring: createTokenKeyring({ dir: dir.dir, env: {} }) });
    const used: string[] = [];
    const token = async (user: string, role: 'customer' | 'engineer' = 'customer') => {
      const t = await tokens.issueToken({ tenant: 'acme', user, role });
      used.push(t);
      return t;
    };

    const c = await openChat({ wsUrl } as never, { token: await token(USER_EMAIL) });
    for (const [i, text] of MESSAGES.entries()) {
      c.send({ type: 'message', id: `m${i}`, text });
      await c.next((f) => (f.type === 'reply' || f.type === 'error') && (f.replyTo === `m${i}` || f.id === `m${i}`), 20_000);
    }
    expect(c.frames.some((f) => f.type === 'error' && f.code === 'too_large')).toBe(true);
    // An engineer watching the session, a refused token, a token in a frame that is not JSON, and the ops endpoint probed.
    const eng = await openChat({ wsUrl } as never, { token: await token('eve', 'engineer'), sessionId: c.sessionId, lastSeq: 0 });
    await eng.next(isReplyTo('m0'));
    const valid = await token('bob');
    const [h, p] = valid.split('.');
    const forged = `${h}.${p}.${'A'.repeat(43)}`;
    await connect(wsUrl, { token: forged }).closed;
    const raw = connect(wsUrl);
    await raw.opened;
    raw.sendRaw(`{"type":"auth","token":"${valid}"`);
    await raw.closed;
    expect((await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${forged}` } })).status).toBe(401);
    c.close();
    eng.close();
    io.stop();
    expect(await served).toBe(0);

    const logs = io.out();
    const lines = logs.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    // The run is visible: the server, the connections, the refusals.
    expect(lines.some((l) => l.msg === 'keel server listening')).toBe(true);
    expect(lines.filter((l) => l.msg === 'closing chat connection').length).toBeGreaterThanOrEqual(3);
    expect(lines.some((l) => /unauthorized/.test(String(l.reason)))).toBe(true);
    expect(lines.some((l) => l.user === '[email]')).toBe(true);

    const secrets = [
      ...PII, apiKey, masterKey, ...used, forged.split('.')[2]!, ...used.map((t) => t.split('.')[2]!),
      ...(JSON.parse(readFileSync(join(dir.dir, 'token-keys.json'), 'utf8')) as { keys: { secret: string }[] }).keys.map((k) => k.secret),
      ...Object.values((JSON.parse(readFileSync(join(dir.dir, 'tenant-keys.json'), 'utf8')) as { tenants: Record<string, { keys: Record<string, string> }> }).tenants).flatMap((t) => Object.values(t.keys)),
    ];
    for (const secret of secrets) expect(logs.includes(secret), `log holds ${secret.slice(0, 12)}...`).toBe(false);
    // Digits of cards and phone numbers, in any grouping.
    const digits = logs.replace(/\D/g, '');
    for (const n of ['4111111111111111', '5500000000000004', '378282246310005', '2079460958', '4155550132']) expect(digits.includes(n), n).toBe(false);
  });
});
