// Remembers, per stored passcode hash, a keyed digest of the value argon2 last accepted, so a boot storm pays for argon2 once.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { normalizePasscode } from '../domain/passcode-policy.js';
import type { PasscodeHasher, VerifyOptions } from './passcode-hasher.js';

/**
 * Checks candidates against stored argon2id hashes, remembering what argon2 accepted.
 *
 * After argon2 accepts a candidate for a hash, the cache keeps HMAC-SHA256(k, NFKC(candidate)) for that
 * hash, with `k` random per process and never stored. A later candidate whose digest matches it (compared
 * in constant time) is accepted without argon2. Every other candidate still goes through argon2, so a
 * wrong guess costs the server the same as before and guessing stays bounded by the hasher's gate.
 * Identical candidates checked at the same time share one argon2 evaluation. Entries for hashes that are
 * no longer valid are dropped (`retain`), so a rotated passcode is never accepted from the cache.
 */
export class VerifiedPasscodeCache {
  private readonly key = randomBytes(32);
  private readonly accepted = new Map<string, Buffer>();
  private readonly inFlight = new Map<string, Promise<boolean>>();

  constructor(private readonly hasher: PasscodeHasher) {}

  private digest(candidate: string): Buffer {
    return createHmac('sha256', this.key).update(normalizePasscode(candidate)).digest();
  }

  /** Keeps entries only for these hashes (the passcodes valid now); call before checking. */
  retain(hashes: readonly string[]): void {
    for (const h of this.accepted.keys()) if (!hashes.includes(h)) this.accepted.delete(h);
  }

  /** True when argon2 already accepted this very candidate for `hash` (no argon2 work). */
  known(hash: string, candidate: string): boolean {
    const remembered = this.accepted.get(hash);
    return remembered !== undefined && timingSafeEqual(remembered, this.digest(candidate));
  }

  /** Checks with argon2 (sharing a check already running for the same candidate), remembering an accepted one. */
  async verify(hash: string, candidate: string, options: VerifyOptions = {}): Promise<boolean> {
    if (this.known(hash, candidate)) return true;
    const digest = this.digest(candidate);
    const flightKey = `${hash}\n${digest.toString('hex')}`;
    const running = this.inFlight.get(flightKey);
    if (running) return running;
    const check = (async () => {
      try {
        const ok = await this.hasher.verify(hash, candidate, options);
        if (ok) this.accepted.set(hash, digest);
        return ok;
      } finally {
        this.inFlight.delete(flightKey);
      }
    })();
    this.inFlight.set(flightKey, check);
    return check;
  }

  /** Forgets everything (for example when the passcode is removed). */
  clear(): void {
    this.accepted.clear();
  }
}
