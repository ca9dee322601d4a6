// The keel inspector: plain JavaScript, no build step. Protocol: docs/observability.md.
//
// The token comes from the URL fragment (#token=...), never from the URL the server sees; the
// page keeps it in sessionStorage for reloads and removes it from the address bar. Everything it
// shows arrives over /inspector/ws: the live session list, the watched session's timeline and
// statechart lighting, health, alerts, and the answers to history and diagnostics requests.
import { ago, cssEscape, localInput, ms, shortState, span } from './inspector-format.js';
import { renderEvent, renderReport } from './inspector-render.js';
import { createPageSocket, statusLine, takeToken } from './page-common.js';

const TOKEN_KEY = 'keel.inspector.token';
const MAX_TIMELINE = 800;
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

const setStatus = statusLine(els.status);
const token = takeToken(TOKEN_KEY);
const sessions = new Map();
const pending = new Map();
let identity = null;
let canSignal = false;
let selected = null;
let chartReady = false;
let requestSeq = 0;
let opKind = null;
let lastTrace = null;
const trail = new Map();
const link = createPageSocket({
  path: '/inspector/ws',
  token: token,
  status: setStatus,
  // Without jitter: one inspector page is no herd. First retry after 1 s, then doubling to 10 s.
  backoff: { baseMs: 1000, maxMs: 10000, jitter: false },
  frame: handle,
  closed(event) {
    if (event.code !== 4401 && event.code !== 4403) return;
    setStatus('refused', 'Refused');
    fatal(event.code === 4401 ? 'The token was refused (expired or not valid). Ask for a new inspector link.' : 'This token may not use the inspector: an engineer or admin token is needed.');
    return false;
  },
  retrying() {
    setStatus('offline', 'Offline – retrying');
  },
});

if (token) {
  wire();
  link.connect();
} else {
  fatal('This inspector link has no access token. Open it as /inspector#token=<an engineer or admin token>.');
}

// ---- connection ----

function send(frame) {
  link.send(frame);
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
  link.resetBackoff();
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
  els.meta.textContent = 'user ' + row.user + (row.channel ? ' · ' + row.channel : '') + ' · ' + (row.live ? (row.resting ? 'live, resting' : 'live') : 'passivated') + ' · updated ' + new Date(row.updatedAt).toLocaleString();
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
  const li = renderEvent(e);
  if (lastTrace !== null && e.traceId !== lastTrace && e.kind !== 'inspect') li.classList.add('turn-start');
  if (e.kind !== 'inspect') lastTrace = e.traceId;
  els.timeline.appendChild(li);
  trim();
  if (nearBottom) els.timeline.scrollTop = els.timeline.scrollHeight;
}

function trim() {
  while (els.timeline.children.length > MAX_TIMELINE) els.timeline.firstElementChild.remove();
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
    els.hResults.replaceChildren.apply(els.hResults, r.events.map(function (e) { return renderEvent(e, select); }));
  }, function (err) {
    els.hSummary.textContent = 'Refused: ' + (err.message || err.code);
  });
}

function runReport(event) {
  event.preventDefault();
  const since = Date.now() - Number(els.rPeriod.value);
  els.rBody.textContent = 'Building…';
  request({ type: 'report', since: since }).then(function (r) {
    els.rBody.replaceChildren.apply(els.rBody, renderReport(r.report));
  }, function (err) {
    els.rBody.textContent = 'Refused: ' + (err.message || err.code);
  });
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
