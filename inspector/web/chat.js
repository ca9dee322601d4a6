// The keel chat page: a plain JavaScript module, no build step. Protocol: docs/protocol.md.
//
// Nothing is lost or shown twice across drops, reloads and server restarts because:
// - every outgoing message keeps its id in an outbox (sessionStorage) until its reply arrives,
//   and the whole outbox is resent with the same ids after each `ready`: the server answers a
//   known id with its stored ack and reply instead of running it again;
// - every journaled frame has a `seq`; the page keeps the last one it applied (`lastSeq`),
//   resumes with it, and ignores frames at or below it.
import { backoffMs, bindComposer, createPageSocket, randomHex, statusLine, takeToken } from './page-common.js';

const STORE_KEY = 'keel.chat.v1';
const TOKEN_KEY = 'keel.chat.token';
const MAX_ENTRIES = 500;
const PING_INTERVAL_MS = 20000;
const PONG_TIMEOUT_MS = 10000;
const RETRYABLE_SEND_DELAY_MS = 1500;
const HANDOFF_TEXT = {
  requested: 'Asking for a person to join…',
  queued: 'You are in the queue for a person. Your conversation is kept.',
  accepted: 'A person has accepted your conversation.',
  with_agent: 'You are chatting with a person.',
  completed: 'The person has finished; the assistant is back.',
  failed: 'We could not reach a person. You can keep chatting here.',
  unavailable: 'No one is available right now. You can keep chatting here, or leave your details for a callback.',
};
// Statuses that follow another at once say nothing new in the transcript; the banner shows them.
const QUIET_STATUSES = { requested: true, with_agent: true };

const els = {
  status: document.getElementById('status'),
  transcript: document.getElementById('transcript'),
  notice: document.getElementById('notice'),
  handoff: document.getElementById('handoff'),
  form: document.getElementById('composer'),
  input: document.getElementById('input'),
};

const setStatus = statusLine(els.status);

// ---- token: from the URL fragment (never sent to the server in a URL), kept for reloads ----
const token = takeToken(TOKEN_KEY);
const owner = token ? ownerOf(token) : '';
const state = loadState(owner);

let ready = false;
const link = createPageSocket({
  path: '/chat',
  token: token,
  status: setStatus,
  keepAlive: { intervalMs: PING_INTERVAL_MS, timeoutMs: PONG_TIMEOUT_MS },
  opened() {
    const hello = { type: 'hello' };
    if (state.sessionId) {
      hello.sessionId = state.sessionId;
      hello.lastSeq = state.lastSeq;
    }
    link.send(hello);
  },
  frame: handle,
  closed(event) {
    ready = false;
    if (event.code === 4401) return fatal('Your chat link has expired or is not valid. Please ask for a new link; your conversation is kept.');
    if (event.code === 4403) return fatal('This page is not allowed to open the chat (' + (event.reason || 'forbidden') + ').');
    if (event.code === 4429) notice('Too many chat windows are open for you. Close one; this window retries shortly.');
  },
  retryDelayMs(attempt, event) {
    return event.code === 4429 ? 10000 : backoffMs(attempt);
  },
  retrying(delay) {
    setStatus('offline', 'Connection lost. Retrying in ' + Math.ceil(delay / 1000) + ' s…');
  },
});

renderAll();
if (token) start();
else fatal('This chat link has no access token. Please open the link you were given again.');

function start() {
  link.connect();
  bindComposer(els.form, els.input, submit);
  els.input.addEventListener('input', autosize);
  window.addEventListener('online', function () {
    if (!ready) link.reconnectNow();
  });
}

// ---- connection ----

function send(frame) {
  return ready && link.send(frame);
}

// ---- frames ----

function handle(frame) {
  switch (frame.type) {
    case 'ready':
      ready = true;
      link.resetBackoff();
      if (state.sessionId !== frame.sessionId) {
        state.sessionId = frame.sessionId;
        state.lastSeq = 0;
      }
      // The server may have less than we saw (restored from an older backup): follow it.
      if (state.lastSeq > frame.lastSeq) state.lastSeq = frame.lastSeq;
      save();
      setStatus('online', 'Online');
      hideNotice();
      for (const item of state.outbox) send({ type: 'message', id: item.id, text: item.text });
      return;
    case 'ack':
      if (!advance(frame.seq)) return;
      markUser(frame.id, 'sent');
      save();
      return;
    case 'delta':
      appendDelta(frame.replyTo, frame.text);
      return;
    case 'reply':
      if (!advance(frame.seq)) return;
      finishReply(frame);
      save();
      return;
    case 'handoff':
      if (!advance(frame.seq)) return;
      onHandoff(frame);
      save();
      return;
    case 'error':
      onError(frame);
      return;
  }
}

