import { describe, expect, it } from 'vitest';
import { KeelError, forClient } from '../../../src/errors.js';

describe('what a client is told of an error', () => {
  it('gets the code and message of its own mistakes, and nothing of the server configuration or faults', () => {
    expect(forClient(new KeelError('rate_limited', 'too many messages'))).toEqual({ code: 'rate_limited', message: 'too many messages', logged: false });
    // A configuration error names server paths: the client learns only that the server failed.
    const config = new KeelError('invalid_option', 'KEEL_MASTER_KEY does not match the key that wraps /srv/keel/tenant-keys.json');
    expect(forClient(config)).toEqual({ code: 'internal', message: 'internal error', logged: true });
    expect(forClient(new Error('ENOENT: /srv/keel/x'))).toEqual({ code: 'internal', message: 'internal error', logged: true });
  });
});
