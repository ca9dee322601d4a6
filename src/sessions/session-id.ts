/**
 * New session ids: UUID version 7 (RFC 9562), whose first 48 bits are the creation time in
 * milliseconds and whose other 74 bits are random.
 *
 * Sessions talking at the same moment were mostly created close together, so time-ordered ids
 * put their records side by side in LMDB's B-tree: one group commit dirties fewer pages than
 * with random (version 4) ids, whose records fall on a different page each (docs/benchmarks.md,
 * "Time-ordered session ids"). An id reveals when its session was created, nothing else; it is
 * no credential (every access checks the caller against the session's owner).
 */
import { randomFillSync } from 'node:crypto';
import type { SessionId } from '../types.js';

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const bytes = new Uint8Array(16);

/**
 * A new session id created at `timeMs` (Unix milliseconds; clamped to the 48 bits the format
 * holds).
 *
 * @example
 * ```ts
 * newSessionId(Date.now()); // '019ad6f2-3c41-7b0e-9a55-0c2f1e8d4a17'
 * ```
 */
export function newSessionId(timeMs: number): SessionId {
  randomFillSync(bytes, 6, 10);
  let t = Math.min(Math.max(0, Math.floor(timeMs)), 2 ** 48 - 1);
  for (let i = 5; i >= 0; i--) {
    bytes[i] = t % 256;
    t = Math.floor(t / 256);
  }
  bytes[6] = (bytes[6]! & 0x0f) | 0x70; // version 7
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // variant 10
  let s = '';
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += '-';
    s += HEX[bytes[i]!]!;
  }
  return s as SessionId;
}
