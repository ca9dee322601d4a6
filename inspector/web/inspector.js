// The keel inspector: plain JavaScript, no build step. Protocol: docs/observability.md.
//
// The token comes from the URL fragment (#token=...), never from the URL the server sees; the
// page keeps it in sessionStorage for reloads and removes it from the address bar. Everything it
// shows arrives over /inspector/ws: the live session list, the watched session's timeline and
// statechart lighting, health, alerts, and the answers to history and diagnostics requests.
(function () {
  'use strict';

  const TOKEN_KEY = 'keel.inspector.token';
  const MAX_TIMELINE = 800;
  const MAX_RETRY_MS = 10000;
  const TRAIL_MS = 2500;

  const $ = (id) => document.getElementById(id);
  const els = {
    status: $('status'), who: $('who'), banner: $('alert-banner'), fatal: $('fatal'),
    list: $('session-list'), count: $('session-count'), filter: $('session-filter'),
    title: $('detail-title'), meta: $('detail-meta'), operator: $('operator'),
    opForm: $('op-form'), opLabel: $('op-label'), opText: $('op-text'), opCancel: $('op-cancel'),
    chart: $('chart'), chartState: $('chart-state'), chartFit: $('chart-fit'),
    timeline: $('timeline'), showInspect: $('show-inspect'), clear: $('timeline-clear'),
    health: $('health'), healthWindow: $('health-window'),
    tabHistory: $('tab-history'), tabReport: $('tab-report'), history: $('history'), report: $('report'),
    hForm: $('history-form'), hSince: $('h-since'), hUntil: $('h-until'), hUser: $('h-user'), hSession: $('h-session'), hKinds: $('h-kinds'),
    hSummary: $('history-summary'), hResults: $('history-results'),
    rForm: $('report-form'), rPeriod: $('r-period'), rBody: $('report-body'),
    toast: $('toast'),
  };

  const token = takeToken();
  const sessions = new Map();
  const pending = new Map();
  let ws = null;
  let attempts = 0;
  let retryTimer = null;
  let identity = null;
  let canSignal = false;
  let selected = null;
  let chartReady = false;
  let requestSeq = 0;
  let opKind = null;
  let lastTrace = null;
  const trail = new Map();

  if (!token) {
    fatal('This inspector link has no access token. Open it as /inspector#token=<an engineer or admin token>.');
    return;
  }
  wire();
  connect();

  // ---- connection ----

  function connect() {
    clearTimeout(retryTimer);
    setStatus(attempts === 0 ? 'connecting' : 'reconnecting', attempts === 0 ? 'Connecting…' : 'Reconnecting…');
    const socket = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/inspector/ws');
    ws = socket;
    socket.addEventListener('open', function () {
      socket.send(JSON.stringify({ type: 'auth', token: token }));
    });
    socket.addEventListener('message', function (event) {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      handle(frame);
    });
    socket.addEventListener('close', function (event) {
      if (ws !== socket) return;
      ws = null;
      if (event.code === 4401 || event.code === 4403) {
        setStatus('refused', 'Refused');
        fatal(event.code === 4401 ? 'The token was refused (expired or not valid). Ask for a new inspector link.' : 'This token may not use the inspector: an engineer or admin token is needed.');
        return;
      }
      setStatus('offline', 'Offline – retrying');
      attempts++;
      retryTimer = setTimeout(connect, Math.min(MAX_RETRY_MS, 500 * 2 ** Math.min(attempts, 5)));
    });
  }

  function send(frame) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
  }

  function request(frame) {
    const id = 'r' + ++requestSeq;
    send(Object.assign({ id: id }, frame));
    return new Promise(function (resolve, reject) {
      pending.set(id, { resolve: resolve, reject: reject });
    });
  }

  function handle(f) {
    switch (f.type) {
      case 'welcome': return onWelcome(f);
      case 'sessions':
        sessions.clear();
        for (const row of f.sessions) sessions.set(row.sessionId, row);
        return renderSessions();
      case 'session': return onSessionRow(f.session);
      case 'session.detail': return onDetail(f);
      case 'event': return onEvent(f.event);
      case 'skipped': return onSkipped(f);
      case 'health': return onHealth(f);
      case 'alerts': return onAlerts(f.active || []);
      case 'query.result': case 'report.result': case 'signal.result': return settle(f.id, f, null);
      case 'error':
        if (f.id && pending.has(f.id)) return settle(f.id, null, f);
        return toast(f.message || f.code, true);
    }
  }

  function settle(id, ok, err) {
    const p = pending.get(id);
    if (!p) return;
    pending.delete(id);
    if (err) p.reject(err);
    else p.resolve(ok);
  }

  function onWelcome(f) {
    attempts = 0;
    identity = f.identity;
    canSignal = f.canSignal === true;
    setStatus('online', 'Live');
    els.who.textContent = identity.user + ' · ' + identity.role + ' · tenant ' + identity.tenant + (identity.role === 'engineer' ? ' · redacted view' : '');
    if (!chartReady && f.machine && f.machine.svg) {
      // The SVG is drawn by the server from the machine definition; names are escaped there.
      els.chart.innerHTML = f.machine.svg;
      chartReady = true;
    }
    if (els.hKinds.options.length === 0) {
      for (const k of f.kinds || []) {
        const o = document.createElement('option');
        o.value = k;
        o.textContent = k;
        els.hKinds.appendChild(o);
      }
    }
    els.healthWindow.textContent = f.limits ? '(last ' + Math.round(f.limits.healthWindowMs / 60000) + ' min)' : '';
    els.operator.hidden = !(canSignal && selected);
    if (selected) send({ type: 'watch', sessionId: selected });
  }

  // ---- sessions ----

  function onSessionRow(row) {
    const before = sessions.get(row.sessionId);
    sessions.set(row.sessionId, row);
    const li = els.list.querySelector('[data-session="' + cssEscape(row.sessionId) + '"]');
    if (li && before && matchesFilter(row)) {
      fillRow(li, row);
      if (before.state !== row.state) flash(li);
      if (els.list.firstElementChild !== li && row.updatedAt >= (before.updatedAt || 0)) els.list.insertBefore(li, els.list.firstElementChild);
    } else {
      renderSessions();
    }
    if (row.sessionId === selected) showSession(row);
  }

  function renderSessions() {
    const rows = Array.from(sessions.values()).filter(matchesFilter).sort(function (a, b) { return b.updatedAt - a.updatedAt; });
    els.list.replaceChildren.apply(els.list, rows.map(function (row) {
      const li = document.createElement('li');
      li.className = 'session-row';
      li.dataset.session = row.sessionId;
      li.tabIndex = 0;
      li.setAttribute('role', 'option');
      fillRow(li, row);
      return li;
    }));
    els.count.textContent = '(' + sessions.size + ')';
  }

  function fillRow(li, row) {
    li.dataset.state = row.state;
    li.dataset.live = String(row.live);
    li.setAttribute('aria-selected', String(row.sessionId === selected));
    li.replaceChildren(
      span('dot', ''),
      span('user', row.user),
      span('ago', ago(row.updatedAt)),
      span('state', shortState(row.state)),
      span('last', row.last || row.channel || ''),
    );
    li.title = row.sessionId;
  }

  function matchesFilter(row) {
    const q = els.filter.value.trim().toLowerCase();
    return q === '' || (row.user + ' ' + row.state + ' ' + row.sessionId + ' ' + (row.last || '')).toLowerCase().includes(q);
  }

  function select(id) {
    if (selected === id) return;
    selected = id;
    lastTrace = null;
    els.timeline.replaceChildren();
    for (const li of els.list.children) li.setAttribute('aria-selected', String(li.dataset.session === id));
    const row = sessions.get(id);
    if (row) showSession(row);
    els.operator.hidden = !canSignal;
    send({ type: 'watch', sessionId: id });
  }

  function onDetail(f) {
    if (f.session.sessionId !== selected) return;
    const known = sessions.get(selected);
    showSession(known && known.updatedAt > f.session.updatedAt ? known : Object.assign({}, known || {}, f.session));
    els.timeline.replaceChildren();
    lastTrace = null;
    for (const e of f.events) appendEvent(e);
  }

  function showSession(row) {
    els.title.textContent = row.sessionId;
    els.meta.textContent = 'user ' + row.user + (row.channel ? ' · ' + row.channel : '') + ' · ' + (row.live ? 'live' : 'passivated') + ' · updated ' + new Date(row.updatedAt).toLocaleString();
    els.chartState.textContent = row.state;
    light(row.active || [], row.state);
  }

  // ---- statechart ----

  function light(active, state) {
    if (!chartReady) return;
    const svg = els.chart.querySelector('svg');
    if (!svg) return;
    const set = new Set(active);
    svg.dataset.state = state || '';
    for (const g of svg.querySelectorAll('.state')) g.classList.toggle('active', set.has(g.dataset.path));
    for (const p of svg.querySelectorAll('.edge')) p.classList.toggle('live', set.has(p.dataset.from));
  }

  function markTrail(state) {
    if (!chartReady) return;
    // Leaves of a microstep's state string (`a.b,c.d`): the parts after the first region are siblings.
    for (const path of state.split(',')) {
      const g = els.chart.querySelector('.state[data-path="' + cssEscape(path) + '"]');
      if (!g) continue;
      g.classList.add('trail');
      clearTimeout(trail.get(path));
      trail.set(path, setTimeout(function () { g.classList.remove('trail'); }, TRAIL_MS));
    }
  }

  // ---- timeline ----

  function onEvent(e) {
    if (e.session !== selected) return;
    if (e.kind === 'inspect' && e.reason === 'microstep' && typeof e.data.state === 'string') markTrail(e.data.state);
    appendEvent(e);
  }

  function onSkipped(f) {
    const li = document.createElement('li');
    li.className = 'skipped';
    li.textContent = '⚠ ' + f.count + ' event' + (f.count === 1 ? '' : 's') + ' skipped: this page fell behind the live stream (the agents did not wait). Use History to read them.';
    els.timeline.appendChild(li);
    trim();
  }

  function appendEvent(e) {
    const nearBottom = els.timeline.scrollTop + els.timeline.clientHeight >= els.timeline.scrollHeight - 40;
    const li = renderEvent(e, false);
    if (lastTrace !== null && e.traceId !== lastTrace && e.kind !== 'inspect') li.classList.add('turn-start');
    if (e.kind !== 'inspect') lastTrace = e.traceId;
    els.timeline.appendChild(li);
    trim();
    if (nearBottom) els.timeline.scrollTop = els.timeline.scrollHeight;
  }

  function trim() {
    while (els.timeline.children.length > MAX_TIMELINE) els.timeline.firstElementChild.remove();
  }

  function renderEvent(e, withWhere) {
    const li = document.createElement('li');
    li.dataset.kind = e.kind;
    li.dataset.reason = e.reason;
    const body = document.createElement('div');
    body.className = 'body';
    const head = document.createElement('div');
    head.append(span('reason', e.reason));
    if (e.state) head.append(' ', span('state-at', 'in ' + shortState(e.state)));
    body.append(head);
    const facts = describe(e);
    if (facts) body.append(facts);
    if (withWhere) {
      const where = document.createElement('div');
      where.className = 'where';
      const a = document.createElement('a');
      a.textContent = e.session.slice(0, 8);
      a.title = 'Follow session ' + e.session;
      a.addEventListener('click', function () { select(e.session); });
      where.append('user ' + e.user + ' · session ', a, ' · trace ' + e.traceId.split(':').slice(1).join(':'));
      body.append(where);
    }
    li.append(span('time', time(e.time, withWhere)), span('kind', e.kind), body);
    li.title = new Date(e.time).toISOString() + ' · trace ' + e.traceId;
    return li;
  }

  function describe(e) {
    const d = e.data || {};
    const box = document.createElement('div');
    box.className = 'facts';
    if (e.kind === 'route') {
      box.append('chose ', code(fmt(d.chosen)), ' · ' + (d.confidence || '') + (d.pattern ? ' · ' + d.pattern : '') + (d.source ? ' · ' + d.source : ''));
      if (Array.isArray(d.candidates)) box.append(bars(d.candidates, d.chosen));
      if (d.thresholds) {
        const t = document.createElement('div');
        t.className = 'thresholds';
        t.textContent = 'thresholds: out of scope < ' + num(d.thresholds.outOfScope) + ', low confidence < ' + num(d.thresholds.lowConfidence) + ', close margin < ' + num(d.thresholds.closeMargin);
        box.append(t);
      }
      return box;
    }
    if (e.kind === 'reply') {
      box.append(kv({ latency: ms(d.latencyMs), frames: d.frames, seq: d.seq }));
      if (Array.isArray(d.llmSteps)) for (const s of d.llmSteps) box.append(' · ', code(s.step + ' via ' + s.provider + ' ' + ms(s.latencyMs)));
      return box;
    }
    if (e.kind === 'transition' && d.to !== undefined) {
      box.append(code(shortState(String(d.from || '∅'))), ' → ', code(shortState(String(d.to))));
      return box;
    }
    if (typeof d.tool === 'string') {
      const rest = Object.assign({}, d);
      for (const k of ['tool', 'args', 'latencyMs', 'outcome', 'key', 'task']) delete rest[k];
      box.append(code(d.tool), d.outcome ? ' ' + d.outcome : '', d.latencyMs !== undefined ? ' · ' + ms(d.latencyMs) : '');
      if (d.args && typeof d.args === 'object') box.append(' · args ', code(Object.keys(d.args).map(function (k) { return k + '=' + fmt(d.args[k]); }).join(' ')));
      box.append(document.createElement('br'), kv(rest));
      return box;
    }
    if (e.kind === 'recall') {
      const list = Array.isArray(d.memories) ? d.memories : Array.isArray(d.hits) ? d.hits : null;
      if (list) {
        box.append(bars(list.map(function (m) { return { intent: String(m.text || m.id || m.memoryId || '?').slice(0, 60), score: Number(m.score) || 0 }; }), null));
        const rest = Object.assign({}, d);
        delete rest.memories;
        delete rest.hits;
        box.append(kv(rest));
        return box;
      }
    }
    if (Object.keys(d).length === 0) return null;
    box.append(kv(d));
    return box;
  }

  function bars(list, chosen) {
    const grid = document.createElement('div');
    grid.className = 'bars';
    const picked = Array.isArray(chosen) ? chosen : [chosen];
    for (const c of list.slice(0, 5)) {
      const bar = document.createElement('div');
      bar.className = 'bar' + (picked.includes(c.intent) ? ' chosen' : '');
      const fill = document.createElement('span');
      fill.style.width = Math.max(0, Math.min(100, Math.round((Number(c.score) || 0) * 100))) + '%';
      bar.append(fill);
      grid.append(span('', c.intent), bar, span('num', num(c.score)));
    }
    return grid;
  }

  function kv(obj) {
    const frag = document.createDocumentFragment();
    const keys = Object.keys(obj).filter(function (k) { return obj[k] !== undefined && obj[k] !== null && obj[k] !== ''; }).slice(0, 10);
    keys.forEach(function (k, i) {
      if (i > 0) frag.append(' · ');
      frag.append(k + ' ', code(k.endsWith('Ms') && typeof obj[k] === 'number' ? ms(obj[k]) : fmt(obj[k])));
    });
    return frag;
  }

  // ---- health and alerts ----

  function onHealth(h) {
    for (const dd of els.health.querySelectorAll('dd')) {
      const key = dd.dataset.metric;
      const v = h[key];
      if (v === undefined) continue;
      dd.textContent = key.endsWith('Rate') ? Math.round(v * 1000) / 10 + ' %' : key.endsWith('Ms') ? ms(v) : String(v);
      dd.classList.toggle('hot', (key === 'errorRate' && v >= 0.05) || (key === 'fallbackRate' && v >= 0.3) || (key === 'escalationRate' && v >= 0.2));
    }
  }

  function onAlerts(active) {
    els.banner.hidden = active.length === 0;
    els.banner.replaceChildren.apply(els.banner, active.map(function (a) {
      const value = a.type === 'latency' ? ms(a.value) : Math.round(a.value * 1000) / 10 + ' %';
      const limit = a.type === 'latency' ? ms(a.threshold) : Math.round(a.threshold * 1000) / 10 + ' %';
      const s = span('alert', '⚠ ' + a.rule + ' firing: ' + value + ' (threshold ' + limit + ', ' + a.samples + ' samples in ' + Math.round(a.windowMs / 60000) + ' min) since ' + new Date(a.since).toLocaleTimeString());
      s.dataset.rule = a.rule;
      return s;
    }));
  }

  // ---- operator signals ----

  function openOp(kind) {
    opKind = kind;
    els.opForm.hidden = false;
    els.opLabel.textContent = kind === 'operator.say' ? 'Say to the customer' : 'Reason';
    els.opText.value = kind === 'operator.handoff' ? 'supervisor' : '';
    els.opText.focus();
  }

  function sendOp(type, field, value) {
    if (!selected) return;
    const event = { type: type };
    if (field && value) event[field] = value;
    request({ type: 'signal', sessionId: selected, event: event }).then(function (r) {
      toast(type + ' sent · session now ' + shortState(r.state), false);
    }, function (err) {
      toast(type + ' refused: ' + (err.message || err.code), true);
    });
  }

  // ---- history and diagnostics ----

  function runHistory(event) {
    event.preventDefault();
    const since = Date.parse(els.hSince.value);
    if (!Number.isFinite(since)) return toast('Pick a start time', true);
    const until = els.hUntil.value ? Date.parse(els.hUntil.value) : undefined;
    const kinds = Array.from(els.hKinds.selectedOptions).map(function (o) { return o.value; });
    const frame = { type: 'query', since: since };
    if (until !== undefined && Number.isFinite(until)) frame.until = until;
    if (els.hUser.value.trim()) frame.user = els.hUser.value.trim();
    if (els.hSession.value.trim()) frame.session = els.hSession.value.trim();
    if (kinds.length > 0) frame.kinds = kinds;
    els.hSummary.textContent = 'Searching…';
    request(frame).then(function (r) {
      els.hSummary.textContent = r.events.length + ' event' + (r.events.length === 1 ? '' : 's') + (r.truncated ? ' (more: narrow the range)' : '');
      els.hResults.replaceChildren.apply(els.hResults, r.events.map(function (e) { return renderEvent(e, true); }));
    }, function (err) {
      els.hSummary.textContent = 'Refused: ' + (err.message || err.code);
    });
  }

  function runReport(event) {
    event.preventDefault();
    const since = Date.now() - Number(els.rPeriod.value);
    els.rBody.textContent = 'Building…';
    request({ type: 'report', since: since }).then(function (r) {
      renderReport(r.report);
    }, function (err) {
      els.rBody.textContent = 'Refused: ' + (err.message || err.code);
    });
  }

  function renderReport(rep) {
    const parts = [];
    const p = document.createElement('p');
    p.className = 'meta';
    p.textContent = rep.events + ' events · ' + rep.sessions + ' sessions · ' + rep.turns + ' turns' + (rep.truncated ? ' (truncated)' : '');
    parts.push(p);
    parts.push(table('Intents that fail, fall back or escalate', ['intent', 'routed', 'fallbacks', 'escal.', 'errors', 'trouble'],
      rep.intents.map(function (r) { return [r.intent, r.routed, r.fallbacks, r.escalations, r.errors, Math.round(r.troubleRate * 100) + '%']; })));
    parts.push(table('States', ['state', 'fallbacks', 'escal.', 'errors'], rep.states.map(function (r) { return [shortState(r.state), r.fallbacks, r.escalations, r.errors]; })));
    parts.push(table('Where users repeat themselves', ['intent', 'repeats', 'reprompts', 'sessions'], rep.repeats.map(function (r) { return [r.intent, r.repeats, r.reprompts, r.sessions]; })));
    parts.push(table('Where users abandon', ['intent', 'state', 'last', 'sessions'], rep.abandons.map(function (r) { return [r.intent, shortState(r.state), r.last, r.sessions]; })));
    parts.push(table('Tools that break', ['tool', 'calls', 'failures', 'rate', 'reasons'], rep.tools.map(function (r) { return [r.tool, r.calls, r.failures, Math.round(r.failureRate * 1000) / 10 + '%', r.reasons.join(', ')]; })));
    els.rBody.replaceChildren.apply(els.rBody, parts);
  }

  function table(title, head, rows) {
    const frag = document.createDocumentFragment();
    const h = document.createElement('h4');
    h.textContent = title;
    frag.append(h);
    if (rows.length === 0) {
      frag.append(span('none', 'nothing in this period'));
      return frag;
    }
    const t = document.createElement('table');
    const tr = document.createElement('tr');
    for (const c of head) {
      const th = document.createElement('th');
      th.textContent = c;
      tr.append(th);
    }
    t.append(tr);
    for (const r of rows) {
      const row = document.createElement('tr');
      r.forEach(function (c, i) {
        const td = document.createElement('td');
        td.textContent = String(c);
        if (i > 0 && typeof c === 'number') td.className = 'n';
        row.append(td);
      });
      t.append(row);
    }
    frag.append(t);
    return frag;
  }

  // ---- wiring ----

  function wire() {
    els.list.addEventListener('click', function (event) {
      const li = event.target.closest('.session-row');
      if (li) select(li.dataset.session);
    });
    els.list.addEventListener('keydown', function (event) {
      const li = event.target.closest('.session-row');
      if (li && (event.key === 'Enter' || event.key === ' ')) {
        event.preventDefault();
        select(li.dataset.session);
      }
    });
    els.filter.addEventListener('input', renderSessions);
    els.chartFit.addEventListener('change', function () { els.chart.classList.toggle('fit', els.chartFit.checked); });
    els.showInspect.addEventListener('change', function () { els.timeline.classList.toggle('with-inspect', els.showInspect.checked); });
    els.clear.addEventListener('click', function () { els.timeline.replaceChildren(); lastTrace = null; });
    $('op-handoff').addEventListener('click', function () { openOp('operator.handoff'); });
    $('op-say').addEventListener('click', function () { openOp('operator.say'); });
    $('op-release').addEventListener('click', function () { sendOp('operator.release'); });
    els.opCancel.addEventListener('click', function () { els.opForm.hidden = true; });
    els.opForm.addEventListener('submit', function (event) {
      event.preventDefault();
      els.opForm.hidden = true;
      sendOp(opKind, opKind === 'operator.say' ? 'text' : 'reason', els.opText.value.trim());
    });
    els.hForm.addEventListener('submit', runHistory);
    els.rForm.addEventListener('submit', runReport);
    for (const [tab, panel, other, otherPanel] of [[els.tabHistory, els.history, els.tabReport, els.report], [els.tabReport, els.report, els.tabHistory, els.history]]) {
      tab.addEventListener('click', function () {
        tab.setAttribute('aria-selected', 'true');
        other.setAttribute('aria-selected', 'false');
        panel.hidden = false;
        otherPanel.hidden = true;
      });
    }
    els.hSince.value = localInput(Date.now() - 7 * 86400000);
    setInterval(function () {
      for (const li of els.list.children) {
        const row = sessions.get(li.dataset.session);
        const a = li.querySelector('.ago');
        if (row && a) a.textContent = ago(row.updatedAt);
      }
    }, 15000);
  }

  // ---- helpers ----

  function takeToken() {
    const hash = new URLSearchParams(location.hash.slice(1));
    const fromHash = hash.get('token');
    if (fromHash) {
      try {
        sessionStorage.setItem(TOKEN_KEY, fromHash);
      } catch {
        // Private mode: the token lives for this page only.
      }
      history.replaceState(null, '', location.pathname + location.search);
      return fromHash;
    }
    try {
      return sessionStorage.getItem(TOKEN_KEY);
    } catch {
      return null;
    }
  }

  function setStatus(state, text) {
    els.status.dataset.state = state;
    els.status.textContent = text;
  }

  function fatal(text) {
    els.fatal.textContent = text;
    els.fatal.hidden = false;
  }

  let toastTimer = null;
  function toast(text, bad) {
    els.toast.textContent = text;
    els.toast.dataset.tone = bad ? 'bad' : 'ok';
    els.toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { els.toast.hidden = true; }, 4000);
  }

  function flash(li) {
    li.classList.remove('flash');
    void li.offsetWidth;
    li.classList.add('flash');
  }

  function span(cls, text) {
    const s = document.createElement('span');
    if (cls) s.className = cls;
    s.textContent = text;
    return s;
  }

  function code(text) {
    const c = document.createElement('code');
    c.textContent = text;
    return c;
  }

  function fmt(v) {
    if (v === null || v === undefined) return '–';
    if (typeof v === 'string') return v.length > 80 ? v.slice(0, 80) + '…' : v;
    if (typeof v === 'number') return String(Math.round(v * 1000) / 1000);
    const s = JSON.stringify(v);
    return s.length > 80 ? s.slice(0, 80) + '…' : s;
  }

  function num(v) {
    return typeof v === 'number' ? (Math.round(v * 100) / 100).toFixed(2) : '–';
  }

  function ms(v) {
    if (typeof v !== 'number') return '–';
    return v >= 1000 ? (v / 1000).toFixed(v >= 10000 ? 0 : 1) + ' s' : Math.round(v) + ' ms';
  }

  function time(t, withDate) {
    const d = new Date(t);
    const hms = d.toTimeString().slice(0, 8);
    return withDate ? d.toISOString().slice(5, 10) + ' ' + hms.slice(0, 5) : hms;
  }

  function ago(t) {
    const s = Math.max(0, Math.round((Date.now() - t) / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.round(s / 60) + ' min ago';
    if (s < 86400) return Math.round(s / 3600) + ' h ago';
    return Math.round(s / 86400) + ' d ago';
  }

  function shortState(state) {
    return String(state || '').split(',').filter(function (part) { return !/\.(off|none)$/.test(part); }).join(', ') || String(state || '');
  }

  function localInput(t) {
    const d = new Date(t - new Date(t).getTimezoneOffset() * 60000);
    return d.toISOString().slice(0, 16);
  }

  function cssEscape(s) {
    return window.CSS && CSS.escape ? CSS.escape(s) : String(s).replace(/["\\]/g, '\\$&');
  }
})();
