/**
 * Which browser origins may open a chat WebSocket. Browsers always send `Origin` on WebSocket
 * handshakes and a page cannot forge it, so checking it stops other sites from riding on a
 * customer's browser; programs without an `Origin` header still need a token like everyone else.
 */

/**
 * True when a handshake with `origin` may proceed: no origin (not a browser), the server's own
 * origin (its `Host`), or one of `allowed` (`'*'` allows every origin).
 *
 * @example
 * ```ts
 * isOriginAllowed('https://shop.example', 'chat.example', ['https://shop.example']); // true
 * isOriginAllowed('https://evil.example', 'chat.example', []);                       // false
 * isOriginAllowed(undefined, 'chat.example', []);                                    // true (not a browser)
 * ```
 */
export function isOriginAllowed(origin: string | undefined, host: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined) return true;
  if (allowed.includes('*')) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  if (host !== undefined && url.host.toLowerCase() === host.toLowerCase()) return true;
  return allowed.includes(url.origin);
}

/**
 * True for loopback peers (127.0.0.0/8, ::1, and their IPv4-mapped IPv6 forms).
 *
 * @example
 * ```ts
 * isLoopbackAddress('::ffff:127.0.0.1'); // true
 * isLoopbackAddress('10.0.0.7');         // false
 * ```
 */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

/**
 * True when a `Host` header names this machine by a loopback name or address (any port). A page
 * on another site that rebinds its DNS name to 127.0.0.1 still sends its own name: a request
 * trusted for coming from loopback must also say it is meant for loopback.
 *
 * @example
 * ```ts
 * isLoopbackHost('127.0.0.1:8787'); // true
 * isLoopbackHost('localhost');      // true
 * isLoopbackHost('rebind.evil.example:8787'); // false
 * ```
 */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const name = (host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d*$/, '')).toLowerCase();
  return name === 'localhost' || name.endsWith('.localhost') || name === '[::1]' || /^127(\.\d{1,3}){3}$/.test(name);
}

/**
 * The token of an `Authorization: Bearer <token>` header, or undefined.
 *
 * @example
 * ```ts
 * bearerToken('Bearer abc.def.ghi'); // 'abc.def.ghi'
 * ```
 */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const match = value === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(value);
  return match?.[1];
}
