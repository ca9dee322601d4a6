// Small formatting helpers of the inspector page: elements, numbers, durations, times, states.

export function span(cls, text) {
  const s = document.createElement('span');
  if (cls) s.className = cls;
  s.textContent = text;
  return s;
}

export function code(text) {
  const c = document.createElement('code');
  c.textContent = text;
  return c;
}

export function fmt(v) {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'string') return v.length > 80 ? v.slice(0, 80) + '…' : v;
  if (typeof v === 'number') return String(Math.round(v * 1000) / 1000);
  const s = JSON.stringify(v);
  return s.length > 80 ? s.slice(0, 80) + '…' : s;
}

export function num(v) {
  return typeof v === 'number' ? (Math.round(v * 100) / 100).toFixed(2) : '–';
}

export function ms(v) {
  if (typeof v !== 'number') return '–';
  return v >= 1000 ? (v / 1000).toFixed(v >= 10000 ? 0 : 1) + ' s' : Math.round(v) + ' ms';
}

export function time(t, withDate) {
  const d = new Date(t);
  const hms = d.toTimeString().slice(0, 8);
  return withDate ? d.toISOString().slice(5, 10) + ' ' + hms.slice(0, 5) : hms;
}

export function ago(t) {
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.round(s / 60) + ' min ago';
  if (s < 86400) return Math.round(s / 3600) + ' h ago';
  return Math.round(s / 86400) + ' d ago';
}

export function shortState(state) {
  return String(state || '').split(',').filter(function (part) { return !/\.(off|none)$/.test(part); }).join(', ') || String(state || '');
}

export function localInput(t) {
  const d = new Date(t - new Date(t).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

export function cssEscape(s) {
  return window.CSS && CSS.escape ? CSS.escape(s) : String(s).replace(/["\\]/g, '\\$&');
}