/** True (and lastSeq moved) when `seq` is new; false for a frame already applied. */
function advance(seq) {
  if (typeof seq !== 'number' || seq <= state.lastSeq) return false;
  state.lastSeq = seq;
  return true;
}

function onError(frame) {
  if (frame.id && outboxIndex(frame.id) >= 0) {
    if (frame.retryable) {
      const id = frame.id;
      setTimeout(function () {
        const item = state.outbox[outboxIndex(id)];
        if (item) send({ type: 'message', id: item.id, text: item.text });
      }, RETRYABLE_SEND_DELAY_MS);
      return;
    }
    state.outbox.splice(outboxIndex(frame.id), 1);
    markUser(frame.id, 'failed', frame.message);
    save();
    return;
  }
  if (frame.code === 'unknown_session' || (frame.code === 'forbidden' && !ready)) {
    // The stored session is gone (or not ours): start a new one on this connection.
    state.sessionId = null;
    state.lastSeq = 0;
    save();
    link.send({ type: 'hello' });
    return;
  }
  notice(frame.message || 'Something went wrong.');
}

// ---- sending ----

function submit() {
  const text = els.input.value.trim();
  if (!text) return;
  const id = newId();
  // "No one is available" has been read once the customer answers the offer; the line stays.
  if (state.handoff === 'unavailable' || state.handoff === 'failed') {
    state.handoff = null;
    renderHandoff();
  }
  state.outbox.push({ id: id, text: text });
  addEntry({ kind: 'user', id: id, text: text, status: 'pending' });
  save();
  els.input.value = '';
  autosize();
  send({ type: 'message', id: id, text: text });
}

function newId() {
  return 'm-' + Date.now().toString(36) + '-' + randomHex(9);
}

function outboxIndex(id) {
  for (let i = 0; i < state.outbox.length; i++) if (state.outbox[i].id === id) return i;
  return -1;
}

// ---- transcript ----

function addEntry(entry) {
  state.entries.push(entry);
  if (state.entries.length > MAX_ENTRIES) state.entries.splice(0, state.entries.length - MAX_ENTRIES);
  els.transcript.appendChild(renderEntry(entry));
  scrollDown();
}

function markUser(id, status, why) {
  for (const entry of state.entries) {
    if (entry.kind === 'user' && entry.id === id && entry.status !== 'failed') {
      entry.status = status;
      if (why) entry.error = why;
      replaceNode(entry);
    }
  }
}

function findStreaming(replyTo) {
  for (let i = state.entries.length - 1; i >= 0; i--) {
    const entry = state.entries[i];
    if (entry.kind === 'agent' && entry.streaming && entry.replyTo === replyTo) return entry;
  }
  return null;
}

function appendDelta(replyTo, text) {
  let entry = findStreaming(replyTo);
  if (!entry) {
    entry = { kind: 'agent', replyTo: replyTo, text: '', streaming: true };
    addEntry(entry);
  }
  entry.text += text;
  replaceNode(entry);
  scrollDown();
}

function onHandoff(frame) {
  const meta = frame.meta || {};
  const changed = frame.status !== state.handoff;
  state.handoff = frame.status;
  if (typeof meta.agent === 'string' && meta.agent) state.handoffAgent = meta.agent;
  if (frame.status === 'queued') state.handoffPosition = typeof meta.position === 'number' ? meta.position : null;
  if (frame.status === 'completed' || frame.status === 'unavailable' || frame.status === 'failed') state.handoffAgent = null;
  // A new queue position moves the banner; only a new status is worth a line.
  if (changed && !QUIET_STATUSES[frame.status]) addEntry({ kind: 'system', seq: frame.seq, text: handoffText(frame.status) });
  renderHandoff();
}

function handoffText(status) {
  if ((status === 'accepted' || status === 'with_agent') && state.handoffAgent) {
    return 'You are chatting with ' + state.handoffAgent + ', a person from our team.';
  }
  if (status === 'queued' && state.handoffPosition) {
    return 'You are number ' + state.handoffPosition + ' in the queue for a person. Your conversation is kept.';
  }
  return HANDOFF_TEXT[status] || 'Hand-off: ' + status;
}

