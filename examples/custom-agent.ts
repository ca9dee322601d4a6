/**
 * A second agent built from keel's building blocks: an IT helpdesk that resets passwords (a task
 * with a slot checked by a lookup, a confirmation and a guarded tool), answers IT questions from
 * its own knowledge base (grounded only), makes small talk, and hands off to IT staff. Every
 * pattern of the support agent (low confidence, clarification, interruptions, corrections,
 * silence, the fallback ladder) comes with the chart; the spec only says what is specific.
 *
 * Run it: `npm run build && node dist/examples/custom-agent.js`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  controlIntents,
  createAgentMachine,
  createHandoffActor,
  createKnowledgeIndex,
  createKnowledgeSearchActor,
  createLlmReplyActor,
  createLocalRouter,
  createPlannerActor,
  createRouterActor,
  createRuntime,
  createToolCallActor,
  createToolGuard,
  createToolRunner,
  parseIntentDefinitions,
  smalltalkIntents,
  tenantId,
  userId,
  type AgentSpec,
  type HandoffDesk,
  type HandoffInput,
  type Json,
  type LocalRouter,
  type RuntimePorts,
  type SlotExtractor,
  type ToolRegistry,
} from '../src/index.js';

/** An account of the company directory. */
interface Account {
  readonly username: string;
  readonly owner: string;
  readonly email: string;
}

/** The company directory the tools read: one employee, one account. */
export function createDirectory(accounts: readonly Account[] = [
  { username: 'alice', owner: 'alice', email: 'alice@example.com' },
  { username: 'bob', owner: 'bob', email: 'bob@example.com' },
]) {
  const byName = new Map(accounts.map((a) => [a.username, a]));
  const resets: { username: string; key: string }[] = [];
  return { byName, resets, ownerOf: (username: string) => byName.get(username)?.owner };
}

const mask = (email: string) => email.replace(/^(.).*(@.*)$/, '$1•••$2');
const USERNAME = /^[a-z][a-z0-9.]{1,31}$/;

/**
 * Reads a username: when asked, a single word that looks like one; otherwise only after
 * "username", "account" or "user" ("reset the password of account alice").
 */
const extractUsername: SlotExtractor = (text, { asked }) => {
  const marked = /\b(?:username|user ?name|account|user|login)\s*(?:is|:)?\s+([a-z][a-z0-9.]{1,31})\b/i.exec(text)?.[1];
  if (marked !== undefined) return marked.toLowerCase();
  const words = text.trim().toLowerCase().replace(/[.!]+$/, '').split(/\s+/);
  if (asked && words.length <= 3) {
    const word = words[words.length - 1] ?? '';
    if (USERNAME.test(word) && !['it', 'mine', 'me', 'yes', 'no'].includes(word)) return word;
  }
  return undefined;
};

/** The helpdesk, described declaratively. */
export const helpdeskSpec: AgentSpec = {
  id: 'it-helpdesk',
  tasks: [
    {
      name: 'reset_password',
      intent: 'reset_password',
      title: 'password reset',
      slots: [
        {
          name: 'username',
          prompt: 'What is your username? It is the first part of your work email, like alice.',
          extract: extractUsername,
          // Existence and ownership are checked through the guard before anything is confirmed.
          lookup: { tool: 'find_account', args: (value) => ({ username: value }), fact: 'account' },
          aliases: ['username', 'account'],
        },
      ],
      tool: 'reset_password',
      args: (slots) => ({ username: slots.username ?? '' }),
      confirm: "I'll send a password reset link to the email on file for {{slots.username}} ({{facts.account.maskedEmail}}). Shall I go ahead?",
      replies: {
        done: 'Done: a reset link is on its way to {{result.maskedEmail}}; it expires in {{result.expiresInMinutes}} minutes.',
        cancelled: 'OK, your password stays as it is.',
      },
    },
  ],
  questionIntents: ['it_question'],
  smalltalk: {
    greeting: "Hi! I'm the IT helpdesk assistant. I can reset your password or answer questions about the VPN, Wi-Fi and printers.",
    thanks: 'Any time! Anything else?',
    goodbye: 'Bye, and have a good day!',
  },
  intentLabels: { reset_password: 'reset your password', it_question: 'ask an IT question' },
  replies: {
    outOfScope: "Sorry, I can't help with that here. I can reset your password or answer questions about the VPN, Wi-Fi and printers. Would you like me to get someone from IT?",
    handoffRequested: "I'm asking someone from IT to join.",
  },
  policies: { maxReprompts: 1 },
};

