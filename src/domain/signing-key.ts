// Token-signing keys over their life: the active key signs, a replaced key only verifies until its tokens have expired, then it is retired.

/** Where a signing key is in its life. */
export type SigningKeyState = 'active' | 'verify-only' | 'retired';

/** The dates that decide a signing key's state. */
export interface SigningKeyDates {
  /** When a newer key replaced it; null while it is the key that signs. */
  supersededAt: string | null;
  /** Until when tokens it signed are still accepted; null while it is the key that signs. */
  verifyUntil: string | null;
}

/** The state of a key at `now`: active while not replaced, verify-only until `verifyUntil`, retired after. */
export function signingKeyState(key: SigningKeyDates, now: Date): SigningKeyState {
  if (key.supersededAt === null || key.verifyUntil === null) return 'active';
  return Date.parse(key.verifyUntil) > now.getTime() ? 'verify-only' : 'retired';
}

/**
 * How long a replaced key keeps verifying: the token lifetime (a token it signed just before the
 * rotation lives that long) plus a margin for nodes that have not yet picked up the new key
 * (they do within the settings poll interval) and for clock differences between nodes.
 */
export const ROTATION_MARGIN_SECONDS = 300;
