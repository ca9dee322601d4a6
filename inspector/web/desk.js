// The keel agent desk: plain JavaScript, no build step. Protocol: docs/protocol.md ("The agent desk").
//
// The server is the source of truth: the queue arrives whole on every change, a taken
// conversation arrives with its transcript, and every later line carries its journal `seq`, so
// a reconnect (which takes held conversations again) simply redraws them without doubles.
(function () {
  'use strict';

  const TOKEN_KEY = 'keel.desk.token';
  const PING_INTERVAL_MS = 20000;
  const PONG_TIMEOUT_MS = 10000;
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

  const $ = (id) => document.getElementById(id);
  const els = {
    status: $('status'), me: $('me'), notice: $('notice'),
    queue: $('queue'), queueCount: $('queue-count'), queueEmpty: $('queue-empty'),
    mine: $('mine'), mineEmpty: $('mine-empty'),
    approvalsPanel: $('approvals-panel'), approvals: $('approvals'), approvalsCount: $('approvals-count'),
    placeholder: $('placeholder'), thread: $('thread'), title: $('thread-title'), meta: $('thread-meta'),
    context: $('context-list'), transcript: $('transcript'), ended: $('ended'),
    form: $('composer'), input: $('input'), send: $('send'), release: $('release'), close: $('close'),
  };

  const token = takeToken();
  const state = { me: null, queue: [], approvals: [], convs: new Map(), current: null, wantSelect: null };
  let ws = null;
  let ready = false;
  let attempts = 0;
  let stopped = false;
  let pingTimer = null;
  let pongTimer = null;
  let seq = 0;

  if (!token) {
    fatal('This desk link has no access token. Open the desk with the link you were given (…/desk#token=…).');
    return;
  }
  connect();
  setInterval(renderWaits, 1000);

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
    setStatus(attempts === 0 ? 'connecting' : 'reconnecting', attempts === 0 ? 'Connecting…' : 'Reconnecting…');
    const socket = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/desk');
    ws = socket;
    socket.onopen = function () {
      socket.send(JSON.stringify({ type: 'auth', token: token }));
      pingTimer = setInterval(function () {
        if (socket.readyState !== WebSocket.OPEN) return;
        socket.send(JSON.stringify({ type: 'ping' }));
        clearTimeout(pongTimer);
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
      renderThread();
      if (event.code === 4401) return fatal('Your desk link has expired or is not valid. Ask for a new one.');
      if (event.code === 4403) return fatal('This account cannot use the agent desk (' + (event.reason || 'forbidden') + ').');
      if (stopped) return;
      attempts += 1;
      const delay = Math.round(Math.min(10000, 500 * Math.pow(2, Math.min(attempts - 1, 5))) * (0.7 + Math.random() * 0.6));
      setStatus('offline', 'Connection lost. Retrying in ' + Math.ceil(delay / 1000) + ' s… Your conversations are kept for a while.');
      setTimeout(connect, delay);
    };
  }

  function send(frame) {
    if (!ws || !ready || ws.readyState !== WebSocket.OPEN) {
      notice('Not connected; try again in a moment.');
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
        els.me.textContent = frame.agent.name + ' · ' + frame.agent.role + ' · ' + frame.agent.tenant;
        setStatus('online', 'Online');
        hideNotice();
        // Conversations still ours after a drop come back with their transcript.
        for (const id of frame.held) send({ type: 'take', sessionId: id, id: newId('t') });
        return;
      case 'queue':
        state.queue = frame.entries.map(function (e) { return Object.assign({ seenAt: Date.now() }, e); });
        els.me.dataset.online = String(frame.agentsOnline);
        renderQueue();
        return;
      case 'approvals':
        state.approvals = frame.entries;
        renderApprovals();
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
        if (frame.sessionId === state.current) renderTranscript();
        return;
      }
      case 'ended':
        onEnded(frame);
        return;
      case 'decided':
        state.approvals = state.approvals.filter(function (a) { return a.sessionId !== frame.sessionId; });
        renderApprovals();
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
    else renderMine();
    if (frame.sessionId === state.current) renderThread();
  }

  function onLine(frame) {
    const conv = state.convs.get(frame.sessionId);
    if (!conv || conv.lines.has(frame.seq)) return;
    conv.lines.set(frame.seq, frame);
    if (frame.sessionId === state.current) {
      appendLine(frame);
    } else if (frame.role === 'customer') {
      conv.unread += 1;
      renderMine();
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
    renderMine();
    renderThread();
  }

  function onError(frame) {
    const conv = frame.sessionId ? state.convs.get(frame.sessionId) : null;
    if (conv && frame.id && conv.pending.has(frame.id)) {
      conv.pending.delete(frame.id);
      renderTranscript();
    }
    if (frame.reason === 'taken') return notice('Another agent has just taken that conversation.');
    if (frame.reason === 'not_waiting') return notice('That conversation is no longer waiting.');
    if (frame.reason === 'not_held' && conv) {
      conv.ended = conv.ended || { status: 'ended' };
      renderMine();
      renderThread();
    }
    notice(frame.message || 'Something went wrong.');
  }

  // ---- actions ----

  function take(sessionId) {
    state.wantSelect = sessionId;
    send({ type: 'take', sessionId: sessionId, id: newId('t') });
  }

  function say() {
    const conv = state.convs.get(state.current);
    const text = els.input.value.trim();
    if (!conv || conv.ended || !text) return;
    const item = { id: newId('s'), text: text };
    conv.pending.set(item.id, item);
    els.input.value = '';
    renderTranscript();
    send({ type: 'say', sessionId: conv.sessionId, id: item.id, text: text });
  }

  function select(sessionId) {
    state.current = sessionId;
    state.wantSelect = null;
    const conv = state.convs.get(sessionId);
    if (conv) conv.unread = 0;
    renderMine();
    renderThread();
    if (conv && !conv.ended) els.input.focus();
  }

  // ---- rendering ----

  function renderQueue() {
    els.queue.textContent = '';
    els.queueCount.textContent = String(state.queue.length);
    els.queueEmpty.hidden = state.queue.length > 0;
    for (const entry of state.queue) {
      const li = node('li', 'card');
      li.dataset.session = entry.sessionId;
      const row = node('div', 'row');
      row.append(node('span', 'who', entry.user), waitNode(entry));
      li.append(row, node('span', 'why', reasonText(entry.reason) + (entry.task ? ' · ' + entry.task : '')));
      if (entry.preview) li.append(node('span', 'preview', '“' + entry.preview + '”'));
      const button = node('button', 'primary', 'Take');
      button.type = 'button';
      button.addEventListener('click', function () { take(entry.sessionId); });
      li.append(button);
      els.queue.append(li);
    }
  }

  function waitNode(entry) {
    const span = node('span', 'wait', '');
    span.dataset.since = String(entry.seenAt - entry.waitingMs);
    span.textContent = 'waiting ' + duration(Date.now() - (entry.seenAt - entry.waitingMs));
    return span;
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
      li.addEventListener('click', function () { select(conv.sessionId); });
      li.addEventListener('keydown', function (e) { if (e.key === 'Enter') select(conv.sessionId); });
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
      const row = node('div', 'row');
      const approve = node('button', 'primary', 'Approve');
      const reject = node('button', 'danger', 'Reject');
      approve.type = reject.type = 'button';
      approve.addEventListener('click', function () { send({ type: 'approve', sessionId: a.sessionId, id: newId('a') }); });
      reject.addEventListener('click', function () { send({ type: 'reject', sessionId: a.sessionId, id: newId('a') }); });
      row.append(approve, reject);
      li.append(row);
      els.approvals.append(li);
    }
  }

  function renderThread() {
    const conv = state.current ? state.convs.get(state.current) : null;
    els.placeholder.hidden = Boolean(conv);
    els.thread.hidden = !conv;
    if (!conv) return;
    els.thread.dataset.session = conv.sessionId;
    els.title.textContent = conv.user || 'Customer';
    els.meta.textContent = reasonText(conv.reason) + (conv.summary && conv.summary.taskTitle ? ' · ' + conv.summary.taskTitle : '');
    renderContext(conv.summary || {});
    renderTranscript();
    const live = !conv.ended && ready;
    els.input.disabled = els.send.disabled = els.release.disabled = els.close.disabled = !live;
    els.ended.hidden = !conv.ended;
    if (conv.ended) {
      els.ended.textContent = conv.ended.status === 'released' ? 'You handed this conversation back to the assistant.'
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
    // A line arriving out of order (rare) redraws the whole transcript in seq order.
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

  // ---- helpers ----

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

  function newId(prefix) {
    const bytes = new Uint8Array(6);
    crypto.getRandomValues(bytes);
    let hex = '';
    for (const b of bytes) hex += b.toString(16).padStart(2, '0');
    seq += 1;
    return prefix + '-' + Date.now().toString(36) + '-' + seq + '-' + hex;
  }

  function setStatus(kind, text) {
    els.status.dataset.state = kind;
    els.status.textContent = text;
  }

  function notice(text) {
    els.notice.hidden = false;
    els.notice.textContent = text;
    clearTimeout(notice.timer);
    notice.timer = setTimeout(hideNotice, 6000);
  }

  function hideNotice() {
    els.notice.hidden = true;
  }

  function fatal(text) {
    stopped = true;
    setStatus('offline', 'Disconnected');
    els.notice.hidden = false;
    els.notice.textContent = text;
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
})();