const ARTICLES = [
  { id: 'vpn', title: 'VPN', tags: ['remote access', 'work from home'], text: 'Connect to the VPN with the Keel Connect app: sign in with your work email and approve the push notification on your phone.\n\nIf the VPN disconnects often, switch from Wi-Fi to a cable or restart the app; the VPN needs ports 443 and 1194 open.' },
  { id: 'wifi', title: 'Wi-Fi', tags: ['wireless', 'network', 'internet'], text: 'The office Wi-Fi network is KEEL-STAFF; sign in with your username and password. Guests use KEEL-GUEST with the code at reception, valid for one day.' },
  { id: 'printer', title: 'Printers', tags: ['print', 'printing', 'scanner'], text: 'Printers are added automatically on office laptops. To print, choose Follow-Me Print and badge in at any printer within 24 hours.\n\nIf a printer is jammed or out of toner, report it on the printer page of the intranet.' },
  { id: 'passwords', title: 'Password rules', tags: ['password policy', 'expire'], text: 'Passwords need at least 14 characters and expire every 180 days. You cannot reuse your last 5 passwords.' },
];

const INTENTS = [
  {
    name: 'reset_password',
    description: 'The employee forgot their password, is locked out, or wants a new password.',
    examples: [
      'I forgot my password', 'reset my password please', "I can't log in", 'I am locked out of my account', 'my password expired',
      'I need a new password', 'password reset', 'can you reset the password for my account', 'locked out again', 'I cannot sign in to my laptop',
      'my account is locked', 'help me change my password', 'forgot password for alice', 'reset the password of account bob', 'I lost my password',
    ],
  },
  {
    name: 'it_question',
    description: 'A question about the VPN, Wi-Fi, printers or IT rules.',
    examples: [
      'how do I connect to the VPN', 'the VPN keeps disconnecting', 'what is the wifi password', 'how do I get on the office wifi', 'how do I print',
      'the printer is jammed', 'how long must my password be', 'when does my password expire', 'can guests use the wifi', 'how do I scan a document',
      'how do I work from home', 'which network should I use', 'the printer is out of toner', 'how do I add a printer', 'what are the password rules',
    ],
  },
  ...controlIntents(),
  ...smalltalkIntents(),
];

const OUT_OF_SCOPE = ['what is the weather tomorrow', 'book me a flight to Rome', 'what is for lunch today', 'tell me a joke', 'who won the football', 'order a pizza', 'what is my salary', 'I want a refund'];

/** Trains the helpdesk's router (about a second; cross-validation sets its thresholds). */
export function trainHelpdeskRouter(): Promise<LocalRouter> {
  return createLocalRouter({ intents: parseIntentDefinitions({ version: 1, intents: INTENTS, outOfScopeExamples: OUT_OF_SCOPE }, 'helpdesk intents') });
}

/**
 * Builds the helpdesk: the machine factory for `createRuntime`, with its directory and desk.
 *
 * @example
 * ```ts
 * const helpdesk = await createHelpdeskAgent();
 * const runtime = createRuntime({ dataDir, machine: helpdesk.machine });
 * ```
 */
