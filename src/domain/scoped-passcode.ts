// Scoped passcodes: extra passcodes narrowed to task sequences, source ranges, a context, an expiry and a number of uses.

import type { AuthContext } from './security-settings.js';
import { DeployrError } from './errors.js';

/** At most this many typed (not generated) scoped passcodes are live (not revoked, not expired; used-up ones count) at once: each costs one argon2 check per passcode login. */
export const MAX_ACTIVE_TYPED_SCOPED_PASSCODES = 10;

/** A scoped passcode's name: lower-case letters, digits, `.`, `_`, `-`; up to 64 characters. */
export const SCOPED_PASSCODE_NAME_PATTERN = '^[a-z0-9][a-z0-9._-]{0,63}$';

/** The alphabet of generated passcodes: digits 2-9 and letters without I and O (nothing to mistake over the phone). */
export const GENERATED_ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';

/** A generated passcode: six groups of four characters; the first group is its public identifier. */
const GENERATED_SHAPE = new RegExp(`^[${GENERATED_ALPHABET}]{4}(?:[${GENERATED_ALPHABET}]{4}){5}$`);

/** What a scoped passcode allows. */
export interface ScopedPasscodeScope {
  /** Task sequences (`<guid>` or `<guid>:<version>`, lower-case) its tokens are limited to; empty: not limited. */
  taskSequences: string[];
  /** Source ranges (CIDR, canonical) it is accepted from; empty: any source. */
  sources: string[];
  /** The one context it signs in for; null: boot and full OS. */
  context: AuthContext | null;
}

/** A scoped passcode as stored: never shown as is (the hash never leaves the service). */
export interface StoredScopedPasscode {
  /** Random id, put in its tokens (`spc`). */
  id: string;
  name: string;
  /** argon2id PHC string of the passcode (its canonical form for a generated one). */
  hash: string;
  /** For a generated passcode: its first group, which selects the one hash to check; null for a typed one. */
  publicId: string | null;
  scope: ScopedPasscodeScope;
  /** ISO 8601; null: no expiry. */
  expiresAt: string | null;
  /** Null: unlimited. */
  maxUses: number | null;
  uses: number;
  createdAt: string;
  createdBy: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** The state of a scoped passcode at a moment. */
export type ScopedPasscodeState = 'active' | 'expired' | 'used-up' | 'revoked';

/** What anyone may see of a scoped passcode: everything but the hash. */
export interface ScopedPasscodeView {
  name: string;
  kind: 'typed' | 'generated';
  /** The generated passcode's public first group (not secret); null for a typed one. */
  publicId: string | null;
  scope: ScopedPasscodeScope;
  expiresAt: string | null;
  maxUses: number | null;
  usesLeft: number | null;
  uses: number;
  lastUsedAt: string | null;
  createdAt: string;
  createdBy: string;
  revokedAt: string | null;
  state: ScopedPasscodeState;
}

/** The state of `p` at `now` (ms since the epoch). */
export function scopedPasscodeState(p: StoredScopedPasscode, now: number): ScopedPasscodeState {
  if (p.revokedAt !== null) return 'revoked';
  if (p.expiresAt !== null && Date.parse(p.expiresAt) <= now) return 'expired';
  if (p.maxUses !== null && p.uses >= p.maxUses) return 'used-up';
  return 'active';
}

/** True while tokens of `p` stay valid: not revoked and not expired (a used-up one's tokens live on until they expire). */
export function scopedPasscodeLive(p: Pick<StoredScopedPasscode, 'revokedAt' | 'expiresAt'>, now: number): boolean {
  return p.revokedAt === null && (p.expiresAt === null || Date.parse(p.expiresAt) > now);
}

/** The view of `p` (no hash). */
export function viewScopedPasscode(p: StoredScopedPasscode, now: number): ScopedPasscodeView {
  return {
    name: p.name, kind: p.publicId === null ? 'typed' : 'generated', publicId: p.publicId,
    scope: { taskSequences: [...p.scope.taskSequences], sources: [...p.scope.sources], context: p.scope.context },
    expiresAt: p.expiresAt, maxUses: p.maxUses, usesLeft: p.maxUses === null ? null : Math.max(0, p.maxUses - p.uses), uses: p.uses,
    lastUsedAt: p.lastUsedAt, createdAt: p.createdAt, createdBy: p.createdBy, revokedAt: p.revokedAt, state: scopedPasscodeState(p, now),
  };
}

/** Checks a scoped passcode's name; INVALID_INPUT otherwise. */
export function checkScopedPasscodeName(name: string): string {
  if (!new RegExp(SCOPED_PASSCODE_NAME_PATTERN).test(name)) {
    throw new DeployrError('INVALID_INPUT', 'A passcode name is 1 to 64 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit.');
  }
  return name;
}

/**
 * The canonical form of a candidate that has the shape of a generated passcode (upper case,
 * groups joined by "-"; spaces and dashes as typed do not matter), or null when it does not.
 */
export function canonicalGenerated(candidate: string): string | null {
  if (candidate.length > 64) return null;
  const compact = candidate.replace(/[\s-]/g, '').toUpperCase();
  if (!GENERATED_SHAPE.test(compact)) return null;
  return compact.match(/.{4}/g)!.join('-');
}

/** The public identifier (first group) of a canonical generated passcode. */
export function generatedPublicId(canonical: string): string {
  return canonical.slice(0, 4);
}
