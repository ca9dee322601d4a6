/**
 * The demo store's tools and their guard policies. Tools answer business refusals as results
 * (`{ outcome: 'rejected', reason }`, `{ found: false }`) and throw only for technical failures,
 * which the fallback ladder handles. Every tool also re-checks ownership itself: the guard is the
 * rule, this is defence in depth.
 */
import type { ToolDefinition, ToolRegistry } from '../../actors/tool-runner.js';
import { createToolGuard, type PolicyToolGuard, type ToolPolicy } from '../security/tool-guard.js';
import type { Json } from '../types.js';
import type { DemoOrder, DemoStore } from './demo-store.js';

const STATUS_TEXT: Readonly<Record<DemoOrder['status'], string>> = {
  processing: 'being prepared',
  shipped: 'on its way',
  delivered: 'delivered',
  cancelled: 'cancelled',
  refund_requested: 'waiting for its refund',
  refunded: 'refunded',
};

/** Formats an amount in the store's currency. */
export function money(amount: number, currency = 'EUR'): string {
  const symbol = currency === 'EUR' ? '€' : currency === 'GBP' ? '£' : currency === 'USD' ? '$' : `${currency} `;
  return `${symbol}${amount.toFixed(2)}`;
}

/** The view of an order that tools return (no owner, no internals). */
function view(order: DemoOrder, currency: string): Record<string, Json> {
  return {
    found: true,
    orderId: order.id,
    status: order.status,
    statusText: STATUS_TEXT[order.status],
    items: order.items.map((i) => (i.qty > 1 ? `${i.qty} × ${i.name}` : i.name)).join(', '),
    total: order.total,
    totalText: money(order.total, currency),
    address: order.address,
    placedAt: order.placedAt,
  };
}

/** The names of the demo tools (each has a guard policy in {@link createDemoToolGuard}). */
export const DEMO_TOOL_NAMES = Object.freeze([
  'lookup_order', 'track_order', 'order_status_cache', 'request_refund', 'cancel_order', 'change_address', 'list_orders', 'create_ticket', 'schedule_callback',
] as const);

const orderIdSchema: Readonly<Record<string, Json>> = { type: 'object', properties: { orderId: { type: 'string', description: 'The order number, 4-8 digits.' } }, required: ['orderId'] };

/**
 * The demo tools over a store.
 *
 * @example
 * ```ts
 * const tools = createDemoTools(openDemoStore({ dataDir }));
 * await tools.lookup_order!.run({ orderId: '1042' }, context);
 * ```
 */