export async function createHelpdeskAgent(options: { readonly router?: LocalRouter; readonly desk?: HandoffDesk } = {}) {
  const router = options.router ?? (await trainHelpdeskRouter());
  const directory = createDirectory();
  const handoffs: HandoffInput[] = [];
  const desk: HandoffDesk = options.desk ?? { request: (req) => ({ status: 'queued', position: handoffs.push(req) }) };
  const knowledge = createKnowledgeIndex(ARTICLES, { synonyms: { vpn: ['remote access'], wifi: ['wireless', 'internet'] } });
  const tools: ToolRegistry = {
    find_account: {
      description: "Finds the employee's account in the directory.",
      parameters: { type: 'object', properties: { username: { type: 'string' } }, required: ['username'] },
      run: ({ username }, { identity }): Json => {
        const account = directory.byName.get(String(username));
        return account && account.owner === identity.user ? { found: true, username: account.username, maskedEmail: mask(account.email) } : { found: false };
      },
    },
    reset_password: {
      description: "Sends a password reset link to the account's email.",
      parameters: { type: 'object', properties: { username: { type: 'string' } }, required: ['username'] },
      run: ({ username }, { identity, idempotencyKey }): Json => {
        const account = directory.byName.get(String(username));
        if (!account || account.owner !== identity.user) return { found: false };
        // The identity system gets the key, so a retried call sends one link, not two.
        directory.resets.push({ username: account.username, key: idempotencyKey });
        return { outcome: 'done', maskedEmail: mask(account.email), expiresInMinutes: 30 };
      },
    },
  };
  const username = { type: 'string', pattern: USERNAME, scope: 'record' } as const;
  const guard = createToolGuard({
    tools: { find_account: { roles: ['customer', 'agent'], args: { username } }, reset_password: { roles: ['customer', 'agent'], args: { username } } },
    resolveOwner: (_tenant, record) => directory.ownerOf(record),
    maxCallsPerTurn: 4,
  });
  const machine = (ports: RuntimePorts) => {
    const runner = createToolRunner({ tools, guard, effects: ports.effects, timeoutMs: 2_000 });
    return createAgentMachine(helpdeskSpec).provide({
      actors: {
        routeMessage: createRouterActor({ router }),
        callTool: createToolCallActor(runner),
        searchKnowledge: createKnowledgeSearchActor({ index: knowledge }),
        draftReply: createLlmReplyActor({ runner, persona: 'the IT helpdesk assistant of Keel Ltd' }),
        planTasks: createPlannerActor({ runner }),
        requestHandoff: createHandoffActor({ desk }),
      },
    });
  };
  return { machine, directory, handoffs, router };
}

/**
 * Runs a short helpdesk conversation as employee `alice` and returns what was said.
 *
 * @example
 * ```ts
 * const lines = await runHelpdesk({ dataDir: './.keel-helpdesk' });
 * ```
 */
export async function runHelpdesk(options: { readonly dataDir: string; readonly router?: LocalRouter }) {
  const helpdesk = await createHelpdeskAgent(options.router ? { router: options.router } : {});
  const runtime = createRuntime({ dataDir: options.dataDir, machine: helpdesk.machine });
  const lines: { user: string; agent: string; state: string }[] = [];
  try {
    const { sessionId } = await runtime.open({ tenant: tenantId('keel-ltd'), user: userId('alice'), channel: 'slack' });
    const turns = ['hi', 'I forgot my password', 'alice', 'yes', 'how do I connect to the VPN'];
    for (const [i, text] of turns.entries()) {
      const outcome = await runtime.send(sessionId, { type: 'user.message', id: `m-${i + 1}`, text });
      lines.push({ user: text, agent: outcome.frames.find((f) => f.type === 'reply')?.text ?? '', state: outcome.state });
    }
  } finally {
    await runtime.close();
  }
  return { lines, resets: helpdesk.directory.resets };
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'keel-helpdesk-'));
  try {
    const { lines } = await runHelpdesk({ dataDir });
    for (const line of lines) console.log(`you:   ${line.user}\nagent: ${line.agent.replace(/\n\n/g, '\n       ')}\n`);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
