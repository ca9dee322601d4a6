/**
 * One human agent's `/desk` connection: authenticate exactly like `/chat` (a Bearer header or a
 * first `auth` frame), refuse every role but `agent` and `admin`, then hand the agent's commands,
 * one at a time and in order, to the desk service. Written against a minimal socket.
 */
import type { Logger } from '../observe/logger.js';
import type { AuditLog } from '../security/audit-log.js';
import type { SignInAudit } from '../security/sign-in-audit.js';
import { can } from '../security/roles.js';
import type { Identity, Json } from '../types.js';
import { CLOSE_CODES } from './close-codes.js';
import { deskError, parseDeskFrame, type DeskClientFrame } from './desk-frames.js';
import type { DeskService } from './desk-service.js';
import type { ServerMetrics } from './server-metrics.js';
import type { ServerOptions, TokenVerifier } from './server-options.js';
import { createConnectionBase, type PeerSocket } from './ws-connection-base.js';

/** Arguments of {@link createDeskConnection}. */
export interface DeskConnectionArgs {
  readonly socket: PeerSocket;
  readonly service: DeskService;
  readonly verifyToken: TokenVerifier;
  readonly options: Readonly<ServerOptions>;
  readonly metrics: ServerMetrics;
  readonly logger: Logger;
  /** Per-user connection slots; false refuses the connection (4429). */
  readonly admit: (identity: Identity) => boolean;
  /** Masks personal data for roles that may not see it (an admin supervising the desk). */
  readonly redactor: { text(s: string): string; value(v: Json): Json };
  readonly headerToken?: string;
  /** Where refused roles are recorded. Default none. */
  readonly audit?: AuditLog;
  /** Records sign-ins; shared by every connection of a server. Default none. */
  readonly signIns?: SignInAudit;
}

/** A live desk connection. */
export interface DeskConnection {
  receive(data: string, isBinary?: boolean): void;
  /** Closes with a code and reason (idempotent). */
  close(code: number, reason: string): void;
  /** The socket closed: the agent leaves the desk. Idempotent. */
  dispose(): void;
  readonly identity: Identity | undefined;
}

/**
 * Whether `identity` may work at the desk: human agents (`handoff.take`), and admins supervising.
 *
 * @example
 * ```ts
 * mayUseDesk({ tenant: 'acme', user: 'sam', role: 'agent' }); // true
 * mayUseDesk({ tenant: 'acme', user: 'ann', role: 'customer' }); // false
 * ```
 */
export function mayUseDesk(identity: Identity): boolean {
  return can(identity, 'handoff.take') || identity.role === 'admin';
}

/**
 * The name a customer sees for an agent, from the user id of their token: `sam.jones@shop` → `Sam Jones`.
 *
 * @example
 * ```ts
 * deskDisplayName('sam'); // 'Sam'
 * deskDisplayName('agent-7'); // 'Agent 7'
 * ```
 */
export function deskDisplayName(user: string): string {
  const words = (user.split('@')[0] ?? user).split(/[._\-:]+/).filter((w) => w !== '');
  const name = words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join(' ').slice(0, 60);
  return name === '' ? 'An agent' : name;
}

/**
 * Creates the protocol state of one desk connection; sign-in, limits and closing are the shared
 * connection rules (ws-connection-base.ts).
 *
 * @example
 * ```ts
 * const conn = createDeskConnection({ socket, service, verifyToken, options, metrics, logger, admit, redactor });
 * ws.on('message', (data, isBinary) => conn.receive(data.toString(), isBinary));
 * ws.on('close', () => conn.dispose());
 * ```
 */
export function createDeskConnection(args: DeskConnectionArgs): DeskConnection {
  const { options } = args;
  let identity: Identity | undefined;
  let member: ReturnType<DeskService['join']> | undefined;
  let chain: Promise<void> = Promise.resolve();

  const base = createConnectionBase<DeskClientFrame>({
    ...args,
    endpoint: 'desk',
    protocol: {
      parse: parseDeskFrame,
      errorFrame: (code, message, id) => deskError(code, message, { id }),
      signedIn(who) {
        if (!mayUseDesk(who)) {
          args.audit?.append({ actor: { tenant: who.tenant, user: who.user, role: who.role }, action: 'desk.connect', target: 'endpoint:desk', outcome: 'denied', details: { rule: 'role' } })
            .catch((err: unknown) => base.log.warn({ err }, 'audit append failed'));
          const reason = `role '${who.role}' may not use the agent desk`;
          return base.refuse(deskError('forbidden', reason), CLOSE_CODES.forbidden, `forbidden: ${reason}`);
        }
        if (!args.admit(who)) return base.close(CLOSE_CODES.tooManyConnections, `too many connections: at most ${options.maxConnectionsPerUser} per user`);
        identity = { tenant: who.tenant, user: who.user, role: who.role };
        base.signIns?.succeeded(identity, 'desk');
        member = args.service.join({
          identity,
          name: deskDisplayName(who.user),
          send: base.send,
          ...(can(identity, 'pii.view') ? {} : { redactor: args.redactor }),
        });
      },
      frame(frame) {
        const handler = member;
        if (!handler) return;
        // One command at a time, in order: "say" then "release" must reach the customer in that order.
        // A command still queued when the agent's socket closes is dropped: an agent who is gone
        // must not take a conversation or approve a held call after leaving.
        chain = chain.then(() => (member === handler ? handler.handle(frame) : undefined)).catch((err: unknown) => base.log.error({ err }, 'desk command failed'));
      },
      released() {
        member?.leave();
        member = undefined;
      },
    },
  });

  return {
    receive: base.receive,
    close: base.close,
    dispose: base.dispose,
    get identity() {
      return identity;
    },
  };
}
