/**
 * What a viewer may see of a session's frames: the owner and roles with `pii.view` (a human agent
 * on a hand-off) see them as stored; everyone else (engineers, admins) sees them redacted —
 * emails, phone numbers, card numbers and IBANs masked in the text and deep in the metadata.
 */
import type { Identity } from '../types.js';
import { createRedactor, type Redactor } from './redact.js';
import { seesRedactedData } from './roles.js';

/** The parts of a frame that may carry what a customer said. */
export interface ViewableFrame {
  readonly text?: string;
  readonly meta?: Readonly<Record<string, unknown>>;
}

/**
 * True when `viewer` must see the frames of a session owned by `owner` redacted.
 *
 * @example
 * ```ts
 * mustRedactFor(engineer, { tenant: 'acme', user: 'alice' }); // true
 * mustRedactFor(alice, { tenant: 'acme', user: 'alice' });    // false: her own words
 * ```
 */
export function mustRedactFor(viewer: Identity, owner: { readonly tenant: string; readonly user: string }): boolean {
  const isOwner = viewer.tenant === owner.tenant && viewer.user === owner.user && viewer.role === 'customer';
  return !isOwner && seesRedactedData(viewer);
}

let shared: Redactor | undefined;

/**
 * Returns `frames` as `viewer` may see them (the same array when nothing needs masking).
 *
 * @example
 * ```ts
 * const shown = viewFrames(runtime.replay(id, 0), engineer, { tenant, user });
 * shown[0].text; // 'my mail is [email]'
 * ```
 */
export function viewFrames<F extends ViewableFrame>(
  frames: readonly F[],
  viewer: Identity,
  owner: { readonly tenant: string; readonly user: string },
  redactor?: Redactor,
): readonly F[] {
  if (!mustRedactFor(viewer, owner)) return frames;
  const r = redactor ?? (shared ??= createRedactor());
  return frames.map((f) => ({
    ...f,
    ...(typeof f.text === 'string' ? { text: r.text(f.text) } : {}),
    ...(f.meta !== undefined ? { meta: r.value(f.meta) as Readonly<Record<string, unknown>> } : {}),
  }));
}
