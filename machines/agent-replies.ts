/**
 * The default wording of every conversation pattern. Agents override any of them through
 * `spec.replies`; templates see the variables named in each comment.
 */
import type { AgentReplies } from './agent-spec.js';
import type { TemplateVars } from './template.js';

const list = (v: TemplateVars, key: string): string[] => (Array.isArray(v[key]) ? (v[key] as unknown[]).map(String) : []);

/**
 * Default replies, in English.
 *
 * @example
 * ```ts
 * createAgentMachine({ ...spec, replies: { outOfScope: "That's outside what I can do here." } });
 * ```
 */
export const defaultReplies: Readonly<AgentReplies> = Object.freeze<AgentReplies>({
  // P5: `reason` is the typed reason (below_threshold, oos_class, empty_input, no_handler, router_failed).
  outOfScope: "Sorry, I can't help with that here. I can help with {{capabilities}}. Would you like me to get a human colleague?",
  // P1 stage 1: `label` of the best guess.
  confirmIntent: 'Just to check: do you want to {{label}}?',
  // P1 stage 2 (P3).
  rephrase: 'Sorry, I misunderstood. Could you say it in other words?',
  // P2: `options` are two labels.
  clarify: (v) => {
    const [a, b] = list(v, 'options');
    return `Do you want to ${a ?? 'do the first thing'}, or to ${b ?? 'do the second thing'}?`;
  },
  // P7: `task` is the suspended task's title.
  offerResume: 'Shall we get back to your {{task}}?',
  resumed: 'OK, back to your {{task}}.',
  suspended: "I've put your {{task}} on hold; we can come back to it.",
  cancelled: "OK, I've stopped your {{task}}. Nothing was changed.",
  nothingToCancel: "There's nothing in progress to cancel. What can I do for you?",
  // Grounded answers: `reason` is why nothing was found, `score` and `threshold` the best match.
  noKnowledge: "I don't know that, and I'd rather not guess. Would you like me to get a human colleague?",
  offerHuman: 'Would you like me to get a human colleague?',
  declinedHuman: 'OK, let me know if you change your mind.',
  negativeSentiment: "I'm sorry this has been frustrating. Would you like me to get a human colleague?",
  // P8/P9: `reason`, `position`, `agent`.
  handoffRequested: "I'm asking a human colleague to join.",
  handoffQueued: (v) =>
    typeof v.position === 'number' && v.position > 0
      ? `You're number ${v.position} in the queue; a colleague will be with you shortly. Say "cancel" to carry on with me instead.`
      : 'A colleague will be with you shortly. Say "cancel" to carry on with me instead.',
  handoffAccepted: (v) => `${typeof v.agent === 'string' && v.agent !== '' ? v.agent : 'A colleague'} has joined the conversation.`,
  handoffCompleted: "Your conversation with our colleague has ended. I'm here if you need anything else.",
  handoffUnavailable: (v) =>
    `No colleague can take the conversation right now.${v.canTicket ? ' I can open a ticket so someone gets back to you by email' : ''}${v.canTicket && v.canCallback ? ', or' : ''}${v.canCallback ? ' arrange a callback' : ''}${v.canTicket || v.canCallback ? '. Which would you prefer?' : ' Please try again a little later; your conversation is saved.'}`,
  handoffQueuedReminder: "You're still in the queue; a colleague will be with you shortly. I've passed your message on.",
  handoffLeftQueue: "OK, I've taken you out of the queue. How can I help?",
  ticketCreated: "I've opened ticket {{ticket}}; a colleague will get back to you by email. Anything else?",
  callbackScheduled: "I've scheduled a callback ({{ticket}}); a colleague will call you. Anything else?",
  gracefulExit: "I'm sorry I couldn't finish your {{task}} right now. Nothing was changed, and your conversation is saved; please try again a little later.",
  // P12.
  silenceNudge: 'Are you still there? {{question}}',
  silenceWarn: "I'll pause our conversation soon if I don't hear back; your progress is saved.",
  silencePark: "I've paused our conversation. Your progress is saved: say \"continue\" whenever you're back.",
  welcomeBack: 'Welcome back!',
  // Planner: `steps` are step titles, `summary` one line per step.
  planIntro: (v) => {
    const steps = list(v, 'steps');
    return `I'll do this in ${steps.length} steps: ${steps.map((s, i) => `${i + 1}) ${s}`).join(', ')}.`;
  },
  planStepFailed: "I couldn't finish the {{task}}, so I'll skip what depended on it.",
  // `allDone` is false when a step failed, was skipped or cancelled.
  planDone: (v) => `${v.allDone === false ? 'Where everything stands' : 'All done'}: ${list(v, 'summary').join('; ')}.`,
  // Tool guard refusals: `reason` is the guard's.
  denied: "I'm not able to do that for you ({{reason}}).",
  approvalRejected: 'Your {{task}} was not approved. {{reason}}',
  askCorrection: 'What should I change?',
  acknowledge: 'OK. What can I do for you?',
  nothingToResume: "There's nothing on hold right now. What can I do for you?",
  toolFailed: "Sorry, I can't reach the system for your {{task}} right now.",
});
