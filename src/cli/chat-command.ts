/**
 * `keel chat`: a terminal chat client. Reads lines from stdin, prints replies (streamed when the
 * output is a terminal), reconnects with backoff and resumes with the last seq it saw.
 */
import { userInfo } from 'node:os';
import { createInterface } from 'node:readline';
import { createTokenKeyring } from '../security/token-keyring.js';
import { createChatClient } from '../server/chat-client.js';
import type { ServerFrame } from '../server/chat-frames.js';
import { isValidId } from '../types.js';
import { defineCommand } from './cli-args.js';
import { UsageError, line, type CliCommand, type CliIo } from './cli-io.js';
import { issueAuditedToken } from './cli-audit.js';

const usage = `Usage: keel chat [--url URL] [--token T | --tenant T --user U] [--session S] [--data-dir DIR]

A terminal chat client: type a line, read the reply. Reconnects and resumes after drops and
server restarts without losing or repeating messages. End with Ctrl-D or /quit.

Options:
  --url URL       the chat endpoint (default ws://$HOST:$PORT/chat, i.e. ws://127.0.0.1:8787/chat)
  --token T       a token from \`keel token\` ($KEEL_TOKEN). Without one, keel chat issues itself a
                  customer token from the data directory's key file: this works only on the
                  machine (and as the user) that runs the server.
  --tenant T      tenant of the self-issued token (default local)
  --user U        user of the self-issued token (default cli-<login name>)
  --session S     resume session S (its id is printed when a chat starts)
  --data-dir DIR  data directory for self-issued tokens (default $KEEL_DATA_DIR or ./.keel)
  -h, --help      this help`;

/** The `chat` command. */
export const chatCommand: CliCommand = defineCommand({
  name: 'chat',
  summary: 'terminal chat client with reconnect and resume',
  usage,
  flags: {
    url: { type: 'string' },
    token: { type: 'string' },
    tenant: { type: 'string' },
    user: { type: 'string' },
    session: { type: 'string' },
  },
  async run({ values, dataDir }, io) {
    const url = values.url ?? `ws://${io.env.HOST ?? '127.0.0.1'}:${io.env.PORT ?? '8787'}/chat`;
    if (!/^wss?:\/\//.test(url)) throw new UsageError('--url must start with ws:// or wss://');
    if (values.session !== undefined && !isValidId(values.session)) throw new UsageError('--session must be a session id');
    const token = values.token ?? io.env.KEEL_TOKEN ?? (await selfIssuedToken(values, dataDir, io));
    return chat(io, url, token, values.session);
  },
});

async function selfIssuedToken(values: { tenant?: string; user?: string }, dir: string, io: CliIo): Promise<string> {
  const tenant = values.tenant ?? 'local';
  const user = values.user ?? `cli-${loginName()}`;
  if (!isValidId(tenant)) throw new UsageError('--tenant must be 1-128 characters [A-Za-z0-9._:@-]');
  if (!isValidId(user)) throw new UsageError('--user must be 1-128 characters [A-Za-z0-9._:@-]');
  line(io.stderr, `keel chat: no --token; using a local customer token for ${tenant}/${user} from ${dir}`);
  // Audited like every issued token.
  return issueAuditedToken(dir, createTokenKeyring({ dir, env: io.env }), { tenant, user, role: 'customer', ttlMs: 12 * 3_600_000 }, { by: 'keel chat' });
}

function loginName(): string {
  try {
    return userInfo().username.replace(/[^A-Za-z0-9._-]/g, '').slice(0, 60) || 'user';
  } catch {
    return 'user';
  }
}

async function chat(io: CliIo, url: string, token: string, resume: string | undefined): Promise<number> {
  const streaming = io.stdout.isTTY === true;
  const streamed = new Map<string, string>();
  let announced = false;
  let fatal: { code: number; reason: string } | undefined;

  const print = (frame: ServerFrame): void => {
    switch (frame.type) {
      case 'delta':
        if (!streaming) return;
        if (!streamed.has(frame.replyTo)) io.stdout.write('agent> ');
        streamed.set(frame.replyTo, (streamed.get(frame.replyTo) ?? '') + frame.text);
        io.stdout.write(frame.text);
        return;
      case 'reply': {
        const shown = frame.replyTo === undefined ? undefined : streamed.get(frame.replyTo);
        if (frame.replyTo !== undefined) streamed.delete(frame.replyTo);
        if (shown !== undefined && shown.trim() === frame.text.trim()) line(io.stdout);
        else line(io.stdout, `${shown === undefined ? '' : '\n'}agent> ${frame.text}`);
        return;
      }
      case 'handoff':
        line(io.stdout, `[hand-off: ${frame.status}${frame.text ? ` - ${frame.text}` : ''}]`);
        return;
      case 'error':
        line(io.stderr, `keel chat: ${frame.code}: ${frame.message}`);
        return;
    }
  };

  const client = createChatClient({
    url,
    token,
    ...(resume !== undefined ? { sessionId: resume } : {}),
    onFrame: print,
    onStatus(status) {
      if (status.state === 'online' && !announced) {
        announced = true;
        line(io.stderr, `connected: session ${status.sessionId} (resume with --session ${status.sessionId})`);
      } else if (status.state === 'online') {
        line(io.stderr, 'reconnected');
      } else if (status.state === 'offline') {
        line(io.stderr, `connection lost (${status.code}${status.reason ? ` ${status.reason}` : ''}); retrying in ${Math.ceil(status.retryInMs / 100) / 10} s`);
      } else if (status.state === 'closed' && status.code !== 1000) {
        fatal = status;
        line(io.stderr, `keel chat: closed by the server: ${status.code} ${status.reason}`);
      }
    },
  });

  const lines = createInterface({ input: io.stdin, terminal: false });
  const stop = (): void => lines.close();
  io.signal.addEventListener('abort', stop, { once: true });
  try {
    for await (const raw of lines) {
      const text = raw.trim();
      if (text === '/quit') break;
      if (text === '') continue;
      client.send(text);
      if (fatal) break;
    }
    // Ctrl-D waits for the answers still owed; Ctrl-C does not.
    if (!io.signal.aborted && !fatal) await Promise.race([client.idle(), aborted(io.signal)]);
  } finally {
    io.signal.removeEventListener('abort', stop);
    await client.close();
  }
  return fatal ? 1 : 0;
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
