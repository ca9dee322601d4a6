// The keel agent desk: plain JavaScript modules, no build step. Protocol: docs/protocol.md
// ("The agent desk"). This module keeps the connection and the state; desk-view.js draws it.
//
// The server is the source of truth: the queue arrives whole on every change, a taken
// conversation arrives with its transcript, and every later line carries its journal `seq`, so
// a reconnect (which takes held conversations again) simply redraws them without doubles.
import { createDeskView } from './desk-view.js';

const TOKEN_KEY = 'keel.desk.token';
const PING_INTERVAL_MS = 20000;
const PONG_TIMEOUT_MS = 10000;

const token = takeToken();
const state = { me: null, queue: [], approvals: [], convs: new Map(), current: null, wantSelect: null };
const view = createDeskView(state, {
  take(sessionId) {
    state.wantSelect = sessionId;
    send({ type: 'take', sessionId: sessionId, id: newId('t') });
  },
  select: select,
  approve(sessionId) { send({ type: 'approve', sessionId: sessionId, id: newId('a') }); },
  reject(sessionId) { send({ type: 'reject', sessionId: sessionId, id: newId('a') }); },
  dismiss(sessionId) {
    state.convs.delete(sessionId);
    state.current = null;
    view.renderMine();
    view.renderThread(ready);
  },
});
const els = view.els;
let ws = null;
let ready = false;
let attempts = 0;
let stopped = false;
let pingTimer = null;
let pongTimer = null;
let counter = 0;

if (!token) {
  fatal('This desk link has no access token. Open the desk with the link you were given (…/desk#token=…).');
} else {
  connect();
  setInterval(view.renderWaits, 1000);
}

els.form.addEventListener('submit', function (event) {
  event.preventDefault();
  say();
});
els.input.addEventListener('keydown', function (event) {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    say();
  }
});
els.release.addEventListener('click', function () {
  if (state.current) send({ type: 'release', sessionId: state.current, id: newId('r') });
});
els.close.addEventListener('click', function () {
  if (state.current) send({ type: 'close', sessionId: state.current, id: newId('c') });
});

// ---- connection ----

function connect() {
  view.setStatus(attempts === 0 ? 'connecting' : 'reconnecting', attempts === 0 ? 'Connecting…' : 'Reconnecting…');
  const socket = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/desk');
  ws = socket;
  socket.onopen = function () {
    socket.send(JSON.stringify({ type: 'auth', token: token }));
    pingTimer = setInterval(function () {
      if (socket.readyState !== WebSocket.OPEN) return;
      socket.send(JSON.stringify({ type: 'ping' }));
      clearTimeout(pongTimer);
      // A socket can look open long after the network is gone; no pong means reconnect.
      pongTimer = setTimeout(function () { socket.close(); }, PONG_TIMEOUT_MS);
    }, PING_INTERVAL_MS);
  };
  socket.onmessage = function (event) {
    if (socket !== ws) return;
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    handle(frame);
  };
  socket.onclose = function (event) {
    if (socket !== ws) return;
    ws = null;
    ready = false;
    clearInterval(pingTimer);
    clearTimeout(pongTimer);
    view.renderThread(false);
    if (event.code === 4401) return fatal('Your desk link has expired or is not valid. Ask for a new one.');
    if (event.code === 4403) return fatal('This account cannot use the agent desk (' + (event.reason || 'forbidden') + ').');
    if (stopped) return;
    attempts += 1;
    const delay = Math.round(Math.min(10000, 500 * Math.pow(2, Math.min(attempts - 1, 5))) * (0.7 + Math.random() * 0.6));
    view.setStatus('offline', 'Connection lost. Retrying in ' + Math.ceil(delay / 1000) + ' s… Your conversations are kept for a while.');
    setTimeout(connect, delay);
  };
}

function send(frame) {
  if (!ws || !ready || ws.readyState !== WebSocket.OPEN) {
    view.notice('Not connected; try again in a moment.');
    return false;
  }
  ws.send(JSON.stringify(frame));
  return true;
}

// ---- frames ----

function handle(frame) {
  switch (frame.type) {
    case 'ready':
      ready = true;
      attempts = 0;
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
    case 'pong':
      clearTimeout(pongTimer);
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
  const bytes = new Uint8Array(6);
  crypto.getRandomValues(bytes);
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  counter += 1;
  return prefix + '-' + Date.now().toString(36) + '-' + counter + '-' + hex;
}

function fatal(text) {
  stopped = true;
  view.setStatus('offline', 'Disconnected');
  view.notice(text, true);
}

function takeToken() {
  const params = new URLSearchParams(location.hash.slice(1));
  const fromHash = params.get('token');
  if (fromHash) {
    sessionStorage.setItem(TOKEN_KEY, fromHash);
    // Keep the token out of the address bar, bookmarks and screenshots.
    history.replaceState(null, '', location.pathname + location.search);
    return fromHash;
  }
  return sessionStorage.getItem(TOKEN_KEY);
}