function finishReply(frame) {
  if (frame.replyTo) {
    const index = outboxIndex(frame.replyTo);
    if (index >= 0) state.outbox.splice(index, 1);
    markUser(frame.replyTo, 'sent');
  }
  const meta = frame.meta || {};
  // While a person has the conversation, the answer to a message is an empty relay: nothing to show.
  if (meta.silent && !frame.text) return;
  const from = meta.from === 'human' || meta.from === 'operator' ? meta.agent || 'Support team' : undefined;
  const streaming = frame.replyTo ? findStreaming(frame.replyTo) : null;
  if (streaming) {
    streaming.streaming = false;
    streaming.text = frame.text;
    streaming.seq = frame.seq;
    replaceNode(streaming);
  } else {
    addEntry({ kind: from ? 'agent human' : 'agent', seq: frame.seq, replyTo: frame.replyTo, text: frame.text, from: from });
  }
  scrollDown();
}

function renderAll() {
  els.transcript.textContent = '';
  for (const entry of state.entries) {
    // A stream cut by a reload is finished by its reply (replayed or resent).
    if (entry.streaming) entry.text = entry.text || '…';
    els.transcript.appendChild(renderEntry(entry));
  }
  renderHandoff();
  scrollDown();
}

function renderEntry(entry) {
  const li = document.createElement('li');
  li.className = 'msg ' + entry.kind + (entry.streaming ? ' streaming' : '');
  if (entry.id) li.dataset.id = entry.id;
  if (entry.replyTo) li.dataset.replyTo = entry.replyTo;
  if (entry.seq) li.dataset.seq = String(entry.seq);
  if (entry.status) li.dataset.status = entry.status;
  if (entry.from) {
    const name = document.createElement('span');
    name.className = 'from';
    name.textContent = entry.from;
    li.appendChild(name);
  }
  li.appendChild(document.createTextNode(entry.text));
  if (entry.kind === 'user') {
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = entry.status === 'failed' ? 'Not sent: ' + (entry.error || 'refused') : entry.status === 'sent' ? 'Delivered' : 'Sending…';
    li.appendChild(meta);
  }
  entry.node = li;
  return li;
}

function replaceNode(entry) {
  const old = entry.node;
  const fresh = renderEntry(entry);
  if (old && old.parentNode) old.parentNode.replaceChild(fresh, old);
}

function renderHandoff() {
  const status = state.handoff;
  if (!status || status === 'completed') {
    els.handoff.hidden = true;
    return;
  }
  els.handoff.hidden = false;
  els.handoff.dataset.status = status;
  els.handoff.textContent = handoffText(status);
}

function scrollDown() {
  els.transcript.scrollTop = els.transcript.scrollHeight;
}

function autosize() {
  els.input.style.height = 'auto';
  els.input.style.height = Math.min(els.input.scrollHeight, 140) + 'px';
}

// ---- notices ----

function notice(text) {
  els.notice.hidden = false;
  els.notice.textContent = text;
}

function hideNotice() {
  els.notice.hidden = true;
}

/** Stops reconnecting and says why; false, so that a close handler that returns it stays down. */
function fatal(text) {
  link.stop();
  setStatus('offline', 'Disconnected');
  notice(text);
  return false;
}

// ---- storage ----

/** Who the token names (tenant and user, read without verifying): a new person gets a fresh chat. */
function ownerOf(jwt) {
  try {
    const payload = JSON.parse(atob(jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    return String(payload.tenant) + '/' + String(payload.sub);
  } catch {
    return '';
  }
}

function loadState(who) {
  const empty = { owner: who, sessionId: null, lastSeq: 0, entries: [], outbox: [], handoff: null, handoffAgent: null, handoffPosition: null };
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || 'null');
    if (saved && saved.owner === who && Array.isArray(saved.entries) && Array.isArray(saved.outbox)) return Object.assign(empty, saved);
  } catch {
    // A corrupt entry starts a fresh conversation view; the server still has the session.
  }
  return empty;
}

function save() {
  const plain = {
    owner: state.owner,
    sessionId: state.sessionId,
    lastSeq: state.lastSeq,
    outbox: state.outbox,
    handoff: state.handoff,
    handoffAgent: state.handoffAgent,
    handoffPosition: state.handoffPosition,
    entries: state.entries.map(function (e) {
      return { kind: e.kind, id: e.id, seq: e.seq, replyTo: e.replyTo, text: e.text, status: e.status, error: e.error, streaming: e.streaming, from: e.from };
    }),
  };
  try {
    sessionStorage.setItem(STORE_KEY, JSON.stringify(plain));
  } catch {
    // Storage full or disabled: the chat still works, it just will not survive a reload.
  }
}
