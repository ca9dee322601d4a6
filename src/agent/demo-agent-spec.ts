/**
 * The demo store's agent, described declaratively: four tasks (order status, refund, address
 * change, cancellation) with their slots, tools, confirmations and grounded replies; policy
 * questions answered from the knowledge base; small talk; and the tools for tickets, callbacks
 * and "both orders" plans. `createDefaultAgent` builds the machine from it.
 */
import type { AgentPolicies, AgentSpec, SlotSpec } from '../../machines/agent-spec.js';
import { extractAddress, extractChoice, extractDigitsId, validateLength } from '../../machines/slot-extractors.js';
import { valueAt, type TemplateVars } from '../../machines/template.js';

// "a refund for 1044": `for` names an order number as clearly as `order` does.
const orderNumber = extractDigitsId({ minDigits: 4, maxDigits: 8, markers: ['order', 'orders', 'number', 'meant', 'mean', 'ref', 'reference', 'id', 'for'] });

const fact = (v: TemplateVars, path: string): string => {
  const value = valueAt(v, path);
  return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
};

/** The order-number slot shared by every task: checked for existence and ownership by `lookup_order`. */
const orderIdSlot: SlotSpec = {
  name: 'orderId',
  prompt: 'Which order is it? Order numbers have 4 digits, like 1042; you find yours in the confirmation email.',
  reprompt: "Sorry, I need the order number: 4 digits, like 1042. Which order is it?",
  extract: orderNumber,
  validate: (value) => (typeof value === 'string' && /^\d{4,8}$/.test(value) ? undefined : 'Order numbers have 4 to 8 digits, like 1042.'),
  lookup: { tool: 'lookup_order', args: (value) => ({ orderId: value }), fact: 'order' },
  shared: true,
  aliases: ['order', 'order number'],
};

/** The refund's amount is the order's total: without the order looked up, the task cannot run. */
const refundOrderIdSlot: SlotSpec = { ...orderIdSlot, lookup: { ...orderIdSlot.lookup!, required: true } };

const REFUND_REASONS = {
  damaged: ['broken', 'damaged', 'defective', 'faulty', "doesn't work", 'does not work', 'cracked', 'torn'],
  wrong_item: ['wrong item', 'wrong size', 'wrong colour', 'wrong color', 'not what i ordered', 'different item'],
  not_as_described: ['not as described', 'looks different', 'poor quality', 'bad quality'],
  changed_mind: ['changed my mind', 'change of mind', "don't need", "don't want", 'no longer need', 'too big', 'too small', "doesn't fit", 'does not fit'],
  late: ['too late', 'arrived late', 'took too long'],
} as const;

const REASON_TEXT: Readonly<Record<string, string>> = {
  damaged: 'damaged or faulty', wrong_item: 'wrong item', not_as_described: 'not as described', changed_mind: 'changed your mind', late: 'arrived late', other: 'other',
};

/**
 * The demo agent's spec.
 *
 * @example
 * ```ts
 * const machine = createAgentMachine(createDemoAgentSpec({ policies: { maxReprompts: 3 } }));
 * ```
 */
