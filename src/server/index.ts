/**
 * The server's public surface, for `src/index.ts` to re-export: the WebSocket chat gateway and
 * HTTP routes on one port, the chat protocol's frames and close codes, a Node chat client, and the
 * human agents' desk protocol.
 *
 * @example
 * ```ts
 * import { createServer } from './server/index.js';
 * const server = createServer({ runtime, ownsRuntime: true });
 * await server.listen();
 * ```
 */
export { createServer } from './server.js';
export type { KeelServer, UpgradeHandler } from './server.js';
export { defaultServerOptions, resolveServerOptions } from './server-options.js';
export type { ServerOptions, TokenVerifier, OpsAccess } from './server-options.js';
export { createServerMetrics } from './server-metrics.js';
export type { ServerMetrics, ServerMetricsOptions, TurnOutcomeLabel } from './server-metrics.js';
export { CLOSE_CODES } from './close-codes.js';
export type { CloseCode } from './close-codes.js';
export { CLIENT_FRAME_TYPES, parseClientFrame, toServerFrame, errorFrame } from './chat-frames.js';
export type { ClientFrame, ServerFrame, FrameLimits, ParsedFrame } from './chat-frames.js';
export { createChatClient } from './chat-client.js';
export type { ChatClient, ChatClientOptions, ChatClientStatus } from './chat-client.js';
export { createDataDirTokenVerifier } from './token-verifier.js';
export { DESK_CLIENT_FRAME_TYPES, parseDeskFrame, toDeskLine } from './desk-frames.js';
export type { DeskClientFrame, DeskServerFrame, DeskLine, DeskQueueItem, DeskApproval, DeskRefusal } from './desk-frames.js';
export { isDeskQueue } from './desk-queue.js';
export type { DeskQueue, DeskQueueEntry, DeskQueueChange } from './desk-queue.js';
export { deskDisplayName } from './desk-connection.js';
export type { HttpHandler } from './http-routes.js';
export type { InspectorGateway } from './inspector-gateway.js';
