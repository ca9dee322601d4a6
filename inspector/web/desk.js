// The keel agent desk: plain JavaScript modules, no build step. Protocol: docs/protocol.md
// ("The agent desk"). This module keeps the connection and the state; desk-view.js draws it.
//
// The server is the source of truth: the queue arrives whole on every change, a taken
// conversation arrives with its transcript, and every later line carries its journal `seq`, so
// a reconnect (which takes held conversations again) simply redraws them without doubles.
import { createDeskView } from './desk-view.js';
import { bindComposer, createPageSocket, randomHex, takeToken } from './page-common.js';

const TOKEN_KEY = 'keel.desk.token';
const PING_INTERVAL_MS = 20000;
const PONG_TIMEOUT_MS = 10000;

const token = takeToken(TOKEN_KEY);
const state = { me: null, queue: [], approvals: [], convs: new Map(), current: null, wantSelect: null };
const view = createDeskView(state, {
  take(sessionId) {
    state.wantSelect = sessionId;
    send({ type: 'take', sessionId: sessionId, id: newId('t') });
  },
  select: select,
  // The call shown on the board goes with the decision: a newer call is never decided unseen.
  approve(sessionId, call) { send(Object.assign({ type: 'approve', sessionId: sessionId, id: newId('a') }, call ? { call: call } : {})); },
  reject(sessionId, call) { send(Object.assign({ type: 'reject', sessionId: sessionId, id: newId('a') }, call ? { call: call } : {})); },
  dismiss(sessionId) {
    state.convs.delete(sessionId);
    state.current = null;
    view.renderMine();
    view.renderThread(ready);
  },
});
const els = view.els;
let ready = false;
let counter = 0;
const link = createPageSocket({
  path: '/desk',
  token: token,
  status: view.setStatus,
  keepAlive: { intervalMs: PING_INTERVAL_MS, timeoutMs: PONG_TIMEOUT_MS },
  frame: handle,
  closed(event) {
    ready = false;
    view.renderThread(false);
    if (event.code === 4401) return fatal('Your desk link has expired or is not valid. Ask for a new one.');
    if (event.code === 4403) return fatal('This account cannot use the agent desk (' + (event.reason || 'forbidden') + ').');
  },
  retrying(delay) {
    view.setStatus('offline', 'Connection lost. Retrying in ' + Math.ceil(delay / 1000) + ' s… Your conversations are kept for a while.');
  },
});

if (!token) {
  fatal('This desk link has no access token. Open the desk with the link you were given (…/desk#token=…).');
} else {
  link.connect();
  setInterval(view.renderWaits, 1000);
}

bindComposer(els.form, els.input, say);
els.release.addEventListener('click', function () {
  if (state.current) send({ type: 'release', sessionId: state.current, id: newId('r') });
});
els.close.addEventListener('click', function () {
  if (state.current) send({ type: 'close', sessionId: state.current, id: newId('c') });
});

// ---- connection ----

function send(frame) {
  if (ready && link.send(frame)) return true;
  view.notice('Not connected; try again in a moment.');
  return false;
}

// ---- frames ----

function handle(frame) {
  switch (frame.type) {
    case 'ready':
      ready = true;
      link.resetBackoff();
      state.me = frame.agent;
      view.setMe(frame.agent);
      view.setStatus('online', 'Online');
      view.hideNotice();
      // Conversations still ours after a drop come back with their transcript.
      for (const id of frame.held) send({ type: 'take', sessionId: id, id: newId('t') });
      view.renderThread(true);
      return;
    case 'queue':
      state.queue = frame.entries.map(function (e) { return Object.assign({ seenAt: Date.now() }, e); });
      view.renderQueue();
      return;
    case 'approvals':
      state.approvals = frame.entries;
      view.renderApprovals();
      return;
    case 'taken':
      onTaken(frame);
      return;
    case 'line':
      onLine(frame);
      return;
    case 'sent': {
      const conv = state.convs.get(frame.sessionId);
      if (conv) conv.pending.delete(frame.id);
      if (frame.sessionId === state.current) view.renderTranscript();
      return;
    }
    case 'ended':
      onEnded(frame);
      return;
    case 'decided':
      state.approvals = state.approvals.filter(function (a) { return a.sessionId !== frame.sessionId; });
      view.renderApprovals();
      return;
    case 'error':
      onError(frame);
      return;
  }
}

function onTaken(frame) {
  let conv = state.convs.get(frame.sessionId);
  if (!conv) {
    conv = { sessionId: frame.sessionId, pending: new Map(), unread: 0 };
    state.convs.set(frame.sessionId, conv);
  }
  Object.assign(conv, { user: frame.user, reason: frame.reason, summary: frame.summary, ended: null, lines: new Map() });
  for (const line of frame.transcript) conv.lines.set(line.seq, line);
  // Words typed while the connection was down go out now; the server ignores an id it has seen.
  for (const p of conv.pending.values()) send({ type: 'say', sessionId: conv.sessionId, id: p.id, text: p.text });
  if (state.wantSelect === frame.sessionId || !state.current) select(frame.sessionId);
  else view.renderMine();
}

function onLine(frame) {
  const conv = state.convs.get(frame.sessionId);
  if (!conv || conv.lines.has(frame.seq)) return;
  conv.lines.set(frame.seq, frame);
  if (frame.sessionId === state.current) {
    view.appendLine(frame);
  } else if (frame.role === 'customer') {
    conv.unread += 1;
    view.renderMine();
  }
}

function onEnded(frame) {
  const conv = state.convs.get(frame.sessionId);
  if (!conv) return;
  if (frame.reason === 'opened_elsewhere') {
    state.convs.delete(frame.sessionId);
    if (state.current === frame.sessionId) state.current = null;
  } else {
    conv.ended = { status: frame.status, reason: frame.reason };
    conv.pending.clear();
  }
  view.renderMine();
  view.renderThread(ready);
}

function onError(frame) {
  const conv = frame.sessionId ? state.convs.get(frame.sessionId) : null;
  if (conv && frame.id && conv.pending.has(frame.id)) {
    conv.pending.delete(frame.id);
    view.renderTranscript();
  }
  if (frame.reason === 'taken') return view.notice('Another agent has just taken that conversation.');
  if (frame.reason === 'not_waiting') return view.notice('That conversation is no longer waiting.');
  if (frame.reason === 'not_held' && conv) {
    conv.ended = conv.ended || { status: 'ended' };
    view.renderMine();
    view.renderThread(ready);
  }
  view.notice(frame.message || 'Something went wrong.');
}

// ---- actions ----

function say() {
  const conv = state.convs.get(state.current);
  const text = els.input.value.trim();
  if (!conv || conv.ended || !text) return;
  const item = { id: newId('s'), text: text };
  conv.pending.set(item.id, item);
  els.input.value = '';
  view.renderTranscript();
  send({ type: 'say', sessionId: conv.sessionId, id: item.id, text: text });
}

function select(sessionId) {
  state.current = sessionId;
  state.wantSelect = null;
  const conv = state.convs.get(sessionId);
  if (conv) conv.unread = 0;
  view.renderMine();
  view.renderThread(ready);
  if (conv && !conv.ended) els.input.focus();
}

// ---- helpers ----

function newId(prefix) {
  counter += 1;
  return prefix + '-' + Date.now().toString(36) + '-' + counter + '-' + randomHex(6);
}

/** Stops reconnecting and says why; false, so that a close handler that returns it stays down. */
function fatal(text) {
  link.stop();
  view.setStatus('offline', 'Disconnected');
  view.notice(text, true);
  return false;
}