export function createDemoAgentSpec(options: { readonly policies?: Partial<AgentPolicies>; readonly storeName?: string } = {}): AgentSpec {
  const storeName = options.storeName ?? 'Keel Outfitters';
  return {
    id: 'support-agent',
    tasks: [
      {
        name: 'order_status',
        intent: 'order_status',
        title: 'order status',
        slots: [orderIdSlot],
        tool: 'track_order',
        alternativeTool: 'order_status_cache',
        args: (slots) => ({ orderId: slots.orderId ?? '' }),
        replies: {
          done: (v) => `Order ${fact(v, 'slots.orderId')} (${fact(v, 'result.items')}) is ${fact(v, 'result.statusText')}${fact(v, 'result.detail') ? `: ${fact(v, 'result.detail')}` : ''}.`,
          degraded: (v) =>
            `I can't reach our tracking system right now.${fact(v, 'facts.order.statusText') ? ` The last status I have for order ${fact(v, 'slots.orderId')} is "${fact(v, 'facts.order.statusText')}".` : ''} Please ask me again in a few minutes.`,
        },
        escalateOnFailure: false,
      },
      {
        name: 'refund',
        intent: 'refund_request',
        title: 'refund',
        slots: [
          refundOrderIdSlot,
          {
            name: 'reason',
            prompt: 'What is the reason for the refund: damaged or faulty, wrong item, not as described, or you changed your mind?',
            extract: extractChoice(REFUND_REASONS, { otherValue: 'other', minChars: 4 }),
            aliases: ['reason'],
          },
        ],
        tool: 'request_refund',
        args: (slots, facts) => {
          const total = (facts.order as { total?: unknown } | undefined)?.total;
          // Never a guessed amount: a refund of 0 would pass the approval rule unseen.
          if (typeof total !== 'number' || !(total > 0)) throw new Error('the order total is unknown');
          return { orderId: slots.orderId ?? '', reason: String(slots.reason ?? 'other'), amount: total };
        },
        confirm: (v) =>
          `I'll request a refund of ${fact(v, 'facts.order.totalText') || 'the order amount'} for order ${fact(v, 'slots.orderId')} (${fact(v, 'facts.order.items')}), reason: ${REASON_TEXT[fact(v, 'slots.reason')] ?? fact(v, 'slots.reason')}. Shall I go ahead?`,
        replies: {
          done: (v) => `Done: refund ${fact(v, 'result.refundId')} of ${fact(v, 'result.amountText')} is requested. Once we receive the item, it reaches your account in 5 to 10 business days.`,
          rejected: (v) => `I can't refund order ${fact(v, 'slots.orderId')}: ${fact(v, 'result.reason')}.`,
          approval: (v) => `Refunds above €100 are checked by a colleague. I've asked for approval of ${fact(v, 'facts.order.totalText')} for order ${fact(v, 'slots.orderId')} and will let you know here.`,
          cancelled: "OK, I haven't requested any refund.",
        },
      },
      {
        name: 'change_address',
        intent: 'change_address',
        title: 'address change',
        slots: [
          orderIdSlot,
          {
            name: 'address',
            prompt: (v) => `What is the new delivery address${fact(v, 'slots.orderId') ? ` for order ${fact(v, 'slots.orderId')}` : ''}? Please include the street, number, town and postcode.`,
            extract: extractAddress,
            validate: validateLength(8, 200, 'That address looks incomplete: please give the street, number, town and postcode.'),
            shared: true,
            aliases: ['address'],
          },
        ],
        tool: 'change_address',
        args: (slots) => ({ orderId: slots.orderId ?? '', address: String(slots.address ?? '') }),
        confirm: (v) => `I'll change the delivery address of order ${fact(v, 'slots.orderId')} to "${fact(v, 'slots.address')}". Shall I go ahead?`,
        replies: {
          done: (v) => `Done: order ${fact(v, 'slots.orderId')} will be delivered to ${fact(v, 'result.address')}.`,
          rejected: (v) => `I can't change the address of order ${fact(v, 'slots.orderId')}: ${fact(v, 'result.reason')}.`,
          cancelled: "OK, I've left the address as it was.",
        },
      },
      {
        name: 'cancel_order',
        intent: 'cancel_order',
        title: 'order cancellation',
        slots: [orderIdSlot],
        tool: 'cancel_order',
        args: (slots) => ({ orderId: slots.orderId ?? '' }),
        confirm: (v) => `I'll cancel order ${fact(v, 'slots.orderId')} (${fact(v, 'facts.order.items')}, ${fact(v, 'facts.order.totalText')}). Shall I go ahead?`,
        replies: {
          done: (v) => `Done: order ${fact(v, 'slots.orderId')} is cancelled, and ${fact(v, 'result.refundText')} will be refunded to your original payment method.`,
          rejected: (v) => `I can't cancel order ${fact(v, 'slots.orderId')}: ${fact(v, 'result.reason')}.`,
          cancelled: "OK, your order stays as it is.",
        },
      },
    ],
    questionIntents: ['policy_question'],
    smalltalk: {
      greeting: `Hi! I'm the ${storeName} assistant. I can check an order, request a refund, change a delivery address, cancel an order, or answer questions about our policies. What can I do for you?`,
      thanks: "You're welcome! Anything else I can do?",
      goodbye: 'Goodbye, and thanks for shopping with us!',
    },
    intentLabels: {
      order_status: 'check the status of an order',
      refund_request: 'request a refund',
      change_address: 'change a delivery address',
      cancel_order: 'cancel an order',
      policy_question: 'ask about our policies',
      human_agent: 'talk to a human',
      greeting: 'say hello',
      thanks: 'say thanks',
      goodbye: 'say goodbye',
      affirm: 'say yes',
      deny: 'say no',
      cancel: 'stop what we are doing',
      correct: 'correct something',
      resume: 'continue where we left off',
    },
    replies: {
      outOfScope: "Sorry, I can't help with that here. I can check an order, request a refund, change a delivery address, cancel an order, or answer questions about our store policies. Would you like me to get a human colleague?",
    },
    answerTools: ['lookup_order'],
    listTool: 'list_orders',
    ticketTool: 'create_ticket',
    callbackTool: 'schedule_callback',
    ...(options.policies ? { policies: options.policies } : {}),
  };
}
