import { describe, expect, it } from 'vitest';
import { redactDecision } from '../../../src/observe/decision-redaction.js';
import type { DecisionEvent } from '../../../src/ports.js';
import { createRedactor } from '../../../src/security/redact.js';
import { sessionId, tenantId, userId } from '../../../src/types.js';

const event = (data: DecisionEvent['data'], reason = 'awaiting_approval'): DecisionEvent => ({
  kind: 'guard', time: 1, tenant: tenantId('acme'), session: sessionId('s-1'), user: userId('ann'), traceId: 's-1:3', reason, data,
});

describe('decision redaction', () => {
  const redact = redactDecision(createRedactor().text);

  it("drops a tool call's personal arguments by key and masks personal text anywhere", () => {
    const out = redact(event({
      tool: 'change_address', call: '3:change_address:0',
      args: { orderId: '1043', address: '99 Quay Street, Frobtown', contact: { email: 'ann@example.com' } },
      note: 'call +44 20 7946 0958',
    }));
    expect(out.data).toEqual({
      tool: 'change_address', call: '3:change_address:0',
      args: { orderId: '1043', address: '[redacted]', contact: { email: '[redacted]' } },
      note: 'call [phone]',
    });
  });

  it('leaves events without arguments as the text redactor makes them, and keeps non-object args', () => {
    expect(redact(event({ args: 'order 1043 for ann@example.com', n: 3 }, 'sent to ann@example.com')).data).toEqual({ args: 'order 1043 for [email]', n: 3 });
    expect(redact(event({}, 'sent to ann@example.com')).reason).toBe('sent to [email]');
  });
});