export function createDemoTools(store: DemoStore): Record<string, ToolDefinition> {
  const currency = store.info.currency;
  const own = (tenant: string, user: string, orderId: unknown): DemoOrder | undefined => {
    const order = typeof orderId === 'string' ? store.order(tenant, orderId) : undefined;
    return order && order.owner === user ? order : undefined;
  };
  const rejected = (reason: string, extra: Record<string, Json> = {}): Json => ({ outcome: 'rejected', reason, ...extra });
  return {
    lookup_order: {
      description: "Looks up one of the customer's orders: status, items, total, delivery address.",
      parameters: orderIdSchema,
      run: ({ orderId }, { identity }): Json => {
        store.ordersOf(identity.tenant, identity.user);
        const order = own(identity.tenant, identity.user, orderId);
        return order ? view(order, currency) : { found: false };
      },
    },
    track_order: {
      description: 'Tracks an order with the carrier: where it is and when it arrives.',
      parameters: orderIdSchema,
      run: ({ orderId }, { identity }): Json => {
        const order = own(identity.tenant, identity.user, orderId);
        if (!order) return { found: false };
        const detail =
          order.status === 'shipped' && order.tracking
            ? `with ${order.tracking.carrier} (tracking ${order.tracking.code}): ${order.tracking.lastEvent.toLowerCase()}, expected on ${order.tracking.eta}`
            : order.status === 'processing'
              ? `it ships by ${order.shipsBy ?? 'the next business day'}`
              : order.status === 'delivered'
                ? `it was delivered on ${order.deliveredAt ?? 'a recent day'}`
                : '';
        return { ...view(order, currency), detail, source: 'carrier' };
      },
    },
    order_status_cache: {
      description: 'Reads the last known status of an order from the local cache (may be a few hours old).',
      parameters: orderIdSchema,
      run: ({ orderId }, { identity }): Json => {
        const order = own(identity.tenant, identity.user, orderId);
        return order ? { ...view(order, currency), detail: 'from our last update, which may be a few hours old', source: 'cache' } : { found: false };
      },
    },
    request_refund: {
      description: 'Requests a refund for a delivered order.',
      parameters: { type: 'object', properties: { orderId: { type: 'string' }, reason: { type: 'string' }, amount: { type: 'number' } }, required: ['orderId', 'reason', 'amount'] },
      run: ({ orderId, reason, amount }, { identity }): Json => {
        const order = own(identity.tenant, identity.user, orderId);
        if (!order) return { found: false };
        if (order.status === 'processing') return rejected("it hasn't shipped yet. I can cancel it instead, which refunds it in full");
        if (order.status === 'shipped') return rejected("it's still on its way. Once it arrives you can return it for a refund");
        // "Cancel my order and refund me": the cancellation already refunds it in full.
        if (order.status === 'cancelled') return rejected('it was cancelled before it shipped, so its full amount is already on its way back to you');
        if (order.status !== 'delivered') return rejected(`it is already ${STATUS_TEXT[order.status]}`);
        // A refund of nothing is no refund: a missing or zero amount is refused, not recorded.
        if (typeof amount !== 'number' || !(amount > 0)) return rejected('the refund amount is missing');
        const value = Math.min(amount, order.total);
        const refundId = store.nextReference(identity.tenant, 'R');
        store.update(identity.tenant, order.id, (o) => {
          o.status = 'refund_requested';
          o.refund = { id: refundId, amount: value, reason: String(reason ?? ''), status: 'requested' };
        });
        return { outcome: 'done', refundId, amount: value, amountText: money(value, currency) };
      },
    },
    cancel_order: {
      description: 'Cancels an order that has not shipped yet; its amount is refunded in full.',
      parameters: orderIdSchema,
      run: ({ orderId }, { identity }): Json => {
        const order = own(identity.tenant, identity.user, orderId);
        if (!order) return { found: false };
        if (order.status !== 'processing') {
          return rejected(order.status === 'shipped' || order.status === 'delivered' ? `it has already ${order.status === 'shipped' ? 'shipped' : 'been delivered'}; you can return it after delivery instead` : `it is already ${STATUS_TEXT[order.status]}`);
        }
        store.update(identity.tenant, order.id, (o) => {
          o.status = 'cancelled';
        });
        return { outcome: 'done', refundText: money(order.total, currency) };
      },
    },
    change_address: {
      description: "Changes the delivery address of an order that hasn't shipped.",
      parameters: { type: 'object', properties: { orderId: { type: 'string' }, address: { type: 'string' } }, required: ['orderId', 'address'] },
      run: ({ orderId, address }, { identity }): Json => {
        const order = own(identity.tenant, identity.user, orderId);
        if (!order) return { found: false };
        if (order.status !== 'processing') return rejected(`it has already ${order.status === 'shipped' ? 'shipped' : 'left our warehouse'}`);
        store.update(identity.tenant, order.id, (o) => {
          o.address = String(address);
        });
        return { outcome: 'done', address: String(address) };
      },
    },
    list_orders: {
      description: "Lists the customer's orders; eligible ones have not shipped yet.",
      parameters: { type: 'object', properties: {} },
      run: (_args, { identity }) => ({
        records: store.ordersOf(identity.tenant, identity.user).map((o) => ({ id: o.id, status: o.status, eligible: o.status === 'processing' })),
      }),
    },
    create_ticket: {
      description: 'Opens a support ticket; a colleague answers by email.',
      parameters: { type: 'object', properties: { reason: { type: 'string' }, summary: { type: 'string' } }, required: ['reason'] },
      run: ({ reason, summary }, { identity }) => ({ ticket: store.addTicket(identity.tenant, identity.user, 'ticket', String(reason), String(summary ?? '')) }),
    },
    schedule_callback: {
      description: 'Schedules a phone callback by a colleague.',
      parameters: { type: 'object', properties: { reason: { type: 'string' }, summary: { type: 'string' } }, required: ['reason'] },
      run: ({ reason, summary }, { identity }) => ({ ticket: store.addTicket(identity.tenant, identity.user, 'callback', String(reason), String(summary ?? '')) }),
    },
  };
}

const orderIdArg = { type: 'string', pattern: /^\d{4,8}$/, scope: 'record' } as const;

/**
 * The guard policies of the demo tools: customers reach only their own orders, refunds above
 * the store's threshold need a human's approval, at most 6 tool calls per turn.
 *
 * @example
 * ```ts
 * const guard = createDemoToolGuard(store);
 * ```
 */
export function createDemoToolGuard(store: DemoStore): PolicyToolGuard {
  const staff = ['customer', 'agent', 'admin'] as const;
  const order: ToolPolicy = { roles: [...staff], args: { orderId: orderIdArg } };
  const note = { reason: { type: 'string', maxLength: 100 }, summary: { type: 'string', optional: true, maxLength: 500 } } as const;
  const guard = createToolGuard({
    tools: {
      lookup_order: order,
      track_order: order,
      order_status_cache: order,
      cancel_order: { roles: ['customer', 'agent'], args: { orderId: orderIdArg } },
      change_address: { roles: ['customer', 'agent'], args: { orderId: orderIdArg, address: { type: 'string', minLength: 8, maxLength: 200 } } },
      request_refund: {
        roles: ['customer', 'agent'],
        args: { orderId: orderIdArg, reason: { type: 'string', maxLength: 300 }, amount: { type: 'number', min: 0 } },
        approval: { arg: 'amount', above: store.info.approvalAboveAmount },
      },
      list_orders: { roles: ['customer', 'agent'], args: {} },
      create_ticket: { roles: ['customer'], args: note },
      schedule_callback: { roles: ['customer'], args: note },
    },
    resolveOwner: (tenant, recordId) => store.ownerOf(tenant, recordId),
    maxCallsPerTurn: 6,
  });
  // A user new to the demo gets sample orders before the first ownership check looks for them.
  const known = (context: { identity?: { tenant?: unknown; user?: unknown } }) => {
    const { tenant, user } = context?.identity ?? {};
    if (typeof tenant === 'string' && typeof user === 'string') store.ordersOf(tenant, user);
  };
  return Object.freeze({
    check: (tool, args, context) => (known(context), guard.check(tool, args, context)),
    checkCall: (call, context) => (known(context), guard.checkCall(call, context)),
    checkApproved: (tool, args, context, approver) => (known(context), guard.checkApproved(tool, args, context, approver)),
  } satisfies PolicyToolGuard);
}

/** The registry type, re-exported for callers that extend the demo tools. */
export type { ToolRegistry };
