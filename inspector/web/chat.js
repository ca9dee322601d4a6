// The keel chat page: plain JavaScript, no build step. Protocol: docs/protocol.md.
//
// Nothing is lost or shown twice across drops, reloads and server restarts because:
// - every outgoing message keeps its id in an outbox (sessionStorage) until its reply arrives,
//   and the whole outbox is resent with the same ids after each `ready`: the server answers a
//   known id with its stored ack and reply instead of running it again;
// - every journaled frame has a `seq`; the page keeps the last one it applied (`lastSeq`),
//   resumes with it, and ignores frames at or below it.
(function () {
  'use strict';

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

  // ---- token: from the URL fragment (never sent to the server in a URL), kept for reloads ----
  const token = takeToken();
  const owner = token ? ownerOf(token) : '';
  const state = loadState(owner);

  let ws = null;
  let ready = false;
  let attempts = 0;
  let reconnectTimer = null;
  let pingTimer = null;
  let pongTimer = null;
  let stopped = false;

  renderAll();
  if (!token) {
    fatal('This chat link has no access token. Please open the link you were given again.');
    return;
  }
  connect();

  els.form.addEventListener('submit', function (event) {
    event.preventDefault();
    submit();
  });
  els.input.addEventListener('keydown', function (event) {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  els.input.addEventListener('input', autosize);
  window.addEventListener('online', function () {
    if (!ready && !stopped) reconnectNow();
  });

  // ---- connection ----

  function connect() {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    setStatus(attempts === 0 ? 'connecting' : 'reconnecting', attempts === 0 ? 'Connecting…' : 'Reconnecting…');
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/chat';
    const socket = new WebSocket(url);
    ws = socket;
    socket.onopen = function () {
      socket.send(JSON.stringify({ type: 'auth', token: token }));
      const hello = { type: 'hello' };
      if (state.sessionId) {
        hello.sessionId = state.sessionId;
        hello.lastSeq = state.lastSeq;
      }
      socket.send(JSON.stringify(hello));
      startPing(socket);
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
      stopPing();
      onClosed(event.code, event.reason);
    };
  }

  function onClosed(code, reason) {
    if (code === 4401) return fatal('Your chat link has expired or is not valid. Please ask for a new link; your conversation is kept.');
    if (code === 4403) return fatal('This page is not allowed to open the chat (' + (reason || 'forbidden') + ').');
    if (code === 4429) notice('Too many chat windows are open for you. Close one; this window retries shortly.');
    attempts += 1;
    const base = Math.min(10000, 500 * Math.pow(2, Math.min(attempts - 1, 5)));
    const delay = code === 4429 ? 10000 : Math.round(base * (0.7 + Math.random() * 0.6));
    setStatus('offline', 'Connection lost. Retrying in ' + Math.ceil(delay / 1000) + ' s…');
    reconnectTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    attempts = 0;
    if (ws) ws.close();
    else connect();
  }

  function startPing(socket) {
    stopPing();
    pingTimer = setInterval(function () {
      if (socket.readyState !== WebSocket.OPEN) return;
      socket.send(JSON.stringify({ type: 'ping' }));
      clearTimeout(pongTimer);
      // A socket can look open long after the network is gone; no pong means reconnect.
      pongTimer = setTimeout(function () {
        socket.close();
      }, PONG_TIMEOUT_MS);
    }, PING_INTERVAL_MS);
  }

  function stopPing() {
    clearInterval(pingTimer);
    clearTimeout(pongTimer);
  }

  function send(frame) {
    if (ws && ready && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  // ---- frames ----

  function handle(frame) {
    switch (frame.type) {
      case 'ready':
        ready = true;
        attempts = 0;
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
      case 'pong':
        clearTimeout(pongTimer);
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
      if (ws) ws.send(JSON.stringify({ type: 'hello' }));
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
    const bytes = new Uint8Array(9);
    crypto.getRandomValues(bytes);
    let hex = '';
    for (const b of bytes) hex += b.toString(16).padStart(2, '0');
    return 'm-' + Date.now().toString(36) + '-' + hex;
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

  // ---- status and notices ----

  function setStatus(kind, text) {
    els.status.dataset.state = kind;
    els.status.textContent = text;
  }

  function notice(text) {
    els.notice.hidden = false;
    els.notice.textContent = text;
  }

  function hideNotice() {
    els.notice.hidden = true;
  }

  function fatal(text) {
    stopped = true;
    clearTimeout(reconnectTimer);
    setStatus('offline', 'Disconnected');
    notice(text);
  }

  // ---- storage ----

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
})();
