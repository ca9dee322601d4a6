// The agent desk's view: draws the queue, the agent's conversations, approvals and the open
// conversation from the desk's state. It never talks to the server; clicks go to `actions`.
// Everything from the server is inserted as text, never as HTML.
import { statusLine } from './page-common.js';

const REASONS = {
  user_asked: 'Asked for a person',
  user_signal: 'Pressed “talk to a person”',
  max_reprompts: 'The assistant did not understand',
  negative_sentiment: 'Customer is unhappy',
  sla_breach: 'Case is overdue',
  operator: 'Sent by a supervisor',
  out_of_scope: 'Outside what the assistant handles',
};
const STATUS_TEXT = {
  requested: 'Hand-off requested',
  queued: 'Waiting in the queue',
  accepted: 'Accepted',
  with_agent: 'With an agent',
  completed: 'Hand-off ended',
  unavailable: 'No agent available',
  failed: 'Hand-off failed',
};

/**
 * Creates the view over the page's elements.
 * `actions`: { take(sessionId), select(sessionId), approve(sessionId, call), reject(sessionId, call), dismiss(sessionId) }.
 */
export function createDeskView(state, actions) {
  const $ = (id) => document.getElementById(id);
  const els = {
    status: $('status'), me: $('me'), notice: $('notice'),
    queue: $('queue'), queueCount: $('queue-count'), queueEmpty: $('queue-empty'),
    mine: $('mine'), mineEmpty: $('mine-empty'),
    approvalsPanel: $('approvals-panel'), approvals: $('approvals'), approvalsCount: $('approvals-count'),
    placeholder: $('placeholder'), thread: $('thread'), title: $('thread-title'), meta: $('thread-meta'),
    context: $('context-list'), transcript: $('transcript'), ended: $('ended'), endedText: $('ended-text'), dismiss: $('dismiss'),
    form: $('composer'), input: $('input'), send: $('send'), release: $('release'), close: $('close'),
  };
  let noticeTimer = null;
  els.dismiss.addEventListener('click', function () {
    if (state.current) actions.dismiss(state.current);
  });

  function renderQueue() {
    els.queue.textContent = '';
    els.queueCount.textContent = String(state.queue.length);
    els.queueEmpty.hidden = state.queue.length > 0;
    document.title = (state.queue.length > 0 ? '(' + state.queue.length + ') ' : '') + 'Agent desk';
    for (const entry of state.queue) {
      const li = node('li', 'card');
      li.dataset.session = entry.sessionId;
      const row = node('div', 'row');
      const wait = node('span', 'wait');
      wait.dataset.since = String(entry.seenAt - entry.waitingMs);
      row.append(node('span', 'who', entry.user), wait);
      li.append(row, node('span', 'why', reasonText(entry.reason) + (entry.task ? ' · ' + entry.task : '')));
      if (entry.preview) li.append(node('span', 'preview', '“' + entry.preview + '”'));
      const button = node('button', 'primary', 'Take');
      button.type = 'button';
      button.addEventListener('click', function () { actions.take(entry.sessionId); });
      li.append(button);
      els.queue.append(li);
    }
    renderWaits();
  }

  function renderWaits() {
    for (const span of els.queue.querySelectorAll('.wait')) span.textContent = 'waiting ' + duration(Date.now() - Number(span.dataset.since));
  }

  function renderMine() {
    els.mine.textContent = '';
    const convs = Array.from(state.convs.values());
    els.mineEmpty.hidden = convs.length > 0;
    for (const conv of convs) {
      const li = node('li', 'card');
      li.dataset.session = conv.sessionId;
      li.dataset.ended = String(Boolean(conv.ended));
      li.setAttribute('aria-current', String(conv.sessionId === state.current));
      li.tabIndex = 0;
      const row = node('div', 'row');
      const badge = node('span', 'badge', conv.ended ? 'ended' : conv.unread > 0 ? conv.unread + ' new' : 'live');
      badge.dataset.unread = String(conv.unread > 0);
      row.append(node('span', 'who', conv.user || '…'), badge);
      li.append(row, node('span', 'why', reasonText(conv.reason)));
      li.addEventListener('click', function () { actions.select(conv.sessionId); });
      li.addEventListener('keydown', function (e) { if (e.key === 'Enter') actions.select(conv.sessionId); });
      els.mine.append(li);
    }
  }

  function renderApprovals() {
    els.approvals.textContent = '';
    els.approvalsCount.textContent = String(state.approvals.length);
    els.approvalsPanel.hidden = state.approvals.length === 0;
    for (const a of state.approvals) {
      const li = node('li', 'card');
      li.dataset.session = a.sessionId;
      li.append(node('span', 'who', a.user), node('span', 'why', (a.task || 'task') + (a.tool ? ' · ' + a.tool : '')));
      // What is approved, as the trace keeps it: the operator decides on this call, not on a name.
      if (a.args && typeof a.args === 'object') {
        const args = node('dl', 'args');
        for (const key of Object.keys(a.args)) {
          const value = a.args[key];
          args.append(node('dt', '', key), node('dd', '', typeof value === 'string' ? value : JSON.stringify(value)));
        }
        li.append(args);
      }
      const row = node('div', 'row');
      const approve = node('button', 'primary', 'Approve');
      const reject = node('button', 'danger', 'Reject');
      approve.type = reject.type = 'button';
      approve.addEventListener('click', function () { actions.approve(a.sessionId, a.call); });
      reject.addEventListener('click', function () { actions.reject(a.sessionId, a.call); });
      row.append(approve, reject);
      li.append(row);
      els.approvals.append(li);
    }
  }

  function renderThread(connected) {
    const conv = state.current ? state.convs.get(state.current) : null;
    els.placeholder.hidden = Boolean(conv);
    els.thread.hidden = !conv;
    if (!conv) return;
    els.thread.dataset.session = conv.sessionId;
    els.title.textContent = conv.user || 'Customer';
    els.meta.textContent = reasonText(conv.reason) + (conv.summary && conv.summary.taskTitle ? ' · ' + conv.summary.taskTitle : '');
    renderContext(conv.summary || {});
    renderTranscript();
    const live = !conv.ended && connected;
    els.input.disabled = els.send.disabled = els.release.disabled = els.close.disabled = !live;
    els.ended.hidden = !conv.ended;
    if (conv.ended) {
      els.endedText.textContent = conv.ended.status === 'released' ? 'You handed this conversation back to the assistant.'
        : conv.ended.status === 'completed' ? 'You closed this conversation.'
          : 'This conversation is no longer with you' + (conv.ended.reason ? ' (' + conv.ended.reason.replace(/_/g, ' ') + ').' : '.');
    }
  }

  function renderContext(summary) {
    els.context.textContent = '';
    const facts = [
      ['Task', summary.taskTitle || summary.task],
      ['Details', describe(summary.slots)],
      ['Known', describe(summary.facts)],
      ['Problem', summary.failure && summary.failure.reason],
      ['Put aside', (summary.suspended || []).join(', ')],
      ['Channel', summary.channel],
    ];
    for (const [label, value] of facts) {
      if (!value) continue;
      els.context.append(node('dt', '', label), node('dd', '', String(value)));
    }
  }

  function renderTranscript() {
    const conv = state.current ? state.convs.get(state.current) : null;
    els.transcript.textContent = '';
    if (!conv) return;
    const lines = Array.from(conv.lines.values()).sort(function (a, b) { return a.seq - b.seq; });
    for (const line of lines) els.transcript.append(lineNode(line));
    for (const p of conv.pending.values()) {
      const li = lineNode({ role: 'human', text: p.text, agent: state.me && state.me.name });
      li.dataset.pending = 'true';
      els.transcript.append(li);
    }
    els.transcript.scrollTop = els.transcript.scrollHeight;
  }

  function appendLine(line) {
    // Pending words stay last, and a line arriving out of order redraws in seq order.
    const last = els.transcript.querySelector('li[data-seq]:last-of-type');
    if (els.transcript.querySelector('li[data-pending]') || (last && Number(last.dataset.seq) > line.seq)) return renderTranscript();
    els.transcript.append(lineNode(line));
    els.transcript.scrollTop = els.transcript.scrollHeight;
  }

  function lineNode(line) {
    const li = node('li', 'line ' + line.role);
    if (line.seq) li.dataset.seq = String(line.seq);
    if (line.role === 'status') {
      li.textContent = (STATUS_TEXT[line.status] || line.status) + (line.agent ? ' · ' + line.agent : '');
      return li;
    }
    const conv = state.convs.get(state.current);
    const from = line.role === 'customer' ? (conv && conv.user) || 'Customer'
      : line.role === 'assistant' ? 'Assistant'
        : line.agent && state.me && line.agent === state.me.name ? 'You' : line.agent || 'Agent';
    li.append(node('span', 'from', from), document.createTextNode(line.text));
    return li;
  }

  function setMe(agent) {
    els.me.textContent = agent.name + ' · ' + agent.role + ' · ' + agent.tenant;
  }

  function notice(text, sticky) {
    els.notice.hidden = false;
    els.notice.textContent = text;
    clearTimeout(noticeTimer);
    if (!sticky) noticeTimer = setTimeout(hideNotice, 6000);
  }

  function hideNotice() {
    els.notice.hidden = true;
  }

  return { els, renderQueue, renderWaits, renderMine, renderApprovals, renderThread, renderTranscript, appendLine, setStatus: statusLine(els.status), setMe, notice, hideNotice };
}

function node(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

function describe(obj) {
  if (!obj || typeof obj !== 'object') return '';
  return Object.keys(obj).map(function (k) {
    const v = obj[k];
    return k + ': ' + (v && typeof v === 'object' ? JSON.stringify(v) : String(v));
  }).join(', ');
}

function reasonText(reason) {
  if (!reason) return 'Hand-off';
  return REASONS[reason] || REASONS[reason.split(':')[0]] || reason.replace(/_/g, ' ');
}

function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return s + ' s';
  const m = Math.floor(s / 60);
  return m < 60 ? m + ' min' : Math.floor(m / 60) + ' h ' + (m % 60) + ' min';
}
