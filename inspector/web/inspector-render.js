// How the inspector page shows a decision event (with the reason behind it) and a diagnostics report.
import { code, fmt, ms, num, shortState, span, time } from './inspector-format.js';

/** A timeline row; with `onSelect`, it also says whose it is and links to the session. */
export function renderEvent(e, onSelect) {
  const withWhere = typeof onSelect === 'function';
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
    a.addEventListener('click', function () { onSelect(e.session); });
    where.append('user ' + e.user + ' · session ', a, ' · trace ' + e.traceId.split(':').slice(1).join(':'));
    body.append(where);
  }
  li.append(span('time', time(e.time, withWhere)), span('kind', e.kind), body);
  li.title = new Date(e.time).toISOString() + ' · trace ' + e.traceId;
  return li;
}

/** The facts behind a decision, by kind: route scores and thresholds, tool calls, latencies... */
export function describe(e) {
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

/** Scores as bars, the chosen ones in green. */
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

/** `key value · key value` of an event's data, durations in ms or s. */
function kv(obj) {
  const frag = document.createDocumentFragment();
  const keys = Object.keys(obj).filter(function (k) { return obj[k] !== undefined && obj[k] !== null && obj[k] !== ''; }).slice(0, 10);
  keys.forEach(function (k, i) {
    if (i > 0) frag.append(' · ');
    frag.append(k + ' ', code(k.endsWith('Ms') && typeof obj[k] === 'number' ? ms(obj[k]) : fmt(obj[k])));
  });
  return frag;
}

/** The diagnostics report as a summary line and one table per question. */
export function renderReport(rep) {
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
  return parts;
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
