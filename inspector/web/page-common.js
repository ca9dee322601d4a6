// What the keel pages (chat, agent desk, inspector) share: the access token from the URL
// fragment, a WebSocket to the page's endpoint that signs in, keeps itself alive and reconnects
// with backoff, the status line, the message composer's keys, and random ids. Plain JavaScript
// module, no build step.

/**
 * The page's token: from the URL fragment (`#token=...`, never sent to the server in a URL),
 * kept in sessionStorage under `storageKey` for reloads, and taken out of the address bar.
 */
export function takeToken(storageKey) {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) {
    try {
      sessionStorage.setItem(storageKey, fromHash);
    } catch {
      // Private mode: the token lives for this page only.
    }
    // Keep the token out of the address bar, bookmarks and screenshots.
    history.replaceState(null, '', location.pathname + location.search);
    return fromHash;
  }
  try {
    return sessionStorage.getItem(storageKey);
  } catch {
    return null;
  }
}

/**
 * How long to wait before reconnect attempt `attempt` (1, 2, ...): `baseMs` doubling up to
 * `maxMs`, spread by ±30 % unless `jitter` is false, so that pages dropped together do not all
 * come back at the same moment.
 */
export function backoffMs(attempt, options) {
  const o = options || {};
  const delay = Math.min(o.maxMs || 10000, (o.baseMs || 500) * Math.pow(2, Math.min(attempt - 1, 5)));
  return o.jitter === false ? delay : Math.round(delay * (0.7 + Math.random() * 0.6));
}

/** A setter for a status element: `data-state` (for styles and tests) and its text. */
export function statusLine(el) {
  return function setStatus(state, text) {
    el.dataset.state = state;
    el.textContent = text;
  };
}

/** Calls `submit` when the form is submitted, or on Enter in `input` (Shift+Enter and IME composition type on). */
export function bindComposer(form, input, submit) {
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    submit();
  });
  input.addEventListener('keydown', function (event) {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
}

/** `bytes` random bytes as hex, for ids the server de-duplicates by. */
export function randomHex(bytes) {
  const buf = new Uint8Array(bytes);
  crypto.getRandomValues(buf);
  let hex = '';
  for (const b of buf) hex += b.toString(16).padStart(2, '0');
  return hex;
}

/**
 * A WebSocket from this page to `path` on its own origin that signs in with `token` as its first
 * frame and reconnects after every drop until `stop()`.
 *
 * options:
 * - `path`, `token`;
 * - `status(state, text)`: shows `connecting` / `reconnecting` as each attempt starts;
 * - `opened()`: the socket is open and the auth frame sent (send `hello` here);
 * - `frame(frame)`: each JSON frame from the server, in order;
 * - `closed(event)`: the socket closed; return false to stay down (the page said why);
 * - `retrying(delayMs, event)`: the next attempt is in `delayMs`;
 * - `retryDelayMs(attempt, event)`: default {@link backoffMs} with `backoff` as its options;
 * - `keepAlive`: `{ intervalMs, timeoutMs }` to send `ping` frames and reconnect when no `pong`
 *   comes back in time (a socket can look open long after the network is gone). Default none.
 */
export function createPageSocket(options) {
  let ws = null;
  let attempts = 0;
  let retryTimer = null;
  let pingTimer = null;
  let pongTimer = null;
  let stopped = false;

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    options.status(attempts === 0 ? 'connecting' : 'reconnecting', attempts === 0 ? 'Connecting…' : 'Reconnecting…');
    const socket = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + options.path);
    ws = socket;
    socket.addEventListener('open', function () {
      socket.send(JSON.stringify({ type: 'auth', token: options.token }));
      if (options.opened) options.opened();
      if (options.keepAlive) startPing(socket, options.keepAlive);
    });
    socket.addEventListener('message', function (event) {
      if (socket !== ws) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame && frame.type === 'pong') clearTimeout(pongTimer);
      options.frame(frame);
    });
    socket.addEventListener('close', function (event) {
      if (socket !== ws) return;
      ws = null;
      stopPing();
      if (options.closed && options.closed(event) === false) return;
      if (stopped) return;
      attempts += 1;
      const delay = options.retryDelayMs ? options.retryDelayMs(attempts, event) : backoffMs(attempts, options.backoff);
      if (options.retrying) options.retrying(delay, event);
      retryTimer = setTimeout(connect, delay);
    });
  }

  function startPing(socket, keepAlive) {
    stopPing();
    pingTimer = setInterval(function () {
      if (socket.readyState !== WebSocket.OPEN) return;
      socket.send(JSON.stringify({ type: 'ping' }));
      clearTimeout(pongTimer);
      // No pong in time: close, and the close reconnects.
      pongTimer = setTimeout(function () {
        socket.close();
      }, keepAlive.timeoutMs);
    }, keepAlive.intervalMs);
  }

  function stopPing() {
    clearInterval(pingTimer);
    clearTimeout(pongTimer);
  }

  return {
    connect: connect,
    /** Sends `frame` when the socket is open; false (and nothing sent) otherwise. */
    send(frame) {
      if (!ws || ws.readyState !== WebSocket.OPEN) return false;
      ws.send(JSON.stringify(frame));
      return true;
    },
    /** The server accepted this connection: the next drop starts the backoff over. */
    resetBackoff() {
      attempts = 0;
    },
    /** Reconnects at once (the network is back): closes a socket that is still trying. */
    reconnectNow() {
      if (stopped) return;
      attempts = 0;
      if (ws) ws.close();
      else connect();
    },
    /** No more reconnects (the token was refused). */
    stop() {
      stopped = true;
      clearTimeout(retryTimer);
    },
  };
}
