import { describe, expect, it } from 'vitest';
import type { Runtime } from '../../../src/index.js';
import { closeReason } from '../../../src/server/close-codes.js';
import { bearerToken, isLoopbackAddress, isOriginAllowed } from '../../../src/server/origin-policy.js';
import { defaultServerOptions, resolveServerOptions } from '../../../src/server/server-options.js';

const runtime = { open: () => undefined, subscribe: () => undefined } as unknown as Runtime;

describe('server options', () => {
  it('fills defaults and freezes', () => {
    const o = resolveServerOptions({ runtime });
    expect(o.port).toBe(8787);
    expect(o.host).toBe('127.0.0.1');
    expect(o.maxPayloadBytes).toBe(defaultServerOptions.maxPayloadBytes);
    expect(Object.isFrozen(o)).toBe(true);
  });

  it('names the bad option', () => {
    expect(() => resolveServerOptions({ runtime, authTimeoutMs: -1 })).toThrow(/option authTimeoutMs/);
    expect(() => resolveServerOptions({ runtime, port: 70_000 })).toThrow(/option port/);
    expect(() => resolveServerOptions({ runtime, messagesPerSecondPerUser: 0 })).toThrow(/option messagesPerSecondPerUser/);
    expect(() => resolveServerOptions({ runtime, opsAccess: 'open' as never })).toThrow(/option opsAccess/);
    expect(() => resolveServerOptions({ runtime, allowedOrigins: ['not a url'] })).toThrow(/option allowedOrigins/);
    expect(() => resolveServerOptions({ runtime: {} as Runtime })).toThrow(/option runtime/);
    expect(() => resolveServerOptions({ runtime, maxPayloadBytes: 10 })).toThrow(/option maxPayloadBytes/);
  });

  it('normalises allowed origins', () => {
    expect(resolveServerOptions({ runtime, allowedOrigins: ['https://Shop.Example/path', '*'] }).allowedOrigins).toEqual(['https://shop.example', '*']);
  });
});

describe('origin policy', () => {
  it('allows non-browsers, the same origin and listed origins only', () => {
    expect(isOriginAllowed(undefined, 'chat.example', [])).toBe(true);
    expect(isOriginAllowed('https://chat.example', 'chat.example', [])).toBe(true);
    expect(isOriginAllowed('http://127.0.0.1:8787', '127.0.0.1:8787', [])).toBe(true);
    expect(isOriginAllowed('http://127.0.0.1:9999', '127.0.0.1:8787', [])).toBe(false);
    expect(isOriginAllowed('https://evil.example', 'chat.example', [])).toBe(false);
    expect(isOriginAllowed('https://shop.example', 'chat.example', ['https://shop.example'])).toBe(true);
    expect(isOriginAllowed('null', 'chat.example', [])).toBe(false);
    expect(isOriginAllowed('file://x', 'chat.example', [])).toBe(false);
    expect(isOriginAllowed('https://any.example', 'chat.example', ['*'])).toBe(true);
  });

  it('recognises loopback peers and bearer headers', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1'].every(isLoopbackAddress)).toBe(true);
    expect(['10.0.0.1', '::ffff:10.0.0.1', '128.0.0.1', undefined].some(isLoopbackAddress)).toBe(false);
    expect(bearerToken('Bearer a.b.c')).toBe('a.b.c');
    expect(bearerToken('bearer   a.b.c ')).toBe('a.b.c');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });

  it('cuts close reasons to 123 bytes', () => {
    expect(closeReason('short')).toBe('short');
    const long = closeReason('é'.repeat(200));
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(123);
  });
});
